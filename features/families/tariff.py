"""Tariffed origin and the tariff differential.

The *tariffed origin* of a line is the country, other than the declared origin, whose
tariff events in force at arrival (``effective_date <= arrival_date``, HS code starting
with ``hs_prefix``; empty prefix = every line) add the highest duty in total. Null when no
such country exists; every feature that compares with it is then null. Events are a small
eager table, so each event becomes a few column expressions (no per-row Python).
"""
from __future__ import annotations

import polars as pl

from features.families._context import EVENT_WEEK, Context
from features.families._history import week_of


def _prefix_col(prefix: str) -> str:
    return f"_hs_starts_{prefix}"


def _matches(ev: dict) -> pl.Expr:
    in_force = pl.col("arrival_date") >= pl.lit(ev["effective_date"], dtype=pl.Date)
    prefix = ev["hs_prefix"] or ""
    return in_force & pl.col(_prefix_col(prefix)) if prefix else in_force


def tariffed_origin(lf: pl.LazyFrame, events: pl.DataFrame) -> pl.LazyFrame:
    """Add ``ev_tariffed_origin``, its added duty, the declared origin's added duty, and the
    name and date of the latest event in force for the tariffed origin and this HS code."""
    rows = events.drop_nulls(["effective_date", "origin_country", "added_duty_rate"]).sort("effective_date", descending=True).to_dicts()
    if not rows:
        return lf.with_columns(
            pl.lit(None, dtype=pl.String).alias("ev_tariffed_origin"),
            pl.lit(None, dtype=pl.Float64).alias("ev_added_duty_tariffed"),
            pl.lit(0.0).alias("ev_added_duty_declared"),
            pl.lit(None, dtype=pl.String).alias("ev_event_name"),
            pl.lit(None, dtype=pl.Date).alias("ev_event_date"),
            pl.lit(None, dtype=pl.Int32).alias(EVENT_WEEK),
        )
    countries = sorted({r["origin_country"] for r in rows})
    # Each distinct prefix is matched once, however many events share it.
    prefixes = sorted({r["hs_prefix"] for r in rows if r["hs_prefix"]})
    lf = lf.with_columns([pl.col("hs_code").str.starts_with(p).alias(_prefix_col(p)) for p in prefixes])
    duty = {
        c: pl.sum_horizontal(
            [pl.when(_matches(r)).then(pl.lit(float(r["added_duty_rate"]))).otherwise(0.0) for r in rows if r["origin_country"] == c]
        )
        for c in countries
    }
    cand = [pl.when(pl.col("origin_country") != c).then(duty[c]).otherwise(0.0).alias(f"_duty_{c}") for c in countries]
    declared = pl.sum_horizontal([pl.when(pl.col("origin_country") == c).then(duty[c]).otherwise(0.0) for c in countries])
    lf = lf.with_columns(*cand, declared.alias("ev_added_duty_declared"))
    best = pl.max_horizontal([pl.col(f"_duty_{c}") for c in countries])
    # Ties go to the first country in alphabetical order: deterministic, documented.
    chain = pl.when(best <= 0).then(pl.lit(None, dtype=pl.String))
    for c in countries:
        chain = chain.when(pl.col(f"_duty_{c}") == best).then(pl.lit(c))
    lf = lf.with_columns(chain.otherwise(None).alias("ev_tariffed_origin"), pl.when(best > 0).then(best).alias("ev_added_duty_tariffed"))
    # Which event (its position in ``rows``) is in force, as an integer chain: one string
    # and one date column are then looked up once, not built branch by branch.
    which = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int32))
    for k, r in enumerate(rows):  # latest first: the first match is the most recent event in force
        hit = (pl.col("ev_tariffed_origin") == r["origin_country"]) & _matches(r)
        which = which.when(hit).then(pl.lit(k, dtype=pl.Int32))
    positions = list(range(len(rows)))
    lf = lf.with_columns(which.otherwise(None).alias("_event_pos"))
    lf = lf.with_columns(
        pl.col("_event_pos").replace_strict(positions, [r["name"] for r in rows], default=None, return_dtype=pl.String).alias("ev_event_name"),
        pl.col("_event_pos").replace_strict(positions, [r["effective_date"] for r in rows], default=None, return_dtype=pl.Date).alias("ev_event_date"),
    ).drop("_event_pos")
    lf = lf.with_columns(week_of(pl.col("ev_event_date")).alias(EVENT_WEEK))
    return lf.drop([f"_duty_{c}" for c in countries] + [_prefix_col(p) for p in prefixes])


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    """``tariff_differential_usd``: duty avoided by declaring the origin rather than the tariffed one."""
    diff = (pl.col("ev_added_duty_tariffed") - pl.col("ev_added_duty_declared")) * pl.col("declared_value_usd")
    return lf.with_columns(
        pl.when(pl.col("ev_tariffed_origin").is_not_null()).then(diff).otherwise(None).cast(pl.Float64).alias("tariff_differential_usd"),
    )
