"""The jobs behind `waypoint models show` and `waypoint models compare`.

``describe`` loads one model (verifying every file) and says what it is: features,
threshold, span, parameters, the files it was trained on with their SHA-256 (the
training run's ``waypoint.input.*`` tags) and its run's metrics.

``compare`` sets two models side by side: parameters, features, every metric their runs
hold (training figures and what ``waypoint evaluate --log`` recorded on held-out
shipments, ``eval_*``), and, given a shipment file, the score shift between them: the
file is scored by each model exactly as ``waypoint score`` scores it (the same job,
into a temporary folder), then the two rankings are compared by their Spearman rank
correlation, the overlap of their top 1 % and the shipments whose score moved most.
"""
from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from detector.config import Settings
from detector.jobs.modelref import LoadedModel, load_model_ref, model_errors, store

#: The top share of a file whose overlap between two models is reported.
TOP_SHARE = 0.01
#: Largest moves listed.
MOVES = 10


def training_files(run_id: str | None, settings: Settings | None = None) -> tuple[list[dict], dict[str, float], dict[str, str]]:
    """The training files (role, path, SHA-256), metrics and parameters of a model's run (empty without a run)."""
    if not run_id:
        return [], {}, {}
    from models.tracking import input_files, run_info

    with model_errors():
        run = run_info(store(settings), run_id)
    return [f.to_dict() for f in input_files(run.tags)], dict(run.metrics), dict(run.params)


def describe(ref: str, settings: Settings | None = None) -> dict[str, Any]:
    """What ``waypoint models show`` prints (see the module docstring)."""
    loaded = load_model_ref(ref, settings)
    d = loaded.detector
    files, metrics, _ = training_files(loaded.run_id, settings)
    return {
        "ref": ref,
        "name": loaded.name,
        "version": loaded.version,
        "run_id": loaded.run_id,
        "contract_version": d.contract_version,
        "trained_span": list(d.trained_span) if d.trained_span else None,
        "threshold": d.threshold,
        "features": list(d.feature_names),
        "params": d.params,
        "reference_state_as_of": str(d.state.as_of) if d.state is not None else None,
        "reference_state_digest": d.state.digest() if d.state is not None else None,
        "training_files": files,
        "metrics": metrics,
    }


@dataclass
class Shift:
    """How the scores of one file move from model A to model B."""

    file: list[str]
    rows: int
    spearman: float  # rank correlation of the two risk scores over every scored line
    top_share: float
    top_a: int  # lines in A's top share (and in B's: the same count)
    top_overlap: int  # lines in both tops
    flagged_a: int
    flagged_b: int
    flagged_both: int
    moves: list[dict] = field(default_factory=list)  # shipment_id, risk_score_a/_b, risk_rank_a/_b, change


@dataclass
class Comparison:
    a: dict[str, Any]
    b: dict[str, Any]
    params: list[dict]  # name, a, b, same
    features_only_a: list[str]
    features_only_b: list[str]
    features_both: list[str]
    metrics: list[dict]  # name, a, b, change (b - a)
    shift: Shift | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _side(loaded: LoadedModel, settings: Settings | None) -> tuple[dict[str, Any], dict[str, float], dict[str, str]]:
    files, metrics, params = training_files(loaded.run_id, settings)
    d = loaded.detector
    if not params:  # a saved folder has no run: its own parameters
        params = {k: (",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)) for k, v in d.params.items()}
    head = {
        "ref": loaded.ref,
        "name": loaded.name,
        "version": loaded.version,
        "run_id": loaded.run_id,
        "trained_span": list(d.trained_span) if d.trained_span else None,
        "threshold": d.threshold,
        "training_files": files,
    }
    return head, metrics, params


def compare(a: str, b: str, *, file: Sequence[Path] | None = None, inputs: Sequence[Path] | None = None,
            mapping: Path | None = None, settings: Settings | None = None, progress=None) -> Comparison:
    """Compare models ``a`` and ``b`` (any references ``waypoint score --model`` takes)."""
    say = progress or (lambda _msg: None)
    settings = settings or Settings.from_env()
    say(f"loading {a} and {b}")
    model_a, model_b = load_model_ref(a, settings), load_model_ref(b, settings)
    head_a, metrics_a, params_a = _side(model_a, settings)
    head_b, metrics_b, params_b = _side(model_b, settings)
    params = [{"name": k, "a": params_a.get(k), "b": params_b.get(k), "same": params_a.get(k) == params_b.get(k)}
              for k in sorted(set(params_a) | set(params_b))]
    metrics = []
    for k in sorted(set(metrics_a) | set(metrics_b)):
        va, vb = metrics_a.get(k), metrics_b.get(k)
        change = vb - va if va is not None and vb is not None and math.isfinite(va) and math.isfinite(vb) else None
        metrics.append({"name": k, "a": va, "b": vb, "change": change})
    fa, fb = list(model_a.detector.feature_names), list(model_b.detector.feature_names)
    result = Comparison(
        a=head_a, b=head_b, params=params,
        features_only_a=[f for f in fa if f not in fb], features_only_b=[f for f in fb if f not in fa],
        features_both=[f for f in fa if f in fb], metrics=metrics,
    )
    if file:
        result.shift = score_shift(model_a, model_b, file, inputs=inputs, mapping=mapping, say=say)
    return result


def score_shift(model_a: LoadedModel, model_b: LoadedModel, file: Sequence[Path], *, inputs=None, mapping=None,
                say=None) -> Shift:
    """Score ``file`` with both models (the `waypoint score` job, default flag rule) and compare."""
    import numpy as np
    import polars as pl

    from detector.jobs.score import score

    say = say or (lambda _msg: None)
    frames = []
    with tempfile.TemporaryDirectory(prefix="waypoint-compare-") as tmp:
        for tag, model in (("a", model_a), ("b", model_b)):
            say(f"scoring with {model.name} v{model.version}")
            out = Path(tmp) / f"{tag}.parquet"
            score([Path(p) for p in file], out, model=model, inputs=inputs, mapping=mapping)
            frames.append(pl.read_parquet(out, columns=["shipment_id", "risk_score", "risk_rank", "flagged"])
                          .with_columns(pl.col("shipment_id").cast(pl.String))
                          .rename({"risk_score": f"risk_score_{tag}", "risk_rank": f"risk_rank_{tag}", "flagged": f"flagged_{tag}"}))
    both = frames[0].join(frames[1], on="shipment_id", how="inner")
    n = both.height
    top = max(1, math.ceil(TOP_SHARE * n)) if n else 0
    rank_a = both["risk_rank_a"].to_numpy().astype(float)
    rank_b = both["risk_rank_b"].to_numpy().astype(float)
    # Spearman's rho is Pearson's r of the ranks; risk_rank is a strict ranking of each file.
    spearman = float(np.corrcoef(rank_a, rank_b)[0, 1]) if n > 1 else float("nan")
    moves = (
        both.with_columns((pl.col("risk_score_b") - pl.col("risk_score_a")).alias("change"))
        .sort(pl.col("change").abs(), "risk_rank_a", descending=[True, False]).head(MOVES)
        .select("shipment_id", "risk_score_a", "risk_score_b", "change", "risk_rank_a", "risk_rank_b")
    )
    return Shift(
        file=[str(Path(p)) for p in file],
        rows=n,
        spearman=spearman,
        top_share=TOP_SHARE,
        top_a=top,
        top_overlap=int(((both["risk_rank_a"] <= top) & (both["risk_rank_b"] <= top)).sum()),
        flagged_a=int(both["flagged_a"].sum()),
        flagged_b=int(both["flagged_b"].sum()),
        flagged_both=int((both["flagged_a"] & both["flagged_b"]).sum()),
        moves=moves.to_dicts(),
    )


def model_run_of(scored: Path, settings: Settings | None = None) -> tuple[str, dict[str, Any] | None]:
    """The MLflow run of the model that scored ``scored``: from the file's lineage, else from
    the model name and version it holds (looked up in the registry)."""
    from detector import lineage
    from detector.errors import ModelError

    record = lineage.read(scored)
    run_id = ((record or {}).get("model") or {}).get("run_id")
    if run_id:
        return run_id, record
    name, version = _model_columns(scored)
    if name and version and version != "local":
        from models.tracking import find_version

        with model_errors():
            found = find_version(store(settings), f"{name}/{version}")
        if found.run_id:
            return found.run_id, record
    raise ModelError(
        f"{scored}: the scored file names no model run (no lineage, and no registered model_name/model_version)",
        hint="score it again with a registered model (`waypoint score --model NAME/VERSION`) and evaluate that file",
    )


def _model_columns(scored: Path) -> tuple[str | None, str | None]:
    import polars as pl

    try:
        if scored.suffix.lower() in (".parquet", ".pq"):
            frame = pl.scan_parquet(scored)
        else:
            frame = pl.scan_csv(scored, infer_schema=False)
        names = frame.collect_schema().names()
        if not {"model_name", "model_version"} <= set(names):
            return None, None
        row = frame.select(pl.col("model_name").cast(pl.String), pl.col("model_version").cast(pl.String)).head(1).collect()
    except (OSError, pl.exceptions.PolarsError):
        return None, None
    return (row.item(0, 0), row.item(0, 1)) if row.height else (None, None)


def evaluation_metrics(evaluation) -> dict[str, float]:
    """The figures of a ``detector.evaluate.Evaluation`` as flat metric names (the training
    metrics' names: ``precision_at_1pct``; components as ``forest_average_precision``)."""
    out: dict[str, float] = {
        "rows_labelled": evaluation.rows_labelled,
        "positive_rows": evaluation.positives,
        "flagged": evaluation.flagged,
        "average_precision": evaluation.average_precision,
        "roc_auc": evaluation.roc_auc,
        "precision_at_flags": evaluation.at_flags.get("precision"),
        "recall_at_flags": evaluation.at_flags.get("recall"),
    }
    for row in evaluation.at_budget:
        tag = f"{row['budget'] * 100:g}pct"
        out[f"precision_at_{tag}"] = row["precision"]
        out[f"recall_at_{tag}"] = row["recall"]
    for comp in evaluation.components:
        for key in ("average_precision", "roc_auc", "precision@1%"):
            if key in comp:
                out[f"{comp['component']}_{key.replace('@1%', '_at_1pct')}"] = comp[key]
    return {k: float(v) for k, v in out.items() if v is not None}


def record_evaluation(evaluation, scored: Path, labels: Path, settings: Settings | None = None) -> dict[str, Any]:
    """Record ``evaluation`` of ``scored`` on its model version's run (``waypoint evaluate --log``):
    the ``eval_*`` metrics, tags naming the scored and label files with their SHA-256, and
    the whole evaluation as the artifact ``evaluations/STEM-TIME.json``. Returns what was logged."""
    from datetime import UTC, datetime

    from detector.lineage import file_entry
    from models.tracking import log_evaluation

    scored, labels = Path(scored), Path(labels)
    run_id, record = model_run_of(scored, settings)
    scored_file, labels_file = file_entry(scored), file_entry(labels)
    at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tags = {
        "waypoint.eval.scored_file": scored_file["path"],
        "waypoint.eval.scored_sha256": scored_file["sha256"],
        "waypoint.eval.labels_file": labels_file["path"],
        "waypoint.eval.labels_sha256": labels_file["sha256"],
        "waypoint.eval.at": at,
    }
    report = {"evaluation": evaluation.to_dict(), "scored_file": scored_file, "labels_file": labels_file,
              "lineage": record}
    with model_errors():
        logged = log_evaluation(store(settings), run_id, evaluation_metrics(evaluation), tags=tags, report=report,
                                name=f"{scored.stem}-{at}")
    return {"run_id": run_id, "metrics": logged, "artifact": f"evaluations/{scored.stem}-{at}.json"}
