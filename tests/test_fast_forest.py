"""FlatForest must give sklearn's IsolationForest scores exactly, and credit the right feature."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from models.fast_forest import MAX_PERFECT_DEPTH, FlatForest


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    train = rng.normal(size=(1500, 6)) * [1, 2, 0.5, 10, 1, 3]
    test = rng.normal(size=(700, 6)) * [2, 4, 1, 20, 2, 6]  # wider: many rows beyond training range
    return train, test


@pytest.mark.parametrize(
    "params",
    [
        {"n_estimators": 40},
        {"n_estimators": 25, "max_samples": 64, "max_features": 3},
        {"n_estimators": 15, "max_samples": 0.5, "max_features": 0.5, "contamination": 0.05},
        {"n_estimators": 10, "max_samples": 1500, "bootstrap": True},  # deeper than the complete layout
    ],
)
def test_score_samples_equal_sklearn(data, params):
    train, test = data
    forest = IsolationForest(random_state=3, **params).fit(train)
    flat = FlatForest.from_sklearn(forest)
    np.testing.assert_allclose(flat.score_samples(test), forest.score_samples(test), rtol=0, atol=1e-9)
    np.testing.assert_allclose(flat.decision_function(test), forest.decision_function(test), rtol=0, atol=1e-9)


@pytest.mark.tuning
def test_deep_forest_uses_node_walk_and_still_matches():
    rng = np.random.default_rng(2)
    train, test = rng.normal(size=(5000, 3)), rng.normal(size=(300, 3)) * 2
    forest = IsolationForest(n_estimators=3, max_samples=5000, random_state=0).fit(train)
    flat = FlatForest.from_sklearn(forest)
    assert flat.depth > MAX_PERFECT_DEPTH and flat.complete_feature.size == 0
    np.testing.assert_allclose(flat.score_samples(test), forest.score_samples(test), rtol=0, atol=1e-9)


def test_score_samples_casts_to_float32_like_sklearn():
    # Values within float32 rounding of a split threshold must go the way sklearn sends them.
    rng = np.random.default_rng(1)
    train = rng.normal(size=(400, 2))
    forest = IsolationForest(n_estimators=20, random_state=0).fit(train)
    flat = FlatForest.from_sklearn(forest)
    tree = forest.estimators_[0].tree_
    f, t = int(tree.feature[0]), float(tree.threshold[0])
    t32 = np.float32(t)
    near = np.array([t, t + 1e-9, t - 1e-9, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))])
    X = np.zeros((near.size, 2))
    X[:, f] = near
    np.testing.assert_allclose(flat.score_samples(X), forest.score_samples(X), rtol=0, atol=1e-9)


def test_score_samples_follows_sklearn_on_missing_values(data):
    train, test = data
    forest = IsolationForest(n_estimators=20, random_state=0).fit(train)
    flat = FlatForest.from_sklearn(forest)
    holed = test.copy()
    holed[::5, 1] = np.nan
    np.testing.assert_allclose(flat.score_samples(holed), forest.score_samples(holed), rtol=0, atol=1e-9)


def test_score_samples_rejects_wrong_number_of_columns(data):
    train, _ = data
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=5, random_state=0).fit(train))
    with pytest.raises(ValueError, match=r"shape \(n, 6\)"):
        flat.score_samples(np.zeros((3, 5)))


def test_score_samples_of_no_rows_is_empty(data):
    train, _ = data
    flat = FlatForest.from_sklearn(IsolationForest(n_estimators=5, random_state=0).fit(train))
    assert flat.score_samples(np.zeros((0, 6))).shape == (0,)
    assert flat.attributions(np.zeros((0, 6))).shape == (0, 6)


@pytest.mark.parametrize("k", [0, 3, 5])
def test_attribution_credits_the_feature_a_planted_outlier_sits_in(k):
    rng = np.random.default_rng(k)
    train = rng.normal(size=(2000, 6))
    forest = IsolationForest(n_estimators=100, random_state=0).fit(train)
    flat = FlatForest.from_sklearn(forest)
    row = np.zeros((1, 6))
    row[0, k] = 6.0
    credit = flat.attributions(row)
    assert credit.argmax(axis=1)[0] == k
    assert credit.sum() == pytest.approx(1.0)
    assert (credit >= 0).all()
