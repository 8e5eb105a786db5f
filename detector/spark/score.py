"""`waypoint score --engine spark`: the scoring job on a Spark cluster (or ``local[*]``).

read + map + validate (the single-machine reader on each batch, ``detector.spark.read``)
-> features of each arrival month against the history before it, and the model's score
parts, in one Arrow UDF per month (``detector.spark.build``) -> file-wide ranks and flags
on the driver (``Detector.rank`` over every line's scores: the same function, so the
same ranks and flags) -> reasons of the flagged lines and the scored rows, per batch ->
a Parquet dataset partitioned by ``arrival_month``, the flagged lines as one ranked
Parquet file, the rejects as a dataset beside it.

Nothing is committed until ``rows read == scored + rejected`` holds on what was written:
every output is written under a temporary folder beside the output and renamed into
place at the end (a killed run leaves only that folder, which the next run removes).
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.jobs.requests import Flags, ScoreRequest
from detector.spark import session as fs
from detector.spark.build import ARRIVAL_MONTH, PART_PREFIX, features as month_features
from detector.spark.read import FILE, LINE, SOURCE, read
from detector.spark.types import spark_schema, to_batches
from features.schema import INPUTS, SHIPMENTS
from models.detector import ID
from models.reasons import REASON_CODES, REASONS

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Outputs:
    """Where a run writes: the scored dataset, the flagged lines' file, the rejects dataset."""

    scored: str
    flagged: str
    rejects: str
    inputs_rejects: str

    @classmethod
    def of(cls, output: str) -> "Outputs":
        base = output.rstrip("/")
        stem = base[: -len(".parquet")] if base.endswith(".parquet") else base
        return cls(base, f"{stem}.flagged.parquet", f"{stem}.rejects.parquet", f"{stem}.inputs.rejects.parquet")

    def all(self) -> tuple[str, ...]:
        return (self.scored, self.flagged, self.rejects, self.inputs_rejects)


def shipped_model(detector_dir: Path) -> Path:
    """A copy of the artifact in a folder named after its manifest's digest, for
    ``SparkContext.addFile`` (a Spark file is known by its name: two models must not share one)."""
    digest = hashlib.sha256((detector_dir / "manifest.json").read_bytes()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "waypoint-spark-models" / digest / f"waypoint-model-{digest}"
    if not target.exists():
        tmp = target.with_name(target.name + f".{uuid.uuid4().hex}")
        shutil.copytree(detector_dir, tmp)
        try:
            tmp.rename(target)
        except OSError:  # another run shipped the same model meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(ref: str | None, settings, tmp: Path):
    """``(LoadedModel, artifact directory)`` of a model reference, as ``waypoint score`` resolves it."""
    from detector.jobs.modelref import DEFAULT_REF, LoadedModel, load_model_ref, model_errors, store

    ref = ref or DEFAULT_REF
    path = Path(ref)
    if path.is_dir() and (path / "manifest.json").is_file():
        return load_model_ref(ref, settings), path
    from models import artifact
    from models.tracking import locate_detector

    with model_errors():
        detector_dir, resolved = locate_detector(store(settings), ref, tmp)
        detector = artifact.load(detector_dir)
    loaded = LoadedModel(detector, name=resolved.name or ref,
                         version=str(resolved.version) if resolved.version is not None else "", ref=ref,
                         run_id=resolved.run_id)
    return loaded, Path(detector_dir)


class Assemble:
    """mapInArrow: feature rows with their ranks -> scored rows (reasons for the flagged ones)."""

    def __init__(self, artifact: str, feature_columns: list[str], out_schema: pl.Schema):
        self.artifact, self.feature_columns, self.out_schema = artifact, feature_columns, out_schema

    def __call__(self, batches):
        from detector.spark.build import artifact_path, detector_at

        det = detector_at(artifact_path(self.artifact))
        for batch in batches:
            frame = pl.from_arrow(batch)
            if frame.height == 0:
                continue
            at = np.flatnonzero(frame["flagged"].to_numpy())
            codes = pl.Series(REASON_CODES, [None] * frame.height, dtype=pl.String)
            texts = pl.Series(REASONS, [None] * frame.height, dtype=pl.String)
            if at.size:
                own = {c.removeprefix(PART_PREFIX): frame[c].to_numpy()[at] for c in frame.columns if c.startswith(PART_PREFIX)}
                if "explore" in frame.columns:
                    own["explore"] = frame["explore"].to_numpy()[at]
                rendered = det.explain(frame[at], own)
                codes = codes.scatter(at, rendered[REASON_CODES])
                texts = texts.scatter(at, rendered[REASONS])
            frame = frame.with_columns(codes, texts)
            out = frame.select(*det.output_columns(self.feature_columns), ARRIVAL_MONTH)
            yield from to_batches(out, self.out_schema)


def score(shipments: Sequence[str], output: str, *, model: str | None = None, settings=None, master: str | None = None,
          spark=None, progress: Progress | None = None, **options):
    """The Spark job in keyword form: :func:`run` of ``ScoreRequest.of(shipments, output, **options)``
    (``inputs``, ``events``, ``mapping``, ``budget``, ``top``, ``threshold``, ``explore``,
    ``importing_country``, ``strict``, ``max_reject_share``)."""
    return run(ScoreRequest.of(shipments, output, **options), model, settings=settings, master=master, spark=spark,
               say=progress)


def run(request: ScoreRequest, model: str | None = None, *, settings=None, master: str | None = None, spark=None,
        say: Progress | None = None):
    """Score a request's shipment files on Spark; returns the ``detector.jobs.score.ScoreResult`` of the run.

    ``request.output`` is a folder (any path Spark writes) for the scored dataset; the flagged
    lines go to ``OUT.flagged.parquet`` and the rejects to ``OUT.rejects.parquet`` beside it
    (``OUT`` without ``.parquet``). ``model`` is a reference as ``waypoint score --model`` takes
    it. ``spark``: a session to use (default: :func:`session` on ``master``).
    The steps: check -> the model, shipped to the executors -> :func:`_run` (read, features per
    month, ranks on the driver, reasons and write, commit) -> the summary.
    """
    from detector.config import Settings
    from detector.io.read import load_side_tables
    from detector.jobs.score import ScoreResult, _context, _summary, flag_rule
    from detector.spark.session import session
    from features.families.tariff import conform_events

    say = say or (lambda _msg: None)
    started = time.perf_counter()
    _check(request)
    spark = spark or session(master)
    outputs = Outputs.of(fs.qualify(spark, str(request.output)))
    work = _work_folder(spark, request, outputs)
    settings = settings or Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="waypoint-spark-model-") as tmp:
        say("loading model")
        loaded_model, detector_dir = resolve_model(model, settings, Path(tmp))
        shipped = shipped_model(detector_dir)
        spark.sparkContext.addFile(str(shipped), recursive=True)
    det = loaded_model.detector
    # The model's own events unless --events replaces them; the run's importing country
    # (or the model's) for lines stating none: the single-machine job's rules (jobs.score).
    events_loaded = load_side_tables(None, request.files.events)[1] if request.files.events else None
    context = _context(det, events_loaded, request.importing_country, request.files.inputs)
    flags = request.flags
    rule_budget, context["flag_rule"] = flag_rule(det, budget=flags.budget, top=flags.top, threshold=flags.threshold)
    event_rows = None if events_loaded is None else conform_events(events_loaded.valid)
    job = _Job(spark, loaded_model, shipped.name, outputs, work, event_rows, context["importing_country"])
    try:
        reasons, scores, counts = _run(job, request, rule_budget, say)
    finally:
        fs.delete(spark, work)
    context["above_threshold"] = counts["above_threshold"]
    summary = _summary(reasons, scores, det, counts["scored"], context=context, budget=rule_budget, top=flags.top)
    return ScoreResult(
        output=outputs.scored, rejects=outputs.rejects if counts["rejected"] else None, model=loaded_model.name,
        model_version=str(loaded_model.version), rows_read=counts["read"], rows_scored=counts["scored"],
        rows_rejected=counts["rejected"], reject_counts=counts["reject_counts"], dq_counts=counts["dq_counts"],
        seconds=round(time.perf_counter() - started, 2), flag_rule=context["flag_rule"],
        above_threshold=context["above_threshold"], events=context["events"], events_digest=context["events_digest"],
        importing_country=context["importing_country"], inputs_used=bool(request.files.inputs), **summary,
    )


def _check(request: ScoreRequest) -> None:
    """Refuse what this engine does not do, before a session is started."""
    if request.files.parties or request.flags.rank_by != "risk":
        raise InputError("--parties and --rank-by recovery are not available with --engine spark yet",
                         hint="score without them on Spark, or on one machine (--engine local)")
    output = str(request.output)
    if output.lower().endswith(".csv"):
        raise InputError(f"{output}: --engine spark writes a Parquet dataset", hint="give a folder or a .parquet name")
    budget = request.flags.budget
    if budget is not None and not 0 < budget <= 1:
        raise InputError(f"--budget must be a share between 0 and 1 (got {budget})", hint="e.g. --budget 1%")


def _work_folder(spark, request: ScoreRequest, outputs: Outputs) -> str:
    """The temporary folder of this run beside the output, once no output would replace an
    input; the folders of killed runs on the same output are removed."""
    files = request.files
    named = fs.expand(spark, [str(p) for p in files.shipments]) + (
        fs.expand(spark, [str(p) for p in files.inputs]) if files.inputs else [])
    for path in named:
        for out in outputs.all():
            if path == out or path.startswith(out + "/"):
                raise InputError(f"{request.output}: the output would replace the input {path}",
                                 hint="write the scored dataset elsewhere")
    parent, name = outputs.scored.rsplit("/", 1)
    for leftover in fs.expand_quiet(spark, f"{parent}/.{name}.waypoint-spark-*"):
        fs.delete(spark, leftover)  # the temporary folder of a killed run on this output
    return f"{parent}/.{name}.waypoint-spark-{uuid.uuid4().hex[:12]}"


def _check_rejects(checked, reject_counts: dict[str, int], max_share: float | None) -> None:
    """Fail (exit 2) when every line was rejected, or more than ``max_share`` of them (as ``waypoint score``)."""
    read = checked.rows_read
    rejected = checked.rejected
    if not read or (rejected < read and (max_share is None or rejected / read <= max_share)):
        return
    why = ", ".join(f"{code} {n:,}" for code, n in list(reject_counts.items())[:3])
    names = ", ".join(checked.files)
    if rejected == read:
        msg = f"{names}: all {read:,} {checked.table.name} row(s) were rejected ({why}); nothing scored"
    else:
        msg = (f"{names}: {rejected:,} of {read:,} {checked.table.name} rows ({rejected / read:.1%}) were rejected, "
               f"more than --max-reject-share {max_share:.1%} ({why})")
    raise InputError(msg, hint="see every reason with `waypoint check FILE --rejects rejects.csv`")


@dataclass(frozen=True)
class _Job:
    """What every step of a Spark run works with: the session, the model (and the name of
    its shipped artifact), where the run commits, its temporary folder, and the context the
    lines are scored in (decided before the steps, as ``detector.jobs.score.decide`` does)."""

    spark: Any
    model: Any  # detector.jobs.modelref.LoadedModel
    artifact: str
    outputs: Outputs
    work: str
    events: pl.DataFrame | None  # tariff events replacing the model's own (``--events``), conformed
    country: str | None  # what a line stating no importing country is taken as


@dataclass
class _Lines:
    """What :func:`_read_lines` read: the checked shipments and component imports (Spark frames)."""

    checked: Any  # detector.spark.read's result for the shipments
    reject_counts: dict[str, int]
    inputs_checked: Any | None
    valid: Any  # the valid lines, the importing country filled in
    inputs_valid: Any | None  # the valid component imports, contract columns


def _run(job: _Job, request: ScoreRequest, budget: float | None, say: Progress):
    """read -> features per arrival month -> ranks on the driver -> reasons and the scored
    dataset -> commit; returns the flagged lines, every line's scores and the counts."""
    say("reading and validating shipments")
    lines = _read_lines(job, request)
    say("building features per arrival month")
    feats = _month_features(job, lines)
    say("ranking")
    ranking, ranked, above = _rank(job, feats, request.flags, budget)
    say(f"explaining {int(ranking['flagged'].sum()):,} flags and writing")
    n_scored, n_rejected = _write(job, feats, ranked, lines)
    say(f"committing {job.outputs.scored}")
    _commit(job, lines)
    flagged = pl.from_arrow(job.spark.read.parquet(job.outputs.flagged).toArrow())
    counts = {"read": lines.checked.rows_read, "scored": n_scored, "rejected": n_rejected,
              "reject_counts": lines.reject_counts, "dq_counts": lines.checked.dq_counts, "above_threshold": above}
    return flagged, ranked, counts


def _read_lines(job: _Job, request: ScoreRequest) -> _Lines:
    """Read and check the shipments (a bad extract fails here, before any work) and the component imports."""
    from pyspark.sql import functions as F

    files = request.files
    mapping = Mapping.from_toml(files.mapping) if files.mapping else None
    checked = read(job.spark, [str(p) for p in files.shipments], SHIPMENTS, mapping=mapping, work=job.work,
                   strict=request.strict)
    reject_counts = checked.reject_counts()
    _check_rejects(checked, reject_counts, request.max_reject_share)  # a bad extract fails before any work
    inputs_checked = read(job.spark, [str(p) for p in files.inputs], INPUTS, work=job.work) if files.inputs else None
    lines = checked.valid.drop(SOURCE, LINE, FILE)
    if job.country:
        lines = lines.withColumn("importing_country", F.coalesce(F.col("importing_country"), F.lit(job.country)))
    ins = inputs_checked.valid.select(*INPUTS.names) if inputs_checked is not None else None
    return _Lines(checked, reject_counts, inputs_checked, lines, ins)


def _month_features(job: _Job, lines: _Lines):
    """The features and score parts of every line, a month at a time against the history
    before it (one Arrow UDF per month), spilled to the work folder and read back."""
    det = job.model.detector
    feats = month_features(job.spark, lines.valid, lines.inputs_valid, state=det.state, events=job.events,
                           artifact=job.artifact, detector=det)
    feats_path = f"{job.work}/features"
    feats.write.parquet(feats_path)
    return job.spark.read.parquet(feats_path)


def _rank(job: _Job, feats, flags: Flags, budget: float | None):
    """File-wide ranks and flags on the driver, by ``Detector.rank`` over every line's score
    parts (the single machine's function, so the same ranks and flags); returns the ranking,
    every score column the single-machine output has (reasons come later) by id, and how
    many lines are above the model's threshold."""
    det, model = job.model.detector, job.model
    part_cols = [c for c in feats.columns if c.startswith(PART_PREFIX)]
    scores = pl.from_arrow(feats.select(ID, *part_cols).toArrow())
    parts = {c.removeprefix(PART_PREFIX): scores[c].to_numpy() for c in part_cols}
    ranking = det.rank(parts, scores[ID].cast(pl.String).fill_null(""), budget=budget, top=flags.top,
                       explore=flags.explore, threshold=flags.threshold)
    above = int((parts["priority"] > det.threshold).sum())
    ranked = det.score_frame(ranking, None, None, model.name, str(model.version)).drop(REASON_CODES, REASONS)
    return ranking, ranked.insert_column(0, scores[ID]), above


def _write(job: _Job, feats, ranked: pl.DataFrame, lines: _Lines) -> tuple[int, int]:
    """The scored dataset (reasons of the flagged lines, per batch), the flagged lines' file
    and the rejects, under the work folder; then the promise of the contract on what was
    written: nothing read is lost. Returns the lines scored and rejected."""
    from pyspark.sql import functions as F

    spark, det, work = job.spark, job.model.detector, job.work
    ranks = spark.createDataFrame(ranked.to_arrow(compat_level=pl.CompatLevel.oldest()))
    joined = feats.drop(*[c for c in ranked.columns if c in feats.columns and c != ID]).join(ranks, ID)
    feature_columns = [c for c in feats.columns if not c.startswith(PART_PREFIX) and c != ARRIVAL_MONTH]
    empty = pl.DataFrame(schema={**_schema_of(feats.schema), **_schema_of(ranks.schema)})
    sample = empty.with_columns(pl.lit(None, dtype=pl.String).alias(REASON_CODES), pl.lit(None, dtype=pl.String).alias(REASONS))
    out_schema = sample.select(*det.output_columns(feature_columns), ARRIVAL_MONTH).schema
    fn = Assemble(job.artifact, feature_columns, out_schema)
    scored = joined.mapInArrow(fn, spark_schema(out_schema))
    scored.repartition(ARRIVAL_MONTH).sortWithinPartitions("risk_rank").write.partitionBy(ARRIVAL_MONTH).parquet(f"{work}/scored")
    written = spark.read.parquet(f"{work}/scored")
    written.filter(F.col("flagged")).orderBy("risk_rank").coalesce(1).write.parquet(f"{work}/flagged")
    lines.checked.rejects.write.parquet(f"{work}/rejects")
    if lines.inputs_checked is not None:
        lines.inputs_checked.rejects.write.parquet(f"{work}/inputs_rejects")

    n_scored = written.count()
    n_rejected = spark.read.parquet(f"{work}/rejects").count()
    if n_scored + n_rejected != lines.checked.rows_read:
        raise RuntimeError(f"rows read {lines.checked.rows_read} != scored {n_scored} + rejected {n_rejected}")
    if n_scored != ranked.height:
        raise RuntimeError(f"ranked {ranked.height} lines but wrote {n_scored}")
    return n_scored, n_rejected


def _commit(job: _Job, lines: _Lines) -> None:
    """Rename what :func:`_write` wrote into place; an old component-imports rejects dataset
    of a run that rejected none is removed (it would describe another run)."""
    spark, work, outputs = job.spark, job.work, job.outputs
    flagged_files = fs.part_files(spark, f"{work}/flagged")
    fs.rename(spark, f"{work}/scored", outputs.scored)
    fs.rename(spark, flagged_files[0], outputs.flagged)
    fs.rename(spark, f"{work}/rejects", outputs.rejects)
    if lines.inputs_checked is not None and spark.read.parquet(f"{work}/inputs_rejects").count():
        fs.rename(spark, f"{work}/inputs_rejects", outputs.inputs_rejects)
    else:
        fs.delete(spark, outputs.inputs_rejects)  # an old one would describe another run


def _schema_of(struct) -> dict:
    from detector.spark.build import _polars_schema

    return dict(_polars_schema(struct))
