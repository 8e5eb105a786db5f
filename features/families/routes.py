"""Routes: is the line on a route whose transit country's exports follow its imports from the tariffed origin?

A line's **route** is its product (HS6), its tariffed origin O and its declared origin T,
the transit country (``ev_route``, e.g. ``854142-CN-VN``). Two flows of the route are read
point-in-time, over completed weeks only (see ``features/families/_history.py``):

* **D<-T**, T's exports of the product here: the declared imports of the HS6 from T (the
  ``national`` history: every line of the shipments, as declared);
* **T<-O**, T's imports of the product from O: the component imports of the HS6 supplied
  by O to firms of T. Component imports name no country of their own: an import is
  counted as T's when T is the first origin its importer ever declared as an exporter,
  and it counts from the later of its own week and the week of that first declaration,
  so a line never reads a firm's country before the firm was seen.

Each flow is read as a weekly rate over the ``RECENT_WEEKS`` completed weeks before arrival
("now") and over the ``LONG_WEEKS`` weeks before the tariff event ("before"), each over
the weeks its source covers (from the first week the history holds of it; weeks without
trade are zeros). ``route_transit_cover`` is the share of T's exports now that its imports
of the same product from O cover, when both rose since the event (the route screen's
criteria (b) and (c), ``features/routes.py``); 0 when either did not. It is unknown (null)
without component imports, without a tariffed origin, when T's exports now are nil, or
when a source covers none of the weeks compared.

The value is the route's, shared by every line on it, honest and re-routed alike: it says
where to look, the line-level features say which lines.
"""
from __future__ import annotations

from dataclasses import replace

import polars as pl

from features.families._context import EVENT_WEEK, HS6, WEEK, Context
from features.families._history import CENTS, History, Table, Window, first_sightings, parts, week_of_day
from features.params import LONG_WEEKS, RECENT_WEEKS

NAME = "route_transit_cover"
EVIDENCE = ("ev_route", "ev_route_exports_before_usd", "ev_route_exports_recent_usd", "ev_route_imports_before_usd",
            "ev_route_imports_recent_usd")
#: The history this family derives: the transit countries' imports by (HS6, supplier, country).
TRANSIT = "route_transit_imports"
#: The lookups' columns (dropped at the end).
_TEMP = ("_rt_exports_recent_value", "_rt_exports_before_value", "_rt_imports_recent_value", "_rt_imports_before_value")


def _frames(ctx: Context, hist: History, logical: list[str]) -> list[pl.DataFrame]:
    """The history rows of each part of ``hist`` (rows that are history only), by logical column names."""
    out = []
    for part in parts(hist):
        cols = [pl.col(c).alias(n) for n, c in zip(logical, part.cols(logical), strict=True)]
        df = part.table.frame
        if part.keep is None:
            out.append(df.select(cols))
        else:
            out.append(df.select(*cols, pl.col(part.keep).fill_null(False).alias("_keep")).filter("_keep").drop("_keep"))
    return out


def _first_period(ctx: Context, hist: History) -> int | None:
    """The first period the history holds (None: it holds nothing)."""
    firsts = [df.get_column("period").min() for df in _frames(ctx, hist, ["period"])]
    known = [int(p) for p in firsts if p is not None]
    return min(known) if known else None


def firm_countries(ctx: Context) -> pl.DataFrame:
    """``exporter_id``, ``country`` (the first origin it declared; ties: the first code) and
    ``first_day``, the day of that first declaration, from the first-seen history."""
    keys = ["exporter_id", "origin_country"]
    seen = [first_sightings(part, keys) for part in parts(ctx.firsts["first_exporter_origin"])]
    if not seen:
        return pl.DataFrame(schema={"exporter_id": pl.String, "country": pl.String, "first_day": pl.Int32})
    return pl.concat(seen, how="vertical_relaxed").group_by("exporter_id").agg(
        pl.col("origin_country").sort_by("first_day", "origin_country").first().alias("country"),
        pl.col("first_day").min(),
    )


def transit_imports(ctx: Context) -> pl.DataFrame:
    """Weekly history of the transit countries' imports: ``hs6``, ``supplier_country``,
    ``country``, ``period`` (the later of the import's week and its firm's first week) and
    ``value`` in cents. Imports of firms never seen exporting are not any country's.

    Only the products and suppliers the build's lines are on a route of are kept (their
    HS6 and tariffed origin): the rest of the component imports is never looked up, and
    a copy of the whole history would be the build's largest table.
    """
    cols = ["importer_id", "hs6", "supplier_country", "period", "value"]
    wanted = ctx.rows.frame.select(
        pl.col(HS6).alias("hs6"), pl.col("ev_tariffed_origin").alias("supplier_country")).drop_nulls().unique()
    kept = [df.join(wanted, on=["hs6", "supplier_country"], how="semi") for df in _frames(ctx, ctx.sums["inputs"], cols)]
    rows = pl.concat(kept, how="vertical_relaxed") if kept else pl.DataFrame(
        schema={"importer_id": pl.String, "hs6": pl.String, "supplier_country": pl.String, "period": pl.Int32,
                "value": pl.Int64})
    firms = firm_countries(ctx)
    known = week_of_day(pl.col("first_day")).cast(pl.Int32)
    return rows.join(firms, left_on="importer_id", right_on="exporter_id", how="inner").select(
        "hs6", "supplier_country", "country", pl.max_horizontal(pl.col("period").cast(pl.Int32), known).alias("period"),
        "value",
    )


def _covered(lo: pl.Expr, hi: pl.Expr, first: int | None) -> pl.Expr:
    """Weeks of ``[lo, hi]`` on or after the source's first week (0 when it has none)."""
    if first is None:
        return pl.lit(0, dtype=pl.Int64)
    return (hi - pl.max_horizontal(lo, pl.lit(first)) + 1).clip(lower_bound=0).cast(pl.Int64)


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    t = "ev_tariffed_origin"
    route = pl.when(pl.col(t).is_not_null() & pl.col(HS6).is_not_null() & pl.col("origin_country").is_not_null()).then(
        pl.format("{}-{}-{}", pl.col(HS6), pl.col(t), pl.col("origin_country")))
    if not ctx.has_inputs:
        return lf.with_columns(route.alias("ev_route"), pl.lit(None, dtype=pl.Float64).alias(NAME),
                               *[pl.lit(None, dtype=pl.Float64).alias(n) for n in EVIDENCE[1:]])
    rctx = replace(ctx, sums={**ctx.sums, TRANSIT: Table(transit_imports(ctx))})
    recent = dict(window=Window(before=WEEK, length=RECENT_WEEKS))
    exports = dict(on=[HS6, "origin_country"], table_on=["hs6", "origin_country"], values=["value"])
    imports = dict(on=[HS6, t, "origin_country"], table_on=["hs6", "supplier_country", "country"], values=["value"])
    lf = rctx.window_sums(lf, "national", prefix="_rt_exports_recent_", **recent, **exports)
    lf = rctx.before_event(lf, "national", weeks=LONG_WEEKS, prefix="_rt_exports_before_", **exports)
    lf = rctx.window_sums(lf, TRANSIT, prefix="_rt_imports_recent_", **recent, **imports)
    lf = rctx.before_event(lf, TRANSIT, weeks=LONG_WEEKS, prefix="_rt_imports_before_", **imports)

    # Weekly rates over the weeks each source covers (the component imports are read from
    # their own first week, not the shifted one: a week before it is unknown, not nil).
    ships_first, inputs_first = _first_period(ctx, ctx.sums["national"]), _first_period(ctx, ctx.sums["inputs"])
    week, event = pl.col(WEEK), pl.col(EVENT_WEEK)
    now_lo, now_hi, before_lo, before_hi = week - RECENT_WEEKS, week - 1, event - LONG_WEEKS, event - 1

    def rate(total: str, weeks: pl.Expr) -> pl.Expr:
        return pl.when(weeks > 0).then(pl.col(total) / weeks / CENTS)

    exports_now = rate("_rt_exports_recent_value", _covered(now_lo, now_hi, ships_first))
    exports_before = rate("_rt_exports_before_value", _covered(before_lo, before_hi, ships_first))
    imports_now = rate("_rt_imports_recent_value", _covered(now_lo, now_hi, inputs_first))
    imports_before = rate("_rt_imports_before_value", _covered(before_lo, before_hi, inputs_first))
    on_route = route.is_not_null()
    lf = lf.with_columns(
        route.alias("ev_route"),
        pl.when(on_route).then(exports_before).alias("ev_route_exports_before_usd"),
        pl.when(on_route).then(exports_now).alias("ev_route_exports_recent_usd"),
        pl.when(on_route).then(imports_before).alias("ev_route_imports_before_usd"),
        pl.when(on_route).then(imports_now).alias("ev_route_imports_recent_usd"),
    )
    ex_b, ex_n = pl.col("ev_route_exports_before_usd"), pl.col("ev_route_exports_recent_usd")
    im_b, im_n = pl.col("ev_route_imports_before_usd"), pl.col("ev_route_imports_recent_usd")
    known = pl.all_horizontal(c.is_not_null() for c in (ex_b, ex_n, im_b, im_n)) & (ex_n > 0)
    rose = (ex_n > ex_b) & (im_n > im_b)
    cover = pl.when(known).then(pl.when(rose).then(im_n / ex_n).otherwise(0.0))
    return lf.with_columns(cover.alias(NAME)).drop(_TEMP)
