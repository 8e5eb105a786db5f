"""Ranking by expected recovery, and revenue recall: the duty an inspection budget can recover."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from detector.synth.parties import shell_parties
from detector.synth.world import generate_world
from features.pipeline import build
from features.registry import FEATURE_NAMES
from models import metrics
from models.detector import RECOVERY_POOL, add_ranker, fit, recovery_rank
from models.errors import ModelInputError


def test_each_inspection_is_the_most_recovery_among_twice_its_risk_position():
    priority = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0])  # risk order: rows 0..5
    recovery = np.array([1.0, 5.0, 2.0, 100.0, 3.0, 50.0])
    rank, flagged = recovery_rank(recovery, priority, None, 2)
    # 1st: best of risk top 2 (row 1); 2nd: best left of top 4 (row 3); 3rd: of top 6 (row 5) ...
    assert np.argsort(rank).tolist() == [1, 3, 5, 4, 2, 0]
    assert flagged.tolist() == [False, True, False, True, False, False]
    for j in range(1, 7):  # every prefix comes from the risk ranking's top RECOVERY_POOL x its length
        assert set(np.argsort(rank)[:j]) <= set(range(RECOVERY_POOL * j))


def test_revenue_recall_is_the_share_of_confirmed_duty_the_inspected_lines_hold():
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    labels = np.array([1.0, 0.0, 1.0, 1.0])
    duty = np.array([10.0, 1000.0, 30.0, np.nan])  # the cleared line's duty is no revenue; unknown counts 0
    assert metrics.revenue_recall_at(scores, labels, duty, 0.25) == pytest.approx(10 / 40)
    assert metrics.revenue_recall_at(scores, labels, duty, 0.75) == pytest.approx(1.0)
    assert np.isnan(metrics.revenue_recall_at(scores, np.zeros(4), duty, 0.5))


@pytest.fixture(scope="module")
def world():
    """A world with general fraud, its shells' party list, features of every line (one pass)
    and a detector with a ranker trained on the first year."""
    w = generate_world(8000, seed=5, start=dt.date(2024, 1, 1), months=24, fraud_mix=0.05)
    parties = shell_parties(w.shipments, w.labels)
    feats = build(w.shipments.lazy(), inputs=w.inputs.lazy(), events=w.events, parties=parties)
    feats = feats.join(w.labels.select("shipment_id", "label", "scenario"), on="shipment_id", suffix="_truth")
    cut = pl.col("arrival_date") < pl.lit(dt.date(2025, 1, 1))
    train, test = feats.filter(cut), feats.filter(~cut)
    usable = [n for n in FEATURE_NAMES if train[n].cast(pl.Float64).is_finite().any()]
    det = fit(train, usable, seed=0)
    forest = fit(train, usable, seed=0)
    assert add_ranker(det, train, train["label_truth"].cast(pl.Float64).to_numpy()) is None
    return {"det": det, "forest": forest, "test": test, "parties": parties, "usable": usable}


def _figures(scored: pl.DataFrame, budget: float) -> tuple[float, float]:
    order = -scored["risk_rank"].cast(pl.Float64).to_numpy()
    y = scored["label_truth"].cast(pl.Float64).to_numpy()
    p, _ = metrics.precision_recall_at(order, y, budget)
    return p, metrics.revenue_recall_at(order, y, scored["duty_at_risk_usd"].to_numpy(), budget)


def test_ranking_by_recovery_lifts_revenue_recall_and_keeps_precision(world):
    det, test = world["det"], world["test"]
    risk = det.score(test, budget=0.01)
    recovery = det.score(test, budget=0.01, rank_by="recovery")
    p_risk, rr_risk = _figures(risk, 0.01)
    p_rec, rr_rec = _figures(recovery, 0.01)
    assert rr_rec > rr_risk + 0.05, (rr_risk, rr_rec)
    assert p_rec >= p_risk - 0.05, (p_risk, p_rec)
    # Both rankings carry the same probability and expected recovery for a line.
    both = risk.select("shipment_id", "expected_recovery_usd").join(recovery.select("shipment_id", "expected_recovery_usd"),
                                                                    on="shipment_id")
    assert (both["expected_recovery_usd"] == both["expected_recovery_usd_right"]).all()
    assert recovery.filter("flagged")["expected_recovery_usd"].sum() > risk.filter("flagged")["expected_recovery_usd"].sum()


def test_every_flag_of_a_listed_exporter_says_so_and_none_before_its_listing(world):
    det, test, parties = world["det"], world["test"], world["parties"]
    assert "known_party" in world["usable"]
    for rank_by in ("risk", "recovery"):
        scored = det.score(test, top=400, rank_by=rank_by)
        listed = scored.join(parties.select(pl.col("party_id").alias("exporter_id"), "date_listed"), on="exporter_id")
        says = pl.col("reason_codes").fill_null("").str.contains("KNOWN_PARTY")
        after = listed.filter(pl.col("flagged") & (pl.col("arrival_date") >= pl.col("date_listed")))
        assert after.height > 0 and after.filter(~says).height == 0
        assert listed.filter(pl.col("arrival_date") < pl.col("date_listed")).filter(says).height == 0
        assert scored.join(listed.select("shipment_id"), on="shipment_id", how="anti").filter(says).height == 0


def test_without_a_ranker_expected_recovery_is_unavailable_and_recovery_ranking_refused(world):
    forest, test = world["forest"], world["test"]
    scored = forest.score(test, budget=0.01)
    assert scored["expected_recovery_usd"].null_count() == scored.height
    assert scored["fraud_probability"].null_count() == scored.height
    assert (scored["duty_at_risk_usd"] >= 0).all()
    with pytest.raises(ModelInputError, match="only a model trained on outcomes"):
        forest.score(test, budget=0.01, rank_by="recovery")


def test_the_queue_totals_duty_at_risk_of_the_filter_and_sorts_by_it(tmp_path):
    import re

    from fastapi.testclient import TestClient
    from review_helpers import make_scored

    from detector.review.app import create_app
    from detector.review.queue import ScoredSet
    from detector.review.store import DecisionStore

    scored = make_scored()
    duty = pl.Series("duty_at_risk_usd", [float((i * 7919) % 1000) for i in range(scored.height)])
    path = tmp_path / "scored.parquet"
    scored.with_columns(duty).write_parquet(path)
    client = TestClient(create_app(ScoredSet([path]), DecisionStore(tmp_path / "d.db")), base_url="http://127.0.0.1:8765")
    flagged = scored.with_columns(duty).filter("flagged")
    page = client.get("/").text
    assert f'id="duty-total">{flagged["duty_at_risk_usd"].sum():,.0f} USD' in page
    origin = flagged["origin_country"][0]
    one = client.get("/", params={"origin": origin}).text
    assert f'{flagged.filter(pl.col("origin_country") == origin)["duty_at_risk_usd"].sum():,.0f} USD' in one
    ids = re.findall(r'data-id="([^"]+)"', client.get("/", params={"sort": "duty"}).text)
    assert ids == flagged.sort(["duty_at_risk_usd", "risk_rank"], descending=[True, False])["shipment_id"].head(len(ids)).to_list()
