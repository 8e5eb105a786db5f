"""Feature pipeline: point-in-time history, exact fit/apply, streaming, order independence."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from features.pipeline import build
from features.registry import FEATURE_NAMES
from features.schema import EVENTS, INPUTS, SHIPMENTS
from features.state import ReferenceState, fit_state
from frame_helpers import assert_same_frames

EVENT_DAY = dt.date(2025, 4, 1)


def small_world(seed: int = 7, n: int = 600) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A few importers who buy HS 850440 from China, then after a tariff from Vietnam:
    honest Vietnamese factories (own price level, own inputs) and transshippers (Chinese
    inputs of the same HS, Chinese prices, Chinese MIDs). Label 1 = transshipper."""
    rng = np.random.default_rng(seed)
    start = dt.date(2025, 1, 1)
    rows, inputs = [], []
    for i in range(n):
        day = start + dt.timedelta(days=int(rng.integers(0, 240)))
        after = day >= EVENT_DAY
        kind = rng.choice(["cn", "honest", "trans"], p=[0.15, 0.45, 0.40]) if after else rng.choice(["cn", "honest"], p=[0.8, 0.2])
        weight = float(rng.uniform(100, 1000))
        uv = {"cn": 10.0, "trans": 10.5, "honest": 16.0}[kind] * float(np.exp(rng.normal(0, 0.1)))
        exporter = {"cn": "C", "honest": "V", "trans": "T"}[kind] + str(int(rng.integers(0, 3)))
        origin = "CN" if kind == "cn" else "VN"
        rows.append({
            "shipment_id": f"S{i:05d}", "arrival_date": day, "importer_id": f"I{int(rng.integers(0, 6))}",
            "exporter_id": exporter, "hs_code": "8504401000" if rng.random() < 0.5 else "850440",
            "origin_country": origin, "export_country": origin, "declared_value_usd": round(weight * uv, 2),
            "weight_kg": round(weight, 1), "quantity": None, "quantity_unit": None,
            "manufacturer_id": ("CN" if kind != "honest" else "VN") + f"MFR{exporter}",
            "port_of_lading": "CNSHA" if kind == "cn" else "VNSGN", "port_of_unlading": "USLAX",
            "carrier_id": None, "goods_description": None, "duty_rate": 0.02, "label": int(kind == "trans"),
        })
        if kind != "cn":
            inputs.append({
                "input_id": f"N{i:05d}", "arrival_date": day - dt.timedelta(days=int(rng.integers(8, 30))),
                "importer_id": exporter, "supplier_country": "CN" if kind == "trans" else "KR",
                "hs_code": "850440" if kind == "trans" else "740311", "declared_value_usd": round(weight * uv * (0.95 if kind == "trans" else 0.3), 2),
                "weight_kg": round(weight, 1),
            })
    ships = pl.DataFrame(rows, schema=SHIPMENTS.schema)
    ins = pl.DataFrame(inputs, schema=INPUTS.schema)
    events = pl.DataFrame(
        {"effective_date": [EVENT_DAY], "importing_country": [None], "origin_country": ["CN"], "hs_prefix": ["85"], "added_duty_rate": [0.25],
         "name": ["Section 301 list 4"], "source": [None]},
        schema=EVENTS.schema,
    )
    return ships, ins, events


@pytest.fixture(scope="module")
def world():
    return small_world()


def _features(df: pl.DataFrame) -> pl.DataFrame:
    cols = ["shipment_id", *FEATURE_NAMES, *[c for c in df.columns if c.startswith("ev_")]]
    return df.select(cols).sort("shipment_id")


def test_build_adds_every_registry_feature_as_float_and_keeps_rows(world):
    ships, ins, events = world
    out = build(ships.lazy(), inputs=ins.lazy(), events=events)
    assert out.height == ships.height
    assert out["shipment_id"].to_list() == ships["shipment_id"].to_list()
    for name in FEATURE_NAMES:
        assert out.schema[name] == pl.Float64, name
    assert set(SHIPMENTS.names) <= set(out.columns)
    assert not any(c.startswith("_") for c in out.columns)


def test_build_results_do_not_depend_on_row_order(world):
    ships, ins, events = world
    a = build(ships.lazy(), inputs=ins.lazy(), events=events)
    b = build(ships.sample(fraction=1.0, shuffle=True, seed=3).lazy(), inputs=ins.reverse().lazy(), events=events)
    assert_same_frames(_features(a), _features(b))


def test_appending_later_rows_leaves_earlier_features_unchanged(world):
    ships, ins, events = world
    base = build(ships.lazy(), inputs=ins.lazy(), events=events)
    later = ships.with_columns(
        (pl.col("arrival_date") + pl.duration(days=400)).alias("arrival_date"),
        ("L" + pl.col("shipment_id")).alias("shipment_id"),
    )
    later_in = ins.with_columns(
        (pl.col("arrival_date") + pl.duration(days=400)).alias("arrival_date"), ("L" + pl.col("input_id")).alias("input_id")
    )
    grown = build(pl.concat([later, ships]).lazy(), inputs=pl.concat([later_in, ins]).lazy(), events=events)
    assert_same_frames(_features(base), _features(grown.filter(~pl.col("shipment_id").str.starts_with("L"))))
    # The appended rows touch the same keys: an all-time aggregate would have changed.
    count = lambda df: df.group_by("exporter_id").len().sort("exporter_id")["len"].to_list()  # noqa: E731
    assert count(ships) != count(pl.concat([later, ships]))


def test_rows_of_the_same_day_do_not_feed_each_other(world):
    ships, ins, events = world
    last = ships.sort("arrival_date").tail(1)
    twin = last.with_columns(pl.lit("TWIN").alias("shipment_id"), (pl.col("declared_value_usd") * 50).alias("declared_value_usd"))
    a = build(ships.lazy(), inputs=ins.lazy(), events=events)
    b = build(pl.concat([ships, twin]).lazy(), inputs=ins.lazy(), events=events)
    assert_same_frames(_features(a), _features(b.filter(pl.col("shipment_id") != "TWIN")))


def test_scoring_with_a_fitted_state_equals_building_the_whole_span(world):
    ships, ins, events = world
    split = dt.date(2025, 7, 1)
    state = fit_state(ships.filter(pl.col("arrival_date") < split).lazy(), ins.filter(pl.col("arrival_date") < split).lazy(), events)
    assert state.as_of < split
    applied = build(ships.filter(pl.col("arrival_date") >= split).lazy(), inputs=ins.filter(pl.col("arrival_date") >= split).lazy(), state=state)
    whole = build(ships.lazy(), inputs=ins.lazy(), events=events)
    assert applied.height > 50
    assert_same_frames(_features(applied), _features(whole.filter(pl.col("arrival_date") >= split)))


def test_file_rows_already_covered_by_the_state_are_not_counted_twice(world):
    ships, ins, events = world
    split = dt.date(2025, 6, 1)
    state = fit_state(ships.filter(pl.col("arrival_date") < split).lazy(), ins.filter(pl.col("arrival_date") < split).lazy(), events)
    # The scored file repeats every row the state already holds (dated on/before as_of).
    again = build(ships.lazy(), inputs=ins.lazy(), state=state)
    once = build(ships.lazy(), inputs=ins.lazy(), events=events)
    assert_same_frames(_features(again), _features(once))


def test_state_survives_a_round_trip_through_parquet_with_the_same_digest(world, tmp_path):
    ships, ins, events = world
    state = fit_state(ships.lazy(), ins.lazy(), events)
    back = ReferenceState.from_dir(state.to_dir(tmp_path / "state"))
    assert back.digest() == state.digest()
    assert back.as_of == state.as_of and back.has_inputs
    assert fit_state(ships.reverse().lazy(), ins.lazy(), events).digest() == state.digest()
    assert fit_state(ships.head(100).lazy(), ins.lazy(), events).digest() != state.digest()


def test_value_added_features_are_null_without_component_imports(world):
    ships, _, events = world
    out = build(ships.lazy(), events=events)
    for name in ("va_pass_through_share", "va_value_added_ratio", "va_tariffed_content_share"):
        assert out[name].null_count() == out.height


def test_lines_without_a_tariffed_origin_have_null_tariff_features(world):
    ships, ins, events = world
    out = build(ships.lazy(), inputs=ins.lazy(), events=events)
    before = out.filter(pl.col("arrival_date") < EVENT_DAY)
    assert before["ev_tariffed_origin"].null_count() == before.height
    for name in ("tariff_differential_usd", "price_parity_tariffed", "os_days_since_event", "va_pass_through_share"):
        assert before[name].null_count() == before.height, name


def test_transshippers_show_pass_through_and_chinese_prices(world):
    ships, ins, events = world
    out = build(ships.lazy(), inputs=ins.lazy(), events=events)
    late = out.filter(pl.col("arrival_date") >= dt.date(2025, 6, 1), pl.col("origin_country") == "VN")
    by = late.group_by("label").agg(pl.col("va_pass_through_share").median(), pl.col("price_parity_tariffed").median()).sort("label")
    assert by["va_pass_through_share"][1] > 0.5 > by["va_pass_through_share"][0]
    assert by["price_parity_tariffed"][1] > 0 > by["price_parity_tariffed"][0]


def test_tariffed_origin_takes_the_country_with_the_highest_added_duty_in_force():
    ships, _, _ = small_world(n=40)
    events = pl.DataFrame(
        {
            "effective_date": [dt.date(2025, 1, 1), dt.date(2025, 1, 1), dt.date(2025, 1, 1), dt.date(2030, 1, 1)],
            "origin_country": ["CN", "CN", "TH", "TH"],
            "hs_prefix": ["85", "", "8504", ""],
            "added_duty_rate": [0.1, 0.1, 0.15, 0.9],
            "name": ["a", "b", "c", "future"],
            "importing_country": [None] * 4,
            "source": [None] * 4,
        },
        schema=EVENTS.schema,
    )
    out = build(ships.lazy(), events=events)
    vn = out.filter(pl.col("origin_country") == "VN")
    assert set(vn["ev_tariffed_origin"].to_list()) == {"CN"}
    assert vn["ev_added_duty_tariffed"].to_list() == pytest.approx([0.2] * vn.height)
    cn = out.filter(pl.col("origin_country") == "CN")
    assert set(cn["ev_tariffed_origin"].to_list()) == {"TH"}
