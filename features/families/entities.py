"""Entities: who is shipping - new firms, shells, and origins that suddenly grow.

Ages come from first-seen days (state + earlier rows of the file); the early-volume surge
counts an exporter's lines in its first 13 weeks; chapter breadth counts distinct HS
chapters; the origin share jump compares the declared origin's national share of the HS6
now with the 26 weeks before the tariff event.
"""
from __future__ import annotations

import polars as pl

from features.families._context import CHAPTER, DAY, EVENT_WEEK, HS6, VALUE_CENTS, WEEK, Context
from features.families._history import _EPOCH_MONDAY_DAYS, event_window_sums, first_days, first_seen, window_sums

EARLY_WEEKS = 13
NEW_EXPORTER_DAYS = 365
BEFORE, NOW = 26, 8


def _age(first: str) -> pl.Expr:
    # A first line not in the history (an old row outside the state) is its own first sighting.
    return (pl.col(DAY) - pl.min_horizontal(pl.col(first), pl.col(DAY))).cast(pl.Float64)


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    first_exp = first_days(ctx.rows, ctx.first["first_exporter"], on=["exporter_id"], lookups=ctx.lookups)
    lf = lf.with_columns(first_exp.alias("_en_first_exp"))
    lf = first_seen(lf, ctx.first["first_importer"], on=["importer_id"], name="_en_first_imp", queries=ctx.rows, lookups=ctx.lookups)
    lf = first_seen(lf, ctx.first["first_exporter_chapter"], on=["exporter_id", CHAPTER], table_on=["exporter_id", "chapter"], name="_en_first_ch", queries=ctx.rows, lookups=ctx.lookups)
    first_day = pl.min_horizontal(pl.col("_en_first_exp"), pl.col(DAY))
    lf = lf.with_columns(((first_day - _EPOCH_MONDAY_DAYS) // 7 + EARLY_WEEKS - 1).cast(pl.Int32).alias("_en_early_last"))
    # Lines in the first 13 weeks: while inside them, everything shipped so far (one
    # lookup up to the week before arrival); afterwards, the exporter's fixed early total.
    lf = window_sums(lf, ctx.cum["exports_total"], by_left=["exporter_id"], by_right=["exporter_id"],
                     end=pl.col(WEEK) - 1, queries=ctx.rows, lookups=ctx.lookups, length=None, values=["n"], prefix="_en_sofar_")
    # The exporter's fixed early total: its lines up to the end of its first 13 weeks in the
    # history (the week index of its first day, + 12); no history, no total (0).
    early_hist_last = (first_exp - _EPOCH_MONDAY_DAYS) // 7 + EARLY_WEEKS - 1
    lf = window_sums(lf, ctx.cum["exports_total"], by_left=["exporter_id"], by_right=["exporter_id"],
                     end=early_hist_last, queries=ctx.rows, lookups=ctx.lookups, length=None, values=["n"], prefix="_en_early_total_")
    lf = window_sums(lf, ctx.cum["exporter_chapters"], by_left=["exporter_id"], by_right=["exporter_id"],
                     end=pl.col(DAY) - 1, queries=ctx.rows, lookups=ctx.lookups, length=None, values=["n"], prefix="_en_ch_", period="first_day")
    nat = dict(by_left=[HS6, "origin_country"], by_right=["hs6", "origin_country"], values=["value"])
    tot = dict(by_left=[HS6], by_right=["hs6"], values=["value"])
    pre = dict(event_week=EVENT_WEEK, event_weeks=ctx.event_weeks, length=BEFORE)
    lf = window_sums(lf, ctx.cum["national"], end=pl.col(WEEK) - 1, queries=ctx.rows, lookups=ctx.lookups, length=NOW, prefix="_en_nn_", **nat)
    lf = window_sums(lf, ctx.cum["national_total"], end=pl.col(WEEK) - 1, queries=ctx.rows, lookups=ctx.lookups, length=NOW, prefix="_en_nt_", **tot)
    lf = event_window_sums(lf, ctx.raw["national"], prefix="_en_bn_", queries=ctx.rows, lookups=ctx.lookups, **pre, **nat)
    lf = event_window_sums(lf, ctx.raw["national_total"], prefix="_en_bt_", queries=ctx.rows, lookups=ctx.lookups, **pre, **tot)
    own = pl.col(VALUE_CENTS)  # the line's own value in cents
    inside = pl.col(WEEK) <= pl.col("_en_early_last")
    early = pl.when(inside).then(pl.col("_en_sofar_n") + 1).otherwise(pl.col("_en_early_total_n"))
    new_ch = pl.col("_en_first_ch").is_null() | (pl.col("_en_first_ch") >= pl.col(DAY))
    share_now = (pl.col("_en_nn_value") + own) / (pl.col("_en_nt_value") + own)
    share_before = pl.when(pl.col("_en_bt_value") > 0).then(pl.col("_en_bn_value") / pl.col("_en_bt_value"))
    lf = lf.with_columns(
        _age("_en_first_exp").alias("ent_exporter_age_days"),
        pl.when(_age("_en_first_exp") <= NEW_EXPORTER_DAYS).then(early).otherwise(0).cast(pl.Float64).alias("ent_exporter_early_volume"),
        _age("_en_first_imp").alias("ent_importer_age_days"),
        (pl.col("_en_ch_n") + new_ch.cast(pl.Int64)).cast(pl.Float64).alias("ent_exporter_hs_chapters"),
        pl.when(pl.col("ev_tariffed_origin").is_not_null()).then(share_now - share_before).alias("ent_origin_share_jump"),
        share_now.alias("ev_origin_share_now"),
        share_before.alias("ev_origin_share_before"),
    )
    return lf.drop(
        "_en_first_exp", "_en_first_imp", "_en_first_ch", "_en_early_last", "_en_sofar_n", "_en_early_total_n", "_en_ch_n",
        "_en_nn_value", "_en_nt_value", "_en_bn_value", "_en_bt_value",
    )
