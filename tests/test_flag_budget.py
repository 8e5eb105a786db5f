"""Flags an inspection team can work: a budget by default, the threshold on request, resolution at the top."""
from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from models.calibration import Calibration, one_in, parse_share
from models.detector import fit
from models.errors import ModelInputError

runner = CliRunner()


# -- how a budget is written -----------------------------------------------------


@pytest.mark.parametrize(("text", "share"), [("1%", 0.01), (" 2.5% ", 0.025), ("0.02", 0.02), ("100%", 1.0)])
def test_a_budget_is_a_share_written_with_percent_or_as_a_fraction(text, share):
    assert parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["1", "5", "1.0", "250"])
def test_a_bare_number_of_one_or_more_is_refused_with_a_hint_never_read_as_all_lines(text):
    with pytest.raises(ModelInputError) as caught:
        parse_share(text)
    assert f"{text}%" in caught.value.hint and f"--top {text}" in caught.value.hint


@pytest.mark.parametrize("text", ["0", "0%", "150%", "-1%", "a lot", "nan"])
def test_a_budget_outside_the_file_is_refused(text):
    with pytest.raises(ModelInputError):
        parse_share(text)


# -- resolution at the top -------------------------------------------------------


def test_scores_beyond_every_training_score_stay_distinct_ordered_and_below_100():
    train = np.random.default_rng(0).normal(0.5, 0.05, 5000)
    cal = Calibration.fit(train)
    beyond = np.linspace(train.max(), train.max() + 0.5, 2000)
    risk = cal.risk_score(beyond)
    assert (np.diff(risk) > 0).all() and risk.max() < 100.0
    assert np.unique(np.round(one_in(risk), 0)).size > 1000  # the rarity tells them apart too


def test_the_tail_joins_the_percentile_and_leaves_the_rest_of_it_unchanged():
    train = np.random.default_rng(1).exponential(size=3000)
    cal = Calibration.fit(train)
    plain = Calibration(grid_=cal.grid_)  # a calibration without a tail (saved before tails)
    start = cal.tail_start_
    below = np.linspace(train.min(), start, 500)
    assert cal.risk_score(below).tolist() == plain.risk_score(below).tolist()
    edge = cal.risk_score(np.array([start, start + 1e-9]))
    assert edge[1] - edge[0] == pytest.approx(0.0, abs=1e-6)
    assert plain.risk_score(np.array([train.max() + 1.0]))[0] == 100.0  # what the tail is for


def test_rarity_is_one_in_n_training_lines():
    assert one_in(99.0) == pytest.approx(100.0)
    assert one_in(np.array([50.0, 99.99])).tolist() == pytest.approx([2.0, 10_000.0])
    assert math.isinf(one_in(100.0))


@pytest.fixture(scope="module")
def drifted():
    rng = np.random.default_rng(7)
    names = [f"x{i}" for i in range(8)]
    n, m = 4000, 5000
    train = pl.DataFrame({"shipment_id": [f"T{i}" for i in range(n)], **{c: rng.normal(0.0, 1.0, n) for c in names}})
    model = fit(train, names, directions={c: "higher" for c in names}, n_estimators=100, seed=2, budget=0.01)
    # A file the model never saw the like of (a tariff event after training): on most lines
    # half the signals are up to four standard deviations above anything usual in training.
    shift = rng.uniform(0.0, 4.0, (m, len(names))) * (rng.random((m, len(names))) < 0.5)
    shifted = pl.DataFrame({"shipment_id": [f"D{i:05d}" for i in range(m)],
                            **{c: rng.normal(0.0, 1.0, m) + shift[:, j] for j, c in enumerate(names)}})
    return model, train, shifted


def test_the_top_thousand_of_a_drifted_file_show_hundreds_of_distinct_scores_in_rank_order(drifted):
    model, _, shifted = drifted
    out = model.score(shifted)
    top = out.filter(pl.col("risk_rank") <= 1000).sort("risk_rank")
    assert top["risk_score"].n_unique() >= 300
    assert out.sort("risk_rank")["risk_score"].is_sorted(descending=True)
    # A plain percentile reads 100.0 for every one of them: what the tail is for.
    plain = Calibration(grid_=model.calibration.grid_)
    priority = np.sort(model.components(shifted)["priority"])[::-1][:1000]
    assert (plain.risk_score(priority) == 100.0).all()


def test_the_default_flags_follow_the_models_budget_and_the_threshold_is_asked_for(drifted):
    model, _, shifted = drifted
    by_budget = model.score(shifted)
    assert by_budget["flagged"].sum() == math.ceil(0.01 * shifted.height)
    by_threshold = model.score(shifted, threshold=True)
    above = model.components(shifted)["priority"] > model.threshold
    assert by_threshold["flagged"].sum() == above.sum() > 5 * by_budget["flagged"].sum()


def test_a_detector_fitted_without_a_budget_keeps_its_threshold(drifted):
    _, train, shifted = drifted
    plain = fit(train, [c for c in train.columns if c != "shipment_id"], n_estimators=20, seed=2)
    assert plain.budget is None
    assert plain.score(shifted)["flagged"].sum() == (plain.components(shifted)["priority"] > plain.threshold).sum()


# -- what a run says about its threshold ----------------------------------------


class _Model:
    def __init__(self, budget=0.01):
        self.params = {"contamination": 0.01, "budget": budget}
        self.budget = budget


def test_a_threshold_flagging_under_a_tenth_of_a_percent_says_so():
    from detector.jobs.score import _threshold_warnings

    (warning,) = _threshold_warnings(2, 10_000, None, _Model(), threshold_rule=True)
    assert "under 0.1%" in warning and "budget" in warning
    assert _threshold_warnings(50, 10_000, None, _Model(), threshold_rule=True) == []


def test_a_threshold_over_five_times_the_budget_says_so_whatever_the_flag_rule():
    from detector.jobs.score import _threshold_warnings

    (warning,) = _threshold_warnings(2_800, 10_000, 0.01, _Model(), threshold_rule=False)
    assert "28.00%" in warning and "5 times the inspection budget of 1.00%" in warning
    assert _threshold_warnings(400, 10_000, 0.01, _Model(), threshold_rule=False) == []


# -- through the CLI -------------------------------------------------------------


def _score(small_world, fitted_model, out, *extra):
    args = ["score", str(small_world["holdout"]), "-o", str(out), "--model", fitted_model.ref,
            "--inputs", str(small_world["inputs"]), "--json", *extra]
    return runner.invoke(app, args)


@pytest.mark.slow
def test_score_flags_the_models_budget_by_default_and_the_threshold_when_asked(small_world, fitted_model, tmp_path):
    result = _score(small_world, fitted_model, tmp_path / "a.parquet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    scored = pl.read_parquet(tmp_path / "a.parquet")
    assert summary["flagged"] == scored["flagged"].sum() == math.ceil(0.01 * scored.height)
    assert summary["flag_rule"] == "budget 1% (the model's)"

    result = _score(small_world, fitted_model, tmp_path / "t.parquet", "--threshold", "model")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["flagged"] == summary["above_threshold"] == pl.read_parquet(tmp_path / "t.parquet")["flagged"].sum()
    assert "threshold" in summary["flag_rule"]


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "words"), [(("--budget", "1"), "1%"), (("--threshold", "0.6"), "--threshold model"),
                                             (("--budget", "1%", "--top", "5"), "one flag rule")])
def test_score_refuses_an_unclear_flag_rule_before_any_work(small_world, fitted_model, tmp_path, extra, words):
    result = _score(small_world, fitted_model, tmp_path / "x.parquet", *extra)
    assert result.exit_code == 2
    assert words in result.output
    assert not (tmp_path / "x.parquet").exists()
