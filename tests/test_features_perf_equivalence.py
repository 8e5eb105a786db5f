"""The fast paths give the same features: compiled lookups vs brute force, chunked vs one build."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from detector.synth.world import generate_world
from features.families._kernels import index, lookup, min_by_key, totals_before
from features.pipeline import build, build_chunks
from features.registry import FEATURE_NAMES
from features.state import fit_state
from frame_helpers import assert_same_frames


@pytest.fixture(scope="module")
def world():
    return generate_world(3_000, seed=5, start=dt.date(2024, 1, 1), months=8)


def _features(df: pl.DataFrame) -> pl.DataFrame:
    cols = ["shipment_id", *FEATURE_NAMES, *sorted(c for c in df.columns if c.startswith("ev_"))]
    return df.select(cols).sort("shipment_id")


def test_chunked_build_gives_the_features_of_one_build_over_everything(world, tmp_path):
    whole = build(world.shipments.lazy(), inputs=world.inputs.lazy(), events=world.events)
    chunks = list(build_chunks(world.shipments.lazy(), inputs=world.inputs.lazy(), events=world.events,
                               chunk_rows=700, spill_dir=tmp_path))
    assert len(chunks) > 3  # the history crosses chunks
    chunked = pl.concat(chunks)
    assert chunked.height == whole.height == world.shipments.height
    assert set(chunked.columns) == set(whole.columns)
    assert_same_frames(_features(whole), _features(chunked))
    assert list(tmp_path.iterdir()) == []  # the spilled input is removed


def test_chunked_build_with_a_fitted_state_equals_scoring_with_it(world):
    cut = dt.date(2024, 5, 1)
    early = world.shipments.filter(pl.col("arrival_date") < cut)
    late = world.shipments.filter(pl.col("arrival_date") >= cut)
    # fit_state reads every contract column (train passes validated rows, which have them).
    state = fit_state(early.with_columns(pl.lit(None, dtype=pl.Int8).alias("label")).lazy(), world.inputs.filter(pl.col("arrival_date") < cut).lazy(), world.events)
    late_inputs = world.inputs.filter(pl.col("arrival_date") >= cut).lazy()
    one = build(late.lazy(), inputs=late_inputs, state=state)
    chunked = pl.concat(build_chunks(late.lazy(), inputs=late_inputs, state=state, chunk_rows=500))
    assert_same_frames(_features(one), _features(chunked))


def test_chunked_build_without_component_imports_leaves_value_added_unknown(world):
    out = pl.concat(build_chunks(world.shipments.lazy(), events=world.events, chunk_rows=1_000))
    assert out.height == world.shipments.height
    assert out["va_pass_through_share"].null_count() == out.height


def _brute_totals(hk, hp, hv, qk, ok, qx, length):
    out = np.zeros((hv.shape[1], len(qk)), dtype=np.int64)
    for j in range(len(qk)):
        if ok[j]:
            inside = (hp < qx[j]) & ((hp >= qx[j] - length) if length is not None else True)
            out[:, j] = hv[(hk == qk[j]) & inside].sum(axis=0)
    return out


@pytest.mark.parametrize("spread", [50, 1 << 30])  # counting walk, and the sorted walk for a huge range
@pytest.mark.parametrize("length", [None, 7])
@pytest.mark.parametrize("in_order", ["neither", "history", "queries", "both"])  # already sorted sides are read in place
def test_totals_before_equals_a_brute_force_sum_over_the_window(spread, length, in_order):
    rng = np.random.default_rng(spread % 97)
    keys = rng.integers(1, 2**63, 12, dtype=np.int64).astype(np.uint64)
    hk = rng.choice(keys[:9], 500)
    hp = rng.integers(-spread, spread, 500).astype(np.int64)
    hv = rng.integers(-1000, 1000, (500, 2)).astype(np.int64)
    qk = rng.choice(keys, 300)  # keys 9-11 have no history
    ok = rng.random(300) > 0.1
    qx = rng.integers(-spread, spread, 300).astype(np.int64)
    if in_order in ("history", "both"):
        hp = np.sort(hp)
    if in_order in ("queries", "both"):
        qx = np.sort(qx)
    out = totals_before(hk, hp, hv, qk, ok, qx, length)
    np.testing.assert_array_equal(out, _brute_totals(hk, hp, hv, qk, ok, qx, length))


def test_totals_before_with_no_history_gives_zeros():
    q = np.arange(5, dtype=np.uint64)
    out = totals_before(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros((0, 1), np.int64),
                        q, np.ones(5, np.bool_), np.arange(5, dtype=np.int64))
    assert out.shape == (1, 5) and not out.any()


def test_min_by_key_finds_the_earliest_value_of_each_key_and_nothing_for_unknown_keys():
    hk = np.array([3, 1, 3, 2, 1], dtype=np.uint64)
    hv = np.array([50, 7, 20, 9, 8], dtype=np.int64)
    qk = np.array([1, 3, 4, 2, 3], dtype=np.uint64)
    ok = np.array([True, True, True, True, False])
    best, found = min_by_key(hk, hv, qk, ok)
    assert found.tolist() == [True, True, False, True, False]
    assert best[found].tolist() == [7, 20, 9]


def test_index_numbers_keys_in_first_seen_order_through_growth_and_collisions():
    rng = np.random.default_rng(3)
    distinct = rng.integers(0, 2**63, 40_000, dtype=np.int64).astype(np.uint64)
    # keys equal in their low bits land on the same home entry: long probe runs
    distinct[:500] = (np.arange(500, dtype=np.uint64) << np.uint64(40)) | np.uint64(7)
    keys = rng.choice(distinct, 200_000)
    slots, table, n = index(keys)
    first_seen: dict[int, int] = {}
    want = np.array([first_seen.setdefault(int(k), len(first_seen)) for k in keys])
    assert n == len(first_seen) > 30_000  # the table grew from 1024 entries many times
    np.testing.assert_array_equal(slots, want)
    queries = np.concatenate([distinct[:1000], rng.integers(0, 2**63, 1000, dtype=np.int64).astype(np.uint64)])
    valid = np.ones(queries.shape[0], dtype=np.bool_)
    valid[::7] = False
    got = lookup(table, queries, valid)
    expect = np.array([first_seen.get(int(k), -1) if v else -1 for k, v in zip(queries, valid)])
    np.testing.assert_array_equal(got, expect)
