"""On a generated world, the first reason of a flagged transshipment is one of its scenario's own signals."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from detector.jobs.train import usable_features
from detector.synth.world import generate_world
from features.pipeline import build
from features.registry import FEATURE_NAMES
from models.detector import fit

#: Reason codes each transshipment scenario plants (read from detector/synth/scenarios.py):
#: Chinese inputs of the same line (VA_*), China's price level (PRICE_*), Chinese manufacturer
#: IDs (CONS_MID_*), buyers switching away from China (OS_NEW_SUPPLIER, OS_SHARE_DROP), and
#: the same Chinese inputs summed over the route, rising with its exports (ROUTE_SUSPECT);
#: shells also load in Chinese ports and are new, broad, fast-growing exporters.
_COMMON = {
    "VA_PASS_THROUGH", "VA_LOW_VALUE_ADDED", "VA_TARIFFED_CONTENT", "PRICE_PARITY", "PRICE_LOW",
    "CONS_MID_COUNTRY", "CONS_MID_TARIFFED", "OS_NEW_SUPPLIER", "OS_SHARE_DROP", "ROUTE_SUSPECT",
}
SIGNALS = {
    "transship_product_line": _COMMON,
    "transship_shell": _COMMON | {"CONS_LADING_COUNTRY", "ENT_NEW_EXPORTER", "ENT_NEW_EXPORTER_SURGE", "ENT_BROAD_EXPORTER"},
}


@pytest.mark.slow
def test_first_reason_of_flagged_transshipment_is_its_own_signal():
    world = generate_world(20_000, seed=3, start=dt.date(2024, 1, 1), months=12)
    features = build(world.shipments.lazy(), inputs=world.inputs.lazy(), events=world.events)
    usable, _ = usable_features(features, FEATURE_NAMES)  # as training does: known_party needs a list
    model = fit(features, usable, n_estimators=100, seed=0)
    scored = model.score(features, budget=0.02).join(world.labels, on="shipment_id")
    flagged = scored.filter(pl.col("flagged") & pl.col("scenario").is_in(list(SIGNALS)))
    assert flagged.height >= 100  # the forest finds them at all
    first = flagged.select("scenario", pl.col("reason_codes").str.split(",").list.first().alias("first")).rows()
    own = sum(code in SIGNALS[scenario] for scenario, code in first)
    assert own / len(first) >= 0.8
