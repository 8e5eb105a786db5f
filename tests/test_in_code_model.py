"""The in-code model of the test fixtures is the model `waypoint train` registers on the same files."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_the_in_code_model_scores_every_holdout_line_like_the_registered_model(small_world, trained_model, fitted_model):
    from detector.io.read import load, load_side_tables
    from features.pipeline import build
    from features.schema import SHIPMENTS

    assert fitted_model.version == "local" and "mlflow" not in fitted_model.ref
    rows = load([small_world["holdout"]], SHIPMENTS).valid.drop("_source", "_line")
    inputs, events = load_side_tables([small_world["inputs"]], [small_world["events"]])
    state = trained_model.detector.state
    frame = build(rows.lazy(), inputs=inputs.valid.lazy(), events=events.valid, state=state)
    registered, fitted = trained_model.detector, fitted_model.detector
    assert fitted.feature_names == registered.feature_names
    assert fitted.params == registered.params
    assert fitted.state.digest() == state.digest()
    assert fitted.score(frame, budget=0.02).equals(registered.score(frame, budget=0.02))
