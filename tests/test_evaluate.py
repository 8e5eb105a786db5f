"""`waypoint evaluate` on small hand-made scored files (figures checked by hand)."""
from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.evaluate import evaluate

runner = CliRunner()


@pytest.fixture
def scored_and_labels(tmp_path):
    n = 200
    scored = pl.DataFrame({
        "shipment_id": [f"S{i:03d}" for i in range(n)],
        "risk_score": [100 - i * 0.5 for i in range(n)],
        "risk_rank": list(range(1, n + 1)),
        "flagged": [i < 4 for i in range(n)],
        "label": [None] * n,  # the contract's optional column, empty in the scored file
    })
    # positives at ranks 1, 2, 5 and 150; scenario per row
    positives = {0: "transship_shell", 1: "transship_shell", 4: "transship_product_line", 149: "transship_product_line"}
    labels = pl.DataFrame({
        "shipment_id": [f"S{i:03d}" for i in range(n)],
        "label": [1 if i in positives else 0 for i in range(n)],
        "scenario": [positives.get(i, "honest") for i in range(n)],
    })
    scored_path, labels_path = tmp_path / "scored.parquet", tmp_path / "labels.csv"
    scored.write_parquet(scored_path)
    labels.write_csv(labels_path)
    return scored_path, labels_path


def test_evaluate_counts_hits_in_the_inspected_share(scored_and_labels):
    result = evaluate(*scored_and_labels)
    at = {row["budget"]: row for row in result.at_budget}
    assert at[0.01]["inspected"] == 2 and at[0.01]["precision"] == 1.0 and at[0.01]["recall"] == 0.5
    assert at[0.05]["inspected"] == 10 and at[0.05]["recall"] == 0.75
    assert result.at_flags == {"flagged": 4, "precision": 0.5, "recall": 0.5}
    assert result.positives == 4 and result.rows_labelled == 200


def test_evaluate_reports_recall_per_scenario(scored_and_labels):
    per = {row["scenario"]: row for row in evaluate(*scored_and_labels).per_scenario}
    assert per["transship_shell"]["recall_at_flags"] == 1.0
    assert per["transship_product_line"]["recall_at_flags"] == 0.0
    assert per["honest"]["positives"] == 0


def test_evaluate_leaves_unlabelled_shipments_out_and_says_so(scored_and_labels, tmp_path):
    scored, labels = scored_and_labels
    partial = tmp_path / "partial.csv"
    pl.read_csv(labels).head(50).write_csv(partial)
    result = evaluate(scored, partial)
    assert result.rows_scored == 200 and result.rows_labelled == 50


def test_evaluate_cli_prints_json_for_scripts(scored_and_labels):
    scored, labels = scored_and_labels
    result = runner.invoke(app, ["evaluate", str(scored), "--labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["average_precision"] == pytest.approx((1 + 1 + 3 / 5 + 4 / 150) / 4)


def test_evaluate_refuses_a_file_that_is_not_scored(tmp_path, scored_and_labels):
    _, labels = scored_and_labels
    plain = tmp_path / "plain.csv"
    pl.DataFrame({"shipment_id": ["S000"]}).write_csv(plain)
    result = runner.invoke(app, ["evaluate", str(plain), "--labels", str(labels)])
    assert result.exit_code == 2
    assert "risk_score" in result.output
