"""Damaged and unusual files never cost a line in silence (detector.io.read).

Quotes that span lines, stray quotes, duplicate header names, glob characters in file
names, Parquet columns of nested or categorical types: each read accounts for every
line, names file and line, and never leaks the reader's internal column names.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from contract_helpers import GOOD_ROW
from detector.errors import InputError
from detector.io.read import load, load_spilled, write_rejects
from features.schema import SHIPMENTS

HEADER = ",".join([*GOOD_ROW, "goods_description"])


def row(i: int, text: str = "steel wire", **kw) -> str:
    return ",".join([*({**GOOD_ROW, "shipment_id": f"S{i}"} | kw).values(), text])


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def both(path: Path, tmp_path: Path):
    """The in-memory and the spilled reader's view of the same file: (loaded, valid rows)."""
    loaded = load([path], SHIPMENTS)
    spilled, valid = load_spilled([path], SHIPMENTS, tmp_path)
    return [(loaded, loaded.valid), (spilled, valid.collect())]


def test_quote_opened_and_closed_lines_later_rejects_the_opening_line_and_keeps_the_rest(tmp_path):
    lines = [row(i) for i in range(1, 201)]
    lines[49] = row(50, text='"12 PIPE')        # line 51 opens a quote ...
    lines[59] = row(60, text='3/4 VALVE"')       # ... line 61 would close it
    path = write(tmp_path / "q.csv", HEADER, *lines)
    for loaded, valid in both(path, tmp_path):
        assert loaded.rows_read == 200 == valid.height + loaded.rejects.height
        assert loaded.rejects["_line"].to_list() == [51]
        assert loaded.rejects["reason_codes"].to_list() == ["bad_quote"]
        assert "take in 10 line(s)" in loaded.rejects["reasons"][0]
        assert valid["_line"].to_list() == [n for n in range(2, 202) if n != 51]
        assert valid.filter(pl.col("shipment_id") == "S60")["goods_description"][0] == '3/4 VALVE"'


def test_quote_never_closed_rejects_only_its_line(tmp_path):
    lines = [row(i) for i in range(1, 31)]
    lines[-3] = row(28, text='"open to the end')
    for loaded, valid in both(write(tmp_path / "q.csv", HEADER, *lines), tmp_path):
        assert loaded.rows_read == 30 and loaded.rejects["_line"].to_list() == [29]
        assert "not closed" in loaded.rejects["reasons"][0] and valid.height == 29


def test_real_multi_line_field_is_kept_and_later_line_numbers_are_right(tmp_path):
    lines = [row(1), row(2, text='"two lines\nof description"'), row(3), row(4, text='"three\nlines\nhere"'), row(5, weight_kg="0")]
    path = write(tmp_path / "m.csv", HEADER, *lines)
    for loaded, valid in both(path, tmp_path):
        assert loaded.rejects.height == 0 and loaded.rows_read == 5
        assert valid["_line"].to_list() == [2, 3, 5, 6, 9]
        assert valid["goods_description"][1] == "two lines\nof description"
        assert valid["goods_description"][3] == "three\nlines\nhere"
        assert valid.filter(pl.col("dq_codes").is_not_null())["_line"].to_list() == [9]


def test_multi_line_field_in_the_last_column_of_a_quoted_file(tmp_path):
    header = ",".join(f'"{c}"' for c in HEADER.split(","))
    quoted = [",".join(f'"{f}"' for f in row(i).split(",")) for i in range(1, 4)]
    quoted[1] = quoted[1].rsplit(",", 1)[0] + ',"a ""12 inch"" pipe\nsecond line"'
    for loaded, valid in both(write(tmp_path / "m.csv", header, *quoted), tmp_path):
        assert loaded.rejects.height == 0 and valid["_line"].to_list() == [2, 3, 5]
        assert valid["goods_description"][1] == 'a "12 inch" pipe\nsecond line'


@pytest.mark.parametrize("text", ['12" PIPE', '12" PIPE AND 3" VALVE', 'ab"cd"ef'])
def test_stray_quote_inside_an_unquoted_field_is_kept_as_text(tmp_path, text):
    lines = [row(i) for i in range(1, 301)]
    lines[100] = row(101, text=text)
    for loaded, valid in both(write(tmp_path / "s.csv", HEADER, *lines), tmp_path):
        assert loaded.rejects.height == 0 and valid.height == 300
        hit = valid.filter(pl.col("shipment_id") == "S101")
        assert hit["goods_description"][0] == text and hit["_line"][0] == 102


def test_quoted_fields_on_one_line_cost_nothing(tmp_path):
    lines = [row(i, text='"steel, wire"') for i in range(1, 50)]
    for loaded, valid in both(write(tmp_path / "s.csv", HEADER, *lines), tmp_path):
        assert loaded.rejects.height == 0 and valid["goods_description"][0] == "steel, wire"
        assert valid["_line"].to_list() == list(range(2, 51))


def test_duplicate_column_names_in_the_header_are_an_error_naming_them(tmp_path):
    path = write(tmp_path / "d.csv", HEADER + ",hs_code", row(1) + ",999999")
    with pytest.raises(InputError, match=r"d\.csv: the header repeats column name\(s\) 'hs_code' \(columns 5, 11\)"):
        load([path], SHIPMENTS)


def test_file_name_with_glob_characters_is_read_as_itself(tmp_path):
    write(tmp_path / "decl1.csv", HEADER, row(1))  # as many lines: only the name tells them apart
    literal = write(tmp_path / "decl[1].csv", HEADER, row(7))
    loaded = load([literal], SHIPMENTS)
    assert loaded.valid["shipment_id"].to_list() == ["S7"] and loaded.files == [literal]
    assert loaded.valid["_source"][0] == str(literal)


def _parquet(tmp_path: Path, **columns) -> Path:
    frame = pl.DataFrame([{**GOOD_ROW, "shipment_id": f"S{i}"} for i in range(3)]).with_columns(**columns)
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    return path


def test_parquet_unused_columns_of_nested_types_are_ignored(tmp_path):
    path = _parquet(tmp_path, tags=pl.lit(["a", "b"]), box=pl.struct(pl.lit(1).alias("n"), pl.lit("x").alias("s")),
                    blob=pl.lit(b"\x00\xff"), arrival_date=pl.Series(["2025-03-01", "2025-13-01", "2025-03-02"]))
    loaded = load([path], SHIPMENTS)
    assert loaded.valid.height == 2 and loaded.rejects["reason_codes"].to_list() == ["bad_date"]
    assert set(loaded.extra_columns) == {"tags", "box", "blob"}
    written = pl.read_csv(write_rejects(loaded, tmp_path / "out.parquet"), infer_schema=False)
    assert written["arrival_date"].to_list() == ["2025-13-01"] and "tags" not in written.columns


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.Enum(["850440", "610910"])])
def test_parquet_categorical_and_enum_columns_are_read_as_text(tmp_path, dtype):
    path = _parquet(tmp_path, hs_code=pl.lit("850440").cast(dtype), origin_country=pl.lit("VN").cast(pl.Categorical))
    loaded = load([path], SHIPMENTS)
    assert loaded.valid["hs_code"].to_list() == ["850440"] * 3 and loaded.valid["origin_country"][0] == "VN"


def test_parquet_column_of_an_impossible_type_is_named_without_internal_names(tmp_path):
    path = _parquet(tmp_path, hs_code=pl.lit(["85"]))
    with pytest.raises(InputError) as err:
        load([path], SHIPMENTS)
    assert "'hs_code'" in str(err.value) and "__" not in str(err.value)


def test_first_row_with_several_surplus_fields_is_ragged_not_a_failed_file(tmp_path):
    path = write(tmp_path / "r.csv", HEADER, row(1) + ",surplus,and more", row(2))
    loaded = load([path], SHIPMENTS)
    assert loaded.rejects["reason_codes"].to_list() == ["ragged_row"] and loaded.rejects["_line"].to_list() == [2]
    assert loaded.valid["shipment_id"].to_list() == ["S2"]


def test_crlf_file_with_a_multi_line_field_keeps_its_line_numbers(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(("\r\n".join([HEADER, row(1, text='"first\r\nsecond"'), row(2), row(3, weight_kg="0")]) + "\r\n").encode())
    loaded = load([path], SHIPMENTS)
    assert loaded.rejects.height == 0 and loaded.valid["_line"].to_list() == [2, 4, 5]


def test_several_files_each_keep_their_own_line_numbers_when_one_is_repaired(tmp_path):
    a = write(tmp_path / "a.csv", HEADER, row(1), row(2, text='"open'), row(3))
    b = write(tmp_path / "b.csv", HEADER, row(4, text='"multi\nline"'), row(5))
    loaded = load([a, b], SHIPMENTS)
    assert loaded.rows_read == 5 and loaded.rejects["_line"].to_list() == [3]
    assert list(zip(loaded.valid["_source"].str.slice(-5).to_list(), loaded.valid["_line"].to_list())) == [
        ("a.csv", 2), ("a.csv", 4), ("b.csv", 2), ("b.csv", 4)]
