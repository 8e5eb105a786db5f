"""Consistency: do the declared origin and the other facts on the declaration agree?

Row-local (no history): country of export, the port of lading's country (UN/LOCODE's first
two letters) and the manufacturer ID's country (a US MID starts with the ISO country code)
against the declared origin, and the MID country against the tariffed origin.
"""
from __future__ import annotations

import polars as pl

from features.families._context import Context


def _flag(cond: pl.Expr) -> pl.Expr:
    return cond.cast(pl.Float64)


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    origin = pl.col("origin_country")
    lading = pl.col("port_of_lading").str.strip_chars().str.to_uppercase().str.slice(0, 2)
    mid = pl.col("manufacturer_id").str.strip_chars().str.to_uppercase().str.slice(0, 2)
    lading = pl.when(lading.str.len_chars() == 2).then(lading)
    mid = pl.when(mid.str.len_chars() == 2).then(mid)
    # Countries first, compared second: each string expression then runs once.
    lf = lf.with_columns(lading.alias("ev_lading_country"), mid.alias("ev_mid_country"))
    lading, mid = pl.col("ev_lading_country"), pl.col("ev_mid_country")
    return lf.with_columns(
        _flag(pl.col("export_country") != origin).alias("cons_export_country_mismatch"),
        _flag(lading != origin).alias("cons_lading_country_mismatch"),
        _flag(mid != origin).alias("cons_mid_country_mismatch"),
        pl.when(mid.is_not_null())
        .then(_flag(mid.eq_missing(pl.col("ev_tariffed_origin"))))
        .alias("cons_mid_is_tariffed_origin"),
    )
