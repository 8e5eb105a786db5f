"""Lineage: a scored file names its model, files, options and time; training files are MLflow
datasets; `models show` and `models compare` read the runs; `evaluate --log` records on the
model's run; decisions keep the scored file's absolute path and digest."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from detector import __version__, lineage
from detector.cli.main import app
from detector.config import Settings
from detector.jobs.score import score
from detector.review.queue import ScoredSet
from detector.review.store import DecisionStore
from models.artifact import sha256
from review_helpers import make_scored

slow = pytest.mark.slow


@slow
def test_scored_parquet_carries_model_files_options_version_and_time(scored_holdout, trained_model, small_world):
    before = dt.datetime.now(dt.UTC)
    record = json.loads(pl.read_parquet_metadata(scored_holdout)[lineage.KEY])
    assert record == lineage.read(scored_holdout)
    assert record["model"] == {"name": trained_model.name, "version": str(trained_model.version),
                               "run_id": trained_model.run_id, "ref": trained_model.ref}
    for role in ("shipments", "inputs", "events"):
        (entry,) = record["files"][role]
        path = Path(small_world["holdout" if role == "shipments" else role]).resolve()
        assert entry == {"path": str(path), "sha256": sha256(path), "bytes": path.stat().st_size}
    assert "mapping" not in record["files"]
    assert record["options"]["budget"] == 0.02 and record["options"]["top"] is None
    assert record["context"]["events"].startswith("--events")
    assert record["waypoint_version"] == __version__
    scored_at = dt.datetime.fromisoformat(record["scored_at"].replace("Z", "+00:00"))
    assert abs((before - scored_at).total_seconds()) < 3600


@slow
def test_scored_csv_has_its_lineage_beside_it_and_a_sidecar_of_another_file_is_not_taken(trained_model, small_world, tmp_path,
                                                                                         monkeypatch):
    out = tmp_path / "scored.csv"
    holdout = Path(small_world["holdout"])
    monkeypatch.chdir(holdout.parent)  # the input named as a user types it: a relative name
    score([Path(holdout.name)], out, model=trained_model, top=5)
    sidecar = tmp_path / "scored.lineage.json"
    record = lineage.read(out)
    assert record is not None and json.loads(sidecar.read_text())["files"] == record["files"]
    assert record["files"]["shipments"] == [{"path": str(holdout.resolve()), "sha256": sha256(holdout),
                                             "bytes": holdout.stat().st_size}]
    assert record["model"]["run_id"] == trained_model.run_id and record["options"]["top"] == 5
    assert record["output"] == {"path": str(out.resolve()), "bytes": out.stat().st_size}
    out.write_text(out.read_text() + "another run's line\n")  # the CSV is no longer the one described
    assert lineage.read(out) is None


def test_a_file_without_lineage_has_none(tmp_path):
    path = tmp_path / "old.parquet"
    make_scored(20).write_parquet(path)
    assert lineage.read(path) is None and lineage.read(tmp_path / "old.csv") is None


@slow
def test_training_logs_each_input_file_as_an_mlflow_dataset_without_rows(trained_model, small_world):
    from models.tracking import Store

    client = Store.from_settings(Settings.from_env()).client()
    inputs = client.get_run(trained_model.run_id).inputs.dataset_inputs
    by_role = {}
    for item in inputs:
        tags = {t.key: t.value for t in item.tags}
        by_role[tags["waypoint.role"]] = (item.dataset, tags)
    assert set(by_role) == {"shipments", "inputs", "events"}
    dataset, tags = by_role["shipments"]
    path = Path(small_world["train"]).resolve()
    assert tags["waypoint.sha256"] == sha256(path) and dataset.digest == sha256(path)[:32]
    assert tags["mlflow.data.context"] == "training"
    assert json.loads(dataset.source)["uri"] == path.as_uri()
    columns = [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]]
    assert "shipment_id" in columns and "declared_value_usd" in columns
    assert not dataset.profile  # no rows, no statistics of them


@slow
def test_models_show_lists_the_training_files_and_their_digests(trained_model, small_world):
    r = CliRunner().invoke(app, ["models", "show", f"{trained_model.name}/{trained_model.version}", "--json"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    files = {f["role"]: f for f in shown["training_files"]}
    train = Path(small_world["train"]).resolve()
    assert files["shipments"] == {"role": "shipments", "path": str(train), "sha256": sha256(train)}
    assert files["inputs"]["sha256"] == sha256(small_world["inputs"])
    assert shown["run_id"] == trained_model.run_id and "threshold" in shown["metrics"]


@slow
def test_evaluate_log_records_the_figures_on_the_run_the_lineage_names(scored_holdout, trained_model, small_world):
    from models.tracking import Store, run_info

    r = CliRunner().invoke(app, ["evaluate", str(scored_holdout), "--labels", str(small_world["labels"]), "--log", "--json"])
    assert r.exit_code == 0, r.output
    figures = json.loads(r.stdout)
    store = Store.from_settings(Settings.from_env())
    run = run_info(store, trained_model.run_id)
    assert run.metrics["eval_average_precision"] == pytest.approx(figures["average_precision"])
    one = next(b for b in figures["at_budget"] if b["budget"] == 0.01)
    assert run.metrics["eval_precision_at_1pct"] == pytest.approx(one["precision"])
    assert run.tags["waypoint.eval.scored_sha256"] == sha256(scored_holdout)
    assert run.tags["waypoint.eval.labels_sha256"] == sha256(small_world["labels"])
    logged = store.client().list_artifacts(trained_model.run_id, "evaluations")
    assert any(a.path.startswith("evaluations/scored-") and a.path.endswith(".json") for a in logged)


def test_evaluate_log_of_a_file_naming_no_model_run_is_refused(tmp_path):
    scored = tmp_path / "scored.parquet"
    frame = make_scored(60, n_flagged=5).with_columns(pl.lit("nobody-trained-this").alias("model_name"))
    frame.write_parquet(scored)
    labels = tmp_path / "labels.csv"
    frame.select("shipment_id", pl.col("flagged").cast(pl.Int8).alias("label")).write_csv(labels)
    r = CliRunner().invoke(app, ["evaluate", str(scored), "--labels", str(labels), "--log"])
    assert r.exit_code == 3
    assert "no model matches" in r.stderr or "names no model run" in r.stderr


@pytest.fixture(scope="module")
def second_model(small_world):
    """Another model of the same world (other seed, fewer trees), to compare with."""
    from detector.jobs.modelref import load_model_ref
    from detector.jobs.train import train

    settings = Settings.from_env()
    result = train([small_world["train"]], inputs=[small_world["inputs"]], events=[small_world["events"]],
                   model_name="compare-tests", n_estimators=20, seed=9, settings=settings)
    return load_model_ref(f"compare-tests/{result.model_version}", settings)


@slow
def test_models_compare_shows_parameters_features_metrics_and_the_score_shift(trained_model, second_model, small_world, tmp_path):
    from scipy.stats import spearmanr

    a, b = f"{trained_model.name}/{trained_model.version}", f"{second_model.name}/{second_model.version}"
    r = CliRunner().invoke(app, ["models", "compare", a, b, "--file", str(small_world["holdout"]), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    params = {p["name"]: p for p in out["params"]}
    assert (params["n_estimators"]["a"], params["n_estimators"]["b"], params["n_estimators"]["same"]) == ("50", "20", False)
    assert params["contamination"]["same"]
    assert out["features_both"] == list(trained_model.detector.feature_names)
    metrics = {m["name"]: m for m in out["metrics"]}
    assert metrics["threshold"]["change"] == pytest.approx(metrics["threshold"]["b"] - metrics["threshold"]["a"])

    # the shift, worked out here from each model's own scored file
    frames = []
    for tag, model in (("a", trained_model), ("b", second_model)):
        path = tmp_path / f"{tag}.parquet"
        score([small_world["holdout"]], path, model=model)
        frames.append(pl.read_parquet(path).select("shipment_id", pl.col("risk_score").alias(tag), pl.col("risk_rank").alias(f"r{tag}")))
    both = frames[0].join(frames[1], on="shipment_id")
    shift = out["shift"]
    assert shift["rows"] == both.height
    assert shift["spearman"] == pytest.approx(spearmanr(both["a"], both["b"]).statistic, abs=1e-3)
    top = int(np.ceil(0.01 * both.height))
    in_a = set(both.filter(pl.col("ra") <= top)["shipment_id"])
    in_b = set(both.filter(pl.col("rb") <= top)["shipment_id"])
    assert (shift["top_a"], shift["top_overlap"]) == (top, len(in_a & in_b))
    biggest = (both["b"] - both["a"]).abs().max()
    assert abs(shift["moves"][0]["change"]) == pytest.approx(biggest)
    assert [abs(m["change"]) for m in shift["moves"]] == sorted((abs(m["change"]) for m in shift["moves"]), reverse=True)


def test_decision_keeps_the_absolute_path_and_digest_of_the_file_holding_the_shipment(tmp_path, monkeypatch):
    first, second = tmp_path / "march.parquet", tmp_path / "april.parquet"
    make_scored(40, n_flagged=5).write_parquet(first)
    make_scored(40, n_flagged=5, seed=3).with_columns(pl.col("shipment_id").str.replace("S", "T")).write_parquet(second)
    monkeypatch.chdir(tmp_path)  # the files are given as relative names, as a user types them
    files = ScoredSet(["march.parquet", "april.parquet"])
    store = DecisionStore(tmp_path / "d.db")
    decided = store.decide("T00001", "needs-info", analyst="ana", context=files.context("T00001"))
    assert (decided.scored_file, decided.scored_file_sha256) == (str(second.resolve()), sha256(second))
    (stored,) = store.history("T00001")
    assert (stored.scored_file, stored.scored_file_sha256) == (str(second.resolve()), sha256(second))
    assert files.context("S00001").scored_file == str(first.resolve())


def test_a_decision_store_made_before_digests_keeps_its_decisions_and_gains_the_column(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:  # the decisions table as it was first released
        con.executescript("""
            CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, shipment_id TEXT NOT NULL,
              status TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', analyst TEXT NOT NULL DEFAULT '',
              decided_at TEXT NOT NULL, model_name TEXT, model_version TEXT, risk_score REAL, scored_file TEXT);
            INSERT INTO decisions (shipment_id, status, analyst, decided_at, scored_file)
              VALUES ('S1', 'cleared', 'ana', '2025-01-01T00:00:00', 'scored.parquet');
        """)
    store = DecisionStore(db)
    (old,) = store.history("S1")
    assert (old.status, old.scored_file, old.scored_file_sha256) == ("cleared", "scored.parquet", None)
    from detector.review.store import Context

    new = store.decide("S2", "needs-info", analyst="bo", context=Context(scored_file="/x/s.parquet", scored_file_sha256="ab"))
    assert store.history("S2") == [new] and new.scored_file_sha256 == "ab"
