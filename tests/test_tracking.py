"""MLflow store set-up, signature, training metrics, and refusals of the pyfunc model."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from detector.config import Settings
from detector.jobs.train import training_metrics, usable_features
from models.artifact import ArtifactError
from models.tracking import Store, TrackingError, contract_signature, pip_requirements, find_version

_INIT = """
from detector.config import Settings
from models.tracking import Store
store = Store.from_settings(Settings.from_env())
client = store.client()
print(store.experiment_id(client, "waypoint"))
"""


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fresh-store")


@pytest.mark.slow
def test_concurrent_first_use_of_a_fresh_store_succeeds(fresh_home):
    env = {**os.environ, "WAYPOINT_HOME": str(fresh_home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", _INIT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    failures = [err for p, (_, err) in zip(procs, results, strict=True) if p.returncode != 0]
    assert not failures, failures[0][-2000:]
    experiment_ids = {out.strip().splitlines()[-1] for out, _ in results}
    assert len(experiment_ids) == 1  # every process found or made the same experiment
    assert (fresh_home / "mlflow.db").is_file()


_OPEN_AND_STAMP = """
import sys, time
from detector.config import Settings
from models.tracking import Store
store = Store.from_settings(Settings.from_env())
store.client()  # the slow first open (imports, engine), before the lock is taken
print("ready", flush=True)
sys.stdin.readline()
store.client()
print(time.time(), flush=True)
"""


@pytest.mark.slow
def test_opening_the_embedded_store_waits_while_another_process_holds_its_lock(tmp_path):
    import fcntl
    import time

    home = tmp_path / "home"
    env = {**os.environ, "WAYPOINT_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-c", _OPEN_AND_STAMP], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
    # Held as any writer holds it (an exclusive flock on mlflow.db.lock, the file earlier releases locked too).
    with open(home / "mlflow.db.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(4)  # an open of the migrated store takes well under a second
        assert proc.poll() is None, "the store was opened while another process held its lock"
        released = time.time()
        fcntl.flock(held, fcntl.LOCK_UN)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-2000:]
    assert float(out.strip().splitlines()[-1]) >= released


@pytest.mark.slow
def test_a_reference_to_a_model_nobody_trained_is_refused_with_a_hint_to_train(fresh_home):
    store = Store.from_settings(Settings.from_env({"WAYPOINT_HOME": str(fresh_home)}))
    with pytest.raises(TrackingError, match="no model matches 'nothing@champion'") as info:
        find_version(store, "nothing@champion")
    assert "waypoint train" in info.value.hint


def test_embedded_store_uses_absolute_uris_under_waypoint_home(tmp_path):
    store = Store.from_settings(Settings.from_env({"WAYPOINT_HOME": str(tmp_path)}))
    assert store.embedded
    assert store.tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert store.tracking_uri.startswith("sqlite:////")
    assert store.artifact_root == tmp_path.resolve() / "mlartifacts"
    assert store.location == f"{tmp_path.resolve()}/mlflow.db"
    assert f"--backend-store-uri {store.tracking_uri}" in store.ui_command


def test_mlflow_tracking_uri_replaces_the_embedded_store(tmp_path):
    store = Store.from_settings(
        Settings.from_env({"WAYPOINT_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": "http://tracking.example:5000"})
    )
    assert not store.embedded
    assert store.tracking_uri == "http://tracking.example:5000"
    assert store.ui_command == "mlflow ui --backend-store-uri http://tracking.example:5000"


def test_signature_types_contract_columns_and_keeps_optional_ones_optional():
    inputs = {spec.name: spec for spec in contract_signature().inputs.inputs}
    assert inputs["shipment_id"].required and not inputs["quantity"].required
    assert inputs["hs_code"].type.name == "string"  # leading zeros must survive
    assert inputs["declared_value_usd"].type.name == "double"
    assert not inputs["label"].required


def test_pip_requirements_are_explicit_pins():
    reqs = pip_requirements()
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert any(r.startswith("skops==") for r in reqs)


def test_training_metrics_measure_precision_and_recall_at_budgets():
    priority = np.arange(200, dtype=float)  # row 199 is the most anomalous
    truth = np.zeros(200)
    truth[[199, 198, 150]] = 1
    m = training_metrics(priority, threshold=197.5, truth=truth)
    assert m["threshold"] == 197.5 and m["flagged_share"] == pytest.approx(2 / 200)
    assert m["precision_at_1pct"] == 1.0  # top 2 rows, both positive
    assert m["recall_at_1pct"] == pytest.approx(2 / 3)
    assert m["precision_at_5pct"] == pytest.approx(2 / 10)
    assert m["average_precision"] == pytest.approx((1 + 1 + 3 / 50) / 3)


def test_training_metrics_ignore_rows_without_a_known_label():
    priority = np.array([3.0, 2.0, 1.0, 0.0])
    truth = np.array([np.nan, 1.0, 0.0, 0.0])
    m = training_metrics(priority, 2.5, truth)
    assert m["labelled_rows"] == 3 and m["precision_at_0.5pct"] == 1.0


def test_training_metrics_without_labels_have_only_the_score_distribution():
    m = training_metrics(np.linspace(0, 1, 101), 0.9)
    assert m["score_q50"] == pytest.approx(0.5) and "average_precision" not in m


def test_features_nobody_can_compute_are_left_out():
    frame = pl.DataFrame({"a": [1.0, None], "b": [None, None], "c": [float("nan"), 2.0]}, schema={"a": pl.Float64, "b": pl.Float64, "c": pl.Float64})
    assert usable_features(frame, ["a", "b", "c"]) == (["a", "c"], ["b"])


def test_pyfunc_scoring_refuses_a_model_of_another_contract_major_version():
    from models.detector import fit
    from models.mlflow_model import score_rows

    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"shipment_id": [f"S{i}" for i in range(300)], "x": rng.normal(size=300)})
    detector = replace(fit(frame, ["x"], directions={"x": "both"}, n_estimators=10), contract_version="2.0")
    rows = pd.DataFrame({"shipment_id": ["S1"], "arrival_date": ["2025-01-02"]})
    with pytest.raises(ArtifactError, match="trained on data contract 2.0"):
        score_rows(detector, rows)
