"""waypoint from Python: train, score and load models as the command line does.

::

    from detector import load_model, score, train

    train(["shipments-2025.csv"], inputs=["vn_imports.csv"])   # a new version of `waypoint`, as `waypoint train`
    result = score(["shipments-2026.csv"], "scored.parquet")    # as `waypoint score` (rejects beside it)
    model = load_model()                                        # waypoint@champion
    scored = model.score(rows)                                  # a frame of contract rows -> scored rows

Each call finds waypoint's store the way the CLI does, from the environment at the time
of the call: ``$WAYPOINT_HOME`` (default: the user data dir, e.g.
``~/.local/share/waypoint``) holds the MLflow store and its artifacts;
``MLFLOW_TRACKING_URI`` replaces it when set. Nothing is written to the working folder
(no ``./mlflow.db``, no ``./mlruns``), and nothing is imported until a function is called,
so ``import detector`` stays light.

Errors are the CLI's: ``InputError`` (a bad file; exit code 2 on the command line) and
``ModelError`` (no such model, a damaged artifact; exit 3), both ``WaypointError`` with a
``hint``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from detector.config import Settings
    from detector.jobs.score import ScoreResult
    from detector.jobs.train import TrainResult

PathLike = str | Path
__all__ = ["Model", "load_model", "score", "train", "tracking_uri"]


def _paths(value: PathLike | Sequence[PathLike] | None) -> list[Path] | None:
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        return [Path(value)]
    return [Path(v) for v in value]


def _settings() -> Settings:
    from detector.config import Settings

    return Settings.from_env()


def tracking_uri() -> str:
    """The MLflow tracking URI of waypoint's store, for MLflow's own API
    (``mlflow.set_tracking_uri(tracking_uri())`` before ``mlflow.pyfunc.load_model``)."""
    return _settings().tracking_uri


@dataclass(frozen=True)
class Model:
    """A loaded, verified detector with the registry name, version and run that produced it."""

    name: str
    version: str
    run_id: str | None
    ref: str
    detector: Any  # models.detector.Detector

    def score(self, rows: pl.DataFrame | pd.DataFrame) -> pl.DataFrame:
        """Score contract rows (a Polars or pandas frame; dates as dates or ISO text) as
        ``waypoint score`` scores a file of them: the same scores, flags and reasons, with
        the model's own tariff events and reference state. Returns every output column
        (``risk_score``, ``risk_rank``, ``flagged``, ``reason_codes``, ``reasons``, features),
        sorted by ``risk_rank``. Rows that cannot be keyed or dated raise
        ``models.mlflow_model.InvalidRowsError`` listing them."""
        from models.mlflow_model import score_rows

        return score_rows(self.detector, rows, model_name=self.name, model_version=self.version)

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """What the MLflow pyfunc model returns for ``rows``: the ``predict`` columns, in pandas."""
        from models.mlflow_model import OUTPUT_COLUMNS

        scored = self.score(rows)
        extra = [c for c in ("forest_score", "ranker_score") if c in scored.columns]
        return scored.select(*OUTPUT_COLUMNS, *extra).to_pandas()


def load_model(ref: str | None = None) -> Model:
    """Load a model (``waypoint@champion`` by default; ``NAME@ALIAS``, ``NAME/VERSION``, a
    run id, or a saved detector directory), verifying every file against its manifest."""
    from detector.jobs.modelref import load_model_ref

    loaded = load_model_ref(ref, _settings())
    return Model(name=loaded.name, version=loaded.version, run_id=loaded.run_id, ref=loaded.ref,
                 detector=loaded.detector)


def score(
    shipments: PathLike | Sequence[PathLike],
    output: PathLike,
    *,
    model: str | Model | None = None,
    inputs: PathLike | Sequence[PathLike] | None = None,
    events: PathLike | Sequence[PathLike] | None = None,
    mapping: PathLike | None = None,
    budget: float | None = None,
    top: int | None = None,
    explore: float = 0.1,
    **options: Any,
) -> ScoreResult:
    """Score shipment files (CSV or Parquet, globs) into ``output`` as ``waypoint score`` does:
    the scored file (with its lineage), rejects beside it; returns the run's summary
    (``rows_read``, ``rows_scored``, ``rows_rejected``, ``flagged``, ``top``, ``warnings``...).

    ``model``: a reference as in :func:`load_model` or a loaded :class:`Model`.
    ``budget`` is a share (0.01 for 1 %); other keyword options are those of
    ``detector.jobs.score.score`` (``parties``, ``threshold``, ``importing_country``, ``chunk_rows``,
    ``progress``...): the call builds a ``detector.jobs.requests.ScoreRequest`` and runs it.
    """
    from detector.jobs.modelref import LoadedModel
    from detector.jobs.requests import ScoreRequest
    from detector.jobs.score import run

    say = options.pop("progress", None)
    request = ScoreRequest.of(_paths(shipments), Path(output), inputs=_paths(inputs), events=_paths(events),
                              mapping=Path(mapping) if mapping else None, budget=budget, top=top, explore=explore,
                              **options)
    if isinstance(model, Model):
        model = LoadedModel(model.detector, name=model.name, version=model.version, ref=model.ref, run_id=model.run_id)
    # As the CLI: the request is checked (no output over an input) before the model is looked up.
    return run(request, model, settings=_settings(), say=say)


def train(
    shipments: PathLike | Sequence[PathLike],
    *,
    inputs: PathLike | Sequence[PathLike] | None = None,
    events: PathLike | Sequence[PathLike] | None = None,
    mapping: PathLike | None = None,
    labels: PathLike | None = None,
    model_name: str = "waypoint",
    **options: Any,
) -> TrainResult:
    """Train a detector on shipment files, record the run in MLflow and register a new
    version of ``model_name``, as ``waypoint train`` does (the first version becomes
    ``champion``). Other keyword options are those of ``detector.jobs.train.train``
    (``n_estimators``, ``contamination``, ``seed``, ``experiment``, ``parties``, ``budget``,
    ``progress``...): the call builds a ``detector.jobs.requests.TrainRequest`` and runs it."""
    from detector.jobs.requests import TrainRequest
    from detector.jobs.train import train as run_train

    say = options.pop("progress", None)
    request = TrainRequest.of(_paths(shipments), inputs=_paths(inputs), events=_paths(events),
                              mapping=Path(mapping) if mapping else None, labels=Path(labels) if labels else None,
                              model_name=model_name, **options)
    return run_train(request, settings=_settings(), say=say)
