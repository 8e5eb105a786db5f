"""Known parties: listed importers, exporters and manufacturers, from their listing day on."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from detector.errors import InputError
from detector.io.parties import load_parties
from features.families.parties import normalise_name, parties_digest
from features.pipeline import build
from features.schema import PARTIES, SHIPMENTS
from features.state import ReferenceState, fit_state
from models.reasons import REASON_CODES, REASONS, with_stated

D = dt.date


def _lines(*rows: dict) -> pl.DataFrame:
    base = {"arrival_date": D(2025, 3, 1), "importer_id": "US-IMP-1", "exporter_id": "EX-1", "hs_code": "940360",
            "origin_country": "VN", "export_country": "VN", "declared_value_usd": 1000.0, "weight_kg": 10.0}
    frame = pl.DataFrame([{**base, "shipment_id": f"S{i}", **r} for i, r in enumerate(rows)],
                         schema_overrides={"arrival_date": pl.Date})
    return frame.with_columns(pl.lit(None, dtype=t).alias(n) for n, t in SHIPMENTS.schema.items() if n not in frame.columns)


def _parties(*rows: dict) -> pl.DataFrame:
    base = {"party_id": None, "party_name": None, "role": "exporter", "list_name": "EAPA Cons. 7001",
            "source": "CBP notice", "date_listed": D(2025, 2, 1)}
    return pl.DataFrame([{**base, **r} for r in rows], schema=PARTIES.schema)


def test_names_match_after_accents_case_punctuation_and_legal_forms():
    same = [("Shenzhen Xinda Co., Ltd.", "SHENZHEN XINDA"), ("Công ty TNHH Đông Á", "DONG A"),
            ("PT. Maju Jaya Tbk", "maju jaya"), ("Viet Star JSC", "VIET-STAR"), ("Acme Trading LLC", "acme trading"),
            ("Müller GmbH", "MULLER"), ("Sinar Sdn. Bhd.", "SINAR"), ("A&B Industries", "a and b industries")]
    left = pl.Series([a for a, _ in same])
    right = pl.Series([b for _, b in same])
    frame = pl.DataFrame({"a": left, "b": right}).select(normalise_name(pl.col("a")), normalise_name(pl.col("b")).alias("n"))
    assert frame["a"].to_list() == frame["n"].to_list()
    apart = pl.DataFrame({"a": ["Acme", "Co., Ltd", "Maju Jaya"], "b": ["Acme Two", None, "Maju Jayo"]})
    got = apart.select(normalise_name(pl.col("a")), normalise_name(pl.col("b")).alias("b"))
    assert got["a"].to_list() == ["acme", None, "maju jaya"]  # a legal form alone names nobody
    assert got["a"][0] != got["b"][0] and got["a"][2] != got["b"][2]


def test_a_party_counts_from_its_listing_day_on():
    lines = _lines({"arrival_date": D(2025, 1, 31)}, {"arrival_date": D(2025, 2, 1)}, {"arrival_date": D(2025, 6, 1)})
    out = build(lines.lazy(), parties=_parties({"party_id": "EX-1"}))
    assert out["known_party"].to_list() == [0.0, 1.0, 1.0]
    assert out["ev_known_party_since"].to_list() == [None, D(2025, 2, 1), D(2025, 2, 1)]
    assert out["ev_known_party_role"].to_list() == [None, "exporter", "exporter"]


def test_ids_match_exactly_in_their_role_and_names_match_a_name_column_or_the_id_text():
    lines = _lines(
        {"exporter_id": "EX-1"},  # id, exporter list
        {"exporter_id": "ex-1"},  # not the same id
        {"exporter_id": "EX-2", "manufacturer_id": "EX-1"},  # the listed id, but as manufacturer
        {"exporter_id": "HAI PHONG STEEL CO., LTD"},  # the id is the firm's name
        {"exporter_id": "EX-9", "exporter_name": "Công ty TNHH Minh Long"},  # an optional name column
        {"importer_id": "US-IMP-7", "exporter_id": "EX-5"},
    )
    parties = _parties({"party_id": "EX-1"}, {"party_name": "Hai Phong Steel JSC"}, {"party_name": "MINH LONG"},
                       {"party_id": "US-IMP-7", "role": "importer", "list_name": "Seizure 2024-17"})
    out = build(lines.lazy(), parties=parties)
    assert out["known_party"].to_list() == [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert out["ev_known_party_role"].to_list() == ["exporter", None, None, "exporter", "exporter", "importer"]
    manufacturer = build(lines.lazy(), parties=_parties({"party_id": "EX-1", "role": "manufacturer"}))
    assert manufacturer["known_party"].to_list() == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def test_without_a_list_the_feature_is_unknown_and_with_one_every_line_is_known():
    lines = _lines({}, {"exporter_id": "EX-2"})
    assert build(lines.lazy())["known_party"].to_list() == [None, None]
    assert build(lines.lazy(), parties=_parties({"party_id": "EX-1"}))["known_party"].to_list() == [1.0, 0.0]


def test_a_line_on_two_lists_counts_both_and_states_the_exporter_first():
    lines = _lines({"importer_id": "US-IMP-1", "exporter_id": "EX-1"})
    parties = _parties({"party_id": "US-IMP-1", "role": "importer", "list_name": "Watch list", "date_listed": D(2024, 1, 1)},
                       {"party_id": "EX-1", "list_name": "EAPA Cons. 7001"})
    out = build(lines.lazy(), parties=parties)
    assert out["known_party"].to_list() == [2.0]
    assert out["ev_known_party_list"].to_list() == ["EAPA Cons. 7001"]
    assert out["ev_known_parties"].to_list() == ["exporter in EAPA Cons. 7001 since 2025-02-01; importer in Watch list since 2024-01-01"]


def test_load_parties_rejects_rows_without_a_role_or_a_party_with_their_line(tmp_path: Path):
    path = tmp_path / "parties.csv"
    path.write_text("party_id,party_name,role,list_name,source,date_listed\n"
                    "EX-1,,Exporter,EAPA 7001,CBP,2025-02-01\n"
                    ",Co. Ltd,exporter,EAPA 7001,CBP,2025-02-01\n"
                    "EX-3,,shipper,EAPA 7001,CBP,2025-02-01\n"
                    "EX-4,,exporter,EAPA 7001,CBP,not a date\n")
    loaded = load_parties([path])
    assert loaded.valid["party_id"].to_list() == ["EX-1"] and loaded.valid["role"].to_list() == ["exporter"]
    reasons = dict(zip(loaded.rejects["_line"].to_list(), loaded.rejects["reason_codes"].to_list(), strict=True))
    assert reasons[3] == "no_party" and reasons[4] == "bad_role" and 5 in reasons
    assert loaded.rows_read == loaded.valid.height + loaded.rejects.height == 4
    bare = tmp_path / "bare.csv"
    bare.write_text("role,list_name,date_listed\nexporter,EAPA 7001,2025-02-01\n")
    with pytest.raises(InputError, match="bare.csv: a party list needs a party_id or a party_name column"):
        load_parties([bare])


def test_a_listed_party_is_stated_on_a_flag_whatever_its_credit():
    rows = _lines({}, {"exporter_id": "EX-2"}, {})
    rows = build(rows.lazy(), parties=_parties({"party_id": "EX-1"}))
    rendered = pl.DataFrame({REASON_CODES: ["PRICE_LOW", "PRICE_LOW", "KNOWN_PARTY"],
                             REASONS: ["cheap", "cheap", "the exporter is named in EAPA Cons. 7001 since 2025-02-01"]})
    out = with_stated(rows, rendered)
    assert out[REASON_CODES].to_list() == ["PRICE_LOW,KNOWN_PARTY", "PRICE_LOW", "KNOWN_PARTY"]
    assert out[REASONS][0] == "cheap | the exporter is named in EAPA Cons. 7001 since 2025-02-01"


def test_the_state_keeps_the_list_and_its_digest(tmp_path: Path):
    lines = _lines({})
    plain = fit_state(lines.lazy(), None, None)
    listed = ReferenceState(tables=plain.tables, events=plain.events, spans=plain.spans, parties=_parties({"party_id": "EX-1"}))
    assert listed.digest() != plain.digest()
    back = ReferenceState.from_dir(listed.to_dir(tmp_path / "s"))
    assert back.digest() == listed.digest() and parties_digest(back.parties) == parties_digest(listed.parties)
    assert ReferenceState.from_dir(plain.to_dir(tmp_path / "p")).parties is None
    # A build with the state and no list of its own uses the state's list.
    assert build(lines.lazy(), state=back)["known_party"].to_list() == [1.0]
    assert np.isfinite(build(lines.lazy(), state=back)["known_party"].to_numpy()).all()
