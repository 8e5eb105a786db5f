"""Tariff events of a synthetic world and the duty rates they put in force.

A world's events are the shipped default table's measures that took effect before the
world starts (they set the duty level, e.g. Section 301 lists on Chinese machinery) plus
three synthetic measures inside the span, placed at fixed fractions of it so that every
scenario has time to play out whatever ``start`` and ``months`` are chosen.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources

import numpy as np
import polars as pl

from features.schema import EVENTS


@dataclass(frozen=True)
class SpanEvent:
    """A synthetic measure placed at ``fraction`` of the world's span."""

    key: str  # how the generator refers to it: "prefix", "main", "transit"
    fraction: float
    origin: str
    hs_prefix: str
    added_duty_rate: float
    name: str


#: A generated world is a world of US imports: its lines and its measures are the US's.
IMPORTING_COUNTRY = "US"

SPAN_EVENTS: tuple[SpanEvent, ...] = (
    SpanEvent("prefix", 0.12, "CN", "94", 0.25, "Synthetic: CN furniture and lighting safeguard duty"),
    SpanEvent("main", 1 / 3, "CN", "", 0.30, "Synthetic: CN added duty on all lines"),
    SpanEvent("transit", 0.70, "VN", "", 0.10, "Synthetic: VN reciprocal duty"),
)


def default_events() -> pl.DataFrame:
    """The tariff-event table that ships with waypoint (``detector/data/tariff_events.csv``)."""
    text = resources.files("detector").joinpath("data", "tariff_events.csv").read_text(encoding="utf-8")
    return pl.read_csv(
        text.encode(),
        schema_overrides={"hs_prefix": pl.String, "origin_country": pl.String, "name": pl.String},
        try_parse_dates=True,
    ).with_columns(pl.col("hs_prefix").fill_null(""), pl.col("added_duty_rate").cast(pl.Float64))


def world_events(start: dt.date, span_days: int) -> tuple[pl.DataFrame, dict[str, int]]:
    """The events table of a world and the day offset of each synthetic event.

    Returns the frame (contract columns of ``EVENTS``, sorted by date) and a mapping
    from ``SpanEvent.key`` to days after ``start``.
    """
    history = default_events().filter(pl.col("effective_date") < start)
    days = {e.key: int(round(e.fraction * span_days)) for e in SPAN_EVENTS}
    synthetic = pl.DataFrame(
        {
            "effective_date": [start + dt.timedelta(days=days[e.key]) for e in SPAN_EVENTS],
            "importing_country": [IMPORTING_COUNTRY] * len(SPAN_EVENTS),
            "origin_country": [e.origin for e in SPAN_EVENTS],
            "hs_prefix": [e.hs_prefix for e in SPAN_EVENTS],
            "added_duty_rate": [e.added_duty_rate for e in SPAN_EVENTS],
            "name": [e.name for e in SPAN_EVENTS],
            "source": ["synthetic measure of the generated world"] * len(SPAN_EVENTS),
        },
        schema={c.name: c.dtype for c in EVENTS.columns},
    )
    events = pl.concat([history.select(EVENTS.names).cast(dict(EVENTS.schema)), synthetic]).sort(
        "effective_date", maintain_order=True
    )
    return events, days


def duty_rates(
    events: pl.DataFrame,
    start: dt.date,
    *,
    day: np.ndarray,
    origin: np.ndarray,
    country_codes: tuple[str, ...],
    hs_codes: tuple[str, ...],
    hs_index: np.ndarray,
    base: np.ndarray,
) -> np.ndarray:
    """Ad-valorem duty of each row: its line's base rate plus every event in force at arrival.

    ``origin`` indexes ``country_codes`` and ``hs_index`` indexes ``hs_codes``; the loop runs
    over events (dozens), each one a vectorised mask over all rows.
    """
    rate = base.astype(np.float64).copy()
    for row in events.iter_rows(named=True):
        prefix = row["hs_prefix"] or ""
        covers = np.array([code.startswith(prefix) for code in hs_codes], dtype=bool)
        offset = (row["effective_date"] - start).days
        if row["origin_country"] not in country_codes:
            continue  # a country that exports nothing in this world
        target = country_codes.index(row["origin_country"])
        mask = (origin == target) & covers[hs_index] & (day >= offset)
        rate[mask] += row["added_duty_rate"]
    return np.clip(rate, 0.0, None)
