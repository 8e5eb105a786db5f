"""Reasons are ranked by the forest's attributions and only ever argue for suspicion."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.detector import fit
from models.reasons import pick_reasons, reason_specs, render_reasons

FEATURES = ["price_ratio", "china_share", "noise"]
DIRECTIONS = {"price_ratio": "lower", "china_share": "higher"}


def test_pick_reasons_skips_features_on_the_harmless_side():
    credit = np.array([[0.7, 0.2, 0.1]])
    suspicious = np.array([[False, True, True]])
    assert pick_reasons(credit, suspicious).tolist() == [[1, 2, -1]]


def test_pick_reasons_skips_features_without_credit():
    credit = np.array([[0.5, 0.0, -0.2]])
    assert pick_reasons(credit, np.ones((1, 3), dtype=bool)).tolist() == [[0, -1, -1]]


def test_pick_reasons_orders_by_credit_and_breaks_ties_by_feature_order():
    credit = np.array([[0.1, 0.3, 0.3, 0.2]])
    assert pick_reasons(credit, np.ones((1, 4), dtype=bool)).tolist() == [[1, 2, 3]]


def test_pick_reasons_pads_when_there_are_fewer_features_than_reasons():
    assert pick_reasons(np.array([[0.4, 0.6]]), np.ones((1, 2), dtype=bool)).tolist() == [[1, 0, -1]]


def test_render_reasons_joins_codes_and_sentences_with_the_row_numbers():
    rows = pl.DataFrame({"a_feat": [0.123456, 2.0], "b_feat": [5.0, 7.5]})
    specs = reason_specs(["a_feat", "b_feat"])
    out = render_reasons(rows, np.array([[1, 0, -1], [-1, -1, -1]]), ["a_feat", "b_feat"])
    assert out["reason_codes"].to_list() == [f"{specs['b_feat'].code},{specs['a_feat'].code}", ""]
    first = out["reasons"][0].split(" | ")
    assert len(first) == 2 and "5" in first[0] and "0.1235" in first[1]
    assert out["reasons"][1] == ""


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(11)
    n = 3000
    train = pl.DataFrame(
        {
            "shipment_id": [f"T{i:05d}" for i in range(n)],
            "price_ratio": rng.normal(1.0, 0.1, n),
            "china_share": rng.uniform(0.0, 0.5, n),
            "noise": rng.normal(0.0, 1.0, n),
        }
    )
    model = fit(train, FEATURES, directions=DIRECTIONS, n_estimators=100, seed=1)
    return train, model


@pytest.mark.parametrize(("feature", "value"), [("price_ratio", 0.3), ("china_share", 0.98), ("noise", -6.0)])
def test_planted_suspicious_value_is_the_first_reason(world, feature, value):
    train, model = world
    medians = dict(zip(FEATURES, model.preprocess.median_, strict=True))
    plain = pl.DataFrame({"shipment_id": ["P"], **{f: [float(medians[f])] for f in FEATURES}})
    planted = plain.with_columns(pl.lit(value).alias(feature))
    out = model.score(pl.concat([train.head(200), plain, planted.with_columns(shipment_id=pl.lit("X"))]), top=202)
    row = out.filter(pl.col("shipment_id") == "X").row(0, named=True)  # top=202 explains every row
    assert row["risk_score"] > out.filter(pl.col("shipment_id") == "P")["risk_score"][0]
    assert row["reason_codes"].split(",")[0] == reason_specs(FEATURES)[feature].code


def test_extreme_honest_value_is_never_a_reason(world):
    train, model = world
    rows = train.head(300).with_columns(price_ratio=pl.lit(9.0), china_share=pl.lit(0.0))
    out = model.score(rows, budget=0.1)
    codes = {c for line in out.filter(pl.col("flagged"))["reason_codes"] for c in line.split(",") if c}
    specs = reason_specs(FEATURES)
    assert specs["price_ratio"].code not in codes and specs["china_share"].code not in codes


def test_every_reason_of_flagged_rows_is_on_the_suspicious_side(world):
    train, model = world
    test = train.sample(1000, seed=3).with_columns(noise=pl.col("noise") * 2, price_ratio=pl.col("price_ratio") * 1.3 - 0.3)
    out = model.score(test, budget=0.05)
    specs = reason_specs(FEATURES)
    by_code = {specs[f].code: f for f in FEATURES}
    medians = dict(zip(FEATURES, model.preprocess.median_, strict=True))
    for row in out.filter(pl.col("flagged")).iter_rows(named=True):
        for code in filter(None, row["reason_codes"].split(",")):
            name = by_code[code]
            value = row[f"f_{name}"]
            side = DIRECTIONS.get(name, "both")
            assert (value > medians[name]) if side == "higher" else (value < medians[name]) if side == "lower" else value != medians[name]


def test_reason_codes_are_stable_across_runs(world):
    train, model = world
    frame = train.head(500)
    assert model.score(frame, top=15)["reason_codes"].to_list() == model.score(frame, top=15)["reason_codes"].to_list()


def test_registry_features_use_the_registry_code_and_sentence():
    from features.registry import by_name

    feature = by_name()["ent_exporter_age_days"]
    rows = pl.DataFrame({"ent_exporter_age_days": [3.0]})
    out = render_reasons(rows, np.array([[0, -1, -1]]), ["ent_exporter_age_days"])
    assert out["reason_codes"][0] == feature.reason_code == "ENT_NEW_EXPORTER"
    assert out["reasons"][0] == "the exporter was first seen 3 days ago"


def test_directions_default_to_the_registry(world):
    train, _ = world
    frame = train.rename({"noise": "ent_exporter_age_days"})
    model = fit(frame, ["price_ratio", "ent_exporter_age_days"], n_estimators=10)
    assert model.params["directions"] == {"price_ratio": "both", "ent_exporter_age_days": "lower"}


def test_a_reason_is_never_stated_without_the_evidence_its_sentence_names():
    from models.reasons import evidence_known

    rows = pl.DataFrame({"os_days_since_event": [12.0, 12.0], "ev_event_name": [None, "Section 301 list 3"],
                         "ent_exporter_age_days": [3.0, 3.0]})
    known = evidence_known(rows, ["os_days_since_event", "ent_exporter_age_days", "china_share"])
    assert known.tolist() == [[False, True, True], [True, True, True]]  # the event is named, the age needs nothing
    assert evidence_known(rows.drop("ev_event_name"), ["os_days_since_event"]).tolist() == [[False], [False]]


def test_a_line_without_a_tariff_event_never_gets_an_event_reason(world):
    from features.registry import by_name

    train, _ = world
    names = ["os_days_since_event", "price_ratio"]
    frame = train.rename({"noise": "os_days_since_event"}).with_columns(
        os_days_since_event=pl.col("os_days_since_event").abs() * 100, ev_event_name=pl.lit("a tariff event"))
    model = fit(frame, names, n_estimators=50, seed=2)
    # A line just after an event on the suspicious side, with its event unknown (another importing country).
    line = frame.head(1).with_columns(os_days_since_event=pl.lit(0.0), price_ratio=pl.lit(1.0))
    code = by_name()["os_days_since_event"].reason_code
    assert code in model.score(line, top=1)["reason_codes"][0]
    silent = model.score(line.with_columns(ev_event_name=pl.lit(None, dtype=pl.String)), top=1)
    assert code not in silent["reason_codes"][0] and "?" not in silent["reasons"][0]
