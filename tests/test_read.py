"""Reading, validating and splitting input files (detector.io.read)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from contract_helpers import GOOD_ROW
from detector.errors import InputError
from detector.io.read import load, load_labels, load_spilled, rejects_path, write_rejects
from features.schema import INPUTS, SHIPMENTS

HEADER = ",".join(GOOD_ROW)


def row(i: int, **kw) -> str:
    return ",".join(({**GOOD_ROW, "shipment_id": f"S{i}"} | kw).values())


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write(tmp_path / "good.csv", HEADER, row(1), row(2), row(3))


def test_valid_file_has_exactly_the_contract_columns_plus_source_and_line(good):
    loaded = load([good], SHIPMENTS)
    assert loaded.valid.columns == [*SHIPMENTS.names, "dq_codes", "dq_notes", "_source", "_line"]
    assert loaded.valid.select(SHIPMENTS.names).schema == SHIPMENTS.schema
    assert loaded.valid["_line"].to_list() == [2, 3, 4]
    assert loaded.valid["_source"][0] == str(good)
    assert loaded.rows_read == 3 and loaded.rejects.height == 0 and loaded.reject_counts == {}


BROKEN = {10: {"arrival_date": "2025-02-30"}, 200: {"weight_kg": "0"}, 350: {"hs_code": "85"}, 600: {"origin_country": "QQ"},
          999: {"declared_value_usd": "n/a"}}


def test_strict_read_of_thousand_rows_with_five_broken_gives_995_valid_and_5_rejects(tmp_path):
    lines = [row(i, **BROKEN.get(i, {})) for i in range(1000)]
    loaded = load([write(tmp_path / "s.csv", HEADER, *lines)], SHIPMENTS, strict=True)
    assert (loaded.valid.height, loaded.rejects.height) == (995, 5)
    assert loaded.rows_read == loaded.valid.height + loaded.rejects.height == 1000
    assert loaded.rejects["_line"].to_list() == [12, 202, 352, 602, 1001]
    assert loaded.rejects["reason_codes"].to_list() == ["bad_date", "non_positive_weight", "short_hs_code", "bad_origin_country", "bad_value"]
    assert "declared_value_usd" in loaded.rejects["reasons"][4] and "'n/a'" in loaded.rejects["reasons"][4]
    assert loaded.reject_counts == {"bad_date": 1, "non_positive_weight": 1, "short_hs_code": 1, "bad_origin_country": 1, "bad_value": 1}
    assert loaded.dq_counts == {} and loaded.valid["dq_codes"].null_count() == 995


def test_default_read_rejects_only_the_undated_row_and_scores_the_others_with_codes(tmp_path):
    lines = [row(i, **BROKEN.get(i, {})) for i in range(1000)]
    loaded = load([write(tmp_path / "s.csv", HEADER, *lines)], SHIPMENTS)
    assert (loaded.valid.height, loaded.rejects.height) == (999, 1)
    assert loaded.rejects["reason_codes"].to_list() == ["bad_date"] and loaded.rejects["_line"].to_list() == [12]
    assert loaded.dq_counts == {"bad_origin_country": 1, "bad_value": 1, "non_positive_weight": 1, "short_hs_code": 1}
    assert loaded.dq_rows == 4
    flagged = loaded.valid.filter(pl.col("dq_codes").is_not_null())
    assert flagged["_line"].to_list() == [202, 352, 602, 1001]
    assert flagged["dq_codes"].to_list() == ["non_positive_weight", "short_hs_code", "bad_origin_country", "bad_value"]
    assert "'n/a'" in flagged["dq_notes"][3] and "read as unknown" in flagged["dq_notes"][3]
    assert loaded.dq_examples["short_hs_code"] == [{"file": str(tmp_path / "s.csv"), "line": 352, "note": loaded.dq_examples["short_hs_code"][0]["note"]}]
    assert flagged["hs_code"][1] == "85" and flagged["origin_country"][2] is None and flagged["weight_kg"][0] is None


def test_rejects_keep_the_row_as_read(tmp_path):
    loaded = load([write(tmp_path / "s.csv", HEADER, row(1, hs_code="8504.4", origin_country="vn"))], SHIPMENTS, strict=True)
    rej = loaded.rejects
    assert rej.columns == [*HEADER.split(","), "_source", "_line", "reason_codes", "reasons"]
    assert rej["hs_code"][0] == "8504.4" and rej["origin_country"][0] == "vn"


def test_missing_required_columns_are_all_named_in_one_error(tmp_path):
    header = HEADER.replace(",importer_id", "").replace(",weight_kg", "")
    path = write(tmp_path / "s.csv", header, "S1,2025-03-01,EXP1,850440,VN,VN,1000")
    with pytest.raises(InputError, match=r"s\.csv.*importer_id.*weight_kg") as err:
        load([path], SHIPMENTS)
    assert err.value.exit_code == 2 and "--mapping" in err.value.hint


def test_schema_problems_of_several_files_are_reported_together(tmp_path):
    a = write(tmp_path / "a.csv", HEADER.replace(",exporter_id", ""), "S1,2025-03-01,IMP1,850440,VN,VN,1000,10")
    b = tmp_path / "b.parquet"
    pl.read_csv(write(tmp_path / "tmp.csv", HEADER, row(1)), infer_schema=False).with_columns(arrival_date=pl.lit(True)).write_parquet(b)
    with pytest.raises(InputError) as err:
        load([a, b], SHIPMENTS)
    assert "a.csv" in str(err.value) and "exporter_id" in str(err.value)
    assert "b.parquet" in str(err.value) and "arrival_date" in str(err.value) and "Boolean" in str(err.value)


def test_unknown_extension_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="unknown file format '.xlsx'"):
        load([write(tmp_path / "s.xlsx", HEADER, row(1))], SHIPMENTS)


def test_missing_file_and_unmatched_glob_are_named(tmp_path):
    with pytest.raises(InputError, match="nope.csv: no such file"):
        load([tmp_path / "nope.csv"], SHIPMENTS)
    with pytest.raises(InputError, match=r"\*\.csv: no file matches"):
        load([str(tmp_path / "none" / "*.csv")], SHIPMENTS)


def test_empty_file_is_an_input_error(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(InputError, match="e.csv: the file is empty"):
        load([tmp_path / "e.csv"], SHIPMENTS)


def test_header_only_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="h.csv: no data rows"):
        load([write(tmp_path / "h.csv", HEADER)], SHIPMENTS)


def test_glob_reads_several_files_and_rejects_duplicates_across_them(tmp_path):
    write(tmp_path / "a.csv", HEADER, row(1), row(2))
    write(tmp_path / "b.csv", HEADER, row(3), row(1, importer_id="OTHER"))
    loaded = load([str(tmp_path / "*.csv")], SHIPMENTS)
    assert [f.name for f in loaded.files] == ["a.csv", "b.csv"]
    assert loaded.valid["shipment_id"].to_list() == ["S1", "S2", "S3"]
    assert loaded.rejects["reason_codes"].to_list() == ["duplicate_shipment_id"]
    assert loaded.rejects["_source"][0].endswith("b.csv") and loaded.rejects["_line"][0] == 3
    assert loaded.rows_read == 4
    # the reason names the line that has the key first
    assert f"'S1 first at {tmp_path / 'a.csv'}:2'" in loaded.rejects["reasons"][0]
    spilled, _ = load_spilled([str(tmp_path / "*.csv")], SHIPMENTS, tmp_path)
    assert spilled.rejects["reasons"].to_list() == loaded.rejects["reasons"].to_list()


def test_parquet_input_with_native_types(tmp_path):
    path = tmp_path / "s.parquet"
    pl.DataFrame(
        {
            "shipment_id": ["A", "B"],
            "arrival_date": [dt.date(2025, 3, 1), dt.date(2025, 3, 2)],
            "importer_id": ["I", "I"],
            "exporter_id": ["E", "E"],
            "hs_code": [61091000, 8504400],
            "origin_country": ["VN", "TH"],
            "export_country": ["VN", "TH"],
            "declared_value_usd": [100.0, -1.0],
            "weight_kg": [1, 2],
        }
    ).write_parquet(path)
    loaded = load([path], SHIPMENTS, strict=True)
    assert loaded.valid["hs_code"].to_list() == ["61091000"]
    assert loaded.rejects["reason_codes"].to_list() == ["non_positive_value"]
    assert loaded.rejects["hs_code"].to_list() == ["8504400"]  # as read
    assert loaded.rejects["_line"].to_list() == [2]


def test_undecodable_bytes_in_free_text_are_kept_and_scored_in_the_key_rejected(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes((HEADER + ",goods_description\n" + row(1) + ",ok\n" + row(2) + ",caf\xe9\n"
                      + row(3).replace("S3", "S\xe93") + ",ok\n").encode("latin-1"))
    for loaded, valid in ((load([path], SHIPMENTS), None), load_spilled([path], SHIPMENTS, tmp_path)):
        # the spilled reader (files larger than memory) applies the same checks
        valid = loaded.valid if valid is None else valid.collect()
        assert valid["shipment_id"].to_list() == ["S1", "S2"]
        assert valid["goods_description"][1] == "caf\ufffd" and valid["dq_codes"].to_list() == [None, "bad_encoding"]
        assert "goods_description" in valid["dq_notes"][1]
        assert loaded.rejects["reason_codes"].to_list() == ["bad_encoding"] and "shipment_id" in loaded.rejects["reasons"][0]
        assert loaded.dq_counts == {"bad_encoding": 1}


def test_strict_read_rejects_undecodable_bytes_anywhere(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes((HEADER + ",goods_description\n" + row(1) + ",ok\n" + row(2) + ",caf\xe9\n").encode("latin-1"))
    loaded = load([path], SHIPMENTS, strict=True)
    assert loaded.valid["shipment_id"].to_list() == ["S1"] and loaded.rejects["reason_codes"].to_list() == ["bad_encoding"]


def test_header_only_file_is_an_input_error_for_the_spilled_reader_too(tmp_path):
    with pytest.raises(InputError, match="h.csv: no data rows"):
        load_spilled([write(tmp_path / "h.csv", HEADER)], SHIPMENTS, tmp_path)


def test_row_with_more_fields_than_the_header_is_ragged(tmp_path):
    loaded = load([write(tmp_path / "s.csv", HEADER, row(1), row(2) + ",surplus")], SHIPMENTS)
    assert loaded.rejects["reason_codes"].to_list() == ["ragged_row"]
    assert loaded.rows_read == 2


def test_row_with_fewer_fields_misses_its_trailing_values(tmp_path):
    loaded = load([write(tmp_path / "s.csv", HEADER, row(1), "S2,2025-03-01,IMP1,EXP1,850440,VN,VN,1000")], SHIPMENTS)
    assert loaded.valid["dq_codes"].to_list() == [None, "missing_weight_kg"]


def test_extra_columns_are_reported_and_not_kept(tmp_path):
    loaded = load([write(tmp_path / "s.csv", HEADER + ",note", row(1) + ",hello")], SHIPMENTS)
    assert loaded.extra_columns == ["note"] and "note" not in loaded.valid.columns


def test_inputs_table_is_read_with_its_own_key(tmp_path):
    path = write(
        tmp_path / "i.csv",
        "input_id,arrival_date,importer_id,supplier_country,hs_code,declared_value_usd,weight_kg",
        "I1,2025-01-05,VN-EXP-1,CN,720851,5000,900",
        "I1,2025-01-06,VN-EXP-1,CN,720851,5000,900",
    )
    loaded = load([path], INPUTS)
    assert loaded.valid.height == 1 and loaded.rejects["reason_codes"].to_list() == ["duplicate_input_id"]


def test_load_labels_reads_label_files(tmp_path):
    loaded = load_labels(write(tmp_path / "l.csv", "shipment_id,label,scenario", "S1,1,relabel", "S2,0,", "S3,7,"))
    assert loaded.valid["label"].to_list() == [1, 0] and loaded.rejects["reason_codes"].to_list() == ["bad_label"]


def test_rejects_path_sits_beside_the_output():
    assert rejects_path(Path("out/scored.parquet")) == Path("out/scored.rejects.csv")


def test_write_rejects_is_spreadsheet_safe_and_written_even_when_empty(tmp_path, good):
    empty = write_rejects(load([good], SHIPMENTS), tmp_path / "out.csv")
    assert empty == tmp_path / "out.rejects.csv" and pl.read_csv(empty).height == 0
    loaded = load([write(tmp_path / "s.csv", HEADER, row(1, importer_id="=HYPERLINK(1)", arrival_date="x"))], SHIPMENTS)
    written = write_rejects(loaded, tmp_path / "out.parquet")
    assert written == tmp_path / "out.rejects.csv"
    assert pl.read_csv(written, infer_schema=False)["importer_id"][0] == "'=HYPERLINK(1)"


def test_blank_lines_are_skipped_and_line_numbers_stay_right(tmp_path):
    loaded = load([write(tmp_path / "s.csv", HEADER, row(1), "", row(2, arrival_date="-1"), "")], SHIPMENTS)
    assert loaded.valid["_line"].to_list() == [2]
    assert loaded.rejects["_line"].to_list() == [4] and loaded.rows_read == 2
