"""Column mappings (detector.io.mapping) and the shipped examples."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from detector.errors import MappingError
from detector.io.mapping import Mapping, extra_name
from detector.io.read import load
from features.schema import SHIPMENTS

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = "ref,day,buyer,seller,tariff,origin,dispatch,value_eur,mass_t,office,vessel"


def mapping(tmp_path: Path, text: str) -> Mapping:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    return Mapping.from_toml(path)


BASE = """
[columns]
shipment_id = "ref"
arrival_date = "day"
importer_id = "buyer"
exporter_id = "seller"
hs_code = "tariff"
origin_country = "origin"
export_country = "dispatch"
declared_value_usd = "value_eur"
weight_kg = "mass_t"
[countries]
alpha3 = ["origin_country", "export_country"]
[multiply]
declared_value_usd = 1.5
weight_kg = "tonnes"
[hs]
digits = 8
[extra]
categorical = ["office"]
"""


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "f.csv"
    path.write_text(
        FOREIGN + "\n"
        "A1,2025-05-01,B1,S1,9011100,VNM,VNM,100,2.5,DEHAM,X\n"
        "A2,2025-05-02,B1,S1,61091000,CHN,THA,abc,1,DEHAM,X\n"
        "A3,2025-05-03,B1,S1,61091000,ZZZ,THA,10,1,DEHAM,X\n",
        encoding="utf-8",
    )
    return path


def test_mapping_renames_converts_units_codes_and_restores_hs_zeros(tmp_path, foreign):
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE))
    first = loaded.valid.row(0, named=True)
    assert first["shipment_id"] == "A1" and first["hs_code"] == "09011100"
    assert first["origin_country"] == "VN" and first["declared_value_usd"] == 150.0 and first["weight_kg"] == 2500.0
    assert first["x_office"] == "DEHAM"


def test_mapped_value_that_is_not_a_number_is_still_bad_number(tmp_path, foreign):
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE))
    rej = loaded.rejects
    assert rej["reason_codes"].to_list() == ["bad_number", "bad_origin_country"]
    assert "'abc'" in rej["reasons"][0] and "'ZZZ'" in rej["reasons"][1]
    assert rej["value_eur"][0] == "abc" and "ref" in rej.columns  # the source row as read


def test_unused_source_columns_are_reported(tmp_path, foreign):
    assert load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE)).extra_columns == ["vessel"]


def test_constants_fill_a_column_the_source_lacks(tmp_path, foreign):
    text = BASE.replace('export_country = "dispatch"\n', "").replace('alpha3 = ["origin_country", "export_country"]', 'alpha3 = ["origin_country"]')
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, text + '[constants]\nexport_country = "MY"\n'))
    assert set(loaded.valid["export_country"].to_list()) == {"MY"}


def test_extra_numeric_columns_are_kept_with_x_prefix(tmp_path, foreign):
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE + 'numeric = ["mass_t"]\n'))
    assert loaded.valid["x_mass_t"].to_list() == [2.5]
    assert extra_name("Gross Mass kg") == "x_gross_mass_kg"


def test_hs_digits_pad_integer_codes_from_parquet(tmp_path, foreign):
    pq = tmp_path / "f.parquet"
    pl.read_csv(foreign, infer_schema=False).with_columns(pl.col("tariff").cast(pl.Int64)).write_parquet(pq)
    loaded = load([pq], SHIPMENTS, mapping=mapping(tmp_path, BASE))
    assert loaded.valid["hs_code"].to_list() == ["09011100"]


def test_source_column_absent_from_the_file_is_a_mapping_error(tmp_path, foreign):
    with pytest.raises(MappingError, match="'mass_t'.*'nope'|'nope'") as err:
        load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE.replace('"ref"', '"nope"')))
    assert "f.csv" in str(err.value) and err.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[columns\nx=1", "not a valid TOML"),
        ("[colums]\nshipment_id = 'a'", "unknown section"),
        ("[multiply]\nweight_kg = 'stone'", "unknown unit 'stone'"),
        ("[multiply]\nweight_kg = -2", "positive number"),
        ("[hs]\ndigits = 4", "digits"),
        ("[columns]\nshipment_id = 3", "shipment_id"),
        ("[extra]\nnumeric = 'x'", "list of column names"),
    ],
)
def test_malformed_mapping_is_a_mapping_error_naming_the_file(tmp_path, text, needle):
    with pytest.raises(MappingError, match="m.toml") as err:
        mapping(tmp_path, text)
    assert needle in str(err.value)


def test_mapping_naming_a_column_outside_the_contract_is_refused(tmp_path, foreign):
    with pytest.raises(MappingError, match="'weight_lb' is not a column of shipments"):
        load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE + '[constants]\nweight_lb = 1\n'))


def test_unreadable_mapping_file_is_a_mapping_error(tmp_path):
    with pytest.raises(MappingError, match="cannot read"):
        Mapping.from_toml(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", ["bill_of_lading", "national_declaration"])
def test_shipped_example_mappings_map_their_example_files_cleanly(name):
    m = Mapping.from_toml(ROOT / "examples" / "mappings" / f"{name}.toml")
    loaded = load([ROOT / "examples" / "foreign" / f"{name}.csv"], SHIPMENTS, mapping=m)
    assert loaded.rejects.height == 0 and loaded.valid.height == loaded.rows_read > 0
    assert set(loaded.valid["origin_country"].to_list()) <= {"VN", "TH", "MY", "KH", "CN"}
    assert loaded.valid["hs_code"].str.contains(r"^\d{6,10}$").all()


def test_bill_of_lading_example_converts_tonnes_to_kg():
    m = Mapping.from_toml(ROOT / "examples" / "mappings" / "bill_of_lading.toml")
    loaded = load([ROOT / "examples" / "foreign" / "bill_of_lading.csv"], SHIPMENTS, mapping=m)
    assert loaded.valid["weight_kg"][0] == 1250.0 and loaded.valid["hs_code"][1] == "850440"
    assert m.extra_numeric == ("container_count",) and "x_container_count" in loaded.valid.columns


def test_national_declaration_example_restores_leading_zero_and_converts_eur():
    m = Mapping.from_toml(ROOT / "examples" / "mappings" / "national_declaration.toml")
    loaded = load([ROOT / "examples" / "foreign" / "national_declaration.csv"], SHIPMENTS, mapping=m)
    assert loaded.valid["hs_code"].to_list() == ["85044083", "09011100", "61091000", "08044000"]
    assert loaded.valid["declared_value_usd"][0] == pytest.approx(15400 * 1.08)
    assert m.extra_categorical == ("Customs Office",) and loaded.valid["x_customs_office"][0] == "DEHAM"


def test_hs_digits_restores_only_one_lost_zero(tmp_path, foreign):
    text = foreign.read_text(encoding="utf-8").replace("9011100", "12")
    foreign.write_text(text, encoding="utf-8")
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE))
    assert "bad_hs_code" in loaded.rejects["reason_codes"][0]
