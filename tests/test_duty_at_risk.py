"""Duty at risk: what a line would owe if its origin claim fell, minus what it owes as declared."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from features.families.tariff import default_country, tariffed_origin
from features.pipeline import build
from features.revenue import DUTY_AT_RISK, TRANSSHIPMENT_DUTIES, with_duty_at_risk
from features.schema import EVENTS, SHIPMENTS

D = dt.date


def _events(*rows: tuple) -> pl.DataFrame:
    """(date, origin, prefix, rate[, importing country]) -> an events table (US unless said)."""
    return pl.DataFrame(
        [{"effective_date": r[0], "importing_country": r[4] if len(r) > 4 else "US", "origin_country": r[1],
          "hs_prefix": r[2], "added_duty_rate": r[3], "name": f"measure {i}", "source": None} for i, r in enumerate(rows)],
        schema=EVENTS.schema,
    )


def _lines(*rows: dict) -> pl.DataFrame:
    base = {"shipment_id": "S", "arrival_date": D(2025, 1, 1), "importer_id": "I1", "exporter_id": "E1",
            "hs_code": "850440", "origin_country": "VN", "export_country": "VN", "declared_value_usd": 1000.0,
            "weight_kg": 10.0, "importing_country": "US", "duty_rate": None}
    return pl.DataFrame([{**base, "shipment_id": f"S{i}", **r} for i, r in enumerate(rows)], schema_overrides={
        "arrival_date": pl.Date, "duty_rate": pl.Float64, "declared_value_usd": pl.Float64})


def _at_risk(lines: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    return with_duty_at_risk(tariffed_origin(lines, events), default_country(events))


def test_stacked_measures_of_the_tariffed_origin_add_up_over_the_base_rate():
    events = _events((D(2018, 7, 6), "CN", "85", 0.25), (D(2025, 2, 4), "CN", "", 0.10), (D(2025, 3, 4), "CN", "", 0.10))
    # The declared 2 % is the base rate (Vietnam's measures add nothing yet): it applies either way.
    out = _at_risk(_lines({"arrival_date": D(2025, 3, 20), "duty_rate": 0.02},
                          {"arrival_date": D(2025, 2, 10), "duty_rate": 0.02}), events)
    assert out["ev_tariffed_origin"].to_list() == ["CN", "CN"]
    assert out["ev_rate_if_found"].to_list() == pytest.approx([0.47, 0.37])
    assert out[DUTY_AT_RISK].to_list() == pytest.approx([450.0, 350.0])


def test_a_negative_rate_record_ends_part_of_a_measure():
    events = _events((D(2019, 9, 1), "CN", "64", 0.15), (D(2020, 2, 14), "CN", "64", -0.075))
    out = _at_risk(_lines({"hs_code": "640399", "arrival_date": D(2020, 1, 20), "declared_value_usd": 2000.0},
                          {"hs_code": "640399", "arrival_date": D(2020, 3, 1), "declared_value_usd": 2000.0}), events)
    assert out[DUTY_AT_RISK].to_list() == pytest.approx([300.0, 150.0])


def test_the_us_transshipment_duty_is_claimed_where_it_exceeds_the_tariffed_origins():
    events = _events((D(2025, 2, 4), "CN", "", 0.10), (D(2025, 4, 5), "VN", "", 0.10), (D(2025, 8, 7), "VN", "", 0.10))
    # Declared at 5 % base + Vietnam's 20 %: a finding of transshipment makes it 5 % + 40 %.
    after = {"hs_code": "940360", "arrival_date": D(2025, 9, 1), "duty_rate": 0.25}
    before = {"hs_code": "940360", "arrival_date": D(2025, 8, 1), "duty_rate": 0.15}
    elsewhere = {**after, "importing_country": "BR"}  # the US duty is the US's: a Brazilian line gets none
    out = _at_risk(_lines(after, before, elsewhere), events)
    assert out["ev_transshipment_duty"].to_list() == [0.40, None, None]
    assert out["ev_rate_if_found"].to_list()[:2] == pytest.approx([0.45, 0.15])
    # Before the order China's 10 % is no more than the 5 % base + Vietnam's 10 % declared: nothing at stake.
    assert out[DUTY_AT_RISK].to_list() == pytest.approx([200.0, 0.0, 0.0])
    assert TRANSSHIPMENT_DUTIES.filter(pl.col("importing_country") == "US")["rate"].item() == 0.40


def test_a_line_without_a_tariffed_origin_has_nothing_at_risk():
    events = _events((D(2025, 2, 4), "CN", "", 0.10))
    # Declared Chinese: no other country's goods would owe more. No events at all: no origin either.
    out = _at_risk(_lines({"origin_country": "CN", "arrival_date": D(2025, 9, 1), "duty_rate": 0.10}), events)
    assert out["ev_tariffed_origin"].to_list() == [None]
    assert out[DUTY_AT_RISK].to_list() == [0.0]
    none = _at_risk(_lines({"arrival_date": D(2025, 9, 1)}), _events())
    assert none[DUTY_AT_RISK].to_list() == [0.0]


def test_a_rate_declared_below_the_declared_origins_measures_counts_in_full():
    # Vietnam's 10 % is in force, but the line was entered at 0 %: the base is 0 and the
    # whole tariffed rate is at risk, not only the difference of the two origins' measures.
    events = _events((D(2025, 2, 4), "CN", "", 0.30), (D(2025, 4, 5), "VN", "", 0.10))
    out = _at_risk(_lines({"arrival_date": D(2025, 5, 1), "duty_rate": 0.0},
                          {"arrival_date": D(2025, 5, 1)}), events)
    assert out["ev_rate_as_declared"].to_list() == pytest.approx([0.0, 0.10])
    assert out[DUTY_AT_RISK].to_list() == pytest.approx([300.0, 200.0])


def test_build_adds_duty_at_risk_to_every_line_and_leaves_unknown_values_unknown():
    events = _events((D(2025, 2, 4), "CN", "", 0.30))
    lines = _lines({"arrival_date": D(2025, 5, 1)}, {"arrival_date": D(2025, 5, 2), "declared_value_usd": None},
                   {"arrival_date": D(2024, 5, 2)})
    shipments = lines.with_columns(pl.lit(None, dtype=t).alias(n) for n, t in SHIPMENTS.schema.items() if n not in lines.columns)
    out = build(shipments.lazy(), events=events)
    assert out[DUTY_AT_RISK].to_list() == [pytest.approx(300.0), None, 0.0]


def test_a_declared_origin_owing_more_than_any_claim_has_nothing_at_risk_never_less():
    # Solar modules declared Vietnamese owe its AD/CVD duty, far above China's measures.
    events = _events((D(2024, 9, 27), "CN", "8541", 0.25), (D(2025, 6, 24), "VN", "854143", 2.7128))
    out = _at_risk(_lines({"hs_code": "854143", "arrival_date": D(2025, 7, 1)}), events)
    assert out["ev_tariffed_origin"].to_list() == ["CN"]
    assert out["ev_rate_as_declared"].to_list() == pytest.approx([2.7128])
    assert out[DUTY_AT_RISK].to_list() == [0.0]
