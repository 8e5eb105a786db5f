"""Row rules of the contract (features.validate), on small in-memory frames.

Score or reject: a shipment line is rejected only when it cannot be keyed or placed in
time; every other defect is scored with a data-quality code (``dq_codes``) and the value
read as unknown (or at the level it can be). ``strict=True`` rejects on every rule.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from contract_helpers import GOOD_ROW as GOOD
from features.schema import EVENTS, INPUTS, LABELS, SHIPMENTS
from features.validate import ALPHA2, ALPHA3_TO_ALPHA2, validate

OUT = ["_ok", "reason_codes", "reasons", "dq_codes", "dq_notes"]


def run(rows: list[dict], table=SHIPMENTS, strict: bool = False) -> pl.DataFrame:
    frame = pl.DataFrame([{**GOOD, **r} for r in rows] if table is SHIPMENTS else rows)
    return validate(frame.lazy(), table, strict=strict).collect()


def codes(**overrides) -> str:
    """Codes that reject the row (strict: every rule rejects)."""
    return run([overrides], strict=True)["reason_codes"][0]


def rejected(**overrides) -> str:
    """Codes that reject the row under the default (score-or-reject) policy."""
    return run([overrides])["reason_codes"][0]


def scored(**overrides) -> dict:
    """The row as the default policy scores it (must not be rejected)."""
    out = run([overrides])
    assert out["_ok"][0], out["reasons"][0]
    return out.row(0, named=True)


def test_valid_row_is_typed_as_the_contract_schema():
    out = run([{}])
    assert out["_ok"].to_list() == [True]
    assert out.drop(OUT).schema == SHIPMENTS.schema
    assert out["arrival_date"][0] == dt.date(2025, 3, 1)
    assert out["declared_value_usd"][0] == 1000.0
    assert out["dq_codes"][0] is None and out["reason_codes"][0] == ""


@pytest.mark.parametrize("value", ["2025-13-01", "01/03/2025", "2025-02-30", "soon", "0001-01-01", "2999-12-31", "1899-12-31"])
def test_unparseable_or_implausible_date_rejects_the_line(value):
    assert rejected(arrival_date=value) == "bad_date"


def test_dates_from_1900_to_2100_are_accepted():
    assert scored(arrival_date="1900-01-01")["arrival_date"] == dt.date(1900, 1, 1)
    assert scored(arrival_date="2100-12-31")["arrival_date"] == dt.date(2100, 12, 31)


def test_parquet_date_outside_1900_to_2100_rejects_the_line():
    frame = pl.DataFrame([GOOD]).with_columns(arrival_date=pl.lit(dt.date(1, 1, 1)))
    assert validate(frame.lazy(), SHIPMENTS).collect()["reason_codes"][0] == "bad_date"


@pytest.mark.parametrize("column", ["shipment_id", "arrival_date"])
def test_missing_key_or_date_rejects_the_line(column):
    assert rejected(**{column: None}) == f"missing_{column}"


@pytest.mark.parametrize("column", ["importer_id", "exporter_id", "hs_code", "origin_country", "export_country", "declared_value_usd", "weight_kg"])
def test_missing_other_required_value_is_scored_with_missing_code(column):
    row = scored(**{column: None})
    assert row["dq_codes"] == f"missing_{column}"
    assert column in row["dq_notes"] and "missing" in row["dq_notes"]


@pytest.mark.parametrize("column", ["importer_id", "hs_code", "origin_country", "weight_kg"])
def test_strict_mode_rejects_a_missing_required_value(column):
    assert codes(**{column: None}) == f"missing_{column}"


def test_each_line_with_a_blank_party_is_its_own_unknown_party():
    out = run([{"shipment_id": "A", "exporter_id": ""}, {"shipment_id": "B", "exporter_id": "  "},
               {"shipment_id": "C", "importer_id": None}])
    assert out["_ok"].all()
    assert out["exporter_id"].to_list() == ["unknown-exporter:A", "unknown-exporter:B", "EXP1"]
    assert out["importer_id"].to_list() == ["IMP1", "IMP1", "unknown-importer:C"]
    assert out["dq_codes"].to_list() == ["missing_exporter_id", "missing_exporter_id", "missing_importer_id"]


def test_blank_required_value_counts_as_missing():
    assert codes(importer_id="   ") == "missing_importer_id"


def test_surrounding_blanks_are_stripped_before_parsing():
    out = run([{"declared_value_usd": " 12.5 ", "arrival_date": "2025-03-01 ", "origin_country": " cn"}])
    assert out["_ok"][0] and out["declared_value_usd"][0] == 12.5 and out["origin_country"][0] == "CN"
    assert out["dq_codes"][0] is None


@pytest.mark.parametrize(("column", "code"), [("declared_value_usd", "bad_value"), ("weight_kg", "bad_weight")])
@pytest.mark.parametrize("value", ["abc", "1,000", "nan", "inf"])
def test_value_that_is_not_a_finite_number_is_scored_as_unknown(column, code, value):
    row = scored(**{column: value})
    assert row[column] is None and row["dq_codes"] == code and f"'{value}'" in row["dq_notes"]
    assert codes(**{column: value}) == code


@pytest.mark.parametrize(("column", "code"), [("declared_value_usd", "non_positive_value"), ("weight_kg", "non_positive_weight")])
@pytest.mark.parametrize("value", ["0", "-3.5"])
def test_zero_or_negative_value_and_weight_are_scored_as_unknown(column, code, value):
    row = scored(**{column: value})
    assert row[column] is None and row["dq_codes"] == code
    assert codes(**{column: value}) == code


@pytest.mark.parametrize(("column", "value", "code"), [
    ("declared_value_usd", "1e17", "absurd_value"), ("declared_value_usd", "0.001", "absurd_value"),
    ("weight_kg", "1e15", "absurd_weight"), ("weight_kg", "1e-9", "absurd_weight"),
])
def test_absurd_magnitudes_are_scored_as_unknown(column, value, code):
    row = scored(**{column: value})
    assert row[column] is None and row["dq_codes"] == code
    assert codes(**{column: value}) == code


def test_amounts_at_the_bounds_are_kept():
    row = scored(declared_value_usd="1e9", weight_kg="1e-6")
    assert row["declared_value_usd"] == 1e9 and row["weight_kg"] == 1e-6 and row["dq_codes"] is None


@pytest.mark.parametrize("column", ["quantity", "duty_rate"])
def test_negative_quantity_and_duty_rate_are_scored_as_unknown_but_zero_is_fine(column):
    row = scored(**{column: "-1"})
    assert row[column] is None and row["dq_codes"] == f"negative_{column}"
    assert codes(**{column: "-1"}) == f"negative_{column}"
    assert scored(**{column: "0"})["dq_codes"] is None


def test_nan_duty_rate_is_scored_as_unknown():
    row = scored(duty_rate="NaN")
    assert row["duty_rate"] is None and row["dq_codes"] == "bad_duty_rate"


def test_hs_code_dots_and_spaces_are_removed_and_leading_zeros_kept():
    out = run([{"shipment_id": "a", "hs_code": "8504.40"}, {"shipment_id": "b", "hs_code": "0101 21"}])
    assert out["hs_code"].to_list() == ["850440", "010121"]
    assert out["_ok"].all() and out["dq_codes"].is_null().all()


@pytest.mark.parametrize(("value", "code", "used"), [
    ("85044", "short_hs_code", "85044"), ("85", "short_hs_code", "85"),
    ("850440990012", "long_hs_code", "8504409900"),
    ("8504AB", "bad_hs_code", "8504"), ("85X4", "bad_hs_code", "85"), ("X850", "bad_hs_code", None), ("8", "bad_hs_code", None),
])
def test_short_or_malformed_hs_code_is_used_at_the_level_it_can_be(value, code, used):
    row = scored(hs_code=value)
    assert row["hs_code"] == used and row["dq_codes"] == code
    assert codes(hs_code=value) == code


def test_full_width_digits_in_hs_codes_are_normalised():
    row = scored(hs_code="８５０４．４０")
    assert row["hs_code"] == "850440" and row["dq_codes"] is None


def test_integer_hs_code_with_odd_digit_count_gets_its_leading_zero_back():
    frame = pl.DataFrame([GOOD] * 4).with_columns(
        shipment_id=pl.Series(["a", "b", "c", "d"]), hs_code=pl.Series([61091000, 8504400, 85044, 6110], dtype=pl.Int64)
    )
    out = validate(frame.lazy(), SHIPMENTS).collect()
    assert out["hs_code"].to_list() == ["61091000", "08504400", "085044", "6110"]
    assert out["dq_codes"].to_list() == [None, None, None, "short_hs_code"]


def test_country_codes_are_upper_cased_and_checked_against_iso_3166():
    assert run([{"origin_country": "cn"}])["origin_country"][0] == "CN"
    assert codes(origin_country="ZZ") == "bad_origin_country"
    assert codes(export_country="VNM") == "bad_export_country"
    assert codes(origin_country="XK") == "bad_origin_country"  # user-assigned, not ISO


@pytest.mark.parametrize("value", ["ZZ", "XX", "QU", "EU", "Vietnam"])
def test_unknown_or_reserved_country_code_is_scored_as_unknown_country(value):
    row = scored(origin_country=value)
    assert row["origin_country"] is None and row["dq_codes"] == "bad_origin_country" and f"'{value}'" in row["dq_notes"]


def test_iso_table_is_complete():
    assert len(ALPHA2) == 249 and ALPHA3_TO_ALPHA2["VNM"] == "VN" and ALPHA3_TO_ALPHA2["CHN"] == "CN"


@pytest.mark.parametrize("value", ["2", "yes", "-1", "0.5"])
def test_label_other_than_0_or_1_is_scored_as_unknown_label(value):
    row = scored(label=value)
    assert row["label"] is None and row["dq_codes"] == "bad_label"
    assert codes(label=value) == "bad_label"


def test_label_0_and_1_are_typed_int8():
    out = run([{"shipment_id": "a", "label": "1"}, {"shipment_id": "b", "label": "0"}])
    assert out["label"].to_list() == [1, 0] and out["label"].dtype == pl.Int8


def test_replacement_character_in_free_text_is_scored_and_kept():
    row = scored(goods_description="caf\ufffd")
    assert row["goods_description"] == "caf\ufffd" and row["dq_codes"] == "bad_encoding"
    assert codes(goods_description="caf\ufffd") == "bad_encoding"


def test_replacement_character_in_the_key_or_date_rejects_the_line():
    assert rejected(shipment_id="S\ufffd1") == "bad_encoding"
    assert "bad_encoding" in rejected(arrival_date="2025-03-01\ufffd")


@pytest.mark.parametrize("value", ["S\x001", "S\n1", "S\t1", "S\x1b[31m1"])
def test_key_with_control_characters_rejects_the_line(value):
    out = run([{"shipment_id": value}])
    assert not out["_ok"][0] and out["reason_codes"][0] == "bad_shipment_id"


def test_duplicate_key_keeps_the_first_occurrence():
    out = run([{"shipment_id": "S1"}, {"shipment_id": "S2"}, {"shipment_id": "S1"}])
    assert out["reason_codes"].to_list() == ["", "", "duplicate_shipment_id"]


def test_every_broken_rule_of_a_row_is_reported_with_column_and_value():
    out = run([{"arrival_date": "x", "weight_kg": "-2"}], strict=True)
    assert out["reason_codes"][0] == "bad_date,non_positive_weight"
    assert "arrival_date" in out["reasons"][0] and "'x'" in out["reasons"][0] and "weight_kg" in out["reasons"][0]


def test_scored_and_rejecting_rules_are_reported_apart():
    out = run([{"arrival_date": "x", "weight_kg": "-2", "origin_country": "ZZ"}])
    assert out["reason_codes"][0] == "bad_date" and not out["_ok"][0]
    assert out["dq_codes"][0] == "bad_origin_country,non_positive_weight"
    assert "weight_kg" in out["dq_notes"][0] and "read as unknown" in out["dq_notes"][0]


def test_strict_mode_keeps_the_dq_columns_empty():
    out = run([{}], strict=True)
    assert out["dq_codes"].null_count() == 1 and out["_ok"][0]


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


def test_side_tables_reject_every_defect():
    row = {"input_id": "I1", "arrival_date": "2025-01-01", "importer_id": "", "supplier_country": "ZZ",
           "hs_code": "85", "declared_value_usd": "0", "weight_kg": "1"}
    out = run([row], INPUTS)
    assert not out["_ok"][0]
    assert out["reason_codes"][0] == "missing_importer_id,bad_supplier_country,short_hs_code,non_positive_value"
    assert "dq_codes" not in out.columns


def test_labels_table_requires_a_label():
    out = run([{"shipment_id": "a", "label": None}, {"shipment_id": "b", "label": "1"}, {"shipment_id": "c", "label": "7"}], LABELS)
    assert out["reason_codes"].to_list() == ["missing_label", "", "bad_label"]


def test_float_hs_code_from_parquet_must_be_a_whole_number():
    frame = pl.DataFrame([GOOD] * 2).with_columns(
        shipment_id=pl.Series(["a", "b"]), hs_code=pl.Series([610910.0, 6109.5])
    )
    out = validate(frame.lazy(), SHIPMENTS).collect()
    assert out["hs_code"].to_list() == ["610910", None]
    assert out["dq_codes"].to_list() == [None, "bad_hs_code"]
