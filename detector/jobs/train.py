"""The training job behind `waypoint train`: files in, a registered model version out.

A ``detector.jobs.requests.TrainRequest`` says what to read, how to fit and where to
register; :func:`train` runs it in named steps:

:func:`read_training_data` (read + map + validate, rejects kept and counted; the side
tables) -> :func:`build_features_and_state` (point-in-time features of the training rows,
and the reference state scoring will use) -> :func:`fit_forest` (the forest, calibration
and threshold) -> :func:`measure_held_out` (with labels: figures on the last weeks, held
out) -> :func:`fit_ranker` (the supervised ranker, with labels) -> :func:`measure_training`
-> :func:`log_and_register` (the detector artifact, an MLflow run with params, tags
holding the SHA-256 of every input file, metrics, and a new registered model version).

Training features are built with an *empty* history (``state=None``): each row sees
only the training rows that arrived before it, exactly as a scored row sees the
reference state plus earlier rows of its own file. The reference state is then fitted
on all training rows, for scoring later files.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from detector import __version__
from detector.config import Settings
from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.io.parties import load_parties, party_frame
from detector.io.read import (
    Loaded, check_rejects, load, load_labels, load_side_tables, side_rejects, side_warning, write_rejects,
)
from detector.jobs.context import ImportingContext, importing_context
from detector.jobs.requests import PathLike, TrainRequest
from features.families.parties import parties_digest
from features.schema import EVENTS, INPUTS, SHIPMENTS

if TYPE_CHECKING:
    from detector.spark.train import SparkTraining
    from features.state import ReferenceState
    from models.detector import Detector
    from models.holdout import HoldoutResult
    from models.tracking import Store, TrainingRecord

#: Quantiles of the training anomaly scores recorded as metrics.
SCORE_QUANTILES = (0.5, 0.9, 0.99, 0.999)

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    """What a training run produced, for the CLI summary (and ``--json``)."""

    run_id: str
    experiment: str
    model_name: str
    model_version: int
    aliases: list[str]
    rows_read: int
    rows_used: int
    rows_rejected: int
    reject_counts: dict[str, int]
    trained_span: list[str] | None
    metrics: dict[str, float]
    tracking_uri: str
    store: str
    ui_command: str
    seconds: float
    labelled_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    ranker: bool = False  # a supervised ranker was trained on the labels
    dq_counts: dict[str, int] = field(default_factory=dict)  # data-quality code -> training rows carrying it
    side_rejects: list[dict] = field(default_factory=list)  # side tables (inputs, events, labels) that rejected rows

    def to_dict(self) -> dict:
        return asdict(self)


# --- the run, step by step -----------------------------------------------------------------------


def train(
    request: TrainRequest | PathLike | Sequence[PathLike],
    *,
    settings: Settings | None = None,
    say: Progress | None = None,
    **options: Any,
) -> TrainResult:
    """Run a training request: fit a detector, record it in MLflow and register a new version.

    ``train(shipments, **options)`` builds the request first (:meth:`TrainRequest.of`).
    Fewer valid lines than the forest draws per tree (``max_samples``) are refused unless
    ``force``. With labels, the last weeks of the labelled span are held out first
    (``models.holdout``: figures labelled ``heldout_``, and with ``baseline`` the plain
    gradient-boosted baseline's on the same split), then the registered model is fitted on
    every line. Raises ``InputError`` for unusable files and ``ModelError`` when the model
    cannot be fitted or recorded.
    """
    if not isinstance(request, TrainRequest):
        request = TrainRequest.of(request, **options)
    elif options:
        raise TypeError(f"train(request) takes no other options (got {', '.join(options)})")
    say = say or (lambda _msg: None)
    started = time.perf_counter()
    settings = settings or Settings.from_env()
    check(request)

    data = read_training_data(request, say)
    features, state = build_features_and_state(data, say)
    detector, left_out = fit_forest(request, data, features, state, say)
    truth, label_warnings = _labels(data.shipments, features, request.files.labels, data.labels)
    data.warnings.extend(label_warnings)
    heldout = measure_held_out(request, detector, features, truth, say)
    if heldout is not None and heldout.note is not None:
        data.warnings.append(heldout.note)
    elif heldout is None and request.baseline:
        data.warnings.append("--baseline needs labels enough for the ranker: no baseline was fitted")
    ranker_note = fit_ranker(detector, features, truth, heldout, say)
    if ranker_note is not None and truth is not None:
        data.warnings.append(ranker_note)
    metrics = measure_training(detector, features, truth, heldout, say)
    store, record = log_and_register(
        request, data, detector, Recorded(state, left_out, ranker_note, metrics), settings, say)
    loaded = data.shipments
    return TrainResult(
        run_id=record.run_id,
        experiment=request.registration.experiment,
        model_name=record.model_name,
        model_version=record.version,
        aliases=list(record.aliases),
        rows_read=loaded.rows_read,
        rows_used=loaded.valid.height,
        rows_rejected=loaded.rejects.height,
        reject_counts=dict(loaded.reject_counts),
        dq_counts=dict(loaded.dq_counts),
        side_rejects=data.side,
        trained_span=list(detector.trained_span) if detector.trained_span else None,
        metrics=record.metrics,
        tracking_uri=store.tracking_uri,
        store=store.location,
        ui_command=store.ui_command,
        seconds=round(time.perf_counter() - started, 2),
        labelled_rows=int(np.isfinite(truth).sum()) if truth is not None else 0,
        warnings=data.warnings,
        ranker=detector.ranker is not None,
    )


def check(request: TrainRequest) -> None:
    """Refuse options no run can use, before any file is read (``InputError``)."""
    contamination, n_estimators, budget = request.forest.contamination, request.forest.n_estimators, request.budget
    if not 0 < contamination <= 0.5:
        raise InputError(f"--contamination must be in (0, 0.5] (got {contamination})", hint="e.g. --contamination 0.01")
    if n_estimators < 1:
        raise InputError(f"--n-estimators must be at least 1 (got {n_estimators})")
    if not 0 < budget <= 1:
        raise InputError(f"--budget must be a share between 0 and 1 (got {budget})", hint="e.g. --budget 1%")
    if request.files.parties and request.engine == "spark":
        raise InputError("--parties is not read by --engine spark yet", hint="train on one machine to use a party list")


@dataclass
class TrainingData:
    """The checked tables of a training run (each a ``Loaded``: valid rows and rejects)."""

    shipments: Loaded
    inputs: Loaded | None
    events: Loaded
    labels: Loaded | None
    parties: Loaded | None
    lines: pl.DataFrame  # the valid shipment lines, their importing country filled
    importing: ImportingContext
    side: list[dict]  # reports of the side tables that rejected rows
    spark: SparkTraining | None  # with --engine spark: what Spark read and builds
    request: TrainRequest  # what it was read for
    warnings: list[str] = field(default_factory=list)  # said with the result, in the order found


def read_training_data(request: TrainRequest, say: Progress) -> TrainingData:
    """Read, map and check the shipment files (refusing too few lines) and the side tables."""
    files = request.files
    max_samples = request.forest.max_samples
    say("reading and validating shipments")
    # --engine spark: Spark reads, builds the features and sums the state (detector.spark.train).
    spark_run = _spark_training(request, say) if request.engine == "spark" else None
    loaded = spark_run.loaded if spark_run else load(
        files.shipments, SHIPMENTS, mapping=Mapping.from_toml(files.mapping) if files.mapping else None,
        strict=request.strict)
    check_rejects(loaded, request.max_reject_share, what="trained on")
    if loaded.valid.height < 2:
        raise InputError(
            f"only {loaded.valid.height} valid shipment row(s) of {loaded.rows_read} read; nothing to train on",
            hint="see the rejects reasons with `waypoint check FILE`",
        )
    # Each tree is grown on max_samples lines: with fewer, every tree sees the same few
    # lines, the threshold rests on a handful of scores, and the version would still be
    # registered (and made champion when it is the first).
    if isinstance(max_samples, int) and loaded.valid.height < max_samples and not request.force:
        raise InputError(
            f"only {loaded.valid.height:,} valid shipment line(s) of {loaded.rows_read:,} read: the forest draws "
            f"{max_samples} lines per tree and needs at least {max_samples} to train",
            hint="train on more lines (several months of trade), or pass --force to train on these anyway",
        )
    inputs_loaded, events_loaded = load_side_tables(None if spark_run else files.inputs, files.events)
    inputs_loaded = spark_run.inputs_loaded if spark_run else inputs_loaded
    labels_loaded = load_labels(files.labels) if files.labels is not None else None
    parties_loaded = load_parties(files.parties) if files.parties else None  # a known-party list; it travels in the state
    # Side-table rows that cannot be used are said loudly (--strict: the run fails here, before any work).
    side = side_rejects({"inputs": inputs_loaded, "events": events_loaded, "labels": labels_loaded,
                         "parties": parties_loaded}, strict=request.strict)
    # Only the measures of the lines' importing country apply (features.families.tariff).
    lines, importing = importing_context(loaded.valid, events_loaded.valid, request.importing_country)
    return TrainingData(loaded, inputs_loaded, events_loaded, labels_loaded, parties_loaded, lines, importing, side,
                        spark_run, request, warnings=[*(side_warning(r) for r in side), *importing.warnings])


def build_features_and_state(data: TrainingData, say: Progress) -> tuple[pl.DataFrame, ReferenceState]:
    """The training rows' point-in-time features (empty history) and the reference state of all of them."""
    from features.pipeline import build
    from features.state import fit_state

    say(f"building features for {data.shipments.valid.height:,} shipments")
    inputs = data.inputs.valid if data.inputs is not None else None
    events = data.events.valid
    country = data.request.importing_country
    features = data.spark.features(events, country) if data.spark else build(
        data.lines.lazy(),
        inputs=inputs.lazy() if inputs is not None else None,
        events=events,
        state=None,
        parties=party_frame(data.parties),
    )
    state = data.spark.state(events, country) if data.spark else fit_state(
        data.lines.lazy(),
        inputs.select(INPUTS.names).lazy() if inputs is not None else None,
        events.select(EVENTS.names),
    )
    if data.parties is not None:  # scoring uses the model's list unless told otherwise
        state = dataclasses.replace(state, parties=party_frame(data.parties))
    return features, state


def fit_forest(request: TrainRequest, data: TrainingData, features: pl.DataFrame, state: ReferenceState,
               say: Progress) -> tuple[Detector, list[str]]:
    """The forest on the features some training row has a value of; returns it and the features left out."""
    from features.registry import FEATURE_NAMES
    from models.detector import fit

    say(f"fitting {request.forest.n_estimators} trees")
    usable, unknown = usable_features(features, FEATURE_NAMES)
    if unknown:
        hint = " (give --inputs to measure value added)" if data.inputs is None else ""
        data.warnings.append(f"feature(s) with no known value in the training rows, left out of the model: {', '.join(unknown)}{hint}")
    detector = fit(features, usable, request.forest, directions=_directions(), state=state, budget=request.budget)
    # What a line stating no importing country is taken as when this model scores it.
    detector.params["importing_country"] = data.importing.country
    return detector, unknown


def _directions() -> dict[str, str]:
    from features.registry import REGISTRY

    return {f.name: f.direction for f in REGISTRY}


def measure_held_out(request: TrainRequest, detector: Detector, features: pl.DataFrame, truth: np.ndarray | None,
                     say: Progress) -> HoldoutResult | None:
    """With labels enough for the ranker: the figures of a forest and ranker fitted on the earlier
    labelled weeks, measured on the last ones (and the baseline's, with ``request.baseline``)."""
    from models.ranker import extra_columns, fallback_reason

    if truth is None or fallback_reason(truth) is not None:
        return None
    from models.detector import fit
    from models.holdout import evaluate_holdout

    say("measuring on the last weeks of the labels, held out" + (" (and the baseline)" if request.baseline else ""))
    usable, directions = list(detector.feature_names), _directions()
    numeric, categorical = extra_columns(features)
    return evaluate_holdout(
        features, truth, lambda rows: fit(rows, usable, request.forest, directions=directions),
        extra_numeric=numeric, extra_categorical=categorical, baseline=request.baseline,
    )


def fit_ranker(detector: Detector, features: pl.DataFrame, truth: np.ndarray | None,
               heldout: HoldoutResult | None, say: Progress) -> str | None:
    """The supervised ranker beside the forest (the blend's forest weight picked held out, when
    measured); returns why none was trained, or None."""
    from models.detector import add_ranker
    from models.ranker import extra_columns

    if truth is not None:
        say("fitting the supervised ranker on the labelled rows")
    numeric, categorical = extra_columns(features)
    return add_ranker(detector, features, truth, extra_numeric=numeric, extra_categorical=categorical,
                      forest_weight=heldout.forest_weight if heldout is not None else None)


def measure_training(detector: Detector, features: pl.DataFrame, truth: np.ndarray | None,
                     heldout: HoldoutResult | None, say: Progress) -> dict[str, float]:
    """The run's metrics: the training scores' (with labels, in-sample per component) and the held-out ones."""
    say("measuring the training scores")
    parts = detector.components(features)
    metrics = training_metrics(parts["priority"], detector.threshold, truth)
    if detector.ranker is not None:
        # In-sample figures per component: the ranker's are optimistic (it saw these
        # labels); `waypoint evaluate` on later shipments gives the honest comparison.
        for name in ("forest_score", "ranker_score"):
            component = training_metrics(parts[name], detector.threshold, truth)
            for key in ("precision_at_1pct", "average_precision"):
                if key in component:
                    metrics[f"{name.removesuffix('_score')}_{key}"] = component[key]
    if heldout is not None:
        metrics.update(heldout.metrics)  # heldout_*: lines the fitted model had not seen
    return metrics


@dataclass(frozen=True)
class Recorded:
    """What a run records beside the detector: its state, the features left out, why no
    ranker was trained (None: one was) and the metrics."""

    state: ReferenceState
    left_out: list[str]
    ranker_note: str | None
    metrics: dict[str, float]


def log_and_register(request: TrainRequest, data: TrainingData, detector: Detector, recorded: Recorded,
                     settings: Settings, say: Progress) -> tuple[Store, TrainingRecord]:
    """Save the detector artifact and the rejects, record the MLflow run and register the version."""
    from detector.jobs.modelref import model_errors
    from models import artifact, tracking

    say("recording the run in MLflow")
    store = tracking.Store.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="waypoint-train-") as tmp:
        tmp_dir = Path(tmp)
        detector_dir = artifact.save(detector, tmp_dir / "detector")
        rejects_dir = tmp_dir / "rejects"
        rejects_dir.mkdir()
        for role, result in (("shipments", data.shipments), ("inputs", data.inputs), ("events", data.events),
                             ("labels", data.labels)):
            if result is not None and result.rejects.height:  # an empty rejects file says nothing
                write_rejects(result, rejects_dir / f"{role}.csv")
        run = tracking.TrainingRun(
            detector_dir=detector_dir,
            params=_params(request, detector, recorded.left_out, data.importing),
            tags=_tags(data, detector, recorded),
            metrics=recorded.metrics,
            artifacts={"rejects": rejects_dir} if any(rejects_dir.iterdir()) else None,
        )
        with model_errors():
            record = tracking.log_training(store, run, experiment=request.registration.experiment,
                                           model_name=request.registration.model_name)
    return store, record


def _params(request: TrainRequest, detector: Detector, left_out: list[str], importing: ImportingContext) -> dict:
    """The run's MLflow parameters."""
    forest = request.forest
    params = {
        "n_estimators": forest.n_estimators,
        "contamination": forest.contamination,
        "seed": forest.seed,
        "max_samples": forest.max_samples,
        "features": list(detector.feature_names),
        "features_left_out": list(left_out),
        "contract_version": detector.contract_version,
        "budget": request.budget,
        "importing_country": importing.country or "",
        "ranker": "trained" if detector.ranker is not None else "none",
    }
    if detector.ranker is not None:
        params.update({f"ranker_{k}": v for k, v in detector.ranker.params.items()})
    return params


def _tags(data: TrainingData, detector: Detector, recorded: Recorded) -> dict[str, str]:
    """The run's MLflow tags: versions, digests, row counts and every input file with its SHA-256."""
    from models import tracking

    loaded, files = data.shipments, data.request.files
    tags = {
        "waypoint.version": __version__,
        "waypoint.reference_state_digest": recorded.state.digest(),
        "waypoint.trained_span": " .. ".join(detector.trained_span) if detector.trained_span else "",
        "waypoint.rows_read": str(loaded.rows_read),
        "waypoint.rows_used": str(loaded.valid.height),
        "waypoint.rows_rejected": str(loaded.rejects.height),
        "waypoint.rows_with_dq_codes": str(loaded.dq_rows),
        "waypoint.ranker": "trained" if detector.ranker is not None else f"forest alone: {recorded.ranker_note}",
        **tracking.dataset_tags("shipments", loaded.files),
        **tracking.dataset_tags("events", data.events.files),
        **data.importing.tags(),
    }
    if data.inputs is not None:
        tags.update(tracking.dataset_tags("inputs", data.inputs.files))
    if files.labels is not None:
        tags.update(tracking.dataset_tags("labels", [Path(files.labels)]))
    if files.mapping is not None:
        tags.update(tracking.dataset_tags("mapping", [Path(files.mapping)]))
    if data.parties is not None:
        tags.update({**tracking.dataset_tags("parties", data.parties.files),
                     "waypoint.parties": f"{data.parties.valid.height} listings",
                     "waypoint.parties_digest": parties_digest(recorded.state.parties)})
    return tags


def _spark_training(request: TrainRequest, say: Progress) -> SparkTraining:
    from detector.spark.train import SparkTraining

    return SparkTraining.start(request, say=say)


def usable_features(features: pl.DataFrame, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split feature names into those with at least one known (finite) value and the rest.

    A feature nobody can compute on this data (value added without component imports)
    says nothing; the forest is trained on the others and the model records which.
    """
    if not names:
        return [], []
    known = features.select(
        pl.col(n).cast(pl.Float64).is_finite().fill_null(False).any().alias(n) for n in names
    ).row(0, named=True)
    usable = [n for n in names if known[n]]
    return usable, [n for n in names if not known[n]]


def _labels(loaded: Loaded, features: pl.DataFrame, labels: Path | None,
            known: Loaded | None = None) -> tuple[np.ndarray | None, list[str]]:
    """Known outcomes per training row (NaN = unknown), from ``--labels`` (``known``: that file
    as already read, its rejects reported by the caller) or the ``label`` column."""
    warnings: list[str] = []
    if labels is not None:
        if known is None:
            known = load_labels(labels)
            if known.rejects.height:
                warnings.append(f"{known.rejects.height} row(s) of {labels} were rejected and ignored")
        joined = features.select("shipment_id").join(
            known.valid.select("shipment_id", "label"), on="shipment_id", how="left", maintain_order="left"
        )
        column = joined.get_column("label")
        if column.null_count() == column.len():
            warnings.append(f"no shipment_id of {labels} matches a training row: no label metrics")
            return None, warnings
    elif "label" in features.columns and features.get_column("label").null_count() < features.height:
        column = features.get_column("label")
    else:
        return None, warnings
    return column.cast(pl.Float64).fill_null(float("nan")).to_numpy(), warnings


def training_metrics(priority: np.ndarray, threshold: float, truth: np.ndarray | None = None) -> dict[str, float]:
    """Score distribution and threshold; with labels, precision/recall at inspection budgets and AP.

    Label metrics use only rows with a known label (``truth`` NaN = unknown).
    """
    from models.metrics import BUDGETS, average_precision, precision_recall_at

    metrics = {f"score_q{q * 100:g}": float(np.quantile(priority, q)) for q in SCORE_QUANTILES}
    metrics["score_max"] = float(priority.max())
    metrics["threshold"] = float(threshold)
    metrics["flagged_share"] = float((priority > threshold).mean())
    if truth is not None:
        known = np.isfinite(truth)
        if known.any():
            s, y = priority[known], truth[known]
            for budget in BUDGETS:
                p, r = precision_recall_at(s, y, budget)
                metrics[f"precision_at_{budget * 100:g}pct"] = p
                metrics[f"recall_at_{budget * 100:g}pct"] = r
            metrics["average_precision"] = average_precision(s, y)
            metrics["labelled_rows"] = float(known.sum())
            metrics["positive_rows"] = float(y.sum())
    return metrics
