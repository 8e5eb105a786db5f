"""The supervised ranker beside the forest: fallback, combination, explore, line inputs, reasons, artifact."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from models import metrics
from models.ranker import FOREST_WEIGHT, MIN_POSITIVES, explore_flags, fallback_reason

UNSEEN = "transship_product_line"


def _features(files: dict, shipments_key: str, state=None, mapping=None):
    from detector.io.read import load
    from features.pipeline import build
    from features.schema import EVENTS, INPUTS, SHIPMENTS

    shipments = load([files[shipments_key]], SHIPMENTS, mapping=mapping).valid
    inputs = load([files["inputs"]], INPUTS).valid.select(INPUTS.names)
    events = load([files["events"]], EVENTS).valid.select(EVENTS.names)
    frame = build(shipments.lazy(), inputs=inputs.lazy(), events=events, state=state)
    return shipments, inputs, events, frame


def _with_labels(frame: pl.DataFrame, files: dict) -> pl.DataFrame:
    labels = pl.read_csv(files["labels"], schema_overrides={"shipment_id": pl.String}).select(
        "shipment_id", pl.col("label").alias("_y"), pl.col("scenario").alias("_scenario")
    )
    return frame.join(labels, on="shipment_id", how="left", maintain_order="left")


@pytest.fixture(scope="module")
def world(small_world):
    """Train/holdout feature frames of the small world, with outcomes in ``_y`` / ``_scenario``."""
    from features.state import fit_state

    shipments, inputs, events, train = _features(small_world, "train")
    state = fit_state(shipments.lazy(), inputs.lazy(), events)
    holdout = _features(small_world, "holdout", state=state)[3]
    return {"train": _with_labels(train, small_world), "holdout": _with_labels(holdout, small_world), "state": state}


def _forest(train: pl.DataFrame, state=None):
    from detector.jobs.train import usable_features
    from features.registry import FEATURE_NAMES
    from models.detector import fit

    names = usable_features(train, FEATURE_NAMES)[0]
    return fit(train, names, n_estimators=50, seed=1, state=state)


@pytest.fixture(scope="module")
def ranked(world):
    """A forest with a ranker trained on every training label."""
    from models.detector import add_ranker

    detector = _forest(world["train"], world["state"])
    y = world["train"]["_y"].cast(pl.Float64).to_numpy()
    assert add_ranker(detector, world["train"], y) is None
    return detector


def _metric_frame(scored: pl.DataFrame, holdout: pl.DataFrame) -> pl.DataFrame:
    return scored.join(holdout.select("shipment_id", "_y", "_scenario"), on="shipment_id", how="left")


# -- fallback -------------------------------------------------------------------------


def test_add_ranker_falls_back_with_few_positives_and_says_so(world):
    from models.detector import add_ranker

    detector = _forest(world["train"])
    y = world["train"]["_y"].cast(pl.Float64).to_numpy().copy()
    positives = np.flatnonzero(y == 1)
    y[positives[MIN_POSITIVES - 1 :]] = np.nan  # leave 49 known positives
    before = detector.calibration.grid_.copy()
    note = add_ranker(detector, world["train"], y)
    assert note is not None and "too few labels" in note and "49 positive" in note
    assert detector.ranker is None
    np.testing.assert_array_equal(detector.calibration.grid_, before)
    scored = detector.score(world["holdout"], budget=0.01, explore=0.5)
    assert "ranker_score" not in scored.columns and "explore" not in scored.columns


def test_fallback_reason_needs_both_classes():
    assert fallback_reason(None) is not None
    assert "0 negative" in fallback_reason(np.ones(500))
    assert fallback_reason(np.r_[np.ones(50), np.zeros(50), np.full(10, np.nan)]) is None


def test_train_job_warns_and_tags_when_labels_are_too_few(small_world, tmp_path):
    from detector.config import Settings
    from detector.jobs.train import train

    labels = pl.read_csv(small_world["labels"], schema_overrides={"shipment_id": pl.String})
    few = pl.concat([labels.filter(pl.col("label") == 1).head(10), labels.filter(pl.col("label") == 0)])
    few.write_csv(tmp_path / "few.csv")
    settings = Settings.from_env()
    result = train([small_world["train"]], inputs=[small_world["inputs"]], events=[small_world["events"]],
                   labels=tmp_path / "few.csv", model_name="ranker-fallback", n_estimators=20, settings=settings)
    assert not result.ranker
    assert any("too few labels" in w for w in result.warnings)
    from models.tracking import Store

    run = Store.from_settings(settings).client().get_run(result.run_id)
    assert run.data.tags["waypoint.ranker"].startswith("forest alone: too few labels")


# -- combination ------------------------------------------------------------------------


def test_combination_is_at_least_as_good_as_forest_alone_at_one_percent(ranked, world):
    scored = _metric_frame(ranked.score(world["holdout"], budget=0.01), world["holdout"])
    y = scored["_y"].cast(pl.Float64).to_numpy()
    combined = metrics.precision_recall_at(scored["risk_score"].to_numpy(), y, 0.01)[0]
    forest = metrics.precision_recall_at(scored["forest_score"].to_numpy(), y, 0.01)[0]
    assert combined >= forest
    assert metrics.average_precision(scored["risk_score"].to_numpy(), y) >= metrics.average_precision(
        scored["forest_score"].to_numpy(), y
    )


def test_combination_does_not_fall_below_forest_on_a_scheme_kept_out_of_the_labels(world):
    from models.detector import add_ranker

    train = world["train"]
    detector = _forest(train, world["state"])
    y = train["_y"].cast(pl.Float64).to_numpy().copy()
    y[(train["_scenario"] == UNSEEN).to_numpy()] = np.nan  # the ranker never hears of this scheme
    assert add_ranker(detector, train, y) is None
    scored = _metric_frame(detector.score(world["holdout"]), world["holdout"])
    # the unseen scheme against the cleared shipments (other schemes left out)
    subset = scored.filter((pl.col("_scenario") == UNSEEN) | (pl.col("_y") == 0))
    truth = (subset["_scenario"] == UNSEEN).cast(pl.Float64).to_numpy()
    assert truth.sum() > 0
    for budget in (0.01, 0.05):
        combined = metrics.precision_recall_at(subset["risk_score"].to_numpy(), truth, budget)[1]
        forest = metrics.precision_recall_at(subset["forest_score"].to_numpy(), truth, budget)[1]
        assert combined >= forest, budget


def test_risk_score_is_the_blend_percentile_and_components_are_percentiles(ranked, world):
    scored = ranked.score(world["holdout"])
    for column in ("risk_score", "forest_score", "ranker_score"):
        values = scored[column].to_numpy()
        assert values.min() >= 0 and values.max() <= 100
    blend = FOREST_WEIGHT * scored["forest_score"].to_numpy() + (1 - FOREST_WEIGHT) * scored["ranker_score"].to_numpy()
    expected = ranked.calibration.risk_score(blend)
    np.testing.assert_allclose(scored["risk_score"].to_numpy(), expected)
    assert (np.diff(scored["risk_score"].to_numpy()) <= 1e-9).all()  # sorted by rank


# -- explore ----------------------------------------------------------------------------


def test_explore_flags_takes_the_forests_picks_outside_the_rankers_top():
    rank = np.arange(1, 11)
    flagged = rank <= 4
    ranker = np.array([99, 98, 97, 96, 95, 10, 20, 30, 5, 1], dtype=float)
    forest = np.array([50, 50, 50, 50, 99, 10, 20, 30, 90, 1], dtype=float)
    new_flags, explore = explore_flags(flagged, rank, forest, ranker, 0.25)
    # one of four flags explores: the ranker's top 4 are rows 0-3, so the forest's favourite
    # outside them (row 4, forest 99) is explored and the weakest exploit flag (rank 4) gives way
    assert explore.tolist() == [False, False, False, False, True, False, False, False, False, False]
    assert new_flags.tolist() == [True, True, True, False, True, False, False, False, False, False]
    same, none = explore_flags(flagged, rank, forest, ranker, 0.0)
    assert same.tolist() == flagged.tolist() and not none.any()


def test_score_marks_explore_flags_and_keeps_the_flag_count(ranked, world):
    plain = ranked.score(world["holdout"], top=40)
    scored = ranked.score(world["holdout"], top=40, explore=0.25)
    assert scored["flagged"].sum() == plain["flagged"].sum() == 40
    explored = scored.filter(pl.col("explore"))
    assert explored.height == 10
    assert explored["flagged"].all() and explored["reason_codes"].is_not_null().all()
    ranker_top = set(scored.sort("ranker_score", "risk_rank", descending=[True, False]).head(40)["shipment_id"])
    assert not ranker_top & set(explored["shipment_id"])
    assert scored.filter(~pl.col("flagged"))["explore"].sum() == 0


def test_explore_share_must_be_below_one():
    from models.errors import ModelInputError

    with pytest.raises(ModelInputError, match="explore share"):
        explore_flags(np.ones(3, bool), np.arange(1, 4), np.zeros(3), np.zeros(3), 1.0)


# -- reasons ----------------------------------------------------------------------------


def test_first_reason_of_a_ranker_driven_flag_is_the_reason_whose_occlusion_drops_the_log_odds_most(ranked, world):
    from models.ranker import ranker_driven
    from models.reasons import reason_specs

    scored = ranked.score(world["holdout"], budget=0.02)
    flagged = scored.filter(pl.col("flagged") & ~pl.col("explore"))
    driven = flagged.filter(pl.Series(ranker_driven(flagged["forest_score"].to_numpy(), flagged["ranker_score"].to_numpy(),
                                                    ranked.ranker.forest_weight)))
    assert driven.height > 0
    rows = world["holdout"].join(driven.select("shipment_id"), on="shipment_id", how="semi")
    r = ranked.ranker
    anomaly = ranked.components(rows)["anomaly"]
    groups = r.reason_groups()
    credit = r.group_contributions(r.matrix(rows, anomaly), [g for _, g in groups])
    from models.preprocess import raw_matrix

    suspicious = ranked.preprocess.suspicious_side(raw_matrix(rows, ranked.feature_names))
    n_feat = len(ranked.feature_names)
    credit[:, :n_feat] = np.where(suspicious, credit[:, :n_feat], -np.inf)
    specs = reason_specs(ranked.feature_names)
    first = dict(zip(driven["shipment_id"], driven["reason_codes"].str.split(",").list.first(), strict=True))
    for i, sid in enumerate(rows["shipment_id"]):
        best = groups[int(np.argmax(credit[i]))][0]
        expected = specs[best].code if best in specs else best
        assert first[sid].startswith(expected), (sid, first[sid], expected)


def test_ranker_contributions_explain_the_log_odds_change(ranked, world):
    rows = world["holdout"].head(5)
    r = ranked.ranker
    X = r.matrix(rows, ranked.components(rows)["anomaly"])
    contributions = r.contributions(X)
    j = int(np.argmax(np.abs(contributions[0])))
    occluded = X[:1].copy()
    occluded[0, j] = r.reference[j]
    assert contributions[0, j] == pytest.approx(r.log_odds(X[:1])[0] - r.log_odds(occluded)[0])


# -- artifact, extras, CLI --------------------------------------------------------------------


def test_artifact_round_trip_gives_identical_scores(ranked, world, tmp_path):
    from models import artifact

    loaded = artifact.load(artifact.save(ranked, tmp_path / "model"))
    assert loaded.ranker is not None
    before = ranked.score(world["holdout"], budget=0.01, explore=0.1)
    after = loaded.score(world["holdout"], budget=0.01, explore=0.1)
    assert before.equals(after)


def test_mapped_extra_columns_become_ranker_features(small_world, tmp_path):
    """A categorical ``[extra]`` column that carries the outcome is learned natively; unknown -> missing."""
    from detector.io.mapping import Mapping
    from models.detector import add_ranker

    raw = pl.read_csv(small_world["train"], infer_schema=False)
    labels = pl.read_csv(small_world["labels"], schema_overrides={"shipment_id": pl.String})
    y = raw.select("shipment_id").join(labels, on="shipment_id", how="left", maintain_order="left")["label"]
    offices = np.where(y.to_numpy() == 1, "HCM-7", np.where(np.arange(raw.height) % 2 == 0, "HPH-1", "DAD-2"))
    raw = raw.with_columns(pl.Series("Customs Office", offices), pl.lit("3").alias("Packages"))
    raw.write_csv(tmp_path / "mapped.csv")
    names = [c for c in raw.columns if c not in ("Customs Office", "Packages")]
    toml = "[columns]\n" + "".join(f'{c} = "{c}"\n' for c in names)
    toml += '[extra]\ncategorical = ["Customs Office"]\nnumeric = ["Packages"]\n'
    (tmp_path / "m.toml").write_text(toml)
    files = {**small_world, "mapped": tmp_path / "mapped.csv"}
    frame = _features(files, "mapped", mapping=Mapping.from_toml(tmp_path / "m.toml"))[3]
    assert {"x_customs_office", "x_packages"} <= set(frame.columns)

    detector = _forest(frame)
    from models.ranker import extra_columns

    numeric, categorical = extra_columns(frame)
    assert (numeric, categorical) == (["x_packages"], ["x_customs_office"])
    truth = frame.select("shipment_id").join(labels, on="shipment_id", how="left", maintain_order="left")["label"]
    assert add_ranker(detector, frame, truth.cast(pl.Float64).to_numpy(), extra_numeric=numeric,
                      extra_categorical=categorical) is None
    r = detector.ranker
    assert r.encoder.native["x_customs_office"] == ["DAD-2", "HCM-7", "HPH-1"]
    names = r.input_names
    assert r.model.is_categorical_.tolist()[names.index("cat_x_customs_office")] is True
    assert "te_x_customs_office" in names and "op_x_customs_office_rate" in names
    probe = frame.head(3).with_columns(pl.Series("x_customs_office", ["HCM-7", "NEW-9", None]))
    line = r.encoder.transform(probe)
    at = {n: i for i, n in enumerate(r.encoder.names)}
    np.testing.assert_array_equal(line[:, at["cat_x_customs_office"]], [1.0, np.nan, np.nan])
    counts = line[:, at["n_x_customs_office"]]
    assert counts[0] == (frame["x_customs_office"] == "HCM-7").sum() and counts[1] == 0 and counts[2] == 0
    te = line[:, at["te_x_customs_office"]]
    assert te[0] > 0.9 and np.isnan(te[1]) and np.isnan(te[2])  # unseen and null: unknown
    # the office decides the outcome here, so the ranker ranks every positive first
    scored = detector.score(frame)
    top = scored.head(int(truth.sum()))["x_customs_office"]
    assert (top == "HCM-7").all()


@pytest.fixture(scope="module")
def ranked_model(ranked, tmp_path_factory):
    """The ranked detector saved and loaded as a local model, as `waypoint score --model DIR` loads it."""
    from model_helpers import saved_model

    return saved_model(ranked, tmp_path_factory.mktemp("ranked") / "ranker-cli")


@pytest.fixture(scope="module")
def registered_ranker(ranked):
    """The ranked detector registered in the session's MLflow store, for its pyfunc."""
    from model_helpers import registered_model

    return registered_model(ranked, "ranker-cli")


def test_score_cli_writes_explore_column(small_world, ranked_model, tmp_path):
    from typer.testing import CliRunner

    from detector.cli.main import app

    assert ranked_model.detector.ranker is not None
    out = tmp_path / "scored.parquet"
    run = CliRunner().invoke(app, ["score", str(small_world["holdout"]), "--inputs", str(small_world["inputs"]),
                                   "--events", str(small_world["events"]), "--model", ranked_model.ref,
                                   "-o", str(out), "--top", "30", "--explore", "0.2"])
    assert run.exit_code == 0, run.output
    scored = pl.read_parquet(out)
    assert scored["explore"].sum() == 6 and scored["flagged"].sum() == 30
    assert {"forest_score", "ranker_score"} <= set(scored.columns)


@pytest.mark.slow
def test_pyfunc_with_a_ranker_returns_the_detectors_scores(small_world, registered_ranker, tmp_path):
    from pyfunc_helpers import predict_in_fresh_process, score_in_process

    pl.read_csv(small_world["holdout"], infer_schema=False).head(300).write_csv(tmp_path / "rows.csv")
    predicted = predict_in_fresh_process(f"models:/{registered_ranker.ref}", tmp_path / "rows.csv",
                                         tmp_path / "out.parquet")
    expected = score_in_process(registered_ranker.ref, tmp_path / "rows.csv", predicted.columns)
    assert "ranker_score" in predicted.columns
    assert predicted.equals(expected)


def test_scoring_reads_no_label_of_the_scored_lines(ranked, world):
    """The outcome profiles of scored lines come from the training counts: the scored file's
    own label column changes nothing."""
    holdout = world["holdout"]
    as_one = ranked.score(holdout.with_columns(pl.lit(1, pl.Int8).alias("label")), budget=0.02)
    as_zero = ranked.score(holdout.with_columns(pl.lit(0, pl.Int8).alias("label")), budget=0.02)
    assert as_one.drop("label").equals(as_zero.drop("label"))
    weeks = ranked.ranker.outcomes.weeks()
    first_scored_week = ((holdout["arrival_date"].min() - dt.date(1970, 1, 5)).days) // 7
    assert weeks is not None and weeks[1] <= first_scored_week  # the counts end with the training weeks


@pytest.fixture(scope="module")
def fraud_world(tmp_path_factory):
    """A world with general customs fraud, features built as `waypoint train` / `score` build them."""
    from detector.io.write import write_table
    from detector.synth import generate_world, write_world
    from features.state import fit_state

    out = tmp_path_factory.mktemp("fraud-world")
    world = generate_world(5000, seed=5, start=dt.date(2024, 1, 1), months=18, fraud_mix=0.1)
    files = write_world(world, out)
    cutoff = dt.date(2025, 3, 1)
    files["train"] = write_table(world.shipments.filter(pl.col("arrival_date") < cutoff), out / "train.csv")
    files["holdout"] = write_table(world.shipments.filter(pl.col("arrival_date") >= cutoff), out / "holdout.csv")
    shipments, inputs, events, train = _features(files, "train")
    state = fit_state(shipments.lazy(), inputs.lazy(), events)
    holdout = _features(files, "holdout", state=state)[3]
    train, holdout = _with_labels(train, files), _with_labels(holdout, files)
    from models.detector import add_ranker

    detector = _forest(train, state)
    # the forest weight the held-out pick gives on such worlds (models.ranker.pick_forest_weight)
    assert add_ranker(detector, train, train["_y"].cast(pl.Float64).to_numpy(), forest_weight=0.0) is None
    return {"detector": detector, "holdout": holdout}


def test_ranker_learns_general_fraud_from_the_line(fraud_world):
    detector, holdout = fraud_world["detector"], fraud_world["holdout"]
    scored = _metric_frame(detector.score(holdout, budget=0.05), holdout)
    y = scored["_y"].cast(pl.Float64).to_numpy()
    assert y.mean() > 0.08
    ranker = metrics.precision_recall_at(scored["risk_score"].to_numpy(), y, 0.05)[0]
    forest = metrics.precision_recall_at(scored["forest_score"].to_numpy(), y, 0.05)[0]
    assert ranker >= 0.9 and ranker > forest + 0.2
    assert metrics.roc_auc(scored["risk_score"].to_numpy(), y) >= 0.9


def test_an_undervalued_line_is_explained_by_its_own_price(fraud_world):
    detector, holdout = fraud_world["detector"], fraud_world["holdout"]
    scored = _metric_frame(detector.score(holdout, budget=0.05, explore=0.0), holdout)
    under = scored.filter(pl.col("flagged") & (pl.col("_scenario") == "undervaluation"))
    assert under.height >= 10
    priced = under.filter(pl.col("reason_codes").str.contains("LINE_PRICE_LOW"))
    assert priced.height >= 0.5 * under.height
    for row in priced.head(5).iter_rows(named=True):
        usd_kg = row["declared_value_usd"] / row["weight_kg"]
        sentence = next(s for s in row["reasons"].split(" | ") if "usual price of HS" in s)
        assert sentence.startswith(f"declared {usd_kg:.3g} USD/kg, ")
        assert f"HS {row['hs_code'][:6]}" in sentence
