"""The scoring job behind `waypoint score`: files in, a ranked and explained file out.

read + map + validate -> features (with the model's reference state) -> forest score,
calibration, flags, reasons -> atomic write of the scored file and of the rejects.
Nothing read is lost: ``rows_read == rows_scored + rows_rejected`` is checked before
anything is written.

Memory is bounded for files larger than it: the checked rows and the features are
spilled to Parquet beside the output, scores are computed a slice of rows at a time
(only the per-row score arrays are kept), ranks and flags are file-wide, reasons are
computed for the flagged rows only, and the output is streamed in rank order one
range of ranks at a time (see :class:`Spill`). The steps are those of
``models.detector.Detector.score``, which gives the same rows on one in-memory frame.
"""
from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from detector import lineage
from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.io.parties import load_parties, party_frame
from detector.io.read import (
    check_rejects, load_side_tables, load_spilled, rejects_path, side_rejects, side_warning, write_rejects, write_side_rejects,
)
from detector.io.write import (
    atomic_path, leftover_prefix, neutralise_formulas, output_format, remove_leftovers, write_frames,
)
from features._runtime import PausedCollector
from features.families.tariff import conform_events
from features.schema import INPUTS, SHIPMENTS
from models.detector import CHUNK_ROWS, DUTY_AT_RISK, ID
from models.reasons import REASON_CODES, REASONS

Progress = Callable[[str], None]
#: About the size of a shipment row in a CSV file: turns the chunk size into bytes of input.
CSV_ROW_BYTES = 200


@dataclass
class ScoreResult:
    output: str
    rejects: str | None
    model: str
    model_version: str
    rows_read: int
    rows_scored: int
    rows_rejected: int
    reject_counts: dict[str, int]
    flagged: int
    seconds: float
    explored: int = 0  # flags reserved for the forest's picks (explore share)
    flag_rule: str = ""  # how the flags were chosen: "budget 1% (the model's)", "top 100", "threshold (the model's)"
    above_threshold: int = 0  # lines above the model's threshold, whatever the flag rule
    events: str = ""  # whose tariff events built the features: the model's, or the --events files
    events_digest: str = ""
    importing_country: str | None = None  # what a line stating no importing country is taken as
    inputs_used: bool = False  # component imports given with --inputs (else the model's state alone)
    top_reason_codes: list[tuple[str, int]] = field(default_factory=list)
    top: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dq_counts: dict[str, int] = field(default_factory=dict)  # data-quality code -> scored rows carrying it
    side_rejects: list[dict] = field(default_factory=list)  # side tables (inputs, events) that rejected rows
    parties: str = ""  # whose known-party list built the features: the model's, the --parties files, or none
    parties_digest: str = ""
    rank_by: str = "risk"  # what ranks and flags the lines: the risk score, or the expected recovery

    def to_dict(self) -> dict:
        return asdict(self)


def score(
    shipments: Sequence[Path],
    output: Path,
    *,
    model,
    inputs: Sequence[Path] | None = None,
    events: Sequence[Path] | None = None,
    mapping: Path | None = None,
    budget: float | None = None,
    top: int | None = None,
    threshold: bool = False,
    importing_country: str | None = None,
    explore: float = 0.0,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
    strict: bool = False,
    max_reject_share: float | None = None,
    parties: Sequence[Path] | None = None,
    rank_by: str = "risk",
) -> ScoreResult:
    """Score shipment files with a loaded model (see ``detector.jobs.modelref``).

    ``model`` carries ``detector`` (a ``models.detector.Detector``), ``name`` and
    ``version``, or is a function returning it: it is then called in a thread while
    the shipments are read.

    Flags: ``top`` (a count), else ``budget`` (a share, e.g. 0.01), else with ``threshold``
    the lines above the model's threshold, else the model's inspection budget (the one it
    was trained with; :data:`models.calibration.DEFAULT_BUDGET` for a model without one).
    ``explore`` is the share of the flags reserved for the forest's most unusual shipments
    the ranker does not rank high (see ``models.ranker.explore_flags``); it does nothing
    for a model without a ranker.

    Context: the features are built with the model's own tariff events (its reference
    state); ``events`` replaces them, with a warning that the scores then differ from the
    model's training context. ``importing_country`` is what a line that does not state one
    is taken as (default: the model's).
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    output = Path(output)
    fmt = output_format(output)  # refuse an unknown extension before doing any work
    if budget is not None and not 0 < budget <= 1:
        raise InputError(f"--budget must be a share between 0 and 1 (got {budget})", hint="e.g. --budget 1%")
    if sum(x is not None and x is not False for x in (budget, top, threshold)) > 1:
        raise InputError("give one flag rule: --budget, --top or --threshold model",
                         hint="without any, the model's inspection budget is used")

    output.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(output)  # spill folders and half-written files of killed runs on this output
    # The collector pauses while the model loads and is frozen once it is in: MLflow's and
    # scikit-learn's objects live until the end, and every collection would walk them.
    with PausedCollector() as collector:
        # Loading a model is mostly imports (MLflow, skops): it runs while Polars reads.
        pending = _in_background(model) if callable(model) else None
        return _score(shipments, output, fmt, model, pending, inputs=inputs, events=events, mapping=mapping,
                      budget=budget, top=top, explore=explore, say=say, chunk_rows=chunk_rows, started=started,
                      collector=collector, threshold=threshold, importing_country=importing_country,
                      strict=strict, max_reject_share=max_reject_share, parties=parties, rank_by=rank_by)


def _in_background(fn) -> Future:
    """``fn()`` on a daemon thread: when reading fails first (a bad file, exit 2), the
    command ends at once instead of waiting seconds for MLflow to finish importing."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)

    threading.Thread(target=work, name="waypoint-model", daemon=True).start()
    return future


def _score(shipments, output: Path, fmt: str, model, pending, *, inputs, events, mapping, budget, top, explore,
           say: Progress, chunk_rows: int, started: float, collector: PausedCollector, threshold: bool = False,
           importing_country: str | None = None, strict: bool = False,
           max_reject_share: float | None = None, parties: Sequence[Path] | None = None,
           rank_by: str = "risk") -> ScoreResult:
    # The lineage the output will carry: the files' digests are computed on a thread meanwhile.
    trace = lineage.start(shipments, inputs=inputs, events=events, mapping=mapping, party_lists=parties, options={
        "budget": budget, "top": top, "threshold": threshold, "explore": explore, "importing_country": importing_country,
        "chunk_rows": chunk_rows, "strict": strict, "max_reject_share": max_reject_share, "rank_by": rank_by})
    # Spills live beside the output (same disk as the result) and are removed at the end.
    # Named after the output and this process, so a later run can remove it if this one is killed.
    with tempfile.TemporaryDirectory(prefix=leftover_prefix(output), suffix=".spill", dir=output.parent) as tmp:
        spill = Spill(Path(tmp), chunk_rows)
        say("reading and validating shipments")
        in_memory = chunk_rows * CSV_ROW_BYTES  # a file of about one chunk is read in memory
        loaded, valid = load_spilled(shipments, SHIPMENTS, tmp, mapping=Mapping.from_toml(mapping) if mapping else None,
                                     in_memory_bytes=in_memory, strict=strict)
        check_rejects(loaded, max_reject_share)  # a bad extract fails before any work
        # Component imports can be as large as the shipments: spilled, never held whole.
        inputs_loaded, inputs_valid = load_spilled(inputs, INPUTS, tmp, in_memory_bytes=in_memory) if inputs else (None, None)
        inputs_valid = inputs_valid.drop("_source", "_line") if inputs else None
        # The model's own events unless --events replaces them (never the shipped table behind its back).
        events_loaded = load_side_tables(None, events)[1] if events else None
        parties_loaded = load_parties(parties) if parties else None  # else the model's own list
        sides = {"inputs": inputs_loaded, "events": events_loaded, "parties": parties_loaded}
        side = side_rejects(sides, strict=strict)
        if pending is not None:
            say("loading model")
            model = pending.result()
        collector.resume(freeze=True)
        detector = model.detector
        context = _context(detector, events_loaded, importing_country, inputs)
        context |= parties_context(detector, parties_loaded, context["notes"], rank_by)
        rule_budget, context["flag_rule"] = flag_rule(detector, budget=budget, top=top, threshold=threshold)
        rows_rejected = loaded.rejects.height
        rows_scored = loaded.rows_read - rows_rejected

        say(f"building features for {rows_scored:,} shipments")
        rows = valid.drop("_source", "_line")
        if context["importing_country"]:  # a line stating none is an import of the run's (or the model's) country
            rows = rows.with_columns(pl.col("importing_country").fill_null(pl.lit(context["importing_country"])))
        spill.features(
            rows,
            inputs=inputs_valid,
            events=None if events_loaded is None else conform_events(events_loaded.valid),
            state=detector.state,
            parties=party_frame(parties_loaded),
        )
        if spill.rows + rows_rejected != loaded.rows_read:  # the promise of the contract: nothing lost
            raise RuntimeError(f"rows read {loaded.rows_read} != scored {spill.rows} + rejected {rows_rejected}")

        say("scoring")
        parts, ids = spill.parts(detector)
        ranking = detector.rank(parts, ids, budget=rule_budget, top=top, explore=explore, threshold=threshold, rank_by=rank_by)
        context["above_threshold"] = int((parts["priority"] > detector.threshold).sum())
        del ids
        say(f"explaining {int(ranking['flagged'].sum()):,} flags")
        reasons = spill.explain(detector, parts, ranking)
        del parts
        scores = detector.score_frame(ranking, None, None, model.name, str(model.version)).drop(REASON_CODES, REASONS)
        del ranking

        say(f"writing {output}")
        with atomic_path(output) as tmp_out:
            spill.write(detector, scores, reasons, tmp_out, fmt,
                        metadata={**_metadata(model, context, inputs, events), **trace.metadata(model, context)})
        trace.write_beside(output, fmt)  # a CSV's lineage (Parquet carries it inside)
        rejects_file = rejects_path(output)
        if rows_rejected:
            write_rejects(loaded, output)
        else:
            rejects_file.unlink(missing_ok=True)  # an old rejects file would describe another run
        write_side_rejects(output, sides, side)

    summary = _summary(reasons, scores, detector, rows_scored, context=context, budget=rule_budget, top=top)
    summary["warnings"] = [*(side_warning(r) for r in side), *summary["warnings"]]  # rows of side tables not used: loudly
    return ScoreResult(
        output=str(output),
        rejects=str(rejects_file) if rows_rejected else None,
        model=model.name,
        model_version=str(model.version),
        rows_read=loaded.rows_read,
        rows_scored=rows_scored,
        rows_rejected=rows_rejected,
        reject_counts=dict(loaded.reject_counts),
        dq_counts=dict(loaded.dq_counts),
        side_rejects=side,
        seconds=round(time.perf_counter() - started, 2),
        flag_rule=context["flag_rule"],
        above_threshold=context["above_threshold"],
        events=context["events"],
        events_digest=context["events_digest"],
        importing_country=context["importing_country"],
        inputs_used=bool(inputs),
        parties=context["parties"],
        parties_digest=context["parties_digest"],
        rank_by=rank_by,
        **summary,
    )


def flag_rule(detector, *, budget: float | None, top: int | None, threshold: bool) -> tuple[float | None, str]:
    """The budget to flag by (None: ``top`` or the threshold) and the rule in words for the summary."""
    from models.calibration import DEFAULT_BUDGET

    if top is not None:
        return None, f"top {top:,}"
    if budget is not None:
        return budget, f"budget {budget * 100:g}% (--budget)"
    if threshold:
        return None, "the model's threshold (--threshold model)"
    own = detector.budget
    if own is not None:
        return own, f"budget {own * 100:g}% (the model's)"
    return DEFAULT_BUDGET, f"budget {DEFAULT_BUDGET * 100:g}% (the default; the model has none)"


def _context(detector, events_loaded, importing_country: str | None, inputs) -> dict:
    """Whose tariff events and which importing country the features are built with, and the warnings that go with them."""
    from features.families.tariff import default_country, events_digest

    state = detector.state
    own = state.events if state is not None else None
    notes: list[str] = []
    if events_loaded is not None:
        used = conform_events(events_loaded.valid)
        source = ", ".join(str(f) for f in events_loaded.files)
        theirs = f"the model's {own.height} (digest {events_digest(own)[:12]})" if own is not None else "none"
        if own is None or events_digest(used) != events_digest(own):
            notes.append(
                f"--events replaces the tariff events the model was trained with ({theirs}) by {used.height} from "
                f"{source} (digest {events_digest(used)[:12]}): scores will differ from the model's training context; "
                "leave --events out to score with the model's own events"
            )
            events_name = f"--events {source}"
        else:  # the same measures: the same scores
            events_name = f"--events {source} (the same as the model's)"
    else:
        used = own
        events_name = "the model's"
    country = importing_country or detector.params.get("importing_country") or (default_country(used) if used is not None else None)
    return {
        "events": events_name,
        "events_digest": events_digest(used) if used is not None else "",
        "importing_country": country,
        "notes": notes,
        "inputs": bool(inputs),
    }


def _metadata(model, context: dict, inputs, events) -> dict[str, str]:
    """Key/value metadata of a scored Parquet file: the model and the context it was scored in."""
    return {
        "waypoint.model": str(model.name),
        "waypoint.model_version": str(model.version),
        "waypoint.flag_rule": context["flag_rule"],
        "waypoint.events": context["events"],
        "waypoint.events_digest": context["events_digest"],
        "waypoint.importing_country": context["importing_country"] or "",
        # Value-added features differ with and without the transit country's imports.
        "waypoint.inputs": ("--inputs " + ", ".join(str(p) for p in inputs)) if inputs else "none (the model's reference state alone)",
        "waypoint.parties": context["parties"],
        "waypoint.parties_digest": context["parties_digest"],
        "waypoint.rank_by": context["rank_by"],
    }


def parties_context(detector, loaded, notes: list[str], rank_by: str) -> dict:
    """Whose known-party list the features are built with (the model's unless ``--parties``
    replaces it), a note in ``notes`` when the list differs from the model's, and the
    refusal of ``--rank-by recovery`` by a model without a probability of fraud."""
    from features.families.parties import parties_digest

    if rank_by == "recovery" and detector.ranker is None:
        raise InputError(
            "--rank-by recovery needs a probability of fraud, which only a model trained on outcomes has (a supervised "
            "ranker): this model is the forest alone, so expected recovery is unavailable",
            hint="train with --labels (at least 50 confirmed and 50 cleared lines), or score with --rank-by risk",
        )
    own = detector.state.parties if detector.state is not None else None
    mine = f"the model's {own.height} listings (digest {parties_digest(own)[:12]})" if own is not None else "no list"
    if loaded is None:
        return {"parties": mine if own is not None else "none", "parties_digest": parties_digest(own) if own is not None else "",
                "rank_by": rank_by}
    given = loaded.valid
    digest = parties_digest(given)
    files = ", ".join(str(f) for f in loaded.files)
    if own is None:
        notes.append(f"--parties {files}: the model was trained without a party list, so its score does not weigh "
                     "known parties; flags of listed parties still carry KNOWN_PARTY (train with --parties to weigh them)")
    elif digest != parties_digest(own):
        notes.append(f"--parties replaces the party list the model was trained with ({mine}) by {given.height} listings "
                     f"from {files} (digest {digest[:12]}): scores will differ from the model's training context; "
                     "leave --parties out to score with the model's own list")
    same = own is not None and digest == parties_digest(own)
    return {"parties": f"--parties {files}" + (" (the same as the model's)" if same else ""), "parties_digest": digest,
            "rank_by": rank_by}


#: A threshold flagging fewer lines than this share of the file says the file scores lower than
#: training did; one flagging more than FAR times the budget says it differs from the training span.
FEW, FAR = 0.001, 5


def _summary(reasons: pl.DataFrame, scores: pl.DataFrame, detector, rows: int, *, context: dict,
             budget: float | None, top: int | None) -> dict:
    """Flag counts, top reason codes, the top suspects and warnings, from the small frames."""
    flagged = reasons.height
    codes = (
        reasons.select(pl.col(REASON_CODES).str.split(",").explode().alias("code"))
        .filter(pl.col("code").is_not_null() & (pl.col("code") != ""))
        .group_by("code").len().sort(["len", "code"], descending=[True, False]).head(8)
    )
    warnings = list(context["notes"])
    warnings.extend(_threshold_warnings(context["above_threshold"], rows, budget, detector, threshold_rule=budget is None and top is None))
    top_rows = reasons.sort("risk_rank").head(10).select(
        "risk_rank", "shipment_id", "risk_score", "exporter_id", "origin_country", "hs_code", REASONS
    )
    return {
        "flagged": flagged,
        "explored": int(scores["explore"].sum()) if "explore" in scores.columns else 0,
        "top_reason_codes": [tuple(r) for r in codes.iter_rows()],
        "warnings": warnings,
        "top": top_rows.to_dicts(),
    }


def _threshold_warnings(above: int, rows: int, budget: float | None, detector, *, threshold_rule: bool) -> list[str]:
    """What the model's threshold says about this file: under 0.1 % of its lines above it, or over
    5 times the inspection budget (the model's, or the default, when the run flags by threshold)."""
    from models.calibration import DEFAULT_BUDGET

    if rows == 0:
        return []
    share = above / rows
    plan = budget if budget is not None else (detector.budget or DEFAULT_BUDGET)
    trained = float(detector.params.get("contamination", 0.0))
    said = f"{above:,} of {rows:,} lines ({share:.2%}) are above the model's threshold (it flagged {trained:.2%} of its training lines)"
    if threshold_rule and share < FEW:
        return [f"{said}: the threshold flags under {FEW:.1%} of this file, which scores lower than training did; "
                f"flag by an inspection budget instead (leave out --threshold, or --budget {plan * 100:g}%)"]
    if share > FAR * plan:
        then = ("they are all flagged: " if threshold_rule else "")
        return [f"{said}: {then}more than {FAR} times the inspection budget of {plan:.2%}; this file differs from the "
                "training span (new tariff events, other trade): flags follow the budget"
                + (" only without --threshold model" if threshold_rule else "") + ", and consider retraining"]
    return []


#: Row number of a feature row in the spill (the order ``build_chunks`` gave it in).
ROW = "_row"
#: Columns of the flagged rows kept for the summary beside their reasons.
SUMMARY_COLUMNS = ("shipment_id", "exporter_id", "origin_country", "hs_code")


@dataclass
class Spill:
    """The feature frame of a file spilled to Parquet, read back ``chunk_rows`` rows at a time.

    Memory holds one slice of rows (and the per-row score arrays), never the whole
    feature frame: features are built once (:func:`features.pipeline.build_chunks`)
    and every later pass reads the spill. A file of at most ``chunk_rows`` rows is one
    slice: its features are built in memory and kept, with no spill at all.
    """

    dir: Path
    chunk_rows: int
    rows: int = 0
    _cached: pl.DataFrame | None = None

    @property
    def path(self) -> Path:
        return self.dir / "features.parquet"

    def features(self, shipments: pl.LazyFrame, **build_args) -> None:
        """Build the features; a file of at most ``chunk_rows`` rows in memory (input order),
        a larger one a few arrival months at a time, spilled (rows in month order)."""
        from features.pipeline import build, build_chunks

        if shipments.select(pl.len()).collect().item() <= self.chunk_rows:
            # One chunk: nothing to bound, so no spill to write and read back (about 1.5 s
            # of a 1M-row score). The features are the same either way (tested).
            self._cached = build(shipments, **build_args)
            self.rows = self._cached.height
            return
        chunks = build_chunks(shipments, chunk_rows=max(self.chunk_rows, 1), spill_dir=self.dir, **build_args)
        write_frames(chunks, self.path, "parquet", compression="lz4")
        self.rows = pl.scan_parquet(self.path).select(pl.len()).collect().item()

    def _scan(self) -> pl.LazyFrame:
        return self._cached.lazy() if self._cached is not None else pl.scan_parquet(self.path)

    def slices(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pl.DataFrame]]:
        """``(first row, frame)`` for consecutive slices of the spill, in spill order."""
        if self.rows <= self.chunk_rows:
            if self._cached is None:
                self._cached = pl.read_parquet(self.path)
            yield 0, self._cached if columns is None else self._cached.select(columns)
            return
        scan = pl.scan_parquet(self.path)
        for start in range(0, self.rows, self.chunk_rows):
            part = scan.slice(start, self.chunk_rows)
            yield start, (part if columns is None else part.select(columns)).collect()

    def parts(self, detector) -> tuple[dict[str, np.ndarray], pl.Series | None]:
        """Pass 1: every row's :meth:`~models.detector.Detector.components`, and the ids that break ties."""
        names = self._scan().collect_schema().names()
        has_id = ID in names
        needed = [c for c in detector.input_columns if c in names] + ([ID] if has_id else [])
        needed += [c for c in (DUTY_AT_RISK,) if c in names and c not in needed]  # expected recovery reads it
        parts: dict[str, np.ndarray] = {}
        ids: list[pl.Series] = []
        for start, frame in self.slices(needed):
            if frame.height == 0:
                continue
            chunk = detector.score_parts(frame, frame.height)
            for key, values in chunk.items():
                parts.setdefault(key, np.empty(self.rows, dtype=np.float64))[start : start + values.size] = values
            if has_id:
                ids.append(frame.get_column(ID).cast(pl.String).fill_null(""))
        if not parts:  # no rows: the detector still names its components
            empty = self._scan().select(needed).head(0).collect()
            parts = detector.score_parts(empty)
        return parts, (pl.concat(ids) if ids else pl.Series(ID, [], dtype=pl.String)) if has_id else None

    def explain(self, detector, parts: dict[str, np.ndarray], ranking: dict[str, np.ndarray]) -> pl.DataFrame:
        """Pass 2: reasons of the flagged rows (``ROW``, rank, score, summary columns, codes, sentences)."""
        flagged = np.flatnonzero(ranking["flagged"])
        out = []
        for start, frame in self.slices():
            local = flagged[(flagged >= start) & (flagged < start + frame.height)]
            if local.size == 0:
                continue
            own = {k: v[local] for k, v in parts.items()}
            if "explore" in ranking:
                own["explore"] = ranking["explore"][local]
            rows = frame[local - start]
            rendered = detector.explain(rows, own)
            out.append(pl.DataFrame({
                ROW: local.astype(np.int64),
                "risk_rank": ranking["risk_rank"][local],
                "risk_score": ranking["risk_score"][local],
            }).hstack(rows.select(c for c in SUMMARY_COLUMNS if c in rows.columns)).hstack(rendered))
        if out:
            return pl.concat(out)
        schema = {ROW: pl.Int64, "risk_rank": pl.Int64, "risk_score": pl.Float64,
                  **{c: pl.String for c in SUMMARY_COLUMNS}, REASON_CODES: pl.String, REASONS: pl.String}
        return pl.DataFrame(schema=schema)

    def write(self, detector, scores: pl.DataFrame, reasons: pl.DataFrame, path: Path, fmt: str,
              metadata: dict[str, str] | None = None) -> None:
        """Pass 3: the scored file, sorted by ``risk_rank``, streamed to ``path``.

        Rows are taken by rank range, ``chunk_rows`` ranks at a time: each range is the
        spill's rows with those ranks (a filtered scan), their scores and reasons, put
        in rank order. Memory holds one range.
        """
        columns = detector.output_columns(self._scan().collect_schema().names())
        reasons = reasons.select(pl.col(ROW).cast(pl.Int64), REASON_CODES, REASONS)
        order = np.argsort(scores.get_column("risk_rank").to_numpy(), kind="stable")  # row numbers in rank order

        def assemble(frame: pl.DataFrame) -> pl.DataFrame:
            """Spill rows (with ``ROW``) -> output rows in rank order."""
            at = frame.get_column(ROW).to_numpy()
            frame = frame.drop([c for c in frame.columns if c in scores.columns])
            joined = frame.hstack(scores[at]).join(reasons, on=ROW, how="left", maintain_order="left")
            out = joined.select(columns).sort("risk_rank")
            return neutralise_formulas(out) if fmt == "csv" else out

        def ranked(start: int) -> pl.DataFrame:
            if self.rows <= self.chunk_rows:
                return assemble(next(self.slices())[1].with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64)))
            wanted = pl.Series(np.sort(order[start : start + self.chunk_rows]))
            scan = pl.scan_parquet(self.path).with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
            return assemble(scan.filter(pl.col(ROW).is_in(pl.lit(wanted).implode())).collect())

        empty = pl.DataFrame(schema=self._scan().collect_schema()).with_row_index(ROW)
        ranges = (ranked(start) for start in range(0, self.rows, self.chunk_rows))
        write_frames(ranges, path, fmt, empty=assemble(empty.with_columns(pl.col(ROW).cast(pl.Int64))),
                     metadata=metadata if fmt == "parquet" else None)
