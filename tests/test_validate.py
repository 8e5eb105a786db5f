"""Row rules of the contract (features.validate), on small in-memory frames."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from contract_helpers import GOOD_ROW as GOOD
from features.schema import EVENTS, LABELS, SHIPMENTS
from features.validate import ALPHA2, ALPHA3_TO_ALPHA2, validate


def run(rows: list[dict], table=SHIPMENTS) -> pl.DataFrame:
    frame = pl.DataFrame([{**GOOD, **r} for r in rows] if table is SHIPMENTS else rows)
    return validate(frame.lazy(), table).collect()


def codes(**overrides) -> str:
    return run([overrides])["reason_codes"][0]


def test_valid_row_is_typed_as_the_contract_schema():
    out = run([{}])
    assert out["_ok"].to_list() == [True]
    assert out.drop("_ok", "reason_codes", "reasons").schema == SHIPMENTS.schema
    assert out["arrival_date"][0] == dt.date(2025, 3, 1)
    assert out["declared_value_usd"][0] == 1000.0


@pytest.mark.parametrize("value", ["2025-13-01", "01/03/2025", "2025-02-30", "soon"])
def test_unparseable_date_is_bad_date(value):
    assert codes(arrival_date=value) == "bad_date"


@pytest.mark.parametrize("column", ["shipment_id", "importer_id", "hs_code", "origin_country", "weight_kg"])
def test_missing_required_value_is_missing_column(column):
    assert codes(**{column: None}) == f"missing_{column}"


def test_blank_required_value_counts_as_missing():
    assert codes(importer_id="   ") == "missing_importer_id"


def test_surrounding_blanks_are_stripped_before_parsing():
    out = run([{"declared_value_usd": " 12.5 ", "arrival_date": "2025-03-01 ", "origin_country": " cn"}])
    assert out["_ok"][0] and out["declared_value_usd"][0] == 12.5 and out["origin_country"][0] == "CN"


@pytest.mark.parametrize("value", ["abc", "1,000", "nan", "inf"])
def test_value_that_is_not_a_finite_number_is_bad_number(value):
    assert codes(declared_value_usd=value) == "bad_number"


@pytest.mark.parametrize(("column", "code"), [("declared_value_usd", "non_positive_value"), ("weight_kg", "non_positive_weight")])
@pytest.mark.parametrize("value", ["0", "-3.5"])
def test_zero_or_negative_value_and_weight_are_rejected(column, code, value):
    assert codes(**{column: value}) == code


@pytest.mark.parametrize("column", ["quantity", "duty_rate"])
def test_negative_quantity_and_duty_rate_are_rejected_but_zero_is_fine(column):
    assert codes(**{column: "-1"}) == f"negative_{column}"
    assert codes(**{column: "0"}) == ""


def test_hs_code_dots_and_spaces_are_removed_and_leading_zeros_kept():
    out = run([{"shipment_id": "a", "hs_code": "8504.40"}, {"shipment_id": "b", "hs_code": "0101 21"}])
    assert out["hs_code"].to_list() == ["850440", "010121"]
    assert out["_ok"].all()


@pytest.mark.parametrize("value", ["85044", "85044099001", "8504AB", "12"])
def test_hs_code_not_6_to_10_digits_is_bad_hs_code(value):
    assert codes(hs_code=value) == "bad_hs_code"


def test_integer_hs_code_with_odd_digit_count_gets_its_leading_zero_back():
    frame = pl.DataFrame([GOOD] * 4).with_columns(
        shipment_id=pl.Series(["a", "b", "c", "d"]), hs_code=pl.Series([61091000, 8504400, 85044, 6110], dtype=pl.Int64)
    )
    out = validate(frame.lazy(), SHIPMENTS).collect()
    assert out["hs_code"].to_list() == ["61091000", "08504400", "085044", "6110"]
    assert out["reason_codes"].to_list() == ["", "", "", "bad_hs_code"]


def test_country_codes_are_upper_cased_and_checked_against_iso_3166():
    assert run([{"origin_country": "cn"}])["origin_country"][0] == "CN"
    assert codes(origin_country="ZZ") == "bad_origin_country"
    assert codes(export_country="VNM") == "bad_export_country"
    assert codes(origin_country="XK") == "bad_origin_country"  # user-assigned, not ISO


def test_iso_table_is_complete():
    assert len(ALPHA2) == 249 and ALPHA3_TO_ALPHA2["VNM"] == "VN" and ALPHA3_TO_ALPHA2["CHN"] == "CN"


@pytest.mark.parametrize("value", ["2", "yes", "-1", "0.5"])
def test_label_other_than_0_or_1_is_bad_label(value):
    assert codes(label=value) == "bad_label"


def test_label_0_and_1_are_typed_int8():
    out = run([{"shipment_id": "a", "label": "1"}, {"shipment_id": "b", "label": "0"}])
    assert out["label"].to_list() == [1, 0] and out["label"].dtype == pl.Int8


def test_replacement_character_from_lossy_decoding_is_bad_encoding():
    assert codes(goods_description="caf\ufffd") == "bad_encoding"


def test_duplicate_key_keeps_the_first_occurrence():
    out = run([{"shipment_id": "S1"}, {"shipment_id": "S2"}, {"shipment_id": "S1"}])
    assert out["reason_codes"].to_list() == ["", "", "duplicate_shipment_id"]


def test_every_broken_rule_of_a_row_is_reported_with_column_and_value():
    out = run([{"arrival_date": "x", "weight_kg": "-2"}])
    assert out["reason_codes"][0] == "bad_date,non_positive_weight"
    assert "arrival_date" in out["reasons"][0] and "'x'" in out["reasons"][0] and "weight_kg" in out["reasons"][0]


def test_parquet_native_types_are_accepted():
    frame = pl.DataFrame([GOOD]).with_columns(
        arrival_date=pl.lit(dt.datetime(2025, 3, 1, 8, 30)), declared_value_usd=pl.lit(1000), weight_kg=pl.lit(2.5), label=pl.lit(True)
    )
    out = validate(frame.lazy(), SHIPMENTS).collect()
    assert out["_ok"][0] and out["arrival_date"][0] == dt.date(2025, 3, 1) and out["label"][0] == 1


def test_impossible_column_type_is_a_schema_problem():
    frame = pl.DataFrame([GOOD]).with_columns(arrival_date=pl.lit(True))
    with pytest.raises(ValueError, match="arrival_date"):
        validate(frame.lazy(), SHIPMENTS)


def test_every_missing_required_column_is_named_at_once():
    with pytest.raises(ValueError, match="importer_id.*weight_kg"):
        validate(pl.DataFrame([GOOD]).drop("importer_id", "weight_kg").lazy(), SHIPMENTS)


def test_events_accept_an_empty_hs_prefix_meaning_all_lines():
    rows = [
        {"effective_date": "2025-04-09", "origin_country": "CN", "hs_prefix": None, "added_duty_rate": "0.5", "name": "a"},
        {"effective_date": "2025-04-09", "origin_country": "CN", "hs_prefix": "85.04", "added_duty_rate": "0.25", "name": "b"},
        {"effective_date": "2025-04-09", "origin_country": "CN", "hs_prefix": "85x", "added_duty_rate": "0.25", "name": "c"},
    ]
    out = run(rows, EVENTS)
    assert out["hs_prefix"].to_list()[:2] == ["", "8504"]
    assert out["reason_codes"].to_list() == ["", "", "bad_hs_prefix"]


def test_labels_table_requires_a_label():
    out = run([{"shipment_id": "a", "label": None}, {"shipment_id": "b", "label": "1"}], LABELS)
    assert out["reason_codes"].to_list() == ["missing_label", ""]


def test_float_hs_code_from_parquet_must_be_a_whole_number():
    frame = pl.DataFrame([GOOD] * 2).with_columns(
        shipment_id=pl.Series(["a", "b"]), hs_code=pl.Series([610910.0, 6109.5])
    )
    out = validate(frame.lazy(), SHIPMENTS).collect()
    assert out["hs_code"][0] == "610910"
    assert out["reason_codes"].to_list() == ["", "bad_hs_code"]
