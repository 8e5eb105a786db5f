"""The windowed-sum machinery every history feature relies on, against a brute force."""
from __future__ import annotations

import numpy as np
import polars as pl

from features.families._history import cumulate, event_window_sums, window_sums


def _hist(seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    return pl.DataFrame({
        "a": rng.choice(["x", "y", "z"], n), "b": rng.choice(["p", "q"], n),
        "period": rng.integers(0, 40, n).astype(np.int32), "v": rng.integers(1, 1000, n),
    })


def _brute(hist: pl.DataFrame, a: str, b: str, lo: int, hi: int) -> int:
    return int(hist.filter(pl.col("a") == a, pl.col("b") == b, pl.col("period").is_between(lo, hi))["v"].sum())


def test_window_sums_equal_a_brute_force_sum_over_the_window():
    hist = _hist()
    cum = cumulate(hist.lazy(), ["a", "b"], ["v"])
    queries = pl.DataFrame({
        "a": ["x", "y", "z", "x", "w", "z"], "b": ["p", "q", "p", "q", "p", None],
        "w": [0, 10, 25, 39, 20, 30],
    }, schema_overrides={"w": pl.Int32}).sort("w")
    out = window_sums(queries.lazy(), cum, by_left=["a", "b"], by_right=["a", "b"], end=pl.col("w") - 1,
                      length=8, values=["v"], prefix="s_").collect()
    for row in out.iter_rows(named=True):
        expect = 0 if row["b"] is None else _brute(hist, row["a"], row["b"], row["w"] - 8, row["w"] - 1)
        assert row["s_v"] == expect, row


def test_window_sums_without_length_sum_everything_up_to_the_end():
    hist = _hist(2)
    cum = cumulate(hist.lazy(), ["a", "b"], ["v"])
    queries = pl.DataFrame({"a": ["x", "y"], "b": ["p", "p"], "w": [15, 41]}, schema_overrides={"w": pl.Int32})
    out = window_sums(queries.lazy(), cum, by_left=["a", "b"], by_right=["a", "b"], end=pl.col("w") - 1,
                      length=None, values=["v"], prefix="s_").collect()
    assert out["s_v"].to_list() == [_brute(hist, "x", "p", -1, 14), _brute(hist, "y", "p", -1, 40)]


def test_event_window_sums_cover_the_weeks_before_the_event_only():
    hist = _hist(3)
    queries = pl.DataFrame({"a": ["x", "z", "y"], "b": ["q", "p", "p"], "ew": [20, 35, None]}, schema_overrides={"ew": pl.Int32})
    out = event_window_sums(queries.lazy(), hist.lazy(), by_left=["a", "b"], by_right=["a", "b"], event_week="ew",
                            event_weeks=[20, 35], length=6, values=["v"], prefix="e_").collect()
    assert out["e_v"].to_list() == [_brute(hist, "x", "q", 14, 19), _brute(hist, "z", "p", 29, 34), 0]
