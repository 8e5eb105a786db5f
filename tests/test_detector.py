"""Preprocessing, calibration and the Detector's scored output, on small synthetic frames."""
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from models.errors import ModelError
from models.errors import ModelInputError as InputError
from models.calibration import Calibration, rank_and_flag
from models.detector import fit
from models.preprocess import Preprocessor

FEATURES = ["price_ratio", "china_share", "noise"]
DIRECTIONS = {"price_ratio": "lower", "china_share": "higher"}


def _frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "shipment_id": [f"S{i:05d}" for i in range(n)],
            "price_ratio": rng.normal(1.0, 0.2, n),
            "china_share": rng.uniform(0.0, 0.6, n),
            "noise": rng.normal(0.0, 1.0, n),
            "ev_norm_price": rng.uniform(1, 2, n),
        }
    )


@pytest.fixture(scope="module")
def train() -> pl.DataFrame:
    return _frame(3000)


@pytest.fixture(scope="module")
def model(train):
    return fit(train, FEATURES, directions=DIRECTIONS, n_estimators=60, contamination=0.02, seed=0)


# -- preprocessing -----------------------------------------------------------------


def test_preprocess_imputes_null_with_training_median_not_zero():
    train = pl.DataFrame({"x": [1.0, 2.0, 3.0, None, 10.0]})
    pre = Preprocessor(["x"]).fit(train)
    X = pre.transform(pl.DataFrame({"x": [None, float("nan")]}, schema={"x": pl.Float64}))
    assert X.tolist() == [[2.5], [2.5]]


def test_preprocess_clips_the_harmless_side_at_the_median():
    train = pl.DataFrame({"hi": [1.0, 2.0, 3.0, 4.0, 5.0], "lo": [1.0, 2.0, 3.0, 4.0, 5.0]})
    pre = Preprocessor(["hi", "lo"], {"hi": "higher", "lo": "lower"}).fit(train)
    X = pre.transform(pl.DataFrame({"hi": [-100.0, 100.0], "lo": [-100.0, 100.0]}))
    assert X.tolist() == [[3.0, -100.0], [100.0, 3.0]]


def test_preprocess_turns_infinity_into_the_training_extreme():
    pre = Preprocessor(["x"]).fit(pl.DataFrame({"x": [1.0, 2.0, 9.0]}))
    assert pre.transform(pl.DataFrame({"x": [float("inf"), -float("inf")]})).tolist() == [[9.0], [1.0]]


def test_preprocess_refuses_feature_without_any_training_value():
    with pytest.raises(ModelError, match="no known value.*empty"):
        Preprocessor(["empty"]).fit(pl.DataFrame({"empty": [None, None]}, schema={"empty": pl.Float64}))


def test_preprocess_names_missing_feature_columns():
    pre = Preprocessor(["a", "b"]).fit(pl.DataFrame({"a": [1.0], "b": [2.0]}))
    with pytest.raises(ModelError, match="feature column.*b"):
        pre.transform(pl.DataFrame({"a": [1.0]}))


def test_preprocess_rejects_unknown_direction():
    with pytest.raises(ValueError, match="sideways"):
        Preprocessor(["a"], {"a": "sideways"})


def test_suspicious_side_ignores_unknown_and_harmless_values():
    pre = Preprocessor(["hi", "both"], {"hi": "higher"}).fit(pl.DataFrame({"hi": [1.0, 2.0, 3.0], "both": [1.0, 2.0, 3.0]}))
    raw = np.array([[3.0, 1.0], [1.0, 2.0], [np.nan, 3.0]])
    assert pre.suspicious_side(raw).tolist() == [[True, True], [False, False], [False, True]]


def test_row_extreme_on_harmless_side_scores_like_the_median_row(model, train):
    medians = {name: train.get_column(name).median() for name in FEATURES}
    median_row = pl.DataFrame({**{k: [v] for k, v in medians.items()}, "shipment_id": ["M"]})
    honest = median_row.with_columns(price_ratio=pl.lit(50.0), china_share=pl.lit(-5.0), shipment_id=pl.lit("H"))
    scored = model.score(pl.concat([median_row, honest], how="diagonal"))
    risk = dict(zip(scored["shipment_id"], scored["risk_score"], strict=True))
    assert risk["H"] <= risk["M"]


# -- calibration -------------------------------------------------------------------


def test_risk_score_is_monotone_and_between_0_and_100():
    cal = Calibration.fit(np.r_[np.zeros(300), np.random.default_rng(0).exponential(size=700)])
    grid = np.linspace(-1, 20, 5000)
    risk = cal.risk_score(grid)
    assert risk.min() == 0.0 and 99.9 < risk.max() < 100.0  # beyond every training score: the tail, below 100
    assert (np.diff(risk) >= 0).all()


def test_risk_score_is_the_percentile_among_training_scores():
    cal = Calibration.fit(np.arange(1001, dtype=float))
    assert cal.risk_score(np.array([980.0, 500.0])).tolist() == pytest.approx([98.0, 50.0])


@pytest.mark.parametrize(("budget", "expected"), [(0.01, 10), (0.015, 15), (0.0001, 1), (1.0, 1000)])
def test_budget_flags_exactly_ceil_budget_times_rows(budget, expected):
    anomaly = np.random.default_rng(0).normal(size=1000)
    _, flagged = rank_and_flag(anomaly, threshold=math.inf, budget=budget)
    assert flagged.sum() == expected


def test_top_flags_the_n_highest_and_ties_break_by_shipment_id():
    anomaly = np.array([0.5, 0.9, 0.9, 0.1, 0.9])
    ids = np.array(["c", "b", "z", "d", "a"], dtype=object)
    rank, flagged = rank_and_flag(anomaly, threshold=0.0, ids=ids, top=2)
    assert rank.tolist() == [4, 2, 3, 5, 1]
    assert flagged.tolist() == [False, True, False, False, True]


def test_budget_and_top_together_are_refused():
    with pytest.raises(InputError, match="not both"):
        rank_and_flag(np.zeros(3), 0.0, budget=0.1, top=1)


def test_budget_outside_zero_one_is_refused():
    with pytest.raises(InputError, match="budget"):
        rank_and_flag(np.zeros(3), 0.0, budget=1.5)


# -- the detector ------------------------------------------------------------------


def test_threshold_flags_the_contamination_share_of_training_rows(model, train):
    flagged = model.score(train)["flagged"].sum()
    assert flagged == pytest.approx(0.02 * train.height, abs=2)


def test_scored_output_has_the_documented_columns_sorted_by_rank(model, train):
    out = model.score(train.head(200), model_name="wp", model_version="3")
    for col in ("shipment_id", "risk_score", "risk_rank", "flagged", "reason_codes", "reasons", "model_name", "model_version", "ev_norm_price"):
        assert col in out.columns
    assert [f"f_{n}" for n in FEATURES] == [c for c in out.columns if c.startswith("f_")]
    assert not set(FEATURES) & set(out.columns)
    assert out["risk_rank"].to_list() == list(range(1, 201))
    assert out["risk_score"].is_sorted(descending=True)
    assert set(out["model_version"]) == {"3"}


def test_scoring_in_chunks_gives_the_same_output(model, train):
    frame = train.head(500)
    assert model.score(frame, top=20).equals(model.score(frame, top=20, chunk_rows=77))


def test_budget_overrides_threshold_in_score(model, train):
    assert model.score(train.head(1000), budget=0.005)["flagged"].sum() == 5


def test_only_flagged_rows_carry_reasons(model, train):
    out = model.score(train.head(1000), top=10)
    assert out.filter(pl.col("flagged"))["reason_codes"].null_count() == 0
    assert out.filter(~pl.col("flagged"))["reason_codes"].null_count() == 990


def test_fit_is_reproducible_with_the_same_seed(train):
    a = fit(train, FEATURES, directions=DIRECTIONS, n_estimators=20, seed=5)
    b = fit(train, FEATURES, directions=DIRECTIONS, n_estimators=20, seed=5)
    assert a.score(train.head(300)).equals(b.score(train.head(300)))


def test_score_names_the_missing_feature_column(model, train):
    with pytest.raises(ModelError, match="china_share"):
        model.score(train.drop("china_share"))


def test_detector_records_contract_version_and_params(model):
    from features.schema import CONTRACT_VERSION

    assert model.contract_version == CONTRACT_VERSION
    assert model.params["directions"] == {"price_ratio": "lower", "china_share": "higher", "noise": "both"}
    assert model.flat is not None


def test_score_of_an_empty_frame_is_an_empty_scored_frame(model, train):
    out = model.score(train.head(0), budget=0.01)
    assert out.height == 0 and "risk_score" in out.columns and "f_noise" in out.columns


def test_top_larger_than_the_file_flags_every_row(model, train):
    assert model.score(train.head(7), top=50)["flagged"].all()
