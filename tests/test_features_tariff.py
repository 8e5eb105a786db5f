"""Tariffed origin: the per-combination table gives, line for line, what the event-by-event definition gives."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.families.tariff import tariffed_origin, tariffed_origin_by_line
from features.schema import EVENTS

COUNTRIES = ["CN", "VN", "TH", "MY", "KH", None]
#: Importing countries of lines and events: the events' own, another, none stated.
IMPORTERS = ["US", "BR", "MX", None]
CODES = ["8504401000", "850440", "8541", "85", "8", "9403", "940360", "6402991", "0101", "", None, " 8504"]


DATES = [dt.date(2018, 7, 6), dt.date(2019, 5, 10), dt.date(2020, 2, 14), dt.date(2024, 9, 1), dt.date(2025, 4, 9)]


def _lines(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.date(2017, 12, 1)
    days = [None if d < 0 else start + dt.timedelta(days=int(d)) for d in rng.integers(-1, 3000, n)]
    # a third of the lines arrive on an event's date or the day before: the edges of "in force"
    edges = [d - dt.timedelta(days=int(rng.integers(0, 2))) for d in rng.choice(DATES, n // 3)]
    return pl.DataFrame(
        {
            "arrival_date": days[: n - len(edges)] + edges,
            "hs_code": [CODES[i] for i in rng.integers(0, len(CODES), n)],
            "origin_country": [COUNTRIES[i] for i in rng.integers(0, len(COUNTRIES), n)],
            "importing_country": [IMPORTERS[i] for i in rng.integers(0, len(IMPORTERS), n)],
        },
        schema={"arrival_date": pl.Date, "hs_code": pl.String, "origin_country": pl.String, "importing_country": pl.String},
    )


def _events(rng: np.random.Generator, n: int, importers: list[str | None]) -> pl.DataFrame:
    prefixes = ["84", "85", "8504", "850440", "94", "", "", "6402991"]
    return pl.DataFrame(
        {
            "effective_date": [DATES[i] for i in rng.integers(0, len(DATES), n)],
            "importing_country": [importers[i] for i in rng.integers(0, len(importers), n)],
            "origin_country": [["CN", "VN", "TH"][i] for i in rng.integers(0, 3, n)],
            "hs_prefix": [prefixes[i] for i in rng.integers(0, len(prefixes), n)],
            # cuts as well as raises, and ties between countries
            "added_duty_rate": [float(x) for x in rng.choice([0.1, 0.25, -0.075, 0.15, 0.2], n)],
            "name": [f"event {i}" for i in range(n)],
            "source": [None] * n,
        },
        schema=EVENTS.schema,
    )


# Events of one importing country (the shipped table's case), of two, of none stated, mixed.
@pytest.mark.parametrize(("seed", "importers"), [(1, ["US"]), (2, ["US", "BR"]), (3, [None]), (4, ["US", None]), (5, ["BR", "US", None])])
def test_the_table_gives_each_line_what_the_events_give_it(seed, importers):
    rng = np.random.default_rng(seed)
    lines = _lines(3000, seed)
    events = _events(rng, int(rng.integers(4, 12)), importers)
    want = tariffed_origin_by_line(lines.lazy(), events).collect()
    got = tariffed_origin(lines.lazy(), events).collect()
    assert want["ev_tariffed_origin"].null_count() < want.height  # some lines have a tariffed origin
    assert want["ev_event_name"].n_unique() > 1
    assert_frame_equal(got, want, check_exact=True)


def test_no_events_and_events_without_prefixes():
    lines = _lines(500, 9)
    none = pl.DataFrame(schema=EVENTS.schema)
    assert_frame_equal(tariffed_origin(lines.lazy(), none).collect(), tariffed_origin_by_line(lines.lazy(), none).collect(), check_exact=True)
    flat = pl.DataFrame({"effective_date": [dt.date(2020, 1, 1)], "importing_country": [None], "origin_country": ["CN"], "hs_prefix": [""],
                         "added_duty_rate": [0.3], "name": ["all goods"], "source": [None]}, schema=EVENTS.schema)
    got = tariffed_origin(lines.lazy(), flat).collect()
    assert_frame_equal(got, tariffed_origin_by_line(lines.lazy(), flat).collect(), check_exact=True)
    assert got["ev_tariffed_origin"].drop_nulls().unique().to_list() == ["CN"]


def test_an_events_table_without_the_optional_columns_is_read_as_naming_no_importing_country():
    import datetime as dt

    from features.pipeline import build
    from features.schema import SHIPMENTS

    events = pl.DataFrame({"effective_date": [dt.date(2025, 1, 1)], "origin_country": ["CN"], "hs_prefix": ["85"],
                           "added_duty_rate": [0.25], "name": ["a measure"]})  # the contract before importing_country
    lines = pl.DataFrame({"shipment_id": ["A"], "arrival_date": [dt.date(2025, 3, 3)], "importer_id": ["I"],
                          "exporter_id": ["E"], "hs_code": ["850440"], "origin_country": ["VN"],
                          "export_country": ["VN"], "declared_value_usd": [100.0], "weight_kg": [10.0]})
    lines = lines.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in SHIPMENTS.schema.items() if c not in lines.columns)
    out = build(lines.select(SHIPMENTS.names).cast(SHIPMENTS.schema).lazy(), events=events)
    assert out["ev_tariffed_origin"].to_list() == ["CN"]
