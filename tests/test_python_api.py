"""The Python API: the README's snippet runs as written, and finds the store as the CLI does.

The snippet is read from README.md itself (the ```python blocks of its "Python API"
section), so the documentation cannot drift from what works.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from detector.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_python(section: str = "Python API") -> str:
    """The ```python blocks of one ``## section`` of the README, joined in order."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, f"README has no '## {section}' section"
    blocks = re.findall(r"^```python\n(.*?)^```", match.group(1), flags=re.S | re.M)
    assert blocks, f"README's '{section}' section has no python block"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def snippet_folder(small_world, tmp_path_factory) -> Path:
    """A working folder holding the files the snippet names, made from the session's world."""
    folder = tmp_path_factory.mktemp("api-cwd")
    shutil.copy(small_world["train"], folder / "shipments-2025.csv")
    shutil.copy(small_world["holdout"], folder / "shipments-2026.csv")
    shutil.copy(small_world["inputs"], folder / "vn_imports.csv")
    return folder


@pytest.mark.slow
def test_readme_python_snippet_runs_against_waypoint_home_and_writes_nothing_in_the_working_folder(snippet_folder, tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "WAYPOINT_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    before = set(os.listdir(snippet_folder))
    done = subprocess.run([sys.executable, "-c", readme_python()], cwd=snippet_folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained version 1 ['champion']" in done.stdout
    made = set(os.listdir(snippet_folder)) - before
    assert made == {"scored.parquet"}  # no ./mlflow.db, ./mlruns or ./mlartifacts
    assert (home / "mlflow.db").is_file() and (home / "mlartifacts").is_dir()


@pytest.mark.slow
def test_load_model_scores_rows_as_the_score_function_scores_their_file(trained_model, small_world, tmp_path, monkeypatch):
    from detector import load_model, score

    monkeypatch.chdir(tmp_path)  # the store is found from WAYPOINT_HOME, not the working folder
    ref = f"{trained_model.name}/{trained_model.version}"
    model = load_model(ref)
    assert (model.name, model.version, model.run_id) == (trained_model.name, str(trained_model.version), trained_model.run_id)

    rows = pl.read_csv(small_world["holdout"], schema_overrides={"hs_code": pl.String}).head(300)
    rows.write_csv(tmp_path / "rows.csv")
    result = score(["rows.csv"], "scored.parquet", model=ref)
    assert result.rows_scored == 300
    from_file = pl.read_parquet(tmp_path / "scored.parquet").select("shipment_id", "risk_score", "reasons")
    from_rows = model.score(rows).select("shipment_id", "risk_score", "reasons")
    joined = from_file.join(from_rows, on="shipment_id", suffix="_rows")
    assert joined.height == 300
    assert (joined["risk_score"] - joined["risk_score_rows"]).abs().max() < 1e-9
    assert not list(tmp_path.glob("mlflow.db"))


def test_the_api_is_exported_from_detector_without_importing_anything_heavy():
    probe = ("import sys, json; from detector import load_model, score, train, tracking_uri; "
             "print(json.dumps([m for m in ('polars', 'mlflow', 'sklearn', 'numpy') if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_tracking_uri_is_the_store_the_cli_uses(tmp_path, monkeypatch):
    from detector import tracking_uri

    monkeypatch.setenv("WAYPOINT_HOME", str(tmp_path))
    assert tracking_uri() == Settings.from_env().tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


@pytest.mark.slow
def test_logged_model_requirements_name_waypoint_at_its_version(trained_model):
    from detector import __version__
    from models.tracking import Store, locate_detector

    detector_dir, _ = locate_detector(Store.from_settings(Settings.from_env()),
                                      f"{trained_model.name}/{trained_model.version}", Path("unused"))
    requirements = (detector_dir.parent.parent / "requirements.txt").read_text().split()
    assert f"waypoint=={__version__}" in requirements
    assert any(r.startswith("mlflow==") for r in requirements)
