"""Routes meet lines: a line carries its route, the route's point-in-time cover as a feature
and a reason, and the CLI reads route tables (report) and trade flows (check)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from features.pipeline import build
from features.registry import by_name, reason_expr
from features.schema import EVENTS, INPUTS, SHIPMENTS
from features.state import fit_state

ROOT = Path(__file__).resolve().parents[1]
START = dt.date(2024, 1, 1)  # a Monday: week k of the world starts START + 7k days
EVENT = dt.date(2024, 7, 1)  # week 26
FEATURE = "route_transit_cover"
EVIDENCE = ["ev_route", "ev_route_exports_before_usd", "ev_route_exports_recent_usd", "ev_route_imports_before_usd",
            "ev_route_imports_recent_usd"]
runner = CliRunner()


def _week(k: int, day: int = 0) -> dt.date:
    return START + dt.timedelta(days=7 * k + day)


def _events() -> pl.DataFrame:
    return pl.DataFrame({"effective_date": [EVENT], "importing_country": ["US"], "origin_country": ["CN"],
                         "hs_prefix": ["85"], "added_duty_rate": [0.25], "name": ["solar duty"], "source": [None]},
                        schema=EVENTS.schema)


def _line(sid: str, day: dt.date, exporter: str, value: float, hs: str = "8541420010", origin: str = "VN") -> dict:
    return {"shipment_id": sid, "arrival_date": day, "importer_id": "US1", "exporter_id": exporter, "hs_code": hs,
            "origin_country": origin, "export_country": origin, "declared_value_usd": value, "weight_kg": 100.0,
            "importing_country": "US"}


def _ships(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows).with_columns(
        [pl.lit(None, dtype=t).alias(n) for n, t in SHIPMENTS.schema.items() if n not in rows[0]]
    ).select(SHIPMENTS.names).cast(dict(SHIPMENTS.schema))


def _inputs(rows: list[tuple[str, dt.date, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"input_id": f"I{i}", "arrival_date": d, "importer_id": firm, "supplier_country": sup, "hs_code": hs,
          "declared_value_usd": v, "weight_kg": 10.0} for i, (firm, d, sup, hs, v) in enumerate(rows)],
        schema=INPUTS.schema)


#: The route 854142-CN-VN: VN's exports of the HS6 (one firm, EXV1) are 1,000 USD a week in
#: the 26 weeks before the event and 4,000 after; EXV1 imports the same HS6 from CN for
#: 3,000 a week after the event (``after_imports``) and ``before_imports`` a week before
#: it, and parts of another HS6 from the first week on (the component imports cover it).
EXPORTS_BEFORE, EXPORTS_AFTER, IMPORTS_AFTER = 1_000.0, 4_000.0, 3_000.0


def _route_world(before_imports: float = 0.0, late_firm: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    ships = [_line(f"S{k}", _week(k, 2), "EXV1", EXPORTS_BEFORE if k < 26 else EXPORTS_AFTER) for k in range(52)]
    ins = [("EXV1", _week(0, 1), "CN", "8541900000", 500.0)]
    ins += [("EXV1", _week(k, 1), "CN", "8541420000", before_imports) for k in range(26) if before_imports]
    ins += [("EXV1", _week(k, 1), "CN", "8541420000", IMPORTS_AFTER) for k in range(26, 52)]
    if late_firm:
        # EXV2 imports the HS6 from CN from the event on, but is first seen exporting (furniture,
        # declared VN) in week 36: before then its imports are no country's.
        ins += [("EXV2", _week(k, 1), "CN", "8541420000", 5_000.0) for k in range(26, 52)]
        ships += [_line(f"F{k}", _week(k, 3), "EXV2", 700.0, hs="9403600000") for k in range(36, 52)]
    return _ships(ships), _inputs(ins)


def _features(ships: pl.DataFrame, ins: pl.DataFrame | None) -> pl.DataFrame:
    return build(ships.lazy(), inputs=None if ins is None else ins.lazy(), events=_events())


def _at(frame: pl.DataFrame, sid: str) -> dict:
    return frame.filter(pl.col("shipment_id") == sid).row(0, named=True)


def test_route_cover_is_the_transit_imports_of_the_hs6_over_its_exports_in_completed_weeks():
    f = _features(*_route_world())
    row = _at(f, "S35")  # week 35: the 8 completed weeks 27..34 are all after the event
    assert row["ev_route"] == "854142-CN-VN"
    assert row["ev_route_exports_before_usd"] == pytest.approx(EXPORTS_BEFORE)  # weeks 0..25
    assert row["ev_route_exports_recent_usd"] == pytest.approx(EXPORTS_AFTER)
    assert row["ev_route_imports_before_usd"] == 0.0 and row["ev_route_imports_recent_usd"] == pytest.approx(IMPORTS_AFTER)
    assert row[FEATURE] == pytest.approx(IMPORTS_AFTER / EXPORTS_AFTER)
    # Week 28 reads weeks 20..27: six weeks before the event at 1,000, two after at 4,000.
    early = _at(f, "S28")
    assert early["ev_route_exports_recent_usd"] == pytest.approx((6 * EXPORTS_BEFORE + 2 * EXPORTS_AFTER) / 8)
    assert early[FEATURE] == pytest.approx((2 * IMPORTS_AFTER / 8) / early["ev_route_exports_recent_usd"])


def test_route_cover_is_unknown_before_any_event_and_without_component_imports():
    f = _features(*_route_world())
    assert _at(f, "S10")["ev_route"] is None and _at(f, "S10")[FEATURE] is None  # no tariffed origin yet
    ships, _ = _route_world()
    without = _features(ships, None)
    row = _at(without, "S35")
    assert row["ev_route"] == "854142-CN-VN" and row[FEATURE] is None
    assert all(row[c] is None for c in EVIDENCE[1:])


def test_route_cover_is_zero_when_the_transit_imports_did_not_rise():
    # EXV1 imported the HS6 from CN at the same rate before the event: a standing trade, not a new route.
    f = _features(*_route_world(before_imports=IMPORTS_AFTER))
    row = _at(f, "S35")
    assert row["ev_route_imports_before_usd"] == pytest.approx(IMPORTS_AFTER)
    assert row[FEATURE] == 0.0


def test_route_cover_counts_a_firms_imports_only_once_the_firm_was_seen_exporting():
    f = _features(*_route_world(late_firm=True))
    # Week 35: EXV2 has imported 8 weeks of the HS6 already, but is not yet seen: not VN's.
    assert _at(f, "S35")[FEATURE] == pytest.approx(IMPORTS_AFTER / EXPORTS_AFTER)
    # Week 45 reads weeks 37..44, after EXV2's first line (week 36, declared VN): its imports count.
    assert _at(f, "S45")["ev_route_imports_recent_usd"] == pytest.approx(IMPORTS_AFTER + 5_000.0)
    assert _at(f, "S45")[FEATURE] == pytest.approx((IMPORTS_AFTER + 5_000.0) / EXPORTS_AFTER)


def test_route_cover_of_a_line_does_not_change_when_later_lines_and_imports_are_added():
    ships, ins = _route_world(late_firm=True)
    cut = _week(40)
    early = _features(ships.filter(pl.col("arrival_date") < cut), ins.filter(pl.col("arrival_date") < cut))
    whole = _features(ships, ins).filter(pl.col("arrival_date") < cut)
    assert early.select(FEATURE, *EVIDENCE).equals(whole.select(FEATURE, *EVIDENCE))


def test_route_cover_scored_with_a_fitted_state_equals_one_build_over_everything():
    ships, ins = _route_world(late_firm=True)
    cut = _week(38)
    state = fit_state(ships.filter(pl.col("arrival_date") < cut).lazy(), ins.lazy(), _events())
    later = ships.filter(pl.col("arrival_date") >= cut)
    applied = build(later.lazy(), inputs=ins.lazy(), state=state)
    whole = _features(ships, ins).filter(pl.col("arrival_date") >= cut)
    assert applied.select(FEATURE, *EVIDENCE).equals(whole.select(FEATURE, *EVIDENCE))
    on_route = applied.filter(pl.col("hs_code").str.starts_with("85"))  # the furniture lines have no tariffed origin
    assert on_route.height == 14 and on_route.get_column(FEATURE).null_count() == 0


def test_route_reason_names_the_rise_the_cover_the_event_and_the_route():
    f = _features(*_route_world())
    sentence = f.filter(pl.col("shipment_id") == "S35").select(reason_expr(by_name()[FEATURE])).item()
    assert sentence == ("VN's exports of this HS6 here rose from 1000 to 4000 USD a week since solar duty while its "
                        "imports of it from CN cover 75% of them (route 854142-CN-VN)")
    assert by_name()[FEATURE].reason_code == "ROUTE_SUSPECT"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    from detector.synth import generate_world, write_world

    return write_world(generate_world(6_000, seed=4, start=dt.date(2024, 1, 1), months=24), tmp_path_factory.mktemp("w"))


def test_lines_of_generated_transshipment_routes_carry_a_high_cover_and_relocated_lines_do_not(world):
    from detector.io.read import load, load_side_tables

    ships = load([world["shipments"]], SHIPMENTS).valid
    inputs, events = load_side_tables([world["inputs"]], [world["events"]])
    f = build(ships.lazy(), inputs=inputs.valid.lazy(), events=events.valid)
    labels = pl.read_csv(world["labels"]).select("shipment_id", "scenario")
    by = f.select("shipment_id", FEATURE).join(labels, on="shipment_id").group_by("scenario").agg(
        pl.col(FEATURE).drop_nulls().median().alias("median"), (pl.col(FEATURE) >= 0.5).mean().alias("high"))
    got = {r["scenario"]: r for r in by.iter_rows(named=True)}
    for kind in ("transship_shell", "transship_product_line"):
        assert got[kind]["high"] > 0.3, got[kind]
    # An honest relocated factory exports more but imports parts, not the product: its route stays low.
    assert got["relocation"]["median"] < 0.1 and got["relocation"]["high"] < 0.1
    assert got["honest"]["high"] < 0.02


# -- the CLI: report --routes, check --kind flows -------------------------------------------------

COMTRADE = [str(ROOT / "examples/foreign/comtrade.csv"), "--flows-mapping", str(ROOT / "examples/mappings/comtrade.toml")]


def test_report_command_adds_the_routes_section_from_a_route_table(tmp_path):
    from review_helpers import make_scored

    scored, table = tmp_path / "scored.parquet", tmp_path / "routes.parquet"
    make_scored().write_parquet(scored)
    made = runner.invoke(app, ["routes", "--flows", *COMTRADE, "--destination", "US", "-o", str(table)])
    assert made.exit_code == 0, made.output
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(scored), "--routes", str(table), "-o", str(out)])
    assert result.exit_code == 0, result.output
    first = pl.read_parquet(table).row(0, named=True)
    html = out.read_text()
    assert "Routes by estimated excess value" in html and f"#1 {first['route']}" in html
    plain = runner.invoke(app, ["report", str(scored), "-o", str(tmp_path / "plain.html")])
    assert plain.exit_code == 0 and "Routes by estimated excess value" not in (tmp_path / "plain.html").read_text()


def test_report_command_refuses_a_file_that_is_not_a_route_table(tmp_path):
    from review_helpers import make_scored

    scored = tmp_path / "scored.parquet"
    make_scored().write_parquet(scored)
    result = runner.invoke(app, ["report", str(scored), "--routes", str(scored), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "not a route table" in result.output
    assert not (tmp_path / "r.html").exists()


def test_check_reads_trade_flows_with_their_mapping():
    result = runner.invoke(app, ["check", COMTRADE[0], "--kind", "flows", "--mapping", COMTRADE[2], "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    rows = pl.read_csv(COMTRADE[0]).height
    assert got["table"] == "trade flows" and got["rows_read"] == rows and got["rows_valid"] == rows
    assert {"period", "reporter", "partner", "flow", "hs_code", "value_usd"} <= set(got["columns_found"])


def test_check_of_trade_flows_rejects_the_rows_the_route_screen_cannot_use_with_their_line(tmp_path):
    flows = tmp_path / "flows.csv"
    flows.write_text("period,reporter,partner,flow,hs_code,value_usd\n"
                     "2024-03,US,VN,import,854142,1000\n"
                     "2024-13,US,VN,import,854142,1000\n"
                     "2024-04,US,VN,RX,854142,1000\n"
                     "2024-05,US,VN,import,854142,-5\n")
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(app, ["check", str(flows), "--kind", "flows", "--json", "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["rows_read"] == 4 and got["rows_valid"] == 1 and got["rows_rejected"] == 3
    assert {"bad_period", "bad_flow"} <= set(got["rejected_by_reason"])
    assert [e["line"] for e in got["rejected_by_reason"]["bad_period"]["examples"]] == [3]
    assert [e["line"] for e in got["rejected_by_reason"]["bad_flow"]["examples"]] == [4]
    assert pl.read_csv(rejects, infer_schema=False).height == 3
