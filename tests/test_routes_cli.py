"""`waypoint routes` through Typer's CliRunner, on a generated world and the Comtrade example."""
from __future__ import annotations

import datetime as dt
import re
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
COMTRADE = [str(ROOT / "examples/foreign/comtrade.csv"), "--flows-mapping", str(ROOT / "examples/mappings/comtrade.toml")]
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    from detector.synth import generate_world, write_world

    out = tmp_path_factory.mktemp("routes-world")
    return write_world(generate_world(6_000, seed=4, start=dt.date(2024, 1, 1), months=24), out)


def _args(world: dict[str, Path]) -> list[str]:
    return ["routes", str(world["shipments"]), "--inputs", str(world["inputs"]), "--events", str(world["events"])]


def test_routes_prints_the_ranked_table_its_sources_and_the_arithmetic_of_the_first(world):
    result = runner.invoke(app, [*_args(world), "--top", "5"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "sources: destination imports: shipments; transit imports: component imports" in result.stdout
    assert "routes by estimated excess value" in result.stdout and "FLAG" in result.stdout
    assert "#1 arithmetic: min(max(0, " in result.stdout


def test_routes_json_lists_the_top_routes_by_excess_with_their_criteria_and_exporters(world):
    result = runner.invoke(app, [*_args(world), "--top", "4", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["destination"] == "US" and got["hs_level"] == 6 and got["frequency"] == "month"
    assert got["sources"] == {"destination imports": ["shipments"], "transit imports": ["component imports"]}
    routes = got["routes"]
    assert [r["rank"] for r in routes] == [1, 2, 3, 4]
    assert [r["excess_usd"] for r in routes] == sorted((r["excess_usd"] for r in routes), reverse=True)
    first_flagged = next(r for r in routes if r["flagged"])
    assert first_flagged["lines"] > 0 and first_flagged["top_exporters"].startswith("EX")
    assert got["routes_flagged"] >= 1 and got["excess_usd_flagged"] > 0


def test_routes_writes_every_route_and_the_lines_on_flagged_routes(world, tmp_path):
    out, lines = tmp_path / "routes.parquet", tmp_path / "lines.csv"
    result = runner.invoke(app, [*_args(world), "-o", str(out), "--lines", str(lines), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    table = pl.read_parquet(out)
    assert table.height == len({r for r in table.get_column("route")}) > 20  # one row per route
    assert table.get_column("rank").to_list() == list(range(1, table.height + 1))
    assert table.filter("flagged").height == got["routes_flagged"]
    on = pl.read_csv(lines, schema_overrides={"hs_code": pl.String})
    flagged = table.filter("flagged")
    assert set(on.get_column("route")) == set(flagged.filter(pl.col("lines") > 0).get_column("route"))
    assert on.height == flagged.get_column("lines").sum()
    first = flagged.row(0, named=True)
    mine = on.filter(pl.col("route") == first["route"])
    assert (mine.get_column("origin_country") == first["transit"]).all()
    assert (mine.get_column("hs_code").str.slice(0, 6) == first["hs"]).all()


def test_routes_from_comtrade_statistics_alone_flags_the_washed_route(tmp_path):
    out = tmp_path / "r.csv"
    result = runner.invoke(app, ["routes", "--flows", *COMTRADE, "--destination", "US", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["sources"] == {"destination imports": ["trade flows"], "transit imports": ["trade flows"]}
    assert got["routes"][0]["route"] == "854142-CN-VN" and got["routes"][0]["flagged"]
    assert pl.read_csv(out).height == 2


def test_routes_lists_flow_rows_it_cannot_use_with_file_line_and_reason(tmp_path):
    flows = tmp_path / "flows.csv"
    rows = (ROOT / "examples/foreign/comtrade.csv").read_text().splitlines()
    rows[3] = rows[3].replace(",202408,", ",2024-AUG,")  # line 4: an unreadable period
    rows[5] = rows[5].replace(",M,Import,", ",RX,Re-export,")  # line 6: a re-export
    flows.write_text("\n".join(rows) + "\n")
    out = tmp_path / "r.parquet"
    result = runner.invoke(app, ["routes", "--flows", str(flows), "--flows-mapping", COMTRADE[2], "--destination", "US",
                                 "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["read"]["flows"]["rows_read"] == 24 and got["read"]["flows"]["rows_rejected"] == 2
    assert got["read"]["flows"]["rejected_by_reason"] == {"bad_period": 1, "bad_flow": 1}
    rejects = pl.read_csv(got["written"]["flows_rejects"])
    assert rejects.get_column("_line").to_list() == [4, 6]
    assert rejects.get_column("reason_codes").to_list() == ["bad_period", "bad_flow"]


def test_routes_refuses_an_output_over_an_input_before_reading(world):
    result = runner.invoke(app, [*_args(world), "-o", str(world["shipments"])])
    assert result.exit_code == 2 and "would be overwritten" in result.stderr


def test_routes_needs_shipments_or_flows(tmp_path):
    result = runner.invoke(app, ["routes"])
    assert result.exit_code == 2 and "nothing to screen" in result.stderr


def test_routes_refuses_an_unknown_hs_level(world):
    result = runner.invoke(app, [*_args(world), "--level", "5"])
    assert result.exit_code == 2 and "HS level 5" in result.stderr


def test_routes_without_a_known_importing_country_asks_for_destination(tmp_path):
    events = tmp_path / "e.csv"
    events.write_text("effective_date,origin_country,hs_prefix,added_duty_rate,name\n2024-09-27,CN,8541,0.25,x\n")
    result = runner.invoke(app, ["routes", "--flows", *COMTRADE, "--events", str(events)])
    assert result.exit_code == 2 and "--destination" in result.stderr


@pytest.fixture(scope="module")
def route_table(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("route-table") / "routes.parquet"
    result = runner.invoke(app, [*_args(world), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_review_routes_page_ranks_routes_with_their_picture_and_a_queue_link(world, route_table, tmp_path):
    from fastapi.testclient import TestClient

    from detector.review.app import build_app
    from detector.review.security import SecurityConfig

    table = pl.read_parquet(route_table)
    scored = tmp_path / "scored.parquet"  # the world's lines as a scored file would hold them
    pl.read_csv(world["shipments"], schema_overrides={"hs_code": pl.String}).with_row_index("risk_rank", offset=1).with_columns(
        pl.lit(50.0).alias("risk_score"), pl.lit(True).alias("flagged")).write_parquet(scored)
    web = build_app([scored], tmp_path / "d.db", security=SecurityConfig(), routes=route_table)
    client = TestClient(web, base_url="http://127.0.0.1:8765")
    page = client.get("/routes")
    assert page.status_code == 200
    html = page.text
    first = table.row(0, named=True)
    assert html.index(f"#1 {first['route']}") < html.index(f"#2 {table.row(1, named=True)['route']}")
    assert '<img class="chart" src="/chart/route/0.svg"' in html and not re.search(r'(src|href)="https?:', html)
    picture = client.get("/chart/route/0.svg")  # the three flows, the event marked
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/svg+xml"
    assert f"{first['transit']} from {first['origin']}" in picture.text and first["event_name"][:20] in picture.text
    link = f'/?origin={first["transit"]}&amp;hs={first["hs"]}'
    assert link in html
    queue = client.get(link.replace("&amp;", "&")).text
    shown = set(re.findall(r'<tr data-id="([^"]+)"', queue))
    lines = pl.read_parquet(scored).filter(pl.col("hs_code").str.starts_with(first["hs"]), pl.col("origin_country") == first["transit"])
    assert shown and shown <= set(lines.get_column("shipment_id"))


def test_report_has_a_routes_section_when_given_a_route_table(tmp_path, route_table):
    from detector.report import write_report

    scored = tmp_path / "scored.parquet"
    from review_helpers import make_scored

    make_scored().write_parquet(scored)
    write_report([scored], tmp_path / "with.html", routes=route_table)
    write_report([scored], tmp_path / "without.html")
    with_routes, without = (tmp_path / "with.html").read_text(), (tmp_path / "without.html").read_text()
    first = pl.read_parquet(route_table).row(0, named=True)
    assert "Routes by estimated excess value" in with_routes and f"#1 {first['route']}" in with_routes
    assert with_routes.count('<img class="chart" src="data:image/svg+xml;base64,') > without.count('<img class="chart"')
    assert "Routes by estimated excess value" not in without
