"""Text from files, notes and names prints literally: no markup, no escape sequences reach the terminal."""
from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli._console import safe
from detector.cli.main import app
from detector.review.store import DecisionStore
from review_helpers import make_scored

runner = CliRunner()
ESC = "\x1b"


@pytest.fixture(autouse=True)
def wide_consoles():
    """Tables as wide as their content, so a cell is on one line (CliRunner is not a terminal: 80 columns)."""
    from detector.cli import _console

    saved = [(c, c._width) for c in (_console.out_console, _console.err_console)]
    for c, _ in saved:
        c._width = 400
    yield
    for c, width in saved:
        c._width = width
#: Markup a note or a file could hold: an unbalanced closing tag, a style, a hyperlink.
MARKUP = ("[/b]", "[red]styled[/red]", "[link=http://evil.example]click[/link]", "[bold magenta]x")


def printed(*args: str):
    result = runner.invoke(app, list(args))
    return result, result.stdout + result.stderr


def test_safe_escapes_markup_and_shows_control_characters():
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    for text in MARKUP:
        console.print(safe(text))
    console.print(safe("a\x1b[31mred\x1b[0m \x9b31m \x07 \u202egnp.exe\tb\nc"))
    shown = console.export_text()
    for text in MARKUP:
        assert text in shown
    assert ESC not in shown and "\x9b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b[31mred" in shown and "\\x9b31m" in shown and "\\u202egnp.exe\\tb\\nc" in shown


def test_safe_keeps_newlines_of_messages_when_asked():
    assert safe("line 1\nline 2", newlines=True) == "line 1\nline 2"
    assert safe("line 1\nline 2") == "line 1\\nline 2"


def test_review_list_prints_notes_and_names_with_markup_literally(tmp_path):
    db = tmp_path / "d.db"
    store = DecisionStore(db)
    for i, note in enumerate(MARKUP):
        store.decide(f"S{i}", "confirmed", note=note, analyst="[link=http://evil.example]ana[/link]")
    store.decide("S9\x1b[2J", "cleared", note="clears the screen \x1b[2J\x1b[H", analyst="bo")
    result, out = printed("review", "list", "--db", str(db))
    assert result.exit_code == 0, out
    flat = out.replace("\n", "").replace("│", "").replace(" ", "")
    for note in MARKUP:
        assert note.replace(" ", "") in flat
    assert "[link=http://evil.example]ana[/link]".replace(" ", "") in flat
    assert ESC not in out and "\\x1b[2J" in out


def test_review_decide_echoes_an_id_with_markup_literally(tmp_path):
    result, out = printed("review", "decide", "[red]S1[/red]", "--status", "needs-info", "--note", "x",
                          "--analyst", "[/b]", "--db", str(tmp_path / "d.db"), "--force")
    assert result.exit_code == 0, out
    assert "[red]S1[/red]: needs-info" in result.stdout and "by [/b]" in result.stdout


def test_check_prints_headers_and_rejected_values_literally(tmp_path):
    path = tmp_path / "s.csv"
    header = ("shipment_id,arrival_date,importer_id,exporter_id,hs_code,origin_country,export_country,"
              "declared_value_usd,weight_kg,[red]vessel[/red],\x1b[31mcolour\x1b[0m")
    rows = ["S1,2025-01-01,I1,E1,850440,VN,VN,100,10,a,b", "[/b]S2,2025-01-01,I1,E1,850440,VN,VN,-5,10,a,b"]
    path.write_text("\n".join([header, *rows]) + "\n")
    result, out = printed("check", str(path))
    assert result.exit_code == 0, out
    assert "[red]vessel[/red]" in out and "\\x1b[31mcolour\\x1b[0m" in out
    assert ESC not in out


def test_error_messages_keep_mapping_section_names_and_file_names(tmp_path):
    shipments = tmp_path / "s.csv"
    shipments.write_text("shipment_id\nS1\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text("[hs]\ndigits = 3\n")
    result, out = printed("check", str(shipments), "--mapping", str(mapping))
    assert result.exit_code == 2
    assert "[hs] digits must be" in result.stderr
    missing = tmp_path / "[red]nope[/red]\x1b[2J.csv"
    result, out = printed("check", str(missing))
    assert result.exit_code == 2
    assert "[red]nope[/red]\\x1b[2J.csv" in result.stderr and ESC not in result.stderr


def test_evaluate_prints_scenario_names_from_the_label_file_literally(tmp_path):
    scored = tmp_path / "scored.parquet"
    df = make_scored(200, n_flagged=20)
    df.write_parquet(scored)
    labels = tmp_path / "labels.csv"
    top = df.sort("risk_rank")["shipment_id"].to_list()
    pl.DataFrame({"shipment_id": top[:40], "label": [1] * 10 + [0] * 30,
                  "scenario": ["[red]shell[/red]\x1b[5m"] * 10 + ["[/b]honest"] * 30}).write_csv(labels)
    result, out = printed("evaluate", str(scored), "--labels", str(labels))
    assert result.exit_code == 0, out
    assert ESC not in out
    flat = result.stdout.replace("\n", "").replace("│", "").replace(" ", "")
    assert "[red]shell[/red]\\x1b[5m" in flat and "[/b]honest" in flat


@pytest.mark.slow
def test_score_summary_prints_ids_from_the_file_literally(small_world, fitted_model, tmp_path):
    holdout = pl.read_csv(small_world["holdout"], infer_schema=False)
    marked = holdout.with_columns(pl.concat_str(pl.lit("[/b][red]"), pl.col("shipment_id")).alias("shipment_id"),
                                  pl.concat_str(pl.lit("[link=http://evil.example]"), pl.col("exporter_id")).alias("exporter_id"))
    path = tmp_path / "marked.csv"
    marked.write_csv(path)
    result, out = printed("score", str(path), "-o", str(tmp_path / "scored.parquet"), "--model",
                          fitted_model.ref, "--inputs", str(small_world["inputs"]),
                          "--events", str(small_world["events"]), "--top", "5")
    assert result.exit_code == 0, out
    top = pl.read_parquet(tmp_path / "scored.parquet").sort("risk_rank").head(5)
    for sid, exporter in zip(top["shipment_id"], top["exporter_id"]):
        assert f"{sid} · {exporter}" in result.stdout
    assert "rows read" in result.stdout  # the summary is the result: stdout
    result = runner.invoke(app, ["score", str(path), "-o", str(tmp_path / "again.parquet"), "--model",
                                 fitted_model.ref, "--top", "5", "--json"])
    assert result.exit_code == 0 and isinstance(json.loads(result.stdout)["model_version"], str)
