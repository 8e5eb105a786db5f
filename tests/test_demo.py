"""`waypoint demo`: the README's main command runs the whole loop in its own directory."""
from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app

pytestmark = pytest.mark.slow


def test_demo_generates_trains_scores_evaluates_and_reports(tmp_path):
    target = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--dir", str(target), "--shipments", "4000", "--n-estimators", "40"])
    assert result.exit_code == 0, result.output
    for name in ("world/shipments.csv", "world/labels.csv", "scored.parquet", "report.html", "home/mlflow.db"):
        assert (target / name).exists(), name
    scored = pl.read_parquet(target / "scored.parquet")
    assert scored["flagged"].sum() == -(-scored.height // 100)  # the demo inspects 1 %
    assert "waypoint review serve" in result.output and "mlflow ui --backend-store-uri" in result.output.replace("\n", " ")
    assert "precision" in result.output
    # the loop closes: a second version trained with outcomes, registered but not promoted
    assert (target / "scored-with-outcomes.parquet").exists()
    assert "version 2" in result.output and "not promoted" in result.output


def test_demo_never_wipes_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path), "--shipments", "1000"])
    assert result.exit_code == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"
