"""Price norms are made of the lines whose unit value is known.

A line scored with an unknown value or weight (data-quality code, value null) still counts
as a line elsewhere, but it has no price: counting it in a norm with a zero log price
would pull the norm towards 1 USD/kg.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from features.pipeline import build
from features.schema import SHIPMENTS


def _rows(n: int, day: dt.date, value: float | None, prefix: str) -> list[dict]:
    return [{"shipment_id": f"{prefix}{i}", "arrival_date": day + dt.timedelta(days=i % 20), "importer_id": f"I{i}",
             "exporter_id": f"E{i}", "hs_code": "640399", "origin_country": "VN", "export_country": "VN",
             "declared_value_usd": value, "weight_kg": 10.0} for i in range(n)]


@pytest.mark.parametrize("unknown", [0, 12])
def test_a_price_norm_ignores_lines_of_unknown_value(unknown):
    known = _rows(10, dt.date(2025, 1, 1), 50.0, "K")  # 5 USD/kg
    blank = _rows(unknown, dt.date(2025, 1, 1), None, "U")
    later = _rows(1, dt.date(2025, 3, 3), 50.0, "L")
    frame = pl.DataFrame(known + blank + later, schema_overrides={"declared_value_usd": pl.Float64})
    frame = frame.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in SHIPMENTS.schema.items() if c not in frame.columns)
    out = build(frame.select(SHIPMENTS.names).cast(SHIPMENTS.schema).lazy())
    line = out.filter(pl.col("shipment_id") == "L0")
    assert line["ev_norm_uv_declared"].item() == pytest.approx(5.0, rel=1e-6)
    assert line["price_z_declared"].item() == pytest.approx(0.0, abs=1e-3)  # log prices are kept to 1e-6
    assert out.filter(pl.col("shipment_id").str.starts_with("U"))["ev_unit_value_kg"].null_count() == unknown
