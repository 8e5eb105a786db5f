"""Entities: who is shipping - new firms, shells, and origins that suddenly grow.

Ages come from first-seen days (state + earlier rows of the file); the early-volume surge
counts an exporter's lines in its first weeks (``features.params.EARLY_WEEKS``); chapter
breadth counts distinct HS chapters; the origin share jump compares the declared origin's
national share of the HS6 now (``RECENT_WEEKS``) with the weeks before the tariff event
(``LONG_WEEKS``).
"""
from __future__ import annotations

import polars as pl

from features.families._context import CHAPTER, DAY, HS6, VALUE_CENTS, WEEK, Context
from features.families._history import Window, week_of_day
from features.params import EARLY_WEEKS, LONG_WEEKS, NEW_EXPORTER_DAYS, RECENT_WEEKS

#: The lookups' columns (dropped at the end).
_TEMP = ("_first_exporter_day", "_first_importer_day", "_first_chapter_day", "_early_last_week", "_exporter_sofar_n",
         "_exporter_early_n", "_exporter_chapters_n", "_origin_recent_value", "_all_recent_value", "_origin_before_value",
         "_all_before_value")


def _age(first: str) -> pl.Expr:
    # A first line not in the history (an old row outside the state) is its own first sighting.
    return (pl.col(DAY) - pl.min_horizontal(pl.col(first), pl.col(DAY))).cast(pl.Float64)


def _last_early_week(first_day: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """The week index of the last of an exporter's first weeks, from its first day."""
    return week_of_day(first_day) + EARLY_WEEKS - 1


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    first_exporter = ctx.first_days("first_exporter", on=["exporter_id"])
    lf = lf.with_columns(
        first_exporter.alias("_first_exporter_day"),
        ctx.first_days("first_importer", on=["importer_id"]).alias("_first_importer_day"),
        ctx.first_days("first_exporter_chapter", on=["exporter_id", CHAPTER], table_on=["exporter_id", "chapter"])
        .alias("_first_chapter_day"),
    )
    first_day = pl.min_horizontal(pl.col("_first_exporter_day"), pl.col(DAY))
    lf = lf.with_columns(_last_early_week(first_day).cast(pl.Int32).alias("_early_last_week"))
    # Lines in the first weeks: while inside them, everything shipped so far (one lookup up
    # to the week before arrival); afterwards, the exporter's fixed early total: its lines up
    # to the end of its first weeks in the history (no history, no total: 0).
    exporter = dict(on=["exporter_id"], table_on=["exporter_id"], values=["n"])
    lf = ctx.window_sums(lf, "exports_total", window=Window(before=WEEK), prefix="_exporter_sofar_", **exporter)
    lf = ctx.window_sums(lf, "exports_total", window=Window(before=_last_early_week(first_exporter) + 1),
                         prefix="_exporter_early_", **exporter)
    lf = ctx.window_sums(lf, "exporter_chapters", window=Window(before=DAY, period="first_day"), prefix="_exporter_chapters_",
                         **exporter)
    from_origin = dict(on=[HS6, "origin_country"], table_on=["hs6", "origin_country"], values=["value"])
    from_all = dict(on=[HS6], table_on=["hs6"], values=["value"])
    recent = Window(before=WEEK, length=RECENT_WEEKS)  # the completed weeks before arrival
    lf = ctx.window_sums(lf, "national", prefix="_origin_recent_", window=recent, **from_origin)
    lf = ctx.window_sums(lf, "national_total", prefix="_all_recent_", window=recent, **from_all)
    lf = ctx.before_event(lf, "national", weeks=LONG_WEEKS, prefix="_origin_before_", **from_origin)
    lf = ctx.before_event(lf, "national_total", weeks=LONG_WEEKS, prefix="_all_before_", **from_all)
    own = pl.col(VALUE_CENTS)  # the line's own value in cents
    inside = pl.col(WEEK) <= pl.col("_early_last_week")
    early = pl.when(inside).then(pl.col("_exporter_sofar_n") + 1).otherwise(pl.col("_exporter_early_n"))
    new_chapter = pl.col("_first_chapter_day").is_null() | (pl.col("_first_chapter_day") >= pl.col(DAY))
    share_now = (pl.col("_origin_recent_value") + own) / (pl.col("_all_recent_value") + own)
    share_before = pl.when(pl.col("_all_before_value") > 0).then(pl.col("_origin_before_value") / pl.col("_all_before_value"))
    lf = lf.with_columns(
        _age("_first_exporter_day").alias("ent_exporter_age_days"),
        pl.when(_age("_first_exporter_day") <= NEW_EXPORTER_DAYS).then(early).otherwise(0).cast(pl.Float64)
        .alias("ent_exporter_early_volume"),
        _age("_first_importer_day").alias("ent_importer_age_days"),
        (pl.col("_exporter_chapters_n") + new_chapter.cast(pl.Int64)).cast(pl.Float64).alias("ent_exporter_hs_chapters"),
        pl.when(pl.col("ev_tariffed_origin").is_not_null()).then(share_now - share_before).alias("ent_origin_share_jump"),
        share_now.alias("ev_origin_share_now"),
        share_before.alias("ev_origin_share_before"),
    )
    return lf.drop(_TEMP)
