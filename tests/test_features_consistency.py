"""Consistency signals: documents that name another country than the declared origin."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from features import state
from features.pipeline import build
from features.schema import SHIPMENTS
from features.state import mark_country, mark_country_of_few


def _lines(rows: list[dict]) -> pl.LazyFrame:
    base = {"importer_id": "US1", "hs_code": "850440", "origin_country": "VN", "export_country": "VN",
            "declared_value_usd": 1000.0, "weight_kg": 10.0, "port_of_lading": "VNSGN", "manufacturer_id": "VNABC1HAN"}
    frame = pl.DataFrame([{**base, **r} for r in rows])
    return frame.with_columns(
        pl.lit(None, dtype=t).alias(n) for n, t in SHIPMENTS.schema.items() if n not in frame.columns
    ).select(SHIPMENTS.names).cast(SHIPMENTS.schema).lazy()


def _marks(rows: list[dict]) -> dict[str, float]:
    out = build(_lines(rows))
    return dict(zip(out["shipment_id"], out["cons_exporter_foreign_marks"]))


def test_exporter_foreign_marks_carry_over_to_its_clean_later_lines():
    d = dt.date(2025, 3, 3)  # a Monday: weeks are Monday-based
    marks = _marks([
        {"shipment_id": "a", "exporter_id": "SHELL", "arrival_date": d, "manufacturer_id": "CNXYZ9SHE"},
        {"shipment_id": "b", "exporter_id": "SHELL", "arrival_date": d + dt.timedelta(days=7)},
        {"shipment_id": "c", "exporter_id": "SHELL", "arrival_date": d + dt.timedelta(days=14), "port_of_lading": "CNSHA"},
        {"shipment_id": "f", "exporter_id": "FACTORY", "arrival_date": d + dt.timedelta(days=14)},
    ])
    assert marks["a"] == 1.0  # its own Chinese MID counts
    assert marks["b"] == 0.5  # a clean line after one marked line
    assert abs(marks["c"] - 2 / 3) < 1e-12
    assert marks["f"] == 0.0


def test_exporter_foreign_marks_ignore_lines_of_the_same_week():
    d = dt.date(2025, 3, 3)
    marks = _marks([
        {"shipment_id": "a", "exporter_id": "SHELL", "arrival_date": d, "manufacturer_id": "CNXYZ9SHE"},
        {"shipment_id": "b", "exporter_id": "SHELL", "arrival_date": d + dt.timedelta(days=2)},
    ])
    assert marks["b"] == 0.0  # point-in-time: the week is not complete when b arrives


@pytest.mark.tuning
@pytest.mark.parametrize("few", [1000, 2])  # mapped per code; too many codes: line by line
def test_a_port_country_worked_out_per_distinct_code_equals_the_line_by_line_one(few, monkeypatch):
    monkeypatch.setattr(state, "_FEW", few)
    codes = ["VNSGN", " cnsha", "c", "", None, "\tTH BKK", "c 1", "  ", "MY", "vn", "VNSGN", None, " x"]
    lines = pl.DataFrame({"port_of_lading": codes * 3})
    want = lines.select(mark_country("port_of_lading")).to_series()
    got = lines.select(mark_country_of_few("port_of_lading", lines["port_of_lading"].unique())).to_series()
    assert want.to_list()[:3] == ["VN", "CN", None]
    assert got.to_list() == want.to_list()
