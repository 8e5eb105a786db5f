"""The plain gradient-boosted baseline and the held-out split it shares with waypoint."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from models.baseline import columns_of, fit_baseline
from models.holdout import cutoff_date


def _lines(n: int = 800, seed: int = 2) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    importer = rng.choice([f"US{i}" for i in range(40)], n)
    y = np.isin(importer, ["US1", "US2", "US3"]).astype(np.float64)
    frame = pl.DataFrame({
        "arrival_date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 300, n)],
        "importer_id": importer, "exporter_id": rng.choice(["EX1", "EX2"], n),
        "hs_code": rng.choice(["6403990000", "8517620000"], n), "origin_country": "CN", "export_country": "CN",
        "declared_value_usd": rng.lognormal(8, 1, n), "weight_kg": rng.lognormal(6, 1, n),
        "f_not_a_contract_column": rng.random(n), "x_office": rng.choice(["A", "B"], n),
    })
    return frame, y


def test_baseline_reads_only_contract_and_extra_columns():
    frame, _ = _lines()
    numeric, codes = columns_of(frame)
    assert numeric == ["declared_value_usd", "weight_kg"]
    assert codes == ["hs_code", "importer_id", "exporter_id", "origin_country", "export_country", "x_office"]


def test_baseline_learns_from_codes_and_gives_unseen_codes_no_ordinal():
    frame, y = _lines()
    model = fit_baseline(frame, y)
    scores = model.predict(frame)
    assert scores[y == 1].min() > scores[y == 0].max()  # the importer decides the outcome here
    probe = frame.head(2).with_columns(pl.Series("importer_id", ["US1", "NEVER-SEEN"]))
    X = model.matrix(probe)
    at = 2 + 2 * model.codes.index("importer_id")  # after the two numeric columns: ordinal, count
    assert np.isfinite(X[0, at]) and np.isnan(X[1, at]) and X[1, at + 1] == 0.0


def test_holdout_starts_on_a_monday_within_the_last_share_of_the_labelled_dates():
    dates = pl.Series([dt.date(2024, 1, 3) + dt.timedelta(days=i) for i in range(100)])
    labels = np.r_[np.full(90, 1.0), np.full(10, np.nan)]  # labelled span: the first 90 days
    cut = cutoff_date(dates, labels, 0.2)
    assert cut.weekday() == 0
    first, last = dt.date(2024, 1, 3), dt.date(2024, 1, 3) + dt.timedelta(days=89)
    assert first + dt.timedelta(days=int(0.8 * 89)) <= cut <= last


def test_train_with_baseline_reports_both_systems_held_out(small_world):
    from detector.config import Settings
    from detector.jobs.train import train
    from models.tracking import Store

    settings = Settings.from_env()
    result = train([small_world["train"]], inputs=[small_world["inputs"]], events=[small_world["events"]],
                   labels=small_world["labels"], model_name="baseline-tests", n_estimators=30, settings=settings,
                   baseline=True)
    m = result.metrics
    assert result.ranker and "forest_average_precision" in m  # the labels trained the ranker, measured per component
    for prefix in ("heldout_", "heldout_ranker_", "heldout_baseline_"):
        for key in ("precision_at_1pct", "precision_at_5pct", "average_precision", "roc_auc"):
            assert 0.0 <= m[prefix + key] <= 1.0, prefix + key
    assert m["heldout_rows"] > 0 and m["heldout_positives"] > 0
    run = Store.from_settings(settings).client().get_run(result.run_id)
    assert run.data.metrics["heldout_baseline_roc_auc"] == m["heldout_baseline_roc_auc"]
    # the registered model uses the blend weight picked on the held-out lines
    from detector.jobs.modelref import load_model_ref

    detector = load_model_ref(f"baseline-tests/{result.model_version}", settings).detector
    assert detector.ranker.forest_weight == m["heldout_forest_weight"]
