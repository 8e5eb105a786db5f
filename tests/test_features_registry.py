"""Feature registry: names, directions, reason sentences, the generated dictionary."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from features.docs import render
from features.registry import FEATURE_NAMES, REGISTRY, by_name, reason_expr, reason_exprs

REPO = Path(__file__).resolve().parents[1]


def test_registry_names_and_reason_codes_are_unique_and_directions_valid():
    assert len(set(FEATURE_NAMES)) == len(REGISTRY)
    assert len({f.reason_code for f in REGISTRY}) == len(REGISTRY)
    assert {f.direction for f in REGISTRY} <= {"higher", "lower"}
    assert set(by_name()) == set(FEATURE_NAMES)


def test_each_required_family_has_features():
    families = {f.family for f in REGISTRY}
    assert {"value_added", "price", "origin_switch", "consistency", "entities", "tariff"} <= families


def test_reason_sentence_carries_the_rows_numbers():
    f = by_name()["va_pass_through_share"]
    df = pl.DataFrame({"va_pass_through_share": [0.963, None], "ev_tariffed_origin": ["CN", "CN"]})
    out = df.select(reason_expr(f)).to_series().to_list()
    assert out == ["inputs of the same HS code from CN cover 96% of the exporter's recent declared exports", None]


def test_reason_sentence_shows_missing_evidence_as_question_mark_and_decimals():
    f = by_name()["price_parity_tariffed"]
    df = pl.DataFrame({
        "price_parity_tariffed": [0.4], "ev_unit_value_kg": [10.256], "ev_tariffed_origin": [None],
        "ev_norm_uv_tariffed": [10.0], "origin_country": ["VN"], "ev_norm_uv_declared": [16.5],
    }, schema_overrides={"ev_tariffed_origin": pl.String})
    assert df.select(reason_expr(f)).item() == "10.26 USD/kg is closer to the ? norm (10.0) than to the VN norm (16.5)"


def test_every_reason_template_renders_on_a_built_frame():
    from test_features_pipeline import small_world

    from features.pipeline import build

    ships, ins, events = small_world(n=120)
    built = build(ships.lazy(), inputs=ins.lazy(), events=events)
    reasons = built.select(reason_exprs())
    for f in REGISTRY:
        col = reasons[f"reason_{f.name}"]
        assert col.null_count() == built[f.name].null_count(), f.name


def test_feature_dictionary_is_current():
    assert (REPO / "docs" / "features.md").read_text() == render(), "run `waypoint features docs`"


def test_feature_dictionary_documents_every_feature():
    text = render()
    for f in REGISTRY:
        assert f"`{f.name}`" in text and f.reason_code in text
