"""Value added: how much of what an exporter ships did it just import from the tariffed origin?

Reads the component imports of the transit country (``inputs``), joined on
``inputs.importer_id == shipments.exporter_id``. Without component imports, or for an
exporter with no component import before the arrival ("not covered"), every feature here
is null: missing evidence is unknown, never a reassuring 0.
"""
from __future__ import annotations

import polars as pl

from features.families._context import DAY, HS6, VALUE_CENTS, WEEK, Context
from features.families._history import CENTS, first_seen, window_sums

NAMES = ("va_pass_through_share", "va_value_added_ratio", "va_tariffed_content_share")
SHORT, LONG = 8, 26  # weeks


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    if not ctx.has_inputs:
        return lf.with_columns(
            *[pl.lit(None, dtype=pl.Float64).alias(n) for n in NAMES],
            pl.lit(None, dtype=pl.Float64).alias("ev_inputs_tariffed_usd"),
            pl.lit(None, dtype=pl.Float64).alias("ev_exports_recent_usd"),
            pl.lit(None, dtype=pl.Float64).alias("ev_inputs_to_exports"),
        )
    end = pl.col(WEEK) - 1
    tariffed = "ev_tariffed_origin"
    lf = window_sums(lf, ctx.cum["inputs"], by_left=["exporter_id", HS6, tariffed], by_right=["importer_id", "hs6", "supplier_country"],
                     end=end, queries=ctx.rows, lookups=ctx.lookups, length=SHORT, values=["value"], prefix="_va_in8_")
    lf = window_sums(lf, ctx.cum["exports"], by_left=["exporter_id", HS6], by_right=["exporter_id", "hs6"],
                     end=end, queries=ctx.rows, lookups=ctx.lookups, length=SHORT, values=["value"], prefix="_va_ex8_")
    lf = window_sums(lf, ctx.cum["inputs_total"], by_left=["exporter_id"], by_right=["importer_id"],
                     end=end, queries=ctx.rows, lookups=ctx.lookups, length=LONG, values=["value"], prefix="_va_in26_")
    lf = window_sums(lf, ctx.cum["inputs_by_country"], by_left=["exporter_id", tariffed], by_right=["importer_id", "supplier_country"],
                     end=end, queries=ctx.rows, lookups=ctx.lookups, length=LONG, values=["value"], prefix="_va_int26_")
    lf = window_sums(lf, ctx.cum["exports_total"], by_left=["exporter_id"], by_right=["exporter_id"],
                     end=end, queries=ctx.rows, lookups=ctx.lookups, length=LONG, values=["value"], prefix="_va_ex26_")
    lf = first_seen(lf, ctx.first["first_input_importer"], on=["exporter_id"], table_on=["importer_id"], name="_va_first_input", queries=ctx.rows, lookups=ctx.lookups)
    own = pl.col(VALUE_CENTS)  # the line's own value in cents
    covered = pl.col("_va_first_input") < pl.col(DAY)
    has_t = pl.col(tariffed).is_not_null()
    ex8 = pl.col("_va_ex8_value") + own
    ex26 = pl.col("_va_ex26_value") + own
    in26 = pl.col("_va_in26_value")
    lf = lf.with_columns(
        pl.when(covered & has_t).then(pl.col("_va_in8_value") / ex8).alias("va_pass_through_share"),
        pl.when(covered).then(1.0 - in26 / ex26).alias("va_value_added_ratio"),
        pl.when(covered & has_t & (in26 > 0)).then(pl.col("_va_int26_value") / in26).alias("va_tariffed_content_share"),
        pl.when(covered).then(pl.col("_va_in8_value") / CENTS).alias("ev_inputs_tariffed_usd"),
        pl.when(covered).then(ex8 / CENTS).alias("ev_exports_recent_usd"),
        # the same ratio the other way round reads better when inputs exceed exports
        pl.when(covered).then(in26 / ex26).alias("ev_inputs_to_exports"),
    )
    return lf.drop("_va_in8_value", "_va_ex8_value", "_va_in26_value", "_va_int26_value", "_va_ex26_value", "_va_first_input")
