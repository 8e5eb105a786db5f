"""Revenue at risk: the duty a line would owe if its origin claim fell, beyond what it owes as declared.

Per line (``docs/revenue.md`` works an example through):

- **as declared**: ``duty_rate`` when the line states it (the rate it was entered at),
  else the added duties of the declared origin in force (``ev_added_duty_declared``);
- **if found**: the line's base rate plus the larger of two claims the importing country
  can make once the origin claim falls:

  * the goods are of the *tariffed origin* (``ev_tariffed_origin``): that origin's added
    duties in force for this HS code and date (``ev_added_duty_tariffed``: every measure of
    the line's importing country summed, so stacked measures add up and a negative-rate
    record cuts a rate where a measure ended or was lowered);
  * the goods were *transshipped* and the importing country has a duty on transshipped goods
    (:data:`TRANSSHIPMENT_DUTIES`: the US's 40 % of 2025), which replaces the declared
    origin's added duties.

  The base rate (the part of ``duty_rate`` the declared origin's measures do not explain,
  e.g. the MFN rate) applies whatever the origin; without ``duty_rate`` it is unknown and
  counted as 0 on both sides;
- ``duty_at_risk_usd`` = max(0, rate if found - rate as declared) x declared value. Zero
  where nothing is at stake: no tariffed origin (no other country's goods would owe more),
  or a declared rate already at or above what a finding would claim. Null only when the
  declared value is unknown.

Evidence beside it: ``ev_transshipment_duty`` (the transshipment duty in force, where there
is a tariffed origin), ``ev_rate_as_declared`` and ``ev_rate_if_found``.
"""
from __future__ import annotations

from datetime import date

import polars as pl

#: Column added to every built line.
DUTY_AT_RISK = "duty_at_risk_usd"
#: Evidence columns added beside it.
EVIDENCE = ("ev_transshipment_duty", "ev_rate_as_declared", "ev_rate_if_found")
OUTPUTS = (*EVIDENCE, DUTY_AT_RISK)
#: The contract columns the arithmetic reads (beside the tariff family's evidence).
READS = ("importing_country", "duty_rate", "arrival_date", "declared_value_usd")

#: Duties an importing country levies on goods found transshipped to evade its measures, in
#: place of the declared origin's added duties. The US duty applies on a CBP finding, so the
#: shipped events table records it with rate 0 (it changes no declared origin's duty); here
#: it is the claim a finding makes.
TRANSSHIPMENT_DUTIES = pl.DataFrame(
    {
        "importing_country": ["US"],
        "effective_date": [date(2025, 8, 7)],
        "rate": [0.40],
        "name": ["IEEPA 40 % duty on goods found transshipped"],
        "source": ["Executive Order 14326 of 31 Jul 2025 (Further Modifying the Reciprocal Tariff Rates), "
                   "90 FR 37963 (6 Aug 2025), section 3; CBP CSMS # 65829726: 40 % in lieu of the origin's "
                   "reciprocal rate, on a CBP finding of transshipment"],
    },
    schema={"importing_country": pl.String, "effective_date": pl.Date, "rate": pl.Float64, "name": pl.String,
            "source": pl.String},
)


def transshipment_duty(country: pl.Expr, arrival: pl.Expr, duties: pl.DataFrame = TRANSSHIPMENT_DUTIES) -> pl.Expr:
    """The transshipment duty in force for a line imported into ``country`` on ``arrival``
    (the latest record of that country on or before the date); null where there is none."""
    expr = pl.lit(None, dtype=pl.Float64)
    # Earliest first, so a later record of the same country replaces an earlier one.
    for row in duties.sort("effective_date").iter_rows(named=True):
        hit = (country == pl.lit(row["importing_country"], dtype=pl.String)) & (
            arrival >= pl.lit(row["effective_date"], dtype=pl.Date))
        expr = pl.when(hit.fill_null(False)).then(pl.lit(float(row["rate"]))).otherwise(expr)
    return expr


def with_duty_at_risk(frame: pl.LazyFrame | pl.DataFrame, default_country: str | None,
                      duties: pl.DataFrame = TRANSSHIPMENT_DUTIES):
    """``frame`` (contract columns and the tariffed origin's columns of
    ``features.families.tariff``) with :data:`OUTPUTS`; ``default_country`` is the importing
    country of a line stating none (the events' one country)."""
    names = frame.collect_schema().names()
    country = pl.col("importing_country") if "importing_country" in names else pl.lit(None, dtype=pl.String)
    if default_country:
        country = country.fill_null(pl.lit(default_country, dtype=pl.String))
    stated = pl.col("duty_rate").cast(pl.Float64) if "duty_rate" in names else pl.lit(None, dtype=pl.Float64)
    declared_measures = pl.col("ev_added_duty_declared").cast(pl.Float64).fill_null(0.0)
    tariffed = pl.col("ev_added_duty_tariffed").cast(pl.Float64)
    has_origin = pl.col("ev_tariffed_origin").is_not_null() & tariffed.is_not_null()
    transship = pl.when(has_origin).then(transshipment_duty(country, pl.col("arrival_date"), duties))
    as_declared = stated.fill_null(declared_measures)
    base = pl.when(stated.is_not_null()).then(pl.max_horizontal(stated - declared_measures, pl.lit(0.0))).otherwise(0.0)
    claim = pl.max_horizontal(tariffed, pl.col("ev_transshipment_duty").fill_null(0.0))
    if_found = pl.when(has_origin).then(base + claim)
    at_risk = (
        pl.when(pl.col("ev_rate_if_found").is_null()).then(pl.lit(0.0))
        .otherwise(pl.max_horizontal(pl.col("ev_rate_if_found") - pl.col("ev_rate_as_declared"), pl.lit(0.0)))
        * pl.col("declared_value_usd").cast(pl.Float64)
    )
    return (
        frame.with_columns(transship.cast(pl.Float64).alias("ev_transshipment_duty"),
                           as_declared.cast(pl.Float64).alias("ev_rate_as_declared"))
        .with_columns(if_found.cast(pl.Float64).alias("ev_rate_if_found"))
        .with_columns(at_risk.alias(DUTY_AT_RISK))
    )
