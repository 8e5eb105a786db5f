"""The model carries its context: `waypoint score` and the pyfunc build features with the model's own tariff events."""
from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from features.families.tariff import events_digest

pytestmark = pytest.mark.slow

runner = CliRunner()
COMPARED = ["shipment_id", "risk_score", "risk_rank", "flagged", "reason_codes", "reasons"]


def _score(model, shipments, out, *extra):
    result = runner.invoke(app, ["score", str(shipments), "-o", str(out), "--json", "--model", model.ref, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_model_scores_the_same_with_and_without_the_events_it_was_trained_with(small_world, fitted_model, tmp_path):
    inputs = ("--inputs", str(small_world["inputs"]))
    own = _score(fitted_model, small_world["holdout"], tmp_path / "own.parquet", *inputs)
    given = _score(fitted_model, small_world["holdout"], tmp_path / "given.parquet", *inputs, "--events", str(small_world["events"]))
    a = pl.read_parquet(tmp_path / "own.parquet").select(COMPARED).sort("shipment_id")
    b = pl.read_parquet(tmp_path / "given.parquet").select(COMPARED).sort("shipment_id")
    assert a.equals(b)
    assert a["reason_codes"].drop_nulls().str.contains("OS_|ENT_ORIGIN|TARIFF|VA_").any()  # the events are at work
    assert own["events"] == "the model's" and "the same as the model's" in given["events"]
    assert own["events_digest"] == given["events_digest"] == events_digest(fitted_model.detector.state.events)
    assert not [w for w in own["warnings"] + given["warnings"] if "--events" in w]


def test_other_events_at_scoring_replace_the_models_with_a_warning(small_world, fitted_model, tmp_path):
    from detector.io.read import DEFAULT_EVENTS

    inputs = ("--inputs", str(small_world["inputs"]))
    own = _score(fitted_model, small_world["holdout"], tmp_path / "own.parquet", *inputs)
    other = _score(fitted_model, small_world["holdout"], tmp_path / "other.parquet", *inputs, "--events", str(DEFAULT_EVENTS))
    (warning,) = [w for w in other["warnings"] if "--events" in w]
    assert "scores will differ" in warning and other["events_digest"] != own["events_digest"]
    a = pl.read_parquet(tmp_path / "own.parquet").sort("shipment_id")["risk_score"]
    b = pl.read_parquet(tmp_path / "other.parquet").sort("shipment_id")["risk_score"]
    assert (a != b).any()


def test_the_pyfunc_scores_like_waypoint_score_with_the_models_events(small_world, trained_model, tmp_path):
    from pyfunc_helpers import predict_in_fresh_process

    rows = tmp_path / "rows.csv"
    pl.read_csv(small_world["holdout"], infer_schema=False).head(400).write_csv(rows)
    cli = tmp_path / "cli.parquet"
    summary = _score(trained_model, rows, cli)  # no --events, no --inputs: the pyfunc has neither
    predicted = predict_in_fresh_process(f"models:/{trained_model.name}/{trained_model.version}", rows, tmp_path / "out.parquet")
    expected = pl.read_parquet(cli).select(COMPARED).sort("shipment_id")
    assert predicted.select(COMPARED).sort("shipment_id").equals(expected)
    assert summary["flagged"] == predicted["flagged"].sum() == 4  # the model's budget: 1 % of 400


def test_the_scored_file_records_the_runs_context(small_world, trained_model, tmp_path):
    from detector.config import Settings
    from models.tracking import Store

    with_inputs = _score(trained_model, small_world["holdout"], tmp_path / "a.parquet", "--inputs", str(small_world["inputs"]))
    without = _score(trained_model, small_world["holdout"], tmp_path / "b.parquet")
    assert with_inputs["inputs_used"] is True and without["inputs_used"] is False
    a = pl.read_parquet_metadata(tmp_path / "a.parquet")
    b = pl.read_parquet_metadata(tmp_path / "b.parquet")
    assert a["waypoint.inputs"].startswith("--inputs") and str(small_world["inputs"]) in a["waypoint.inputs"]
    assert b["waypoint.inputs"].startswith("none")
    digest = events_digest(trained_model.detector.state.events)
    assert a["waypoint.events"] == "the model's" and a["waypoint.events_digest"] == digest
    assert a["waypoint.model_version"] == str(trained_model.version) and a["waypoint.flag_rule"] == "budget 1% (the model's)"
    run = Store.from_settings(Settings.from_env()).client().get_run(trained_model.run_id)
    assert run.data.tags["waypoint.events_digest"] == digest
    assert run.data.tags["waypoint.importing_country"] == "US"
