"""`waypoint features build|report|docs` through the CLI runner."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.signal_report import roc_auc
from features.registry import FEATURE_NAMES

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from test_features_pipeline import small_world

    d = tmp_path_factory.mktemp("world")
    ships, ins, events = small_world()
    ships.drop("label").write_csv(d / "shipments.csv")
    ins.write_csv(d / "inputs.csv")
    events.write_csv(d / "events.csv")
    ships.select("shipment_id", "label").write_csv(d / "labels.csv")
    return d


def test_features_build_writes_one_row_per_valid_shipment_with_features(files, tmp_path):
    out = tmp_path / "f.parquet"
    res = runner.invoke(app, ["features", "build", str(files / "shipments.csv"), "-o", str(out),
                              "--inputs", str(files / "inputs.csv"), "--events", str(files / "events.csv"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    df = pl.read_parquet(out)
    assert df.height == summary["rows_written"] == 600
    assert set(FEATURE_NAMES) <= set(df.columns)
    assert df["va_pass_through_share"].null_count() < df.height


def test_features_build_rejects_bad_rows_beside_the_output(files, tmp_path):
    bad = tmp_path / "bad.csv"
    text = (files / "shipments.csv").read_text().splitlines()
    text[1] = text[1].replace("2025-", "20x5-", 1)
    bad.write_text("\n".join(text) + "\n")
    out = tmp_path / "f.csv"
    res = runner.invoke(app, ["features", "build", str(bad), "-o", str(out), "--events", str(files / "events.csv"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["rows_rejected"] == 1 and summary["rows_written"] == 599
    assert (tmp_path / "f.rejects.csv").exists()


def test_features_build_missing_column_exits_2_naming_the_column(files, tmp_path):
    bad = tmp_path / "nocol.csv"
    pl.read_csv(files / "shipments.csv").drop("weight_kg").write_csv(bad)
    res = runner.invoke(app, ["features", "build", str(bad), "-o", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2
    assert "weight_kg" in res.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_features_report_json_lists_every_feature_with_auc_and_coverage(files):
    res = runner.invoke(app, ["features", "report", str(files / "shipments.csv"), "--labels", str(files / "labels.csv"),
                              "--inputs", str(files / "inputs.csv"), "--events", str(files / "events.csv"), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["feature"]: r for r in json.loads(res.stdout)}
    assert set(rows) == set(FEATURE_NAMES)
    assert rows["va_pass_through_share"]["auc"] > 0.8
    assert rows["price_parity_tariffed"]["auc"] > 0.8
    assert 0 < rows["va_pass_through_share"]["coverage"] < 1


def test_features_report_prints_a_table_to_stdout(files):
    res = runner.invoke(app, ["features", "report", str(files / "shipments.csv"), "--labels", str(files / "labels.csv"),
                              "--events", str(files / "events.csv")])
    assert res.exit_code == 0, res.output
    assert "price_parity_tariffed" in res.stdout and "price_parity_tariffed" not in res.stderr


def test_features_docs_check_fails_when_the_file_is_stale(tmp_path):
    stale = tmp_path / "features.md"
    stale.write_text("old\n")
    assert runner.invoke(app, ["features", "docs", "--check", "--path", str(stale)]).exit_code == 1
    assert runner.invoke(app, ["features", "docs", "--path", str(stale)]).exit_code == 0
    assert runner.invoke(app, ["features", "docs", "--check", "--path", str(stale)]).exit_code == 0


def test_roc_auc_matches_the_pairwise_definition_with_ties():
    score = np.array([0.1, 0.4, 0.4, 0.8, 0.2, 0.4])
    label = np.array([0, 1, 0, 1, 0, 1])
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in score[label == 1] for n in score[label == 0]]
    assert roc_auc(score, label) == pytest.approx(sum(pairs) / len(pairs))
    assert roc_auc(score, np.zeros(6)) is None


def test_every_features_command_has_help_text():
    for cmd in ("build", "report", "docs"):
        res = runner.invoke(app, ["features", cmd, "--help"])
        assert res.exit_code == 0 and len(res.output) > 100
