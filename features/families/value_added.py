"""Value added: how much of what an exporter ships did it just import from the tariffed origin?

Reads the component imports of the transit country (``inputs``), joined on
``inputs.importer_id == shipments.exporter_id``. Without component imports, or for an
exporter with no component import before the arrival ("not covered"), every feature here
is null: missing evidence is unknown, never a reassuring 0.
"""
from __future__ import annotations

import polars as pl

from features.families._context import DAY, HS6, VALUE_CENTS, WEEK, Context
from features.families._history import CENTS, Window
from features.params import LONG_WEEKS, RECENT_WEEKS

NAMES = ("va_pass_through_share", "va_value_added_ratio", "va_tariffed_content_share")
EVIDENCE = ("ev_inputs_tariffed_usd", "ev_exports_recent_usd", "ev_inputs_to_exports")
#: The lookups' columns (dropped at the end): recent and long-window sums, first input day.
_TEMP = ("_inputs_tariffed_recent_value", "_exports_recent_value", "_inputs_long_value", "_inputs_tariffed_long_value",
         "_exports_long_value", "_first_input_day")


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if not ctx.has_inputs:
        return lf.with_columns(pl.lit(None, dtype=pl.Float64).alias(n) for n in (*NAMES, *EVIDENCE))
    tariffed = "ev_tariffed_origin"
    recent = dict(window=Window(before=WEEK, length=RECENT_WEEKS), values=["value"])
    long = dict(window=Window(before=WEEK, length=LONG_WEEKS), values=["value"])
    lf = ctx.window_sums(lf, "inputs", on=["exporter_id", HS6, tariffed], table_on=["importer_id", "hs6", "supplier_country"],
                         prefix="_inputs_tariffed_recent_", **recent)
    lf = ctx.window_sums(lf, "exports", on=["exporter_id", HS6], table_on=["exporter_id", "hs6"],
                         prefix="_exports_recent_", **recent)
    lf = ctx.window_sums(lf, "inputs_total", on=["exporter_id"], table_on=["importer_id"], prefix="_inputs_long_", **long)
    lf = ctx.window_sums(lf, "inputs_by_country", on=["exporter_id", tariffed], table_on=["importer_id", "supplier_country"],
                         prefix="_inputs_tariffed_long_", **long)
    lf = ctx.window_sums(lf, "exports_total", on=["exporter_id"], table_on=["exporter_id"], prefix="_exports_long_", **long)
    lf = lf.with_columns(ctx.first_days("first_input_importer", on=["exporter_id"], table_on=["importer_id"]).alias("_first_input_day"))
    own = pl.col(VALUE_CENTS)  # the line's own value in cents
    covered = pl.col("_first_input_day") < pl.col(DAY)
    has_t = pl.col(tariffed).is_not_null()
    tariffed_recent = pl.col("_inputs_tariffed_recent_value")
    exports_recent = pl.col("_exports_recent_value") + own
    exports_long = pl.col("_exports_long_value") + own
    inputs_long = pl.col("_inputs_long_value")
    lf = lf.with_columns(
        pl.when(covered & has_t).then(tariffed_recent / exports_recent).alias("va_pass_through_share"),
        pl.when(covered).then(1.0 - inputs_long / exports_long).alias("va_value_added_ratio"),
        pl.when(covered & has_t & (inputs_long > 0)).then(pl.col("_inputs_tariffed_long_value") / inputs_long)
        .alias("va_tariffed_content_share"),
        pl.when(covered).then(tariffed_recent / CENTS).alias("ev_inputs_tariffed_usd"),
        pl.when(covered).then(exports_recent / CENTS).alias("ev_exports_recent_usd"),
        # the same ratio the other way round reads better when inputs exceed exports
        pl.when(covered).then(inputs_long / exports_long).alias("ev_inputs_to_exports"),
    )
    return lf.drop(_TEMP)
