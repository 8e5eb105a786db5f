"""Reads of the embedded registry straight from SQLite give MLflow's own answers, need no mlflow
import, never create a store, and fall back to MLflow's client for anything else.

Speed is the bench's job (bench/registry.py); these tests hold the answers and the imports.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from detector.config import Settings
from models.registry_sqlite import SqliteRegistry
from models.tracking import (
    Store, TrackingError, _ClientRegistry, _fluent_uri, _list_versions, _find_version, list_versions, locate_detector, find_version, run_info,
)

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(small_world, tmp_path_factory):
    """A store of its own: one trained model, two more versions of it registered through MLflow,
    the alias `challenger` on version 2, and version 3 deleted."""
    from detector.jobs.train import train

    home = tmp_path_factory.mktemp("registry-home")
    settings = Settings.from_env({"WAYPOINT_HOME": str(home)})
    first = train([small_world["train"]], inputs=[small_world["inputs"]], events=[small_world["events"]],
                  model_name="reg", n_estimators=10, seed=1, settings=settings)
    store = Store.from_settings(settings)
    client = store.client()
    source = client.get_model_version("reg", "1").source
    with _fluent_uri(store):  # MLflow looks a logged model's source up through its global URI
        for _ in range(3):
            client.create_model_version("reg", source=source, run_id=first.run_id)
    client.set_registered_model_alias("reg", "challenger", "2")
    client.delete_model_version("reg", "3")
    client.create_registered_model("other")
    return store, first.run_id


def _both(store: Store):
    return SqliteRegistry(store.location), _ClientRegistry(store.client())


@slow
def test_sqlite_reads_give_the_answers_of_mlflows_client(registry):
    store, run_id = registry
    direct, client = _both(store)
    assert direct.model_names() == client.model_names() == ["other", "reg"]
    assert direct.aliases("reg") == client.aliases("reg") == {"champion": 1, "challenger": 2}
    assert direct.aliases("nobody") is None and client.aliases("nobody") is None
    listed = _list_versions(direct, store, "reg")
    assert [v.version for v in listed] == [4, 2, 1]  # the deleted version is no version
    assert listed == _list_versions(client, store, "reg")
    for ref in ("reg", "reg@champion", "reg@challenger", "reg@latest", "reg/2", "models:/reg/4", run_id):
        assert _find_version(direct, store, ref)[0] == _find_version(client, store, ref)[0], ref
    assert _find_version(direct, store, "reg@latest")[0].version == 4
    assert direct.run(run_id).metrics == client.run(run_id).metrics
    assert direct.run(run_id).tags == client.run(run_id).tags
    assert direct.run(run_id).params == client.run(run_id).params
    for row in direct.versions("reg"):
        assert row.storage == client.download_uri("reg", row.version)


@slow
def test_references_the_registry_does_not_hold_are_refused_alike(registry):
    store, _ = registry
    direct, client = _both(store)
    for ref in ("reg/3", "reg/99", "reg/x", "reg@nothing", "nobody", "nobody@champion", "0" * 32):
        messages = []
        for reader in (direct, client):
            with pytest.raises(TrackingError) as info:
                _find_version(reader, store, ref)
            messages.append((str(info.value), info.value.hint))
        assert messages[0] == messages[1], ref


@slow
def test_a_saved_version_is_found_in_place_without_mlflow(registry):
    store, run_id = registry
    path, resolved = locate_detector(store, "reg@challenger", Path("unused"))
    assert (resolved.version, resolved.run_id) == (2, run_id)
    assert (path / "manifest.json").is_file() and str(path).startswith(str(store.artifact_root))


@pytest.mark.tuning
@slow
def test_registry_reads_of_the_embedded_store_import_no_mlflow(registry):
    store, run_id = registry
    probe = f"""
import json, sys
from detector.config import Settings
from models.tracking import Store, list_versions, find_version, run_info, locate_detector
from pathlib import Path
store = Store.from_settings(Settings.from_env())
out = [v.version for v in list_versions(store, "reg")], find_version(store, "reg@champion").version
locate_detector(store, "reg/2", Path("unused")); run_info(store, "{run_id}")
print(json.dumps([out, "mlflow" in sys.modules]))
"""
    env = {**os.environ, "WAYPOINT_HOME": str(store.artifact_root.parent)}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[[4, 2, 1], 1], False]


@pytest.mark.tuning
def test_score_with_nothing_trained_says_so_before_reading_any_file_with_a_hint_to_train(tmp_path):
    shipments = tmp_path / "not-there-yet.csv"  # reading it would fail (exit 2): the model is checked first
    env = {**os.environ, "WAYPOINT_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    probe = ("import sys; from detector.cli.main import run; sys.argv = ['waypoint', 'score', sys.argv[1], '-o', sys.argv[2]]\n"
             "try:\n    run()\nexcept SystemExit as e:\n    print('exit', e.code, 'mlflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, str(shipments), str(tmp_path / "out.parquet")],
                          env=env, capture_output=True, text=True)
    assert "exit 3 False" in done.stdout, done.stdout + done.stderr
    assert "no model matches 'waypoint@champion'" in done.stderr
    assert "waypoint train" in done.stderr
    assert not (tmp_path / "home" / "mlflow.db").exists() and not (tmp_path / "out.parquet").exists()


def test_listing_an_empty_store_hints_to_train_and_leaves_no_file(tmp_path):
    store = Store.from_settings(Settings.from_env({"WAYPOINT_HOME": str(tmp_path)}))
    with pytest.raises(TrackingError, match="no registered model named 'waypoint'") as info:
        list_versions(store, "waypoint")
    assert "waypoint train" in info.value.hint
    assert not (tmp_path / "mlflow.db").exists()


@slow
def test_a_file_the_sqlite_reader_does_not_recognise_is_read_through_mlflow(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"")  # a store MLflow has not set up yet
    store = Store.from_settings(Settings.from_env({"WAYPOINT_HOME": str(tmp_path)}))
    with pytest.raises(TrackingError, match="no registered model named 'waypoint'"):
        list_versions(store, "waypoint")
    with pytest.raises(TrackingError, match="no run"):
        run_info(store, "0" * 32)
    assert (tmp_path / "mlflow.db").stat().st_size > 0  # MLflow's client set it up


def test_only_waypoints_own_sqlite_store_is_read_directly(tmp_path):
    own = Store.from_settings(Settings.from_env({"WAYPOINT_HOME": str(tmp_path)}))
    assert own.sqlite() is not None
    for uri in (f"sqlite:///{tmp_path / 'other.db'}", "http://tracking.example:5000"):
        other = Store.from_settings(Settings.from_env({"WAYPOINT_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": uri}))
        assert other.sqlite() is None
    split = Store(own.tracking_uri, own.artifact_root, registry_uri="http://registry.example", embedded=True)
    assert split.sqlite() is None
