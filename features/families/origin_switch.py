"""Origin switch: did this buyer or seller change origin right after a tariff?

Compares the importer's supply of the HS6 from the tariffed origin in the 26 weeks before
the latest tariff event in force with the 8 completed weeks before arrival, flags new
supplier relationships formed since the event, counts the origins an exporter declares,
and measures the time since the event.
"""
from __future__ import annotations

import polars as pl

from features.families._context import DAY, EVENT_WEEK, HS6, VALUE_CENTS, WEEK, Context
from features.families._history import event_window_sums, first_seen, window_sums

BEFORE, NOW = 26, 8  # weeks


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    t = "ev_tariffed_origin"
    imp_t = dict(by_left=["importer_id", HS6, t], by_right=["importer_id", "hs6", "origin_country"], values=["value"])
    imp_all = dict(by_left=["importer_id", HS6], by_right=["importer_id", "hs6"], values=["value"])
    pre = dict(event_week=EVENT_WEEK, event_weeks=ctx.event_weeks, length=BEFORE)
    lf = event_window_sums(lf, ctx.raw["imports"], prefix="_os_bt_", queries=ctx.rows, lookups=ctx.lookups, **pre, **imp_t)
    lf = event_window_sums(lf, ctx.raw["imports_total"], prefix="_os_ba_", queries=ctx.rows, lookups=ctx.lookups, **pre, **imp_all)
    lf = window_sums(lf, ctx.cum["imports"], end=pl.col(WEEK) - 1, queries=ctx.rows, lookups=ctx.lookups, length=NOW, prefix="_os_nt_", **imp_t)
    lf = window_sums(lf, ctx.cum["imports_total"], end=pl.col(WEEK) - 1, queries=ctx.rows, lookups=ctx.lookups, length=NOW, prefix="_os_na_", **imp_all)
    lf = window_sums(lf, ctx.cum["exporter_origins"], by_left=["exporter_id"], by_right=["exporter_id"],
                     end=pl.col(DAY) - 1, queries=ctx.rows, lookups=ctx.lookups, length=None, values=["n"], prefix="_os_orig_", period="first_day")
    lf = first_seen(lf, ctx.first["first_exporter_origin"], on=["exporter_id", "origin_country"], name="_os_first_origin", queries=ctx.rows, lookups=ctx.lookups)
    lf = first_seen(lf, ctx.first["first_pair"], on=["importer_id", "exporter_id"], name="_os_first_pair", queries=ctx.rows, lookups=ctx.lookups)
    own = pl.col(VALUE_CENTS)  # the line's own value in cents
    # The line itself is never from the tariffed origin (by definition), so it adds only to the total.
    before = pl.when(pl.col(t).is_not_null() & (pl.col("_os_ba_value") > 0)).then(pl.col("_os_bt_value") / pl.col("_os_ba_value"))
    now = pl.col("_os_nt_value") / (pl.col("_os_na_value") + own)
    new_origin = pl.col("_os_first_origin").is_null() | (pl.col("_os_first_origin") >= pl.col(DAY))
    new_pair = pl.col("_os_first_pair").is_null() | (pl.col("_os_first_pair") >= pl.col("ev_event_date").cast(pl.Int32))
    lf = lf.with_columns(before.alias("ev_importer_share_before"), now.alias("ev_importer_share_now"))
    lf = lf.with_columns(
        (pl.col("ev_importer_share_before") - pl.col("ev_importer_share_now")).alias("os_tariffed_share_drop"),
        pl.when(new_pair).then(pl.col("ev_importer_share_before")).otherwise(pl.col("ev_importer_share_before") * 0.0)
        .alias("os_new_supplier_after_event"),
        (pl.col("_os_orig_n") + new_origin.cast(pl.Int64)).cast(pl.Float64).alias("os_exporter_origin_count"),
        (pl.col(DAY) - pl.col("ev_event_date").cast(pl.Int32)).cast(pl.Float64).alias("os_days_since_event"),
    )
    return lf.drop("_os_bt_value", "_os_ba_value", "_os_nt_value", "_os_na_value", "_os_orig_n", "_os_first_origin", "_os_first_pair")
