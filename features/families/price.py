"""Price: is the line priced like goods of the declared origin or like the tariffed origin's?

Norms are the mean and spread of log USD/kg per (HS6, origin) over the months before the
arrival month (``features.params.PRICE_MONTHS``), from integer sums per (HS6, origin,
month) in the reference state, so fitting on past months and applying to a new one is
exact. A norm needs at least ``PRICE_MIN_LINES`` lines; otherwise it and the features
using it are null.
"""
from __future__ import annotations

import polars as pl

from features.families._context import HS6, MONTH, Context
from features.families._history import LOG_SCALE, Window
from features.params import PRICE_MIN_LINES, PRICE_MIN_SD, PRICE_MONTHS

#: Prefixes of the norm sums' columns: of the declared origin, of the tariffed origin.
_DECLARED, _TARIFFED = "_norm_declared_", "_norm_tariffed_"
_SUMS = ("priced", "s1", "s2")  # lines with a known unit value, sums of log USD/kg and its square


def _norm(prefix: str) -> tuple[pl.Expr, pl.Expr]:
    n = pl.col(f"{prefix}priced").cast(pl.Float64)
    s1 = pl.col(f"{prefix}s1") / LOG_SCALE
    s2 = pl.col(f"{prefix}s2") / LOG_SCALE
    ok = n >= PRICE_MIN_LINES
    mean = pl.when(ok).then(s1 / n)
    var = (s2 - s1 * s1 / n) / (n - 1)
    sd = pl.when(ok).then(var.clip(lower_bound=0.0).sqrt().clip(lower_bound=PRICE_MIN_SD))
    return mean, sd


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    for prefix, origin in ((_DECLARED, "origin_country"), (_TARIFFED, "ev_tariffed_origin")):
        lf = ctx.window_sums(lf, "price", on=[HS6, origin], table_on=["hs6", "origin_country"],
                             window=Window(before=MONTH, length=PRICE_MONTHS), values=_SUMS, prefix=prefix)
    mu_d, sd_d = _norm(_DECLARED)
    mu_t, _ = _norm(_TARIFFED)
    lu = (pl.col("declared_value_usd") / pl.col("weight_kg")).log()
    lf = lf.with_columns(
        (pl.col("declared_value_usd") / pl.col("weight_kg")).alias("ev_unit_value_kg"),
        mu_d.exp().alias("ev_norm_uv_declared"),
        pl.when(pl.col("ev_tariffed_origin").is_not_null()).then(mu_t.exp()).alias("ev_norm_uv_tariffed"),
        ((lu - mu_d).abs() - (lu - mu_t).abs()).alias("price_parity_tariffed"),
        ((lu - mu_d) / sd_d).alias("price_z_declared"),
        pl.when(pl.col("quantity") > 0).then(pl.col("declared_value_usd") / pl.col("quantity")).alias("ev_unit_value_qty"),
    )
    return lf.drop([f"{p}{v}" for p in (_DECLARED, _TARIFFED) for v in _SUMS])
