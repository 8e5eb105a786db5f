"""No command writes over one of its inputs, or fails on its output only after the work is done."""
from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from review_helpers import make_scored

runner = CliRunner()
ROW = "S{i},2025-01-{d:02d},I1,E1,850440,VN,VN,100,10"
HEADER = "shipment_id,arrival_date,importer_id,exporter_id,hs_code,origin_country,export_country,declared_value_usd,weight_kg"


@pytest.fixture
def shipments(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("\n".join([HEADER, *(ROW.format(i=i, d=1 + i % 28) for i in range(30))]) + "\n")
    return path


def refused(args: list[str], *untouched: Path, says: str = "overwritten") -> str:
    before = {p: p.read_bytes() for p in untouched}
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.output
    for p, content in before.items():
        assert p.read_bytes() == content, f"{p} was changed"
    return result.stderr


def aliases(path: Path) -> dict[str, Path]:
    """Other names of the same file: ./relative, a hard link, a symbolic link."""
    hard = path.with_name("hard-" + path.name)
    os.link(path, hard)
    soft = path.with_name("soft-" + path.name)
    soft.symlink_to(path)
    return {"same name": path, "dot path": Path(os.path.relpath(path.parent)) / "." / path.name, "hard link": hard,
            "symlink": soft}


@pytest.mark.parametrize("kind", ["same name", "dot path", "hard link", "symlink"])
def test_score_refuses_an_output_that_is_its_input_before_loading_a_model(shipments, kind):
    output = aliases(shipments)[kind]
    # no model is registered under this name: the refusal comes before the model is looked for
    err = refused(["score", str(shipments), "-o", str(output), "--model", "no-such-model@champion"], shipments)
    assert str(shipments) in err


def test_score_refuses_when_the_rejects_file_beside_the_output_is_an_input(shipments, tmp_path):
    rejects_named = tmp_path / "out.rejects.csv"
    os.link(shipments, rejects_named)
    err = refused(["score", str(rejects_named), "-o", str(tmp_path / "out.csv"), "--model", "no-such-model@champion"],
                  shipments)
    assert "out.rejects.csv" in err


def test_score_refuses_when_a_side_table_rejects_file_would_be_an_input(shipments, tmp_path):
    events = tmp_path / "out.events.rejects.csv"
    events.write_text("effective_date,origin_country,hs_prefix,added_duty_rate,name\n2025-01-01,CN,85,0.25,x\n")
    err = refused(["score", str(shipments), "--events", str(events), "-o", str(tmp_path / "out.parquet"), "--model", "x@y"],
                  events)
    assert "out.events.rejects.csv" in err


def test_score_refuses_an_output_over_its_events_or_mapping(shipments, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("effective_date,origin_country,hs_prefix,added_duty_rate,name\n2025-01-01,CN,85,0.25,x\n")
    refused(["score", str(shipments), "--events", str(events), "-o", str(events), "--model", "x@y"], events)
    mapping = tmp_path / "m.csv"
    mapping.write_text("not toml but an input")
    refused(["score", str(shipments), "--mapping", str(mapping), "-o", str(mapping), "--model", "x@y"], mapping)


def test_score_refuses_a_glob_input_matching_the_output(shipments, tmp_path):
    refused(["score", str(tmp_path / "*.csv"), "-o", str(shipments), "--model", "x@y"], shipments)


def test_output_on_a_directory_is_refused_up_front(shipments, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    refused(["score", str(shipments), "-o", str(folder), "--model", "no-such-model@champion"], says="is a directory")
    refused(["check", str(shipments), "--rejects", str(folder)], says="is a directory")
    refused(["features", "build", str(shipments), "-o", str(folder)], says="is a directory")
    assert list(folder.iterdir()) == []


def test_score_refuses_stdout_for_its_file_output(shipments):
    refused(["score", str(shipments), "-o", "-", "--model", "x@y"], says="-o -")


def test_check_refuses_rejects_file_over_its_input(shipments):
    for target in aliases(shipments).values():
        refused(["check", str(shipments), "--rejects", str(target)], shipments)


def test_features_build_refuses_output_or_rejects_over_an_input(shipments, tmp_path):
    refused(["features", "build", str(shipments), "-o", str(shipments)], shipments)
    beside = tmp_path / "feat.rejects.csv"
    os.link(shipments, beside)
    refused(["features", "build", str(shipments), "-o", str(tmp_path / "feat.parquet")], shipments)


def test_features_build_keeps_the_old_out_spelling(shipments, tmp_path):
    out = tmp_path / "f.parquet"
    result = runner.invoke(app, ["features", "build", str(shipments), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_written"] == 30 and pl.read_parquet(out).height == 30


def test_report_and_evaluate_refuse_outputs_over_their_inputs(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    labels = tmp_path / "labels.csv"
    labels.write_text("shipment_id,label\nS00001,1\n")
    refused(["report", str(scored), "-o", str(scored)], scored)
    refused(["evaluate", str(scored), "--labels", str(labels), "-o", str(labels)], labels)
    refused(["evaluate", str(scored), "--labels", str(labels), "-o", str(scored)], scored)


def test_report_and_evaluate_write_to_stdout_with_dash(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    result = runner.invoke(app, ["report", str(scored), "-o", "-", "--top", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!doctype html>") and result.stdout.rstrip().endswith("</html>")
    assert not (tmp_path / "-").exists()
    labels = tmp_path / "labels.csv"
    labels.write_text("shipment_id,label\nS00001,1\nS00002,0\n")
    result = runner.invoke(app, ["evaluate", str(scored), "--labels", str(labels), "-o", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_labelled"] == 2
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", str(scored), "--labels", str(labels), "-o", str(out)])
    assert result.exit_code == 0 and json.loads(out.read_text())["rows_labelled"] == 2


def test_report_json_summary(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(scored), "-o", str(out), "--top", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"output": str(out), "shipments": 60, "flagged": 5, "suspects": 2}
