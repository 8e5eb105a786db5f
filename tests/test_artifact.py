"""The saved detector: exact round trip, no pickle, every file verified, contract checked."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from models import artifact
from models.artifact import ArtifactError


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    return pl.DataFrame(
        {
            "shipment_id": [f"S{i:04d}" for i in range(n)],
            "arrival_date": pl.date_range(pl.date(2025, 1, 1), pl.date(2025, 1, 1), eager=True).to_list() * n,
            "price_ratio": rng.lognormal(size=n),
            "value_added": rng.normal(size=n),
        }
    ).with_columns(pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise(pl.col("value_added")).alias("value_added"))


@pytest.fixture(scope="module")
def detector(frame):
    from models.detector import fit

    return fit(frame, ["price_ratio", "value_added"], directions={"price_ratio": "lower", "value_added": "both"}, n_estimators=25, seed=3)


def test_saved_detector_scores_exactly_like_the_original(detector, frame, tmp_path):
    loaded = artifact.load(artifact.save(detector, tmp_path / "det"))
    assert loaded.score(frame).equals(detector.score(frame))
    assert loaded.threshold == detector.threshold
    assert loaded.feature_names == detector.feature_names
    assert loaded.trained_span == detector.trained_span
    assert loaded.params["n_estimators"] == 25


def test_saved_detector_holds_no_pickle_and_lists_every_file(detector, tmp_path):
    root = artifact.save(detector, tmp_path / "det")
    manifest = json.loads((root / artifact.MANIFEST).read_text())
    assert set(manifest["files"]) == {artifact.FOREST, artifact.FLAT, artifact.META}
    assert not list(root.rglob("*.pkl")) and not list(root.rglob("*.pickle"))


def test_loaded_detector_scores_from_flat_arrays_and_loads_the_forest_only_on_demand(detector, tmp_path):
    root = artifact.save(detector, tmp_path / "det")
    loaded = artifact.load(root)
    assert loaded.forest is None  # scoring needs neither skops nor scikit-learn
    shutil.rmtree(root)  # a model downloaded from MLflow lives in a temporary directory
    X = np.random.default_rng(0).normal(size=(50, len(detector.feature_names))).astype(np.float32)
    assert np.array_equal(loaded.anomaly(X), detector.anomaly(X))
    assert np.array_equal(loaded.sklearn_forest().score_samples(X), detector.forest.score_samples(X))


def test_tampered_flat_arrays_are_refused(detector, tmp_path):
    root = artifact.save(detector, tmp_path / "det")
    data = bytearray((root / artifact.FLAT).read_bytes())
    data[-40] ^= 0xFF
    (root / artifact.FLAT).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"flat\.npz"):
        artifact.load(root)


def test_tampered_metadata_is_refused_naming_the_file(detector, tmp_path):
    root = artifact.save(detector, tmp_path / "det")
    meta = json.loads((root / artifact.META).read_text())
    meta["threshold"] = -1.0
    (root / artifact.META).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"detector\.json: SHA-256 does not match"):
        artifact.load(root)


def test_tampered_forest_is_refused(detector, tmp_path):
    root = artifact.save(detector, tmp_path / "det")
    with open(root / artifact.FOREST, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match=r"forest\.skops"):
        artifact.load(root)


def test_added_and_missing_files_are_refused(detector, tmp_path):
    root = artifact.save(detector, tmp_path / "det")
    (root / "extra.py").write_text("print('hi')\n")
    with pytest.raises(ArtifactError, match="not in the manifest.*extra.py"):
        artifact.load(root)
    (root / "extra.py").unlink()
    (root / artifact.FOREST).unlink()
    with pytest.raises(ArtifactError, match="missing: forest.skops"):
        artifact.load(root)


def test_model_of_another_contract_major_version_is_refused(detector, tmp_path):
    root = artifact.save(replace(detector, contract_version="2.0"), tmp_path / "det")
    with pytest.raises(ArtifactError, match="contract 2.0.*contract 1"):
        artifact.load(root)


def test_same_major_contract_version_is_accepted(detector, tmp_path):
    root = artifact.save(replace(detector, contract_version="1.9"), tmp_path / "det")
    assert artifact.load(root).contract_version == "1.9"


def test_input_lacking_feature_columns_is_refused_naming_them(detector, frame):
    with pytest.raises(ArtifactError, match="lacks feature column.*value_added"):
        artifact.check_input(detector, frame.drop("value_added").columns)


def test_save_refuses_a_non_empty_directory(detector, tmp_path):
    (tmp_path / "det").mkdir()
    (tmp_path / "det" / "old.txt").write_text("x")
    with pytest.raises(ArtifactError, match="not empty"):
        artifact.save(detector, tmp_path / "det")


def test_forest_loads_only_with_the_declared_trusted_types(detector, tmp_path):
    import skops.io as sio

    root = artifact.save(detector, tmp_path / "det")
    assert set(sio.get_untrusted_types(file=root / artifact.FOREST)) <= set(artifact.TRUSTED_TYPES)


def _with_state(detector, events: pl.DataFrame):
    from features.state import fit_state
    from features.schema import SHIPMENTS

    return replace(detector, state=fit_state(pl.LazyFrame(schema=SHIPMENTS.schema), None, events))


def _events(**extra) -> pl.DataFrame:
    import datetime as dt

    from features.schema import EVENTS

    row = {"effective_date": dt.date(2025, 2, 1), "importing_country": "US", "origin_country": "CN", "hs_prefix": "85",
           "added_duty_rate": 0.25, "name": "a measure", "source": "90 FR 1"} | extra
    return pl.DataFrame([row], schema=EVENTS.schema)


def test_saved_detector_records_the_digest_of_the_events_it_was_trained_with(detector, tmp_path):
    from features.families.tariff import events_digest

    events = _events()
    root = artifact.save(_with_state(detector, events), tmp_path / "det")
    assert json.loads((root / artifact.META).read_text())["events_digest"] == events_digest(events)
    loaded = artifact.load(root)
    assert loaded.state.events.equals(events)


def test_a_model_saved_before_events_had_an_importing_country_reads_them_as_naming_none(detector, tmp_path):
    events = _events()
    root = artifact.save(_with_state(detector, events), tmp_path / "det")
    # The layout of an older model: events without the two optional columns, no events digest.
    old = events.drop("importing_country", "source")
    old.write_parquet(root / artifact.STATE_DIR / "events.parquet")
    meta = json.loads((root / artifact.META).read_text())
    del meta["events_digest"]
    (root / artifact.META).write_text(json.dumps(meta))
    manifest = json.loads((root / artifact.MANIFEST).read_text())
    for name in manifest["files"]:
        manifest["files"][name] = artifact.sha256(root / name)
    (root / artifact.MANIFEST).write_text(json.dumps(manifest))
    loaded = artifact.load(root)
    assert loaded.state.events["importing_country"].to_list() == [None]
    assert loaded.state.events.columns == events.columns
