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
    assert "rows read: 3" in result.stdout and "valid: 2" in result.stdout and "rejected: 1" in result.stdout
    assert "duplicate_shipment_id" in result.stdout
    assert "1 row(s) scored with data-quality codes" in result.stdout and "non_positive_value" in result.stdout
    assert "unused source columns: vessel" in result.stdout
    assert "would be rejected" in result.stderr and "would be rejected" not in result.stdout


def test_check_json_prints_machine_readable_summary_on_stdout(shipments):
    result = runner.invoke(app, ["check", str(shipments), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert (summary["rows_read"], summary["rows_valid"], summary["rows_rejected"]) == (3, 2, 1)
    assert summary["rejected_by_reason"]["duplicate_shipment_id"]["examples"][0]["line"] == 4
    assert summary["dq_by_code"]["non_positive_value"]["rows"] == 1 and summary["rows_with_dq_codes"] == 1
    assert summary["dq_by_code"]["non_positive_value"]["examples"][0]["line"] == 3
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


def test_check_strict_rejects_what_the_default_scores(shipments):
    result = runner.invoke(app, ["check", str(shipments), "--strict", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert (summary["rows_valid"], summary["rows_rejected"]) == (1, 2) and summary["dq_by_code"] == {}
    assert summary["rejected_by_reason"]["non_positive_value"]["examples"][0]["line"] == 3


def test_check_exits_2_when_every_row_is_rejected_and_suggests_the_date_format(tmp_path):
    path = tmp_path / "dmy.csv"
    path.write_text(HEADER + "\n" + "".join(f"S{i},2{i}/03/2025,I1,E1,850440,VN,VN,100,1,X\n" for i in range(5)), encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "dmy.csv: all 5 shipments row(s) were rejected (bad_date 5)" in err and "dmy.csv:2" in err
    assert '[read] date_format = "%d/%m/%Y"' in err
    assert "rows read: 5" in result.stdout  # the summary is still shown


def test_check_suggests_a_semicolon_delimiter_for_a_semicolon_header(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(HEADER.replace(",", ";") + "\nS1;2025-03-01;I1;E1;850440;VN;VN;100;1;X\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert '[read] delimiter = ";"' in " ".join(result.stderr.split())


@pytest.mark.parametrize(("share", "code"), [("50%", 0), ("10%", 2), ("0.1", 2), ("1", 2), ("lots", 2)])
def test_check_max_reject_share_fails_a_bad_extract(shipments, share, code):
    result = runner.invoke(app, ["check", str(shipments), "--max-reject-share", share])
    assert result.exit_code == code, result.stderr
    if code and share in ("10%", "0.1"):
        assert "1 of 3 shipments rows (33.3%) were rejected, more than --max-reject-share 10.0%" in " ".join(result.stderr.split())


def test_check_side_table_kinds_reject_every_defect(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("input_id,arrival_date,importer_id,supplier_country,hs_code,declared_value_usd,weight_kg\n"
                    "I1,2025-01-05,VN-EXP-1,ZZ,720851,5000,900\nI2,2025-01-05,VN-EXP-1,CN,720851,5000,900\n", encoding="utf-8")
    summary = json.loads(runner.invoke(app, ["check", str(path), "--kind", "inputs", "--json"]).stdout)
    assert summary["rows_rejected"] == 1 and summary["rejected_by_reason"]["bad_supplier_country"]["rows"] == 1


def test_check_suggests_decimal_commas_when_most_values_are_not_numbers(tmp_path):
    path = tmp_path / "eu.csv"
    rows = "".join(f"S{i};2025-03-01;I1;E1;850440;VN;VN;1.234,5{i};1;X\n" for i in range(4))
    path.write_text(HEADER.replace(",", ";") + "\n" + rows, encoding="utf-8")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[read]\ndelimiter = ";"\n', encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.stderr
    assert "[read] decimal_comma = true" in " ".join(result.stderr.split())
    fixed = tmp_path / "m2.toml"
    fixed.write_text('[read]\ndelimiter = ";"\ndecimal_comma = true\n', encoding="utf-8")
    summary = json.loads(runner.invoke(app, ["check", str(path), "--mapping", str(fixed), "--json"]).stdout)
    assert summary["dq_by_code"] == {} and summary["hints"] == []
