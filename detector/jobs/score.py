"""The scoring job behind `waypoint score`: files in, a ranked and explained file out.

:func:`run` takes a :class:`~detector.jobs.requests.ScoreRequest` through named steps,
each a function of its own:

    check -> read_lines -> (the model, loaded meanwhile) -> decide -> build_features
    -> score_lines (forest, ranker, reasons) -> write_outputs -> the ScoreResult

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
    Loaded, check_rejects, load_side_tables, load_spilled, rejects_path, side_rejects, side_warning, write_rejects,
    write_side_rejects,
)
from detector.io.write import (
    atomic_path, check_output, leftover_prefix, neutralise_formulas, output_format, remove_leftovers, write_frames,
)
from detector.jobs.requests import Flags, PathLike, ScoreRequest
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


def score(shipments: PathLike | Sequence[PathLike], output: PathLike, *, model, progress: Progress | None = None,
          **options) -> ScoreResult:
    """The job in keyword form: :func:`run` of ``ScoreRequest.of(shipments, output, **options)``.

    ``options`` are the files by role (``inputs``, ``events``, ``parties``, ``mapping``) and
    the options of :class:`~detector.jobs.requests.Flags` and ``ScoreRequest`` by name
    (``budget``, ``top``, ``threshold``, ``explore``, ``rank_by``, ``importing_country``,
    ``strict``, ``max_reject_share``, ``chunk_rows``).
    """
    return run(ScoreRequest.of(shipments, output, **options), model, say=progress)


def run(request: ScoreRequest, model=None, *, settings=None, say: Progress | None = None) -> ScoreResult:
    """Score the request's shipment files with a model, through the steps of the module doc.

    ``model``: a reference (``NAME@ALIAS``, ``NAME/VERSION``, a run id or a saved detector
    directory; default ``waypoint@champion``, found with ``settings``), a loaded model
    (``detector``, a ``models.detector.Detector``, ``name`` and ``version``), or a function
    returning one. A reference is checked at once (a missing model fails before any file
    is read) and, as a function, the model is loaded on a thread while the files are read.

    Flags (``request.flags``): ``top`` (a count), else ``budget`` (a share, e.g. 0.01), else
    with ``threshold`` the lines above the model's threshold, else the model's inspection
    budget (the one it was trained with; :data:`models.calibration.DEFAULT_BUDGET` for a
    model without one). ``explore`` is the share of the flags reserved for the forest's most
    unusual shipments the ranker does not rank high (see ``models.ranker.explore_flags``); it
    does nothing for a model without a ranker.

    Context: the features are built with the model's own tariff events (its reference
    state); ``--events`` replaces them, with a warning that the scores then differ from the
    model's training context. ``importing_country`` is what a line that does not state one
    is taken as (default: the model's).
    """
    say = say or (lambda _msg: None)
    started = time.perf_counter()
    output, fmt = check(request)
    if model is None or isinstance(model, str):
        from detector.jobs.modelref import resolver

        model = resolver(model, settings)  # a missing model is reported now, before any file is read
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(output)  # spill folders and half-written files of killed runs on this output
    # Loading a model is mostly imports (MLflow, skops): it runs while Polars reads.
    pending = _in_background(model) if callable(model) else None
    chunk_rows = CHUNK_ROWS if request.chunk_rows is None else request.chunk_rows
    files = request.files
    # The lineage the output will carry: the files' digests are computed on a thread meanwhile.
    trace = lineage.start(files.shipments, inputs=files.inputs, events=files.events, mapping=files.mapping,
                          party_lists=files.parties, options=request.options(chunk_rows))
    # Spills live beside the output (same disk as the result) and are removed at the end.
    # Named after the output and this process, so a later run can remove it if this one is killed.
    with tempfile.TemporaryDirectory(prefix=leftover_prefix(output), suffix=".spill", dir=output.parent) as tmp:
        spill = Spill(Path(tmp), chunk_rows)
        say("reading and validating shipments")
        lines = read_lines(request, spill)
        if pending is not None:
            say("loading model")
            model = pending.result()
        context, budget = decide(model.detector, lines, request)
        say(f"building features for {lines.rows_scored:,} shipments")
        build_features(spill, lines, model.detector, context["importing_country"])
        say("scoring")
        scored = score_lines(spill, model, request.flags, budget, say)
        context["above_threshold"] = scored.above_threshold
        say(f"writing {output}")
        metadata = {**_metadata(model, context, files.inputs), **trace.metadata(model, context)}
        write_outputs(spill, model.detector, scored, lines, output, fmt, metadata)
        trace.write_beside(output, fmt)  # a CSV's lineage (Parquet carries it inside)

    summary = _summary(scored.reasons, scored.scores, model.detector, lines.rows_scored, context=context, budget=budget,
                       top=request.flags.top)
    summary["warnings"] = [*(side_warning(r) for r in lines.side_reports), *summary["warnings"]]  # side rows not used: loudly
    return ScoreResult(
        output=str(output),
        rejects=str(rejects_path(output)) if lines.rows_rejected else None,
        model=model.name,
        model_version=str(model.version),
        rows_read=lines.loaded.rows_read,
        rows_scored=lines.rows_scored,
        rows_rejected=lines.rows_rejected,
        reject_counts=dict(lines.loaded.reject_counts),
        dq_counts=dict(lines.loaded.dq_counts),
        side_rejects=lines.side_reports,
        seconds=round(time.perf_counter() - started, 2),
        flag_rule=context["flag_rule"],
        above_threshold=context["above_threshold"],
        events=context["events"],
        events_digest=context["events_digest"],
        importing_country=context["importing_country"],
        inputs_used=bool(files.inputs),
        parties=context["parties"],
        parties_digest=context["parties_digest"],
        rank_by=request.flags.rank_by,
        **summary,
    )


def check(request: ScoreRequest) -> tuple[Path, str]:
    """Step 1: refuse a request that cannot run before anything is read, loaded or written;
    returns the output and its format. The output, and every file written beside it (the
    rejects, the lineage sidecar), must not be an input nor a folder; its extension must
    name a format; the flag rule must be one rule."""
    from detector.lineage import sidecar_path

    output = Path(request.output)
    check_output(output, request.files.named(),
                 beside=[rejects_path(output), *(rejects_path(output, role) for role in ("inputs", "events", "parties")),
                         sidecar_path(output)])
    fmt = output_format(output)  # refuse an unknown extension before doing any work
    flags = request.flags
    if flags.budget is not None and not 0 < flags.budget <= 1:
        raise InputError(f"--budget must be a share between 0 and 1 (got {flags.budget})", hint="e.g. --budget 1%")
    if sum(x is not None and x is not False for x in (flags.budget, flags.top, flags.threshold)) > 1:
        raise InputError("give one flag rule: --budget, --top or --threshold model",
                         hint="without any, the model's inspection budget is used")
    return output, fmt


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


@dataclass
class Lines:
    """What :func:`read_lines` read: the checked shipment lines and the side tables."""

    loaded: Loaded  # the shipments' read: counts, rejects, data-quality codes (its ``valid`` is empty)
    valid: pl.LazyFrame  # the lines to score, in file order (with ``_source`` and ``_line``)
    inputs_valid: pl.LazyFrame | None  # the valid component imports to build the features with (``--inputs``)
    sides: dict[str, Loaded | None]  # the side tables by role: inputs, events (``--events``), parties (``--parties``)
    side_reports: list[dict]  # the side tables that rejected rows

    @property
    def rows_rejected(self) -> int:
        return self.loaded.rejects.height

    @property
    def rows_scored(self) -> int:
        return self.loaded.rows_read - self.rows_rejected


def read_lines(request: ScoreRequest, spill: Spill) -> Lines:
    """Step 2: read, map and check the shipment files (a bad extract fails here, before any
    work) and the side tables given, spilling the checked rows beside the spill's features."""
    files = request.files
    in_memory = spill.chunk_rows * CSV_ROW_BYTES  # a file of about one chunk is read in memory
    mapping = Mapping.from_toml(files.mapping) if files.mapping else None
    loaded, valid = load_spilled(files.shipments, SHIPMENTS, spill.dir, mapping=mapping, in_memory_bytes=in_memory,
                                 strict=request.strict)
    check_rejects(loaded, request.max_reject_share)  # a bad extract fails before any work
    # Component imports can be as large as the shipments: spilled, never held whole.
    inputs_loaded, inputs_valid = (load_spilled(files.inputs, INPUTS, spill.dir, in_memory_bytes=in_memory)
                                   if files.inputs else (None, None))
    inputs_valid = inputs_valid.drop("_source", "_line") if files.inputs else None
    # The model's own events unless --events replaces them (never the shipped table behind its back).
    events_loaded = load_side_tables(None, files.events)[1] if files.events else None
    parties_loaded = load_parties(files.parties) if files.parties else None  # else the model's own list
    sides = {"inputs": inputs_loaded, "events": events_loaded, "parties": parties_loaded}
    return Lines(loaded, valid, inputs_valid, sides, side_rejects(sides, strict=request.strict))


def decide(detector, lines: Lines, request: ScoreRequest) -> tuple[dict, float | None]:
    """Step 3: the context the lines are scored in (whose tariff events, known parties and
    importing country, with the warnings they call for) and the budget to flag by (None:
    ``top`` or the threshold), the rule in words in ``context["flag_rule"]``."""
    flags = request.flags
    context = _context(detector, lines.sides["events"], request.importing_country, request.files.inputs)
    context |= parties_context(detector, lines.sides["parties"], context["notes"], flags.rank_by)
    budget, context["flag_rule"] = flag_rule(detector, budget=flags.budget, top=flags.top, threshold=flags.threshold)
    return context, budget


def build_features(spill: Spill, lines: Lines, detector, country: str | None) -> None:
    """Step 4: the features of the lines, built with the model's reference state (or the
    side tables given) into ``spill``; then the contract's promise that nothing read is lost."""
    rows = lines.valid.drop("_source", "_line")
    if country:  # a line stating none is an import of the run's (or the model's) country
        rows = rows.with_columns(pl.col("importing_country").fill_null(pl.lit(country)))
    events = lines.sides["events"]
    spill.features(
        rows,
        inputs=lines.inputs_valid,
        events=None if events is None else conform_events(events.valid),
        state=detector.state,
        parties=party_frame(lines.sides["parties"]),
    )
    if spill.rows + lines.rows_rejected != lines.loaded.rows_read:  # the promise of the contract: nothing lost
        raise RuntimeError(f"rows read {lines.loaded.rows_read} != scored {spill.rows} + rejected {lines.rows_rejected}")


@dataclass
class Scored:
    """What :func:`score_lines` computed: every line's score columns (in spill order), the
    flagged lines' reasons, and how many lines are above the model's threshold."""

    scores: pl.DataFrame
    reasons: pl.DataFrame
    above_threshold: int


def score_lines(spill: Spill, model, flags: Flags, budget: float | None, say: Progress) -> Scored:
    """Step 5: the forest's and the ranker's score parts of every line (a slice at a time),
    file-wide ranks and flags, then the reasons of the flagged lines only."""
    detector = model.detector
    parts, ids = spill.parts(detector)
    ranking = detector.rank(parts, ids, budget=budget, top=flags.top, explore=flags.explore, threshold=flags.threshold,
                            rank_by=flags.rank_by)
    above = int((parts["priority"] > detector.threshold).sum())
    del ids
    say(f"explaining {int(ranking['flagged'].sum()):,} flags")
    reasons = spill.explain(detector, parts, ranking)
    del parts  # the per-row arrays are the largest thing held; the score columns are built without them
    scores = detector.score_frame(ranking, None, None, model.name, str(model.version)).drop(REASON_CODES, REASONS)
    return Scored(scores, reasons, above)


def write_outputs(spill: Spill, detector, scored: Scored, lines: Lines, output: Path, fmt: str,
                  metadata: dict[str, str]) -> None:
    """Step 6: the scored file in rank order (atomic: a failed run leaves the previous one),
    then the rejects beside it; an old rejects file of a run that rejected nothing is removed."""
    with atomic_path(output) as tmp_out:
        spill.write(detector, scored.scores, scored.reasons, tmp_out, fmt, metadata=metadata)
    if lines.rows_rejected:
        write_rejects(lines.loaded, output)
    else:
        rejects_path(output).unlink(missing_ok=True)  # an old rejects file would describe another run
    write_side_rejects(output, lines.sides, lines.side_reports)


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


def _metadata(model, context: dict, inputs: Sequence[PathLike] | None) -> dict[str, str]:
    """Key/value metadata of a scored Parquet file: the model and the context it was scored in."""
    return {
        "waypoint.model": str(model.name),
        "waypoint.model_version": str(model.version),
        "waypoint.flag_rule": context["flag_rule"],
        "waypoint.events": context["events"],
        "waypoint.events_digest": context["events_digest"],
        "waypoint.importing_country": context["importing_country"] or "",
        # Value-added features differ with and without the transit country's imports.
        "waypoint.inputs": ("--inputs " + ", ".join(str(Path(p)) for p in inputs)) if inputs else "none (the model's reference state alone)",
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
