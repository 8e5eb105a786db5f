"""`waypoint check` through Typer's CliRunner."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detector.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
HEADER = "shipment_id,arrival_date,importer_id,exporter_id,hs_code,origin_country,export_country,declared_value_usd,weight_kg,vessel"
runner = CliRunner()


@pytest.fixture
def shipments(tmp_path: Path) -> Path:
    path = tmp_path / "s.csv"
    path.write_text(
        HEADER + "\n"
        "S1,2025-03-01,I1,E1,850440,VN,VN,100,1,X\n"
        "S2,2025-03-01,I1,E1,850440,VN,VN,-4,1,X\n"
        "S1,2025-03-02,I1,E1,850440,VN,VN,100,1,X\n",
        encoding="utf-8",
    )
    return path


def test_check_summarises_valid_and_rejected_rows_and_exits_0(shipments):
    result = runner.invoke(app, ["check", str(shipments)])
    assert result.exit_code == 0, result.stderr
    # the summary is the command's result: stdout; the warning about rejected rows: stderr
    assert "rows read: 3" in result.stdout and "valid: 1" in result.stdout and "rejected: 2" in result.stdout
    assert "non_positive_value" in result.stdout and "duplicate_shipment_id" in result.stdout
    assert "unused source columns: vessel" in result.stdout
    assert "would be rejected" in result.stderr and "would be rejected" not in result.stdout


def test_check_json_prints_machine_readable_summary_on_stdout(shipments):
    result = runner.invoke(app, ["check", str(shipments), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert (summary["rows_read"], summary["rows_valid"], summary["rows_rejected"]) == (3, 1, 2)
    assert summary["rejected_by_reason"]["non_positive_value"]["examples"][0]["line"] == 3
    assert summary["unused_source_columns"] == ["vessel"]
    assert "quantity" in summary["missing_optional"]


def test_check_missing_required_column_exits_2_naming_it_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("shipment_id,arrival_date\nS1,2025-03-01\n", encoding="utf-8")
    out = tmp_path / "rej.csv"
    result = runner.invoke(app, ["check", str(path), "--rejects", str(out)])
    assert result.exit_code == 2
    assert "bad.csv" in result.stderr and "importer_id" in result.stderr and "weight_kg" in result.stderr
    assert not out.exists()


def test_check_writes_rejects_when_asked(shipments, tmp_path):
    out = tmp_path / "rej.csv"
    result = runner.invoke(app, ["check", str(shipments), "--rejects", str(out), "--json"])
    assert result.exit_code == 0 and out.exists()
    assert json.loads(result.stdout)["rejects_file"] == str(out)


def test_check_with_example_mapping_maps_cleanly():
    result = runner.invoke(
        app,
        ["check", str(ROOT / "examples/foreign/bill_of_lading.csv"), "--mapping", str(ROOT / "examples/mappings/bill_of_lading.toml"), "--json"],
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows_rejected"] == 0 and summary["unused_source_columns"] == ["vessel_name"]


def test_check_bad_mapping_exits_2(shipments, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nshipment_id = "absent"\n', encoding="utf-8")
    result = runner.invoke(app, ["check", str(shipments), "--mapping", str(mapping)])
    assert result.exit_code == 2 and "'absent'" in result.stderr


def test_check_labels_kind(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("shipment_id,label\nS1,1\nS2,x\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--kind", "labels", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["rejected_by_reason"]["bad_label"]["rows"] == 1


def test_check_unknown_format_exits_2(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("x\n1\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2 and "unknown file format" in result.stderr


def test_check_has_help_for_command_and_options():
    result = runner.invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    for option in ("--mapping", "--kind", "--json", "--rejects"):
        assert option in result.stdout
    assert "Read, map and validate" in result.stdout
