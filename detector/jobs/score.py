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
from polars.io.plugins import register_io_source

from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.io.read import load_side_tables, load_spilled, rejects_path, write_rejects
from detector.io.write import atomic_path, leftover_prefix, neutralise_formulas, output_format, remove_leftovers
from features._runtime import PausedCollector
from features.schema import INPUTS, SHIPMENTS
from models.detector import CHUNK_ROWS, ID
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
    top_reason_codes: list[tuple[str, int]] = field(default_factory=list)
    top: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
    explore: float = 0.0,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ScoreResult:
    """Score shipment files with a loaded model (see ``detector.jobs.modelref``).

    ``model`` carries ``detector`` (a ``models.detector.Detector``), ``name`` and
    ``version``, or is a function returning it: it is then called in a thread while
    the shipments are read. ``budget`` (a share, e.g. 0.01) or ``top`` (a count) replace the
    model's own flag threshold. ``explore`` is the share of the flags reserved for the
    forest's most unusual shipments the ranker does not rank high (see
    ``models.ranker.explore_flags``); it does nothing for a model without a ranker.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    output = Path(output)
    fmt = output_format(output)  # refuse an unknown extension before doing any work
    if budget is not None and not 0 < budget <= 1:
        raise InputError(f"--budget must be a share between 0 and 1 (got {budget})", hint="e.g. --budget 1%")

    output.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(output)  # spill folders and half-written files of killed runs on this output
    # The collector pauses while the model loads and is frozen once it is in: MLflow's and
    # scikit-learn's objects live until the end, and every collection would walk them.
    with PausedCollector() as collector:
        # Loading a model is mostly imports (MLflow, skops): it runs while Polars reads.
        pending = _in_background(model) if callable(model) else None
        return _score(shipments, output, fmt, model, pending, inputs=inputs, events=events, mapping=mapping,
                      budget=budget, top=top, explore=explore, say=say, chunk_rows=chunk_rows, started=started,
                      collector=collector)


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
           say: Progress, chunk_rows: int, started: float, collector: PausedCollector) -> ScoreResult:
    # Spills live beside the output (same disk as the result) and are removed at the end.
    # Named after the output and this process, so a later run can remove it if this one is killed.
    with tempfile.TemporaryDirectory(prefix=leftover_prefix(output), suffix=".spill", dir=output.parent) as tmp:
        spill = Spill(Path(tmp), chunk_rows)
        say("reading and validating shipments")
        in_memory = chunk_rows * CSV_ROW_BYTES  # a file of about one chunk is read in memory
        loaded, valid = load_spilled(shipments, SHIPMENTS, tmp, mapping=Mapping.from_toml(mapping) if mapping else None,
                                     in_memory_bytes=in_memory)
        # Component imports can be as large as the shipments: spilled, never held whole.
        inputs_valid = load_spilled(inputs, INPUTS, tmp, in_memory_bytes=in_memory)[1].drop("_source", "_line") if inputs else None
        events_loaded = load_side_tables(None, events)[1]
        if pending is not None:
            say("loading model")
            model = pending.result()
        collector.resume(freeze=True)
        detector = model.detector
        rows_rejected = loaded.rejects.height
        rows_scored = loaded.rows_read - rows_rejected

        say(f"building features for {rows_scored:,} shipments")
        spill.features(
            valid.drop("_source", "_line"),
            inputs=inputs_valid,
            events=events_loaded.valid,
            state=detector.state,
        )
        if spill.rows + rows_rejected != loaded.rows_read:  # the promise of the contract: nothing lost
            raise RuntimeError(f"rows read {loaded.rows_read} != scored {spill.rows} + rejected {rows_rejected}")

        say("scoring")
        parts, ids = spill.parts(detector)
        ranking = detector.rank(parts, ids, budget=budget, top=top, explore=explore)
        del ids
        say(f"explaining {int(ranking['flagged'].sum()):,} flags")
        reasons = spill.explain(detector, parts, ranking)
        del parts
        scores = detector.score_frame(ranking, None, None, model.name, str(model.version)).drop(REASON_CODES, REASONS)
        del ranking

        say(f"writing {output}")
        with atomic_path(output) as tmp_out:
            spill.write(detector, scores, reasons, tmp_out, fmt)
        rejects_file = rejects_path(output)
        if rows_rejected:
            write_rejects(loaded, output)
        else:
            rejects_file.unlink(missing_ok=True)  # an old rejects file would describe another run

    summary = _summary(reasons, scores, detector, rows_scored, budget=budget, top=top)
    return ScoreResult(
        output=str(output),
        rejects=str(rejects_file) if rows_rejected else None,
        model=model.name,
        model_version=str(model.version),
        rows_read=loaded.rows_read,
        rows_scored=rows_scored,
        rows_rejected=rows_rejected,
        reject_counts=dict(loaded.reject_counts),
        seconds=round(time.perf_counter() - started, 2),
        **summary,
    )


def _summary(reasons: pl.DataFrame, scores: pl.DataFrame, detector, rows: int, *,
             budget: float | None, top: int | None) -> dict:
    """Flag counts, top reason codes, the top suspects and warnings, from the small frames."""
    flagged = reasons.height
    codes = (
        reasons.select(pl.col(REASON_CODES).str.split(",").explode().alias("code"))
        .filter(pl.col("code").is_not_null() & (pl.col("code") != ""))
        .group_by("code").len().sort(["len", "code"], descending=[True, False]).head(8)
    )
    warnings = []
    expected = float(detector.params.get("contamination", 0.0))
    if budget is None and top is None and expected and rows >= 100 and flagged > 5 * expected * rows:
        warnings.append(
            f"{flagged / rows:.0%} of the rows are above the model's threshold, which flagged "
            f"{expected:.1%} of its training shipments: this file differs from the training span (new events, "
            "other trade); use --budget to flag what the team can inspect, and consider retraining"
        )
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


#: Row number of a feature row in the spill (the order ``build_chunked`` wrote it in).
ROW = "_row"
#: Columns of the flagged rows kept for the summary beside their reasons.
SUMMARY_COLUMNS = ("shipment_id", "exporter_id", "origin_country", "hs_code")


@dataclass
class Spill:
    """The feature frame of a file spilled to Parquet, read back ``chunk_rows`` rows at a time.

    Memory holds one slice of rows (and the per-row score arrays), never the whole
    feature frame: features are built once (:func:`features.pipeline.build_chunked`)
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
        from features.pipeline import build, build_chunked

        if shipments.select(pl.len()).collect().item() <= self.chunk_rows:
            # One chunk: nothing to bound, so no spill to write and read back (about 1.5 s
            # of a 1M-row score). The features are the same either way (tested).
            self._cached = build(shipments, **build_args).collect()
            self.rows = self._cached.height
            return
        lf = build_chunked(shipments, chunk_rows=max(self.chunk_rows, 1), spill_dir=self.dir, **build_args)
        lf.sink_parquet(self.path, compression="lz4", statistics=False)
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

    def write(self, detector, scores: pl.DataFrame, reasons: pl.DataFrame, path: Path, fmt: str) -> None:
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

        def source(with_columns, predicate, _n_rows, _batch):
            for start in range(0, self.rows, self.chunk_rows):
                df = ranked(start)
                if predicate is not None:
                    df = df.filter(predicate)
                yield df if with_columns is None else df.select(with_columns)

        empty = pl.DataFrame(schema=self._scan().collect_schema()).with_row_index(ROW)
        schema = assemble(empty.with_columns(pl.col(ROW).cast(pl.Int64))).schema
        lf = register_io_source(source, schema=schema, explain_name="waypoint scored output")
        if fmt == "parquet":
            lf.sink_parquet(path)
        else:
            lf.sink_csv(path)
