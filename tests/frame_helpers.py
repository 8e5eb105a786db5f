"""Comparing feature frames in tests: same rows, same nulls, floats to 1e-9."""
from __future__ import annotations

import polars as pl


def assert_same_frames(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    assert a["shipment_id"].to_list() == b["shipment_id"].to_list()
    for name in a.columns:
        x, y = a[name], b[name]
        assert x.is_null().to_list() == y.is_null().to_list(), name
        if x.dtype == pl.Float64:
            diff = (x - y).abs().max()
            assert diff is None or diff <= 1e-9, (name, diff)
        else:
            assert x.to_list() == y.to_list(), name
