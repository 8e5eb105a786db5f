"""Origin switch: did this buyer or seller change origin right after a tariff?

Compares the importer's supply of the HS6 from the tariffed origin in the weeks before
the latest tariff event in force (``features.params.LONG_WEEKS``) with the completed
weeks before arrival (``RECENT_WEEKS``), flags new supplier relationships formed since
the event, counts the origins an exporter declares, and measures the time since the event.
"""
from __future__ import annotations

import polars as pl

from features.families._context import DAY, HS6, VALUE_CENTS, WEEK, Context
from features.families._history import Window
from features.params import LONG_WEEKS, RECENT_WEEKS

#: The lookups' columns (dropped at the end).
_TEMP = ("_tariffed_before_value", "_all_before_value", "_tariffed_recent_value", "_all_recent_value",
         "_exporter_origins_n", "_first_origin_day", "_first_pair_day")


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    t = "ev_tariffed_origin"
    from_tariffed = dict(on=["importer_id", HS6, t], table_on=["importer_id", "hs6", "origin_country"], values=["value"])
    from_all = dict(on=["importer_id", HS6], table_on=["importer_id", "hs6"], values=["value"])
    recent = Window(before=WEEK, length=RECENT_WEEKS)  # the completed weeks before arrival
    lf = ctx.before_event(lf, "imports", weeks=LONG_WEEKS, prefix="_tariffed_before_", **from_tariffed)
    lf = ctx.before_event(lf, "imports_total", weeks=LONG_WEEKS, prefix="_all_before_", **from_all)
    lf = ctx.window_sums(lf, "imports", prefix="_tariffed_recent_", window=recent, **from_tariffed)
    lf = ctx.window_sums(lf, "imports_total", prefix="_all_recent_", window=recent, **from_all)
    lf = ctx.window_sums(lf, "exporter_origins", on=["exporter_id"], table_on=["exporter_id"],
                         window=Window(before=DAY, period="first_day"), values=["n"], prefix="_exporter_origins_")
    lf = lf.with_columns(
        ctx.first_days("first_exporter_origin", on=["exporter_id", "origin_country"]).alias("_first_origin_day"),
        ctx.first_days("first_pair", on=["importer_id", "exporter_id"]).alias("_first_pair_day"),
    )
    own = pl.col(VALUE_CENTS)  # the line's own value in cents
    # The line itself is never from the tariffed origin (by definition), so it adds only to the total.
    before = pl.when(pl.col(t).is_not_null() & (pl.col("_all_before_value") > 0)).then(
        pl.col("_tariffed_before_value") / pl.col("_all_before_value"))
    now = pl.col("_tariffed_recent_value") / (pl.col("_all_recent_value") + own)
    new_origin = pl.col("_first_origin_day").is_null() | (pl.col("_first_origin_day") >= pl.col(DAY))
    new_pair = pl.col("_first_pair_day").is_null() | (pl.col("_first_pair_day") >= pl.col("ev_event_date").cast(pl.Int32))
    lf = lf.with_columns(before.alias("ev_importer_share_before"), now.alias("ev_importer_share_now"))
    lf = lf.with_columns(
        (pl.col("ev_importer_share_before") - pl.col("ev_importer_share_now")).alias("os_tariffed_share_drop"),
        pl.when(new_pair).then(pl.col("ev_importer_share_before")).otherwise(pl.col("ev_importer_share_before") * 0.0)
        .alias("os_new_supplier_after_event"),
        (pl.col("_exporter_origins_n") + new_origin.cast(pl.Int64)).cast(pl.Float64).alias("os_exporter_origin_count"),
        (pl.col(DAY) - pl.col("ev_event_date").cast(pl.Int32)).cast(pl.Float64).alias("os_days_since_event"),
    )
    return lf.drop(_TEMP)
