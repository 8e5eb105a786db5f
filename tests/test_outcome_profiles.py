"""Outcome profiles (features/outcomes.py): point-in-time inspection counts per key."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from features.outcomes import SMOOTHING, OutcomeCounts, fit_counts, keys_for, profiles


def _rows(n: int = 600, seed: int = 4) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.choice([0.0, 1.0, np.nan], n, p=[0.5, 0.3, 0.2])
    return pl.DataFrame({
        "arrival_date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 120, n)],
        "importer_id": rng.choice(["A", "B", "C", "D"], n),
        "exporter_id": rng.choice(["X", "Y"], n),
        "hs_code": rng.choice(["6403990000", "8517620000", "6402991000"], n),
        "origin_country": rng.choice(["CN", "VN"], n),
        "label": label,
    })


def _week(d: dt.date) -> int:
    return (d - dt.date(2024, 1, 1)).days // 7  # 2024-01-01 is a Monday


def test_a_lines_profile_counts_only_labelled_lines_of_earlier_weeks():
    rows = _rows()
    got = profiles(rows, fit_counts(rows, "label", keys_for()))
    weeks = np.array([_week(d) for d in rows["arrival_date"]])
    importer = rows["importer_id"].to_numpy()
    y = rows["label"].to_numpy()
    for i in range(0, rows.height, 37):
        earlier = (weeks < weeks[i]) & np.isfinite(y)
        mine = earlier & (importer == importer[i])
        assert got["op_importer_inspected"][i] == mine.sum()
        assert got["op_importer_hits"][i] == (y[mine] == 1).sum()
        if earlier.any():
            prior = (y[earlier] == 1).mean()
            expected = ((y[mine] == 1).sum() + SMOOTHING * prior) / (mine.sum() + SMOOTHING)
            assert got["op_importer_rate"][i] == pytest.approx(expected)
        else:
            assert got["op_importer_rate"][i] is None


def test_a_lines_profile_never_depends_on_its_own_label_or_later_ones():
    rows = _rows()
    base = profiles(rows, fit_counts(rows, "label", keys_for()))
    week_start = dt.date(2024, 2, 12)  # a Monday: labels of its week and every later one are flipped
    flipped = rows.with_columns(
        pl.when(pl.col("arrival_date") >= week_start).then(1.0 - pl.col("label").fill_nan(0.0)).otherwise(pl.col("label"))
        .alias("label")
    )
    changed = profiles(flipped, fit_counts(flipped, "label", keys_for()))
    on_or_before_cut_week = rows["arrival_date"] < week_start + dt.timedelta(days=7)
    assert on_or_before_cut_week.sum() > 50
    # lines before that week and in it (whose own labels flipped) read the same profiles
    assert changed.filter(on_or_before_cut_week).equals(base.filter(on_or_before_cut_week))
    # and the flip does show in later weeks (the check above can fail)
    assert not changed.filter(~on_or_before_cut_week).equals(base.filter(~on_or_before_cut_week))


def test_scoring_rows_read_the_training_counts_and_unknown_keys_have_none(tmp_path):
    train = _rows()
    counts = fit_counts(train, "label", keys_for())
    counts.to_parquet(tmp_path / "counts.parquet")
    loaded = OutcomeCounts.from_parquet(tmp_path / "counts.parquet", counts.keys)
    later = pl.DataFrame({
        "arrival_date": [dt.date(2024, 9, 2)] * 3, "importer_id": ["A", "NEW", None], "exporter_id": ["X"] * 3,
        "hs_code": ["6403990000"] * 3, "origin_country": ["CN"] * 3,
    })
    got = profiles(later, loaded)
    known = train["label"].is_not_nan()
    a = train.filter(known & (pl.col("importer_id") == "A"))
    assert got["op_importer_inspected"].to_list() == [a.height, 0, 0]
    assert got["op_importer_hits"][0] == int((a["label"] == 1).sum())
    prior = float((train.filter(known)["label"] == 1).mean())
    assert got["op_importer_rate"][1] == pytest.approx(prior) and got["op_importer_rate"][2] == pytest.approx(prior)
    assert got["op_hs6_inspected"][0] == train.filter(known & pl.col("hs_code").str.starts_with("640399")).height
