"""Shared test set-up: every test session gets its own WAYPOINT_HOME and no telemetry.

Two models of the small world: ``fitted_model``, fitted in code and loaded from a folder,
for tests of scores, features, reasons, reports and reviews; ``trained_model``, trained
through the training job and registered in the session's MLflow store, for tests of
MLflow, the registry, the lineage and the CLI's train command.
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("waypoint-home")
    saved = {k: os.environ.get(k) for k in ("WAYPOINT_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_DISABLE_TELEMETRY")}
    os.environ["WAYPOINT_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory):
    """A generated world on disk, split in time: train on 18 months, score the last 6."""
    import datetime as dt

    import polars as pl

    from detector.io.write import write_table
    from detector.synth import generate_world, write_world

    out = tmp_path_factory.mktemp("world")
    world = generate_world(6_000, seed=11, start=dt.date(2024, 1, 1), months=24)
    files = write_world(world, out)
    cutoff = dt.date(2025, 7, 1)
    files["train"] = write_table(world.shipments.filter(pl.col("arrival_date") < cutoff), out / "train.csv")
    files["holdout"] = write_table(world.shipments.filter(pl.col("arrival_date") >= cutoff), out / "holdout.csv")
    return files


@pytest.fixture(scope="session")
def trained_model(small_world):
    """A model trained and registered in the session's MLflow store (50 trees, to stay quick)."""
    from detector.config import Settings
    from detector.jobs.modelref import load_model_ref
    from detector.jobs.train import train

    settings = Settings.from_env()
    result = train([small_world["train"]], inputs=[small_world["inputs"]], events=[small_world["events"]],
                   model_name="score-tests", n_estimators=50, seed=3, settings=settings)
    return load_model_ref(f"score-tests/{result.model_version}", settings)


@pytest.fixture(scope="session")
def scored_holdout(small_world, trained_model, tmp_path_factory):
    """The world's holdout months scored by ``trained_model`` with its inputs and events at a
    2 % budget (lineage naming the registered model inside): read, never written, by the tests."""
    from detector.jobs.score import score

    out = tmp_path_factory.mktemp("scored-holdout") / "scored.parquet"
    score([small_world["holdout"]], out, model=trained_model, inputs=[small_world["inputs"]],
          events=[small_world["events"]], budget=0.02)
    return out


@pytest.fixture(scope="session")
def fitted_model(small_world, tmp_path_factory):
    """The model of ``trained_model`` (same files, 50 trees, seed 3) fitted in code and loaded
    from a local folder: for tests of scores, features, reasons and reviews, not of MLflow."""
    from model_helpers import fit_in_code, saved_model

    detector = fit_in_code(small_world, n_estimators=50, seed=3)
    return saved_model(detector, tmp_path_factory.mktemp("fitted-model") / "score-tests")
