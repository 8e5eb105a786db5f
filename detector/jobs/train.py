"""The training job behind `waypoint train`: files in, a registered model version out.

read + map + validate (rejects kept and counted) -> point-in-time features of the
training rows -> fit the forest, calibration and threshold -> fit the reference state
scoring will use -> save the detector artifact -> MLflow run (params, tags with the
SHA-256 of every input file, metrics) and a new registered model version.

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
from detector.jobs.context import importing_context
from features.families.parties import parties_digest
from features.schema import EVENTS, INPUTS, SHIPMENTS

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


def train(
    shipments: Sequence[Path],
    *,
    inputs: Sequence[Path] | None = None,
    events: Sequence[Path] | None = None,
    mapping: Path | None = None,
    parties: Sequence[Path] | None = None,
    labels: Path | None = None,
    experiment: str = "waypoint",
    model_name: str = "waypoint",
    n_estimators: int = 200,
    contamination: float = 0.01,
    seed: int = 0,
    max_samples: int = 256,
    settings: Settings | None = None,
    progress: Progress | None = None,
    budget: float = 0.01,
    importing_country: str | None = None,
    force: bool = False,
    baseline: bool = False,
    strict: bool = False,
    max_reject_share: float | None = None,
    engine: str = "local",
    master: str | None = None,
) -> TrainResult:
    """Train a detector on shipment files, record it in MLflow and register a new version.

    The first version of ``model_name`` gets the alias ``champion``; later versions are
    promoted with ``waypoint models promote``. Fewer valid lines than the forest draws
    per tree (``max_samples``) are refused unless ``force``. With labels, the last weeks of
    the labelled span are held out first (``models.holdout``: figures labelled ``heldout_``,
    and with ``baseline`` the plain gradient-boosted baseline's on the same split), then
    the registered model is fitted on every line. Raises ``InputError`` for unusable files
    and ``ModelError`` when the model cannot be fitted or recorded.
    """
    from detector.jobs.modelref import model_errors
    from features.pipeline import build
    from features.registry import FEATURE_NAMES, REGISTRY
    from features.state import fit_state
    from models import artifact, tracking
    from models.detector import fit

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    settings = settings or Settings.from_env()
    if not 0 < contamination <= 0.5:
        raise InputError(f"--contamination must be in (0, 0.5] (got {contamination})", hint="e.g. --contamination 0.01")
    if n_estimators < 1:
        raise InputError(f"--n-estimators must be at least 1 (got {n_estimators})")
    if not 0 < budget <= 1:
        raise InputError(f"--budget must be a share between 0 and 1 (got {budget})", hint="e.g. --budget 1%")

    say("reading and validating shipments")
    # --engine spark: Spark reads, builds the features and sums the state (detector.spark.train).
    if parties and engine == "spark":
        raise InputError("--parties is not read by --engine spark yet", hint="train on one machine to use a party list")
    spark_run = _spark_training(shipments, inputs, mapping, strict, master, say) if engine == "spark" else None
    loaded = spark_run.loaded if spark_run else load(shipments, SHIPMENTS, mapping=Mapping.from_toml(mapping) if mapping else None, strict=strict)
    check_rejects(loaded, max_reject_share, what="trained on")
    if loaded.valid.height < 2:
        raise InputError(
            f"only {loaded.valid.height} valid shipment row(s) of {loaded.rows_read} read; nothing to train on",
            hint="see the rejects reasons with `waypoint check FILE`",
        )
    # Each tree is grown on max_samples lines: with fewer, every tree sees the same few
    # lines, the threshold rests on a handful of scores, and the version would still be
    # registered (and made champion when it is the first).
    if loaded.valid.height < max_samples and not force:
        raise InputError(
            f"only {loaded.valid.height:,} valid shipment line(s) of {loaded.rows_read:,} read: the forest draws "
            f"{max_samples} lines per tree and needs at least {max_samples} to train",
            hint="train on more lines (several months of trade), or pass --force to train on these anyway",
        )
    inputs_loaded, events_loaded = load_side_tables(None if spark_run else inputs, events)
    inputs_loaded = spark_run.inputs_loaded if spark_run else inputs_loaded
    labels_loaded = load_labels(labels) if labels is not None else None
    parties_loaded = load_parties(parties) if parties else None  # a known-party list; it travels in the state
    # Side-table rows that cannot be used are said loudly (--strict: the run fails here, before any work).
    side = side_rejects({"inputs": inputs_loaded, "events": events_loaded, "labels": labels_loaded,
                         "parties": parties_loaded}, strict=strict)
    inputs_valid = inputs_loaded.valid if inputs_loaded is not None else None
    # Only the measures of the lines' importing country apply (features.families.tariff).
    ships, importing = importing_context(loaded.valid, events_loaded.valid, importing_country)

    say(f"building features for {loaded.valid.height:,} shipments")
    features = spark_run.features(events_loaded.valid, importing_country) if spark_run else build(
        ships.lazy(),
        inputs=inputs_valid.lazy() if inputs_valid is not None else None,
        events=events_loaded.valid,
        state=None,
        parties=party_frame(parties_loaded),
    )
    state = spark_run.state(events_loaded.valid, importing_country) if spark_run else fit_state(
        ships.lazy(),
        inputs_valid.select(INPUTS.names).lazy() if inputs_valid is not None else None,
        events_loaded.valid.select(EVENTS.names),
    )
    if parties_loaded is not None:  # scoring uses the model's list unless told otherwise
        state = dataclasses.replace(state, parties=party_frame(parties_loaded))

    say(f"fitting {n_estimators} trees")
    directions = {f.name: f.direction for f in REGISTRY}
    usable, unknown = usable_features(features, FEATURE_NAMES)
    warnings = [*(side_warning(r) for r in side), *importing.warnings]
    if unknown:
        hint = " (give --inputs to measure value added)" if inputs_loaded is None else ""
        warnings.append(f"feature(s) with no known value in the training rows, left out of the model: {', '.join(unknown)}{hint}")
    detector = fit(
        features,
        usable,
        directions=directions,
        n_estimators=n_estimators,
        max_samples=max_samples,
        contamination=contamination,
        seed=seed,
        state=state,
        budget=budget,
    )
    # What a line stating no importing country is taken as when this model scores it.
    detector.params["importing_country"] = importing.country

    truth, label_warnings = _labels(loaded, features, labels, labels_loaded)
    warnings.extend(label_warnings)
    from models.detector import add_ranker
    from models.ranker import extra_columns, fallback_reason

    extra_numeric, extra_categorical = extra_columns(features)
    heldout = None
    if truth is not None and fallback_reason(truth) is None:
        from models.holdout import evaluate_holdout

        say("measuring on the last weeks of the labels, held out" + (" (and the baseline)" if baseline else ""))
        heldout = evaluate_holdout(
            features, truth,
            lambda rows: fit(rows, usable, directions=directions, n_estimators=n_estimators,
                             max_samples=max_samples, contamination=contamination, seed=seed),
            extra_numeric=extra_numeric, extra_categorical=extra_categorical, baseline=baseline, seed=seed,
        )
        if heldout.note is not None:
            warnings.append(heldout.note)
    elif baseline:
        warnings.append("--baseline needs labels enough for the ranker: no baseline was fitted")
    if truth is not None:
        say("fitting the supervised ranker on the labelled rows")
    ranker_note = add_ranker(
        detector, features, truth, extra_numeric=extra_numeric, extra_categorical=extra_categorical,
        forest_weight=heldout.forest_weight if heldout is not None else None,
    )
    if ranker_note is not None and truth is not None:
        warnings.append(ranker_note)

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

    say("recording the run in MLflow")
    store = tracking.Store.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="waypoint-train-") as tmp:
        tmp_dir = Path(tmp)
        detector_dir = artifact.save(detector, tmp_dir / "detector")
        rejects_dir = tmp_dir / "rejects"
        rejects_dir.mkdir()
        for role, result in (("shipments", loaded), ("inputs", inputs_loaded), ("events", events_loaded), ("labels", labels_loaded)):
            if result is not None and result.rejects.height:  # an empty rejects file says nothing
                write_rejects(result, rejects_dir / f"{role}.csv")
        params = {
            "n_estimators": n_estimators,
            "contamination": contamination,
            "seed": seed,
            "max_samples": max_samples,
            "features": list(detector.feature_names),
            "features_left_out": list(unknown),
            "contract_version": detector.contract_version,
            "budget": budget,
            "importing_country": importing.country or "",
            "ranker": "trained" if detector.ranker is not None else "none",
        }
        if detector.ranker is not None:
            params.update({f"ranker_{k}": v for k, v in detector.ranker.params.items()})
        tags = {
            "waypoint.version": __version__,
            "waypoint.reference_state_digest": state.digest(),
            "waypoint.trained_span": " .. ".join(detector.trained_span) if detector.trained_span else "",
            "waypoint.rows_read": str(loaded.rows_read),
            "waypoint.rows_used": str(loaded.valid.height),
            "waypoint.rows_rejected": str(loaded.rejects.height),
            "waypoint.rows_with_dq_codes": str(loaded.dq_rows),
            "waypoint.ranker": "trained" if detector.ranker is not None else f"forest alone: {ranker_note}",
            **tracking.dataset_tags("shipments", loaded.files),
            **tracking.dataset_tags("events", events_loaded.files),
            **importing.tags(),
        }
        if inputs_loaded is not None:
            tags.update(tracking.dataset_tags("inputs", inputs_loaded.files))
        if labels is not None:
            tags.update(tracking.dataset_tags("labels", [Path(labels)]))
        if mapping is not None:
            tags.update(tracking.dataset_tags("mapping", [Path(mapping)]))
        if parties_loaded is not None:
            tags.update({**tracking.dataset_tags("parties", parties_loaded.files),
                         "waypoint.parties": f"{parties_loaded.valid.height} listings",
                         "waypoint.parties_digest": parties_digest(state.parties)})
        with model_errors():
            record = tracking.log_training(
                store,
                detector_dir=detector_dir,
                params=params,
                tags=tags,
                metrics=metrics,
                artifacts={"rejects": rejects_dir} if any(rejects_dir.iterdir()) else None,
                experiment=experiment,
                model_name=model_name,
            )
    return TrainResult(
        run_id=record.run_id,
        experiment=experiment,
        model_name=record.model_name,
        model_version=record.version,
        aliases=list(record.aliases),
        rows_read=loaded.rows_read,
        rows_used=loaded.valid.height,
        rows_rejected=loaded.rejects.height,
        reject_counts=dict(loaded.reject_counts),
        dq_counts=dict(loaded.dq_counts),
        side_rejects=side,
        trained_span=list(detector.trained_span) if detector.trained_span else None,
        metrics=record.metrics,
        tracking_uri=store.tracking_uri,
        store=store.location,
        ui_command=store.ui_command,
        seconds=round(time.perf_counter() - started, 2),
        labelled_rows=int(np.isfinite(truth).sum()) if truth is not None else 0,
        warnings=warnings,
        ranker=detector.ranker is not None,
    )


def _spark_training(shipments, inputs, mapping, strict: bool, master: str | None, say):
    from detector.spark.train import SparkTraining

    return SparkTraining.start(shipments, inputs=inputs, mapping=mapping, strict=strict, master=master, say=say)


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
