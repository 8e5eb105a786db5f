"""The route screen (features.routes): criteria, excess flow, trade statistics, generated worlds."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from detector.io.mapping import Mapping
from detector.io.read import load
from detector.synth import generate_world
from detector.synth.flows import route_truth, world_flows
from features import routes as R
from features.schema import FLOWS

ROOT = Path(__file__).resolve().parents[1]
EVENT = pl.DataFrame({
    "effective_date": [dt.date(2025, 4, 1)], "importing_country": ["US"], "origin_country": ["CN"], "hs_prefix": ["8541"],
    "added_duty_rate": [0.5], "name": ["solar duty"], "source": [None],
}, schema_overrides={"source": pl.String})
BEFORE = [f"2025-0{m}" for m in (1, 2, 3)]
AFTER = [f"2025-0{m}" for m in (4, 5, 6)]


def flows(series: dict[tuple[str, str, str], list[float]], months=(*BEFORE, *AFTER)) -> pl.DataFrame:
    """Checked flow rows: ``(reporter, partner, hs) -> one import value per month``."""
    rows = [{"period": m, "reporter": rep, "partner": par, "flow": "import", "hs_code": hs, "value_usd": v}
            for (rep, par, hs), values in series.items() for m, v in zip(months, values, strict=True)]
    got, bad = R.check_flows(pl.DataFrame(rows).with_columns(pl.lit("f.csv").alias("_source"), pl.lit(2).alias("_line")))
    assert bad.height == 0
    return got


def screen_of(series: dict, **settings) -> pl.DataFrame:
    return R.screen(R.flows_series(flows(series), 6), EVENT, "US", R.Settings(**settings)).routes


def route(routes: pl.DataFrame, name: str) -> dict:
    rows = routes.filter(pl.col("route") == name).to_dicts()
    assert rows, f"{name} not in {routes.get_column('route').to_list()}"
    return rows[0]


# US imports of 854142 from CN collapse after the event, from VN they jump; VN's imports of
# 854142 from CN jump with them. MY is the rest of the world (grows 10 %).
WASH = {
    ("US", "CN", "854142"): [100, 100, 100, 20, 20, 20],
    ("US", "VN", "854142"): [10, 10, 10, 60, 60, 60],
    ("US", "MY", "854142"): [30, 30, 30, 33, 33, 33],
    ("VN", "CN", "854142"): [8, 8, 8, 55, 55, 55],
}


def test_washed_route_passes_the_three_criteria_with_its_numbers():
    r = route(screen_of(WASH), "854142-CN-VN")
    assert r["origin_share_before"] == pytest.approx(100 / 140) and r["origin_share_after"] == pytest.approx(20 / 113)
    assert r["transit_share_before"] == pytest.approx(10 / 140) and r["transit_share_after"] == pytest.approx(60 / 113)
    assert r["transit_growth"] == pytest.approx(5.0)
    assert r["cover"] == pytest.approx(55 / 60)
    assert r["a_origin_share_falls_transit_rises"] and r["b_transit_imports_rise"] and r["c_imports_cover_exports"]
    assert r["flagged"] and r["rank"] == 1
    assert (r["before_from"], r["before_to"], r["after_from"], r["after_to"]) == ("2024-04", "2025-03", "2025-04", "2026-03")
    assert (r["periods_before"], r["periods_after"]) == (3, 3)


def test_excess_is_transit_growth_above_ordinary_growth_capped_by_the_rise_of_imports_from_origin():
    r = route(screen_of(WASH), "854142-CN-VN")
    # Ordinary growth: MY, the partners other than CN and VN, grew 30 -> 33 (x 1.1).
    assert r["ordinary_growth"] == pytest.approx(1.1)
    # min(60 - 10 x 1.1, 55 - 8) = min(49, 47) = 47 per month, over 3 months.
    assert r["excess_per_period"] == pytest.approx(47.0) and r["excess_usd"] == pytest.approx(141.0)
    assert "x 3 months = 141.0 USD" in r["arithmetic"]
    uncapped = route(screen_of({**WASH, ("VN", "CN", "854142"): [0, 0, 0, 80, 80, 80]}), "854142-CN-VN")
    assert uncapped["excess_per_period"] == pytest.approx(49.0)  # the transit's growth above ordinary growth


def test_honest_relocation_fails_criterion_c_and_is_not_flagged():
    # VN's exports jump, but what it imports is parts (854190) from CN and wafers from KR:
    # the same product from the origin does not follow.
    honest = {**WASH, ("VN", "CN", "854142"): [1, 1, 1, 2, 2, 2], ("VN", "CN", "854190"): [4, 4, 4, 20, 20, 20],
              ("VN", "KR", "854142"): [2, 2, 2, 12, 12, 12]}
    routes = screen_of(honest)
    r = route(routes, "854142-CN-VN")
    assert r["a_origin_share_falls_transit_rises"] and r["b_transit_imports_rise"]
    assert not r["c_imports_cover_exports"] and not r["c_rise_covers_rise"] and not r["flagged"]
    assert r["cover"] == pytest.approx(2 / 60)
    assert r["excess_usd"] == pytest.approx(3.0)  # capped by the small rise of same-product imports: (2 - 1) x 3
    assert "854190-CN-VN" not in routes.get_column("route").to_list()  # VN exports no parts to the US


def test_criterion_c_on_the_rise_catches_a_wash_beside_an_honest_base_and_can_be_turned_off():
    # VN already exported 40 a month honestly; the new 50 are matched by 45 of CN imports.
    base = {**WASH, ("US", "VN", "854142"): [40, 40, 40, 90, 90, 90], ("VN", "CN", "854142"): [2, 2, 2, 47, 47, 47]}
    r = route(screen_of(base), "854142-CN-VN")
    assert r["cover"] == pytest.approx(47 / 90) and not r["c_imports_cover_exports"]
    assert r["rise_cover"] == pytest.approx(45 / 50) and r["c_rise_covers_rise"] and r["flagged"]
    assert not route(screen_of(base, rise_cover=False), "854142-CN-VN")["flagged"]


def test_a_route_without_transit_imports_is_not_flagged_and_has_no_excess():
    r = route(screen_of({k: v for k, v in WASH.items() if k[0] == "US"}), "854142-CN-VN")
    assert r["transit_from_origin_after"] is None and not r["flagged"] and r["excess_usd"] == 0
    assert r["transit_source"] == "none"


def test_the_event_month_is_in_neither_window_unless_the_event_starts_it():
    mid = EVENT.with_columns(pl.lit(dt.date(2025, 4, 15)).alias("effective_date"))
    got = R.screen(R.flows_series(flows(WASH), 6), mid, "US").routes
    r = route(got, "854142-CN-VN")
    assert (r["before_to"], r["after_from"], r["periods_after"]) == ("2025-03", "2025-05", 2)


def test_a_product_the_event_does_not_cover_is_not_screened_and_cuts_are_no_events():
    other = {(rep, par, "940360"): v for (rep, par, _), v in WASH.items()}
    assert screen_of(other).height == 0
    cut = EVENT.with_columns(pl.lit(-0.5).alias("added_duty_rate"))
    assert R.screen(R.flows_series(flows(WASH), 6), cut, "US").routes.height == 0


def test_check_flows_reads_years_months_and_comtrade_codes_and_lists_what_it_cannot_use():
    raw = pl.DataFrame({
        "period": ["2024", "202403", "2024-03", "2024-03-17", "2024-13", "24", "2024"],
        "reporter": ["US"] * 7, "partner": ["CN"] * 7,
        "flow": ["M", "import", "X", "Exports", "M", "M", "RX"], "hs_code": ["85"] * 7, "value_usd": [1.0] * 7,
        "_source": ["f.csv"] * 7, "_line": list(range(2, 9)),
    })
    good, bad = R.check_flows(raw)
    assert good.get_column("freq").to_list() == ["A", "M", "M", "M"]
    assert good.get_column("period_index").to_list() == [2024, 2024 * 12 + 2, 2024 * 12 + 2, 2024 * 12 + 2]
    assert good.get_column("flow").to_list() == ["import", "import", "export", "export"]
    assert bad.get_column("_line").to_list() == [6, 7, 8]
    assert bad.get_column("reason_codes").to_list() == ["bad_period", "bad_period", "bad_flow"]
    assert "re-exports" in bad.get_column("reasons")[2] and "'RX'" in bad.get_column("reasons")[2]


def test_flows_series_sums_one_hs_length_so_chapter_totals_are_not_counted_twice():
    rows = pl.DataFrame({
        "period": ["2025-01"] * 4, "reporter": ["US"] * 4, "partner": ["CN"] * 4, "flow": ["import"] * 4,
        "hs_code": ["85", "854142", "854143", "8541"], "value_usd": [100.0, 30.0, 20.0, 50.0],
        "_source": ["f"] * 4, "_line": [2, 3, 4, 5],
    })
    got, _ = R.check_flows(rows)
    at4 = R.flows_series(got, 4)
    assert at4.values.get_column("value").to_list() == [50.0]  # the 4-digit row; the HS6 detail and HS2 total left out
    assert at4.unused == {"coarser than the HS level": 1, "another HS length of the same reporter and flow": 2}
    at6 = R.flows_series(got, 6)
    assert sorted(at6.values.get_column("value").to_list()) == [20.0, 30.0]


def test_annual_statistics_are_screened_by_year():
    years = ("2022", "2023", "2025", "2026")
    annual = {k: [v[0] * 12, v[1] * 12, v[3] * 12, v[4] * 12] for k, v in WASH.items()}
    ev = EVENT.with_columns(pl.lit(dt.date(2024, 6, 1)).alias("effective_date"))
    got = R.screen(R.flows_series(flows(annual, years), 6), ev, "US").routes
    r = route(got, "854142-CN-VN")
    assert r["freq"] == "A" and (r["before_to"], r["after_from"]) == ("2023", "2025")
    assert r["flagged"] and r["excess_per_period"] == pytest.approx(47.0 * 12)


def test_user_data_series_attribute_component_imports_to_the_country_their_firm_ships_from():
    ships = pl.DataFrame({
        "shipment_id": ["a", "b", "c"], "arrival_date": [dt.date(2025, 1, 5)] * 3, "exporter_id": ["E1", "E1", "E2"],
        "importer_id": ["I"] * 3, "hs_code": ["8541420000"] * 3, "origin_country": ["VN", "VN", "TH"],
        "export_country": ["VN", "VN", "TH"], "declared_value_usd": [1.0, 2.0, 3.0], "importing_country": [None, "US", "MX"],
    })
    dest = R.shipment_series(ships, 6, "US")
    assert dest.values.select("partner", "value").rows() == [("VN", 3.0)]  # the MX line is another country's import
    inputs = pl.DataFrame({"importer_id": ["E1", "E2", "E9"], "supplier_country": ["CN"] * 3,
                           "hs_code": ["85414200"] * 3, "declared_value_usd": [5.0, 6.0, 7.0],
                           "arrival_date": [dt.date(2024, 12, 1)] * 3})
    got = R.input_series(inputs, 6, countries=R.firm_countries(ships))
    assert sorted(got.values.select("reporter", "value").rows()) == [("TH", 6.0), ("VN", 5.0)]
    assert got.unused == {"component imports of firms never seen exporting (country unknown)": 1}


def test_comtrade_example_maps_without_rejects_and_flags_its_washed_route():
    loaded = load([ROOT / "examples/foreign/comtrade.csv"], FLOWS, mapping=Mapping.from_toml(ROOT / "examples/mappings/comtrade.toml"))
    assert loaded.rejects.height == 0 and loaded.valid.height == 24
    rows, bad = R.check_flows(loaded.valid)
    assert bad.height == 0
    events = load([ROOT / "detector/data/tariff_events.csv"], __import__("features.schema", fromlist=["EVENTS"]).EVENTS).valid
    got = R.screen(R.flows_series(rows, 6), events, "US").routes
    top = got.row(0, named=True)
    assert top["route"] == "854142-CN-VN" and top["flagged"] and top["event_date"] == dt.date(2024, 9, 27)
    assert not route(got, "854142-CN-MY")["flagged"]


# -- a generated world ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world():
    w = generate_world(12_000, seed=4, start=dt.date(2024, 1, 1), months=24)
    truth = route_truth(w.shipments, w.labels, w.events)
    return w, truth


def test_world_flows_are_the_shape_of_trade_statistics(world):
    w, _ = world
    got = world_flows(w.shipments, w.inputs)
    assert got.columns == FLOWS.names
    us = got.filter(pl.col("reporter") == "US")
    assert us.get_column("value_usd").sum() == pytest.approx(w.shipments.get_column("declared_value_usd").sum(), rel=1e-9)
    assert set(got.filter(pl.col("reporter") != "US").get_column("reporter").unique()) <= {"VN", "TH", "MY", "KH", "CN", "IN", "ID", "BD", "MX", "TR", "TW", "KR", "JP", "DE", "IT"}


@pytest.mark.parametrize("source", ["user data", "trade flows"])
def test_generated_transshipment_routes_are_found_and_relocation_is_not_flagged(world, source):
    w, truth = world
    if source == "user data":
        series = R.combine(R.Series.empty(), R.shipment_series(w.shipments, 6, "US"),
                           R.input_series(w.inputs, 6, countries=R.firm_countries(w.shipments)))
    else:
        rows, _ = R.check_flows(world_flows(w.shipments, w.inputs).with_columns(pl.lit(0).alias("_line")))
        series = R.flows_series(rows, 6)
    routes = R.screen(series, w.events, "US").routes
    trans = truth.filter(pl.col("kind") == "transshipment")
    # The routes the screen can see: re-routed after an event covering the product, not
    # mixed with a relocated factory on the same route, worth at least 100k USD.
    seen = trans.filter(pl.col("event_covers_product"), ~pl.col("mixed"), pl.col("value_usd") >= 100_000).get_column("route")
    top = set(routes.head(30).get_column("route").to_list())
    assert seen.len() >= 8 and sum(r in top for r in seen) >= 0.8 * seen.len()
    flagged = routes.filter("flagged")
    assert flagged.height >= 6
    assert set(flagged.get_column("route")) <= set(trans.get_column("route"))
    relocated = truth.filter(pl.col("kind") == "relocation", ~pl.col("mixed")).get_column("route")
    assert relocated.len() >= 3 and not set(relocated) & set(flagged.get_column("route"))
    # The excess of the flagged routes against the value the generator re-routed on them in
    # their after windows: within the documented factor (0.6 - 1.2; docs/routes.md).
    lines = w.shipments.join(w.labels.filter(pl.col("scenario").str.starts_with("transship")), on="shipment_id").with_columns(
        pl.format("{}-CN-{}", pl.col("hs_code").str.slice(0, 6), "origin_country").alias("route"),
        pl.col("arrival_date").dt.strftime("%Y-%m").alias("m"))
    inside = lines.join(flagged.select("route", "after_from", "after_to"), on="route").filter(
        pl.col("m").is_between(pl.col("after_from"), pl.col("after_to"))).get_column("declared_value_usd").sum()
    assert 0.6 <= flagged.get_column("excess_usd").sum() / inside <= 1.2


def test_a_route_whose_rise_ordinary_growth_explains_is_not_flagged():
    # Every other supplier grew as fast (MY x 6.7): VN's rise is the product's, nothing is left over.
    boom = {**WASH, ("US", "MY", "854142"): [30, 30, 30, 200, 200, 200]}
    r = route(screen_of(boom), "854142-CN-VN")
    assert r["a_origin_share_falls_transit_rises"] and r["b_transit_imports_rise"] and r["c_imports_cover_exports"]
    assert r["excess_usd"] == 0 and not r["flagged"]
