"""`waypoint train` and `waypoint models` against a real SQLite MLflow store.

The session's WAYPOINT_HOME is shared with other test files, so this module registers
its models under its own name (the registry behaves the same for any name).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.config import Settings

NAME = "cli-test-model"
runner = CliRunner()


def _train_args(world: dict[str, Path], *extra: str) -> list[str]:
    return [
        "train", str(world["shipments"]),
        "--inputs", str(world["inputs"]), "--events", str(world["events"]), "--labels", str(world["labels"]),
        "--n-estimators", "50", "--model-name", NAME, "--experiment", "cli-test", "--json", *extra,
    ]


def _versions() -> dict[int, list[str]]:
    result = runner.invoke(app, ["models", "list", "--model-name", NAME, "--json"])
    assert result.exit_code == 0, result.stderr
    return {int(v["version"]): v["aliases"] for v in json.loads(result.stdout)}  # versions are strings in JSON


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    from detector.synth.world import generate_world, write_world

    files = write_world(generate_world(2000, seed=11, start=dt.date(2025, 1, 1), months=10), tmp_path_factory.mktemp("world"))
    # One broken row: training must reject it, count it, and go on.
    with open(files["shipments"], "a") as handle:
        handle.write("BROKEN-1,2025-13-45,US1,EX1,850440,VN,VN,-5,10,,,,,,,,\n")
    return files


@pytest.fixture(scope="module")
def first(world) -> dict:
    result = runner.invoke(app, _train_args(world))
    assert result.exit_code == 0, result.stderr + str(result.exception)
    return {"json": json.loads(result.stdout), "stderr": result.stderr}


@pytest.mark.slow
def test_first_training_registers_a_champion_and_accounts_for_every_row(first):
    out = first["json"]
    assert out["model_version"] == "1" and out["aliases"] == ["champion"]
    assert out["rows_read"] == out["rows_used"] + out["rows_rejected"] == 2001
    assert out["rows_rejected"] == 1 and "bad_date" in out["reject_counts"]
    assert 0 <= out["metrics"]["average_precision"] <= 1 and "precision_at_1pct" in out["metrics"]
    stderr = first["stderr"]
    assert "run id:" in stderr and out["run_id"] in stderr
    assert f"mlflow ui --backend-store-uri {Settings.from_env().tracking_uri}" in stderr.replace("\n", "")


@pytest.mark.slow
def test_training_run_records_params_input_digests_and_rejects(first, world):
    from models.artifact import sha256
    from models.tracking import Store

    client = Store.from_settings(Settings.from_env()).client()
    run = client.get_run(first["json"]["run_id"])
    assert run.data.params["n_estimators"] == "50" and run.data.params["contract_version"] == "1.0"
    assert run.data.tags["waypoint.input.shipments.0.sha256"] == sha256(world["shipments"])
    assert run.data.tags["waypoint.input.labels.0.sha256"] == sha256(world["labels"])
    assert len(run.data.tags["waypoint.reference_state_digest"]) == 64
    assert [a.path for a in client.list_artifacts(run.info.run_id, "rejects")] == ["rejects/shipments.rejects.csv"]


@pytest.mark.slow
def test_later_versions_wait_for_promotion(first, world):
    assert _versions() == {1: ["champion"]}
    result = runner.invoke(app, _train_args(world, "--seed", "1"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model_version"] == "2"
    assert "not promoted" in result.stderr
    assert _versions() == {2: [], 1: ["champion"]}

    result = runner.invoke(app, ["models", "promote", "2", "--model-name", NAME])
    assert result.exit_code == 0, result.stderr
    assert "promoted" in result.stdout
    assert _versions() == {2: ["champion"], 1: []}


@pytest.mark.slow
def test_champion_loads_without_pickle_in_a_fresh_process_and_scores_like_the_detector(first, world, tmp_path):
    from pyfunc_helpers import predict_in_fresh_process, score_in_process

    pl.read_csv(world["shipments"], infer_schema=False).head(400).write_csv(tmp_path / "rows.csv")
    predicted = predict_in_fresh_process(f"models:/{NAME}@champion", tmp_path / "rows.csv", tmp_path / "out.parquet")
    expected = score_in_process(f"{NAME}@champion", tmp_path / "rows.csv", predicted.columns)  # as `waypoint score` loads it
    assert predicted.columns == ["shipment_id", "risk_score", "risk_rank", "flagged", "reason_codes", "reasons", "dq_codes"]
    assert predicted.height == 400
    assert predicted.equals(expected)


@pytest.mark.slow
def test_pyfunc_lists_rows_that_break_the_contract(first):
    from detector.jobs.modelref import load_model_ref
    from models.mlflow_model import InvalidRowsError, score_rows

    good = dict(shipment_id="A", arrival_date="2025-03-01", importer_id="US1", exporter_id="EX1", hs_code="850440",
                origin_country="VN", export_country="VN", declared_value_usd=100.0, weight_kg=10.0)
    rows = pd.DataFrame([good, {**good, "shipment_id": "B", "arrival_date": "2025-02-30"}, {**good, "shipment_id": "C", "weight_kg": -1.0}])
    with pytest.raises(InvalidRowsError) as info:
        score_rows(load_model_ref(f"{NAME}@champion").detector, rows)
    message = str(info.value)
    # only a row that cannot be placed in time is bad; C's weight is scored as unknown (dq_codes)
    assert message.startswith("1 of 3 input row(s) break the data contract")
    assert "row 1 (shipment_id 'B'): arrival_date: not a YYYY-MM-DD date from 1900 to 2100: '2025-02-30'" in message
    assert "shipment_id 'C'" not in message


@pytest.mark.slow
def test_tampered_model_file_is_refused_with_a_clear_message(first):
    from models.tracking import Store

    client = Store.from_settings(Settings.from_env()).client()
    source = client.get_model_version(NAME, "1").source  # models:/m-...
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    meta = Path(location.removeprefix("file://")) / "artifacts" / "detector" / "detector.json"
    original = meta.read_bytes()
    try:
        meta.write_bytes(original.replace(b'"threshold": ', b'"threshold": 1'))
        result = runner.invoke(app, ["models", "show", f"{NAME}/1"])
    finally:
        meta.write_bytes(original)
    assert result.exit_code == 3
    assert "detector.json: SHA-256 does not match the manifest" in result.stderr
    assert runner.invoke(app, ["models", "show", f"{NAME}/1"]).exit_code == 0


def test_model_of_another_contract_major_version_is_refused_by_the_cli(tmp_path):
    from models import artifact
    from models.detector import fit

    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"shipment_id": [f"S{i}" for i in range(300)], "x": rng.normal(size=300)})
    detector = fit(frame, ["x"], directions={"x": "both"}, n_estimators=10)
    artifact.save(replace(detector, contract_version="2.3"), tmp_path / "old-model")
    result = runner.invoke(app, ["models", "show", str(tmp_path / "old-model")])
    assert result.exit_code == 3
    assert "trained on data contract 2.3" in result.stderr and "retrain" in result.stderr


def test_train_refuses_a_missing_file_before_touching_the_store(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "nope.csv: no such file" in result.stderr


@pytest.mark.slow
def test_listing_or_promoting_what_does_not_exist_exits_3(first):
    result = runner.invoke(app, ["models", "list", "--model-name", "no-such-model"])
    assert result.exit_code == 3 and "no registered model named 'no-such-model'" in result.stderr
    result = runner.invoke(app, ["models", "promote", "99", "--model-name", NAME])
    assert result.exit_code == 3 and "has no version 99" in result.stderr


@pytest.mark.slow
def test_models_show_resolves_run_id_name_version_and_models_uri_to_the_same_model(first):
    run_id = first["json"]["run_id"]
    shown = []
    for ref in (run_id, f"{NAME}/1", f"models:/{NAME}/1"):
        result = runner.invoke(app, ["models", "show", ref, "--json"])
        assert result.exit_code == 0, result.stderr
        shown.append(json.loads(result.stdout))
    assert {(s["name"], s["version"], s["run_id"]) for s in shown} == {(NAME, "1", run_id)}
    assert shown[0]["reference_state_digest"] == shown[1]["reference_state_digest"]


def test_train_refuses_an_unknown_option_by_name_before_reading_any_file(tmp_path):
    from detector.jobs.train import train

    with pytest.raises(TypeError, match="n_trees"):  # a misspelt --n-estimators is no silent default
        train([tmp_path / "missing.csv"], n_trees=5, settings=Settings.from_env({"WAYPOINT_HOME": str(tmp_path)}))
