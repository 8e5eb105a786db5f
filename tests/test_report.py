"""`waypoint report`: one self-contained HTML file with charts and the top suspects."""
from __future__ import annotations

import re

from typer.testing import CliRunner

from detector.cli.main import app
from review_helpers import XSS, make_events, make_inputs, make_scored


def _files(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored().write_parquet(scored)
    inputs = tmp_path / "inputs.csv"
    make_inputs().write_csv(inputs)
    events = tmp_path / "events.csv"
    make_events().write_csv(events)
    return scored, inputs, events


def test_report_is_self_contained_html_with_charts_and_top_suspects(tmp_path):
    scored, inputs, events = _files(tmp_path)
    out = tmp_path / "report.html"
    r = CliRunner().invoke(app, ["report", str(scored), "-o", str(out), "--inputs", str(inputs), "--events", str(events), "--top", "5"])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert "300 shipment lines scored" in html and "<strong>15</strong> flagged" in html
    assert "<script" not in html.replace("&lt;script", "") and "<link" not in html  # nothing to run or fetch
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "Risk score distribution" in html and "Flags by declared origin" in html and "Flags by HS chapter" in html
    suspects = re.findall(r"<h3>#(\d+) · (\S+) ·", html)
    assert [int(rank) for rank, _ in suspects] == [1, 2, 3, 4, 5]
    assert suspects[0][1] == "S00000"
    # histogram, three breakdowns, three pictures per suspect: each an SVG data: image
    assert html.count('<img class="chart" src="data:image/svg+xml;base64,') == 1 + 3 + 5 * 3
    assert "Section 301 list 3" in html and "component imports" in html


def test_report_escapes_text_from_the_file(tmp_path):
    scored, _, _ = _files(tmp_path)
    out = tmp_path / "report.html"
    assert CliRunner().invoke(app, ["report", str(scored), "-o", str(out), "--top", "1"]).exit_code == 0
    html = out.read_text()
    assert XSS not in html and "&lt;script&gt;alert" in html


def test_report_of_unreadable_input_writes_nothing_and_exits_2(tmp_path):
    bad = tmp_path / "scored.txt"
    bad.write_text("not a scored file")
    out = tmp_path / "report.html"
    r = CliRunner().invoke(app, ["report", str(bad), "-o", str(out)])
    assert r.exit_code == 2 and "scored.txt" in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_report_of_file_with_no_flags_says_so(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(50, n_flagged=0).write_parquet(scored)
    out = tmp_path / "report.html"
    assert CliRunner().invoke(app, ["report", str(scored), "-o", str(out)]).exit_code == 0
    assert "No shipment was flagged." in out.read_text()


def test_review_and_report_commands_have_help_text():
    runner = CliRunner()
    for args in (["report", "--help"], ["review", "--help"], ["review", "serve", "--help"], ["review", "list", "--help"],
                 ["review", "decide", "--help"], ["review", "export", "--help"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0 and "Not built yet" not in r.stdout, args
