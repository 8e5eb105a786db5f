"""Price: is the line priced like goods of the declared origin or like the tariffed origin's?

Norms are the mean and spread of log USD/kg per (HS6, origin) over the 12 months before
the arrival month, from integer sums per (HS6, origin, month) in the reference state, so
fitting on past months and applying to a new one is exact. A norm needs at least
:data:`MIN_LINES` lines; otherwise it and the features using it are null.
"""
from __future__ import annotations

import polars as pl

from features.families._context import HS6, MONTH, Context
from features.families._history import LOG_SCALE, window_sums

MONTHS = 12
MIN_LINES = 5
#: A floor on the spread (in log units): a norm of identical prices would make every
#: small difference look enormous.
MIN_SD = 0.01


def _norm(prefix: str) -> tuple[pl.Expr, pl.Expr]:
    n = pl.col(f"{prefix}n").cast(pl.Float64)
    s1 = pl.col(f"{prefix}s1") / LOG_SCALE
    s2 = pl.col(f"{prefix}s2") / LOG_SCALE
    ok = n >= MIN_LINES
    mean = pl.when(ok).then(s1 / n)
    var = (s2 - s1 * s1 / n) / (n - 1)
    sd = pl.when(ok).then(var.clip(lower_bound=0.0).sqrt().clip(lower_bound=MIN_SD))
    return mean, sd


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    end = pl.col(MONTH) - 1
    for prefix, origin in (("_pd_", "origin_country"), ("_pt_", "ev_tariffed_origin")):
        lf = window_sums(lf, ctx.cum["price"], by_left=[HS6, origin], by_right=["hs6", "origin_country"],
                         end=end, queries=ctx.rows, lookups=ctx.lookups, length=MONTHS, values=["n", "s1", "s2"], prefix=prefix)
    mu_d, sd_d = _norm("_pd_")
    mu_t, _ = _norm("_pt_")
    lu = (pl.col("declared_value_usd") / pl.col("weight_kg")).log()
    lf = lf.with_columns(
        (pl.col("declared_value_usd") / pl.col("weight_kg")).alias("ev_unit_value_kg"),
        mu_d.exp().alias("ev_norm_uv_declared"),
        pl.when(pl.col("ev_tariffed_origin").is_not_null()).then(mu_t.exp()).alias("ev_norm_uv_tariffed"),
        ((lu - mu_d).abs() - (lu - mu_t).abs()).alias("price_parity_tariffed"),
        ((lu - mu_d) / sd_d).alias("price_z_declared"),
        pl.when(pl.col("quantity") > 0).then(pl.col("declared_value_usd") / pl.col("quantity")).alias("ev_unit_value_qty"),
    )
    return lf.drop([f"{p}{v}" for p in ("_pd_", "_pt_") for v in ("n", "s1", "s2")])
