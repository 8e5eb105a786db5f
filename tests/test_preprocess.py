"""The compiled preprocessing equals the plain numpy statement of its rules."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.preprocess import Preprocessor


@pytest.mark.parametrize("scale", [False, True])
def test_transform_equals_the_numpy_rules_with_nan_inf_and_one_sided_clipping(scale):
    rng = np.random.default_rng(1)
    names = [f"f{i}" for i in range(9)]
    raw = rng.normal(size=(5_000, 9))
    raw[rng.random(raw.shape) < 0.3] = np.nan
    raw[rng.random(raw.shape) < 0.02] = np.inf
    raw[rng.random(raw.shape) < 0.02] = -np.inf
    train = pl.DataFrame(np.where(np.isinf(raw), np.nan, raw), schema=names)
    p = Preprocessor(names, directions={n: ("higher", "lower", "both")[i % 3] for i, n in enumerate(names)},
                     scale=scale).fit(train)

    x = np.where(np.isnan(raw), p.median_, raw)
    x = np.where(np.isposinf(x), p.high_, np.where(np.isneginf(x), p.low_, x))
    for j in range(0, 9, 3):
        x[:, j] = np.maximum(x[:, j], p.median_[j])  # "higher": the low side is harmless
    for j in range(1, 9, 3):
        x[:, j] = np.minimum(x[:, j], p.median_[j])  # "lower": the high side is harmless
    if scale:
        x = (x - p.median_) / p.iqr_
    expected = x.astype(np.float32)

    got = p.transform_raw(raw)
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert np.array_equal(got, expected)
