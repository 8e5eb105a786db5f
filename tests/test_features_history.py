"""The windowed-sum machinery every history feature relies on, against a brute force."""
from __future__ import annotations

import numpy as np
import polars as pl

from features.families._history import Part, Table, Window, first_days, period_sums, first_sightings, window_sums


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
    sums = period_sums(hist.lazy(), ["a", "b"], ["v"])
    queries = pl.DataFrame({
        "a": ["x", "y", "z", "x", "w", "z"], "b": ["p", "q", "p", "q", "p", None],
        "w": [0, 10, 25, 39, 20, 30],
    }, schema_overrides={"w": pl.Int32}).sort("w")
    out = queries.with_columns(window_sums(queries, sums, on=["a", "b"], table_on=["a", "b"], window=Window(before="w", length=8),
                                           values=["v"], prefix="s_"))
    for row in out.iter_rows(named=True):
        expect = 0 if row["b"] is None else _brute(hist, row["a"], row["b"], row["w"] - 8, row["w"] - 1)
        assert row["s_v"] == expect, row


def test_window_sums_without_length_sum_everything_up_to_the_end():
    hist = _hist(2)
    sums = period_sums(hist.lazy(), ["a", "b"], ["v"])
    queries = pl.DataFrame({"a": ["x", "y"], "b": ["p", "p"], "w": [15, 41]}, schema_overrides={"w": pl.Int32})
    out = queries.with_columns(window_sums(queries, sums, on=["a", "b"], table_on=["a", "b"], window=Window(before="w"),
                                           values=["v"], prefix="s_"))
    assert out["s_v"].to_list() == [_brute(hist, "x", "p", -1, 14), _brute(hist, "y", "p", -1, 40)]


def test_event_window_sums_cover_the_weeks_before_the_event_only():
    hist = _hist(3)
    queries = pl.DataFrame({"a": ["x", "z", "y"], "b": ["q", "p", "p"], "ew": [20, 35, None]}, schema_overrides={"ew": pl.Int32})
    out = queries.with_columns(window_sums(queries, hist, on=["a", "b"], table_on=["a", "b"], window=Window(before="ew", length=6),
                                           values=["v"], prefix="e_"))
    assert out["e_v"].to_list() == [_brute(hist, "x", "q", 14, 19), _brute(hist, "z", "p", 29, 34), 0]


def _rows(seed: int) -> pl.DataFrame:
    """Rows that are both queries and history: a few of them are not history (``fresh`` False)."""
    h = _hist(seed).rename({"period": "wk"})
    return h.with_columns(fresh=pl.Series(np.random.default_rng(seed).random(h.height) > 0.2))


def test_rows_read_as_their_own_history_give_the_sums_of_a_separate_table():
    rows = _rows(4)
    state = _hist(5)  # an earlier table with the same columns, read as a second part
    base = Table(rows)  # the lookups recognise the rows as their own history by this table
    parts = (Part(Table(state)), Part(base, {"period": "wk"}, keep="fresh"))
    as_table = pl.concat([state, rows.filter("fresh").select("a", "b", pl.col("wk").alias("period"), "v")])
    for length in (None, 6):
        kw = dict(on=["a", "b"], table_on=["a", "b"], window=Window(before="wk", length=length), values=["v"], prefix="s_")
        got = window_sums(base, parts, **kw)[0]
        expect = window_sums(rows, as_table, **kw)[0]
        assert got.to_list() == expect.to_list()
        assert got.sum() > 0  # the comparison is not between two columns of zeros


def test_first_seen_over_parts_takes_the_earliest_day_and_skips_rows_that_are_not_history():
    rows = pl.DataFrame({"a": ["x", "y", "x", "z"], "first_day": [30, 12, 20, 5], "fresh": [True, True, True, False]})
    state = pl.DataFrame({"a": ["x", "w"], "first_day": [25, 3]})
    base = Table(rows)
    first = first_days(base, (Part(Table(state)), Part(base, keep="fresh")), on=["a"])
    # x: min(25 in the state, 30 and 20 in the rows); y: only its own row; z: its row is not history
    assert first.to_list() == [20, 12, 20, None]


def test_first_sightings_reduce_kept_rows_to_one_per_key_with_its_earliest_day():
    rng = np.random.default_rng(5)
    n = 5000
    rows = pl.DataFrame({
        "exp": [None if i % 97 == 0 else f"E{i}" for i in rng.integers(0, 300, n)],
        "org": [["CN", "VN", "TH", None][i] for i in rng.integers(0, 4, n)],
        "day": rng.integers(100, 900, n).astype(np.int32),
        "fresh": rng.random(n) < 0.8,
    })
    got = first_sightings(Part(Table(rows), {"exporter_id": "exp", "origin": "org", "first_day": "day"}, keep="fresh"),
                          ["exporter_id", "origin"])
    want = (rows.filter(pl.col("fresh"), pl.col("exp").is_not_null(), pl.col("org").is_not_null())
            .group_by(pl.col("exp").alias("exporter_id"), pl.col("org").alias("origin")).agg(pl.col("day").min().alias("first_day")))
    assert got.columns == ["exporter_id", "origin", "first_day"] and got["first_day"].dtype == pl.Int32
    assert got.height == want.height > 500
    assert got.sort("exporter_id", "origin").equals(want.sort("exporter_id", "origin"))
