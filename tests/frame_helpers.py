"""Comparing feature frames in tests: same columns and rows in the same order, same nulls,
floats to 1e-9 (Polars' own comparison)."""
from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal


def assert_same_frames(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert_frame_equal(a, b, rel_tol=0.0, abs_tol=1e-9)
