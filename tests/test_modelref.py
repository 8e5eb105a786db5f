"""`load_model_ref`: model references against the real store, read in place and verified.

Every kind of reference finds the trained model; a local store is read where it is (no
copy) and its files are verified against the manifest; an unknown reference keeps its
message, hint and exit code 3; the store of MLFLOW_TRACKING_URI is the one used.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.config import Settings
from detector.errors import ModelError
from detector.jobs.modelref import load_model_ref

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def features(small_world, trained_model) -> pl.DataFrame:
    """Features of 400 held-out shipments, to compare scores."""
    from detector.io.read import load
    from features.pipeline import build
    from features.schema import SHIPMENTS

    rows = load([small_world["holdout"]], SHIPMENTS).valid.head(400).drop("_source", "_line")
    state = trained_model.detector.state
    return build(rows.lazy(), events=state.events, state=state)


def _detector_json(trained_model) -> Path:
    """The detector.json of the trained model inside the session's artifact store."""
    from models.tracking import Store, locate_detector

    path, _ = locate_detector(Store.from_settings(Settings.from_env()), f"{trained_model.name}/{trained_model.version}", Path("unused"))
    return path / "detector.json"


def test_alias_version_and_run_id_resolve_to_the_trained_model(trained_model, features):
    expected = trained_model.detector.score(features)
    for ref in (f"{trained_model.name}@champion", f"{trained_model.name}/{trained_model.version}", trained_model.run_id):
        loaded = load_model_ref(ref, Settings.from_env())
        assert (loaded.name, loaded.version, loaded.run_id, loaded.ref) == (
            trained_model.name, trained_model.version, trained_model.run_id, ref)
        assert loaded.detector.score(features).equals(expected), ref


def test_saved_detector_in_the_store_is_read_in_place_and_verified(trained_model):
    """A local store is not copied: the store's own directory is loaded, and verified."""
    directory = _detector_json(trained_model).parent
    assert directory.is_relative_to(Settings.from_env().artifact_root)
    local = load_model_ref(str(directory))
    assert local.version == "local" and local.detector.threshold == trained_model.detector.threshold


def test_unknown_reference_is_a_model_error_with_a_hint_and_exits_3(small_world, trained_model, tmp_path):
    with pytest.raises(ModelError) as info:
        load_model_ref("nothing@champion")
    assert "no model matches 'nothing@champion'" in str(info.value)
    assert "waypoint models list" in info.value.hint and info.value.exit_code == 3

    result = CliRunner().invoke(app, ["score", str(small_world["holdout"]), "-o", str(tmp_path / "scored.parquet"),
                                      "--model", "nothing@champion"])
    assert result.exit_code == 3
    assert f"error: {info.value}" in result.stderr and "hint: Use NAME@ALIAS" in result.stderr
    assert not (tmp_path / "scored.parquet").exists()


def test_changed_model_file_in_the_store_is_refused(trained_model):
    meta = _detector_json(trained_model)
    original = meta.read_bytes()
    try:
        meta.write_bytes(original.replace(b'"threshold": ', b'"threshold": 1'))
        with pytest.raises(ModelError, match="detector.json: SHA-256 does not match the manifest") as info:
            load_model_ref(f"{trained_model.name}/{trained_model.version}")
    finally:
        meta.write_bytes(original)
    assert "do not edit saved models" in info.value.hint


_SCORE_PATH = """
import json, sys
from detector.jobs.modelref import load_model_ref
loaded = load_model_ref(sys.argv[1])
print(json.dumps({"version": loaded.version, "threshold": loaded.detector.threshold}))
"""


def test_the_store_of_mlflow_tracking_uri_is_used_and_waypoint_home_left_alone(trained_model, tmp_path):
    empty_home = tmp_path / "home"
    env = {**os.environ, "WAYPOINT_HOME": str(empty_home), "MLFLOW_TRACKING_URI": Settings.from_env().tracking_uri}
    done = subprocess.run([sys.executable, "-c", _SCORE_PATH, f"{trained_model.name}/{trained_model.version}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    assert answer == {"version": trained_model.version, "threshold": trained_model.detector.threshold}
    assert not empty_home.exists()  # WAYPOINT_HOME's embedded store was neither used nor created


def test_a_bare_name_is_a_registry_name_even_beside_a_folder_of_that_name(trained_model, tmp_path, monkeypatch):
    (tmp_path / trained_model.name).mkdir()  # e.g. `--model bench` run from the repository root
    monkeypatch.chdir(tmp_path)
    loaded = load_model_ref(trained_model.name, Settings.from_env())
    assert (loaded.name, loaded.version) == (trained_model.name, trained_model.version)
    with pytest.raises(ModelError, match="manifest"):
        load_model_ref(f"./{trained_model.name}")  # written as a path: the folder, which is no saved model
