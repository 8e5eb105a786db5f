"""Consistency: do the declared origin and the other facts on the declaration agree?

Row-local: country of export, the port of lading's country (UN/LOCODE's first two
letters) and the manufacturer ID's country (a US MID starts with the ISO country code)
against the declared origin, and the MID country against the tariffed origin. From
history: the share of the exporter's lines so far (earlier weeks, plus this line) that
carry such a foreign mark - a shell that lets a Chinese MID or port slip on some lines
is suspect on all of them, while a real factory's marks agree with its origin.
"""
from __future__ import annotations

import polars as pl

from features.families._context import FOREIGN_MARK, LADING_COUNTRY, MID_COUNTRY, WEEK, Context
from features.families._history import Window


def _flag(cond: pl.Expr) -> pl.Expr:
    return cond.cast(pl.Float64)


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    origin = pl.col("origin_country")
    lf = ctx.window_sums(lf, "exporter_marks", on=["exporter_id"], table_on=["exporter_id"], window=Window(before=WEEK),
                         values=["n", "foreign"], prefix="_exporter_earlier_")
    lines, foreign = pl.col("_exporter_earlier_n"), pl.col("_exporter_earlier_foreign")
    lading, mid = pl.col(LADING_COUNTRY), pl.col(MID_COUNTRY)
    marked = (foreign + pl.col(FOREIGN_MARK)) / (lines + 1)  # earlier lines, plus this one
    return lf.with_columns(
        _flag(pl.col("export_country") != origin).alias("cons_export_country_mismatch"),
        _flag(lading != origin).alias("cons_lading_country_mismatch"),
        _flag(mid != origin).alias("cons_mid_country_mismatch"),
        pl.when(mid.is_not_null())
        .then(_flag(mid.eq_missing(pl.col("ev_tariffed_origin"))))
        .alias("cons_mid_is_tariffed_origin"),
        marked.cast(pl.Float64).alias("cons_exporter_foreign_marks"),
        (lines + 1).cast(pl.Float64).alias("ev_exporter_lines"),
    ).drop("_exporter_earlier_n", "_exporter_earlier_foreign")
