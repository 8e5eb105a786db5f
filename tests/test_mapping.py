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


def test_mapped_value_that_is_not_a_number_is_still_bad_value(tmp_path, foreign):
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE))
    assert loaded.rejects.height == 0
    assert loaded.valid["dq_codes"].to_list() == [None, "bad_value", "bad_origin_country"]
    notes = loaded.valid["dq_notes"].to_list()
    assert "'abc'" in notes[1] and "'ZZZ'" in notes[2]
    rej = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE), strict=True).rejects
    assert rej["reason_codes"].to_list() == ["bad_value", "bad_origin_country"]
    assert rej["value_eur"][0] == "abc" and "ref" in rej.columns  # the source row as read


def test_unused_source_columns_are_reported(tmp_path, foreign):
    assert load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE)).extra_columns == ["vessel"]


def test_constants_fill_a_column_the_source_lacks(tmp_path, foreign):
    text = BASE.replace('export_country = "dispatch"\n', "").replace('alpha3 = ["origin_country", "export_country"]', 'alpha3 = ["origin_country"]')
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, text + '[constants]\nexport_country = "MY"\n'))
    assert set(loaded.valid["export_country"].to_list()) == {"MY"}


def test_extra_numeric_columns_are_kept_with_x_prefix(tmp_path, foreign):
    loaded = load([foreign], SHIPMENTS, mapping=mapping(tmp_path, BASE + 'numeric = ["mass_t"]\n'))
    assert loaded.valid["x_mass_t"].to_list() == [2.5, 1.0, 1.0]
    assert extra_name("Gross Mass kg") == "x_gross_mass_kg"


def test_hs_digits_pad_integer_codes_from_parquet(tmp_path, foreign):
    pq = tmp_path / "f.parquet"
    pl.read_csv(foreign, infer_schema=False).with_columns(pl.col("tariff").cast(pl.Int64)).write_parquet(pq)
    loaded = load([pq], SHIPMENTS, mapping=mapping(tmp_path, BASE))
    assert loaded.valid["hs_code"].to_list() == ["09011100", "61091000", "61091000"]


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
        ("[extra]\nnumerics = ['x']", "[extra] unknown key(s) numerics"),
        ("[mapping]\nnmae = 'x'", "[mapping] unknown key(s) nmae"),
        ("[hs]\ndigit = 8", "[hs] unknown key(s) digit"),
        ("[countries]\nalpha2 = []", "[countries] unknown key(s) alpha2"),
        ("[read]\nseparator = ';'", "[read] unknown key(s) separator"),
        ("[read]\ndelimiter = ';;'", "[read] delimiter must be one character"),
        ("[read]\ndecimal_comma = 'yes'", "[read] decimal_comma must be true or false"),
        ("[read]\ndate_format = '%Y-%m'", "[read] date_format must be a strftime format"),
        ("[read]\nencoding = 'klingon'", "[read] encoding 'klingon' is not a known"),
        ("[multiply]\ndeclared_value_usd = 'tonnes'", "is a unit of weight, and declared_value_usd is not a weight"),
        ("[multiply]\nquantity = 'kg'", "is a unit of weight, and quantity is not a weight"),
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
    assert loaded.valid["hs_code"][0] == "12" and loaded.valid["dq_codes"][0] == "short_hs_code"


def test_mapping_key_outside_the_contract_is_refused_in_every_column_section(tmp_path, foreign):
    for section, line in (("columns", 'weight_lbs = "mass_t"'), ("multiply", "weight_lbs = 2")):
        text = BASE.replace(f"[{section}]\n", f"[{section}]\n{line}\n")
        with pytest.raises(MappingError, match=rf"\[{section}\] 'weight_lbs' is not a column of shipments"):
            load([foreign], SHIPMENTS, mapping=mapping(tmp_path, text))


# -- [read]: how the file is written -----------------------------------------------------

EURO = """
[read]
delimiter = ";"
decimal_comma = true
date_format = "%d/%m/%Y"
"""


def _euro_file(path: Path, encoding: str = "utf-8") -> Path:
    path.write_bytes(
        ("shipment_id;arrival_date;importer_id;exporter_id;hs_code;origin_country;export_country;declared_value_usd;weight_kg;goods_description\n"
         "A1;29/03/2024;Müller GmbH;S1;850440;VN;VN;1.234,56;2,5;Café\n"
         "A2;01/04/2024;B1;S2;850440;VN;VN;10;1;Crème\n").encode(encoding))
    return path


def test_read_options_semicolon_decimal_comma_and_day_first_dates(tmp_path):
    loaded = load([_euro_file(tmp_path / "e.csv")], SHIPMENTS, mapping=mapping(tmp_path, EURO))
    assert loaded.rejects.height == 0 and loaded.dq_counts == {}
    first = loaded.valid.row(0, named=True)
    assert first["declared_value_usd"] == 1234.56 and first["weight_kg"] == 2.5
    assert str(first["arrival_date"]) == "2024-03-29" and first["importer_id"] == "Müller GmbH"


def test_read_option_delimiter_alone_splits_the_fields(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("shipment_id;arrival_date;importer_id;exporter_id;hs_code;origin_country;export_country;declared_value_usd;weight_kg\n"
                    "A1;2024-03-29;B1;S1;850440;VN;VN;1234.5;2\n", encoding="utf-8")
    loaded = load([path], SHIPMENTS, mapping=mapping(tmp_path, '[read]\ndelimiter = ";"\n'))
    assert loaded.valid["declared_value_usd"].to_list() == [1234.5]


def test_read_option_date_format_alone_parses_day_first_dates(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("shipment_id,arrival_date,importer_id,exporter_id,hs_code,origin_country,export_country,declared_value_usd,weight_kg\n"
                    "A1,29/03/2024,B1,S1,850440,VN,VN,10,2\nA2,2024-03-29,B1,S1,850440,VN,VN,10,2\n", encoding="utf-8")
    loaded = load([path], SHIPMENTS, mapping=mapping(tmp_path, '[read]\ndate_format = "%d/%m/%Y"\n'))
    assert [str(d) for d in loaded.valid["arrival_date"]] == ["2024-03-29"]
    assert loaded.rejects["reason_codes"].to_list() == ["bad_date"] and "%d/%m/%Y" in loaded.rejects["reasons"][0]


def test_read_option_encoding_reads_latin_1_text(tmp_path):
    path = _euro_file(tmp_path / "l.csv", encoding="latin-1")
    loaded = load([path], SHIPMENTS, mapping=mapping(tmp_path, EURO + 'encoding = "latin-1"\n'))
    assert loaded.valid["importer_id"][0] == "Müller GmbH" and loaded.valid["goods_description"].to_list() == ["Café", "Crème"]
    assert loaded.dq_counts == {} and loaded.valid["_line"].to_list() == [2, 3]
    # without the option the same bytes are not UTF-8: kept with replacement characters, and coded
    plain = load([path], SHIPMENTS, mapping=mapping(tmp_path, EURO))
    assert plain.valid["importer_id"][0] == "M\ufffdller GmbH" and plain.dq_counts == {"bad_encoding": 2}


def test_decimal_comma_reaches_extra_numeric_columns(tmp_path):
    path = _euro_file(tmp_path / "e.csv")
    text = EURO + '[extra]\nnumeric = ["weight_kg"]\n'
    loaded = load([path], SHIPMENTS, mapping=mapping(tmp_path, text))
    assert loaded.valid["x_weight_kg"].to_list() == [2.5, 1.0]


def test_mapping_errors_keep_their_section_names_on_the_terminal(tmp_path, foreign):
    from typer.testing import CliRunner

    from detector.cli.main import app

    path = tmp_path / "m.toml"
    path.write_text("[multiply]\ndeclared_value_usd = 'tonnes'\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(foreign), "--mapping", str(path)])
    assert result.exit_code == 2
    assert "[multiply] declared_value_usd" in " ".join(result.stderr.split())
