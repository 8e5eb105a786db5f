"""A detector fitted in code, with fixed seeds, for tests whose subject is not MLflow.

Tests of features, scores, reasons, reports and the review pages need a model like the
one `waypoint train` registers, not the registry itself: this one is fitted by the training
job's own steps (read, features and reference state, forest), stops before its MLflow run,
and is saved with ``models.artifact.save`` and loaded back as a local model reference, so
no MLflow run, store or import is involved. ``tests/test_in_code_model.py`` checks it
scores exactly like the registered model trained on the same files with the same parameters.
"""
from __future__ import annotations

from pathlib import Path


def fit_in_code(world: dict, *, n_estimators: int, seed: int):
    """The detector the training job fits on ``world["train"]`` (with its inputs and events): its
    reading, feature and forest steps, without the MLflow run and registration that follow."""
    from detector.jobs.requests import TrainRequest
    from detector.jobs.train import build_features_and_state, fit_forest, read_training_data

    quiet = lambda _msg: None  # noqa: E731 (the steps report progress; a test has no terminal)
    request = TrainRequest.of([world["train"]], inputs=[world["inputs"]], events=[world["events"]],
                              n_estimators=n_estimators, seed=seed)
    data = read_training_data(request, quiet)
    features, state = build_features_and_state(data, quiet)
    detector, _left_out = fit_forest(request, data, features, state, quiet)
    return detector


def saved_model(detector, directory: Path):
    """``detector`` saved under ``directory`` and loaded back as `waypoint score --model DIR` loads it.

    The result has the fields of a registered model (``name``, ``version``, ``detector``);
    its version is ``local``, as a scored file of a local model records it.
    """
    from detector.jobs.modelref import load_model_ref
    from models import artifact

    return load_model_ref(str(artifact.save(detector, directory)))


def registered_model(detector, model_name: str):
    """``detector`` recorded by ``models.tracking.log_training`` as a new version of ``model_name``
    in the session's MLflow store (a run without parameters, tags or metrics), loaded back by
    its registry reference: for tests of what MLflow serves (the pyfunc), not of training."""
    import tempfile

    from detector.config import Settings
    from detector.jobs.modelref import load_model_ref
    from models import artifact, tracking

    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="waypoint-test-") as tmp:
        run = tracking.TrainingRun(detector_dir=artifact.save(detector, Path(tmp) / "detector"), params={}, tags={}, metrics={})
        record = tracking.log_training(tracking.Store.from_settings(settings), run, model_name=model_name)
    return load_model_ref(f"{model_name}/{record.version}", settings)
