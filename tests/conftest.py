"""Shared test set-up: every test session gets its own WAYPOINT_HOME and no telemetry."""
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
