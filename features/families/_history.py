"""Point-in-time lookups over bucketed history: the one mechanism every history feature uses.

History is kept as per (key, period) sums in **integers** (US cents, counts, log unit
values quantised to 1e-6). Integer sums are exact and associative, so a state fitted on
January-May plus June's own rows gives bit-for-bit the same sums as January-June at once,
whatever the order or grouping: this is what makes fit/apply exact.

A window sum over periods ``[end - length + 1, end]`` is ``cum(end) - cum(end - length)``,
where ``cum`` is the running total per key, read with a backward ``join_asof``. Lookups
always end at ``period_of(arrival) - 1``: a shipment sees only *completed* weeks (or
months) before the one it arrived in, so rows of the same day - and of the same week -
are never used. That is the point-in-time rule, and later rows cannot change it.
"""
from __future__ import annotations

from collections.abc import Sequence

import polars as pl

#: Monday 1970-01-05: weeks start on Mondays so a week index is (date - epoch_monday) // 7.
_EPOCH_MONDAY_DAYS = 4
CENTS = 100
LOG_SCALE = 1_000_000


def week_of(date: pl.Expr) -> pl.Expr:
    """Monday-based week index (Int32) of a Date expression."""
    return ((date.cast(pl.Int32) - _EPOCH_MONDAY_DAYS) // 7).cast(pl.Int32)


def month_of(date: pl.Expr) -> pl.Expr:
    """Month index (Int32): year * 12 + month - 1."""
    return (date.dt.year().cast(pl.Int32) * 12 + date.dt.month().cast(pl.Int32) - 1).cast(pl.Int32)


def day_of(date: pl.Expr) -> pl.Expr:
    """Day index (Int32) of a Date expression."""
    return date.cast(pl.Int32)


def cents(value: pl.Expr) -> pl.Expr:
    """A USD amount as integer cents (exact, order-independent sums)."""
    return (value * CENTS).round(0).cast(pl.Int64)


def hs6(hs_code: pl.Expr) -> pl.Expr:
    """The 6-digit HS subheading: the level at which the contract's codes are comparable."""
    return hs_code.str.slice(0, 6)


def cumulate(hist: pl.LazyFrame, keys: Sequence[str], values: Sequence[str], period: str = "period") -> pl.LazyFrame:
    """Per-key running totals of integer ``values`` ordered by ``period``.

    Re-aggregates first (a state and a file may both hold the same (key, period)), then
    sorts by key and period and takes a global cumulative sum minus the total reached
    before the key's first row. This avoids ``.over`` on millions of small groups
    (FACTS.md) and is exact because the values are integers.
    """
    keys = list(keys)
    # Rows of one key only need to be contiguous and in period order: sorting by a 64-bit
    # hash of the key is much cheaper than by the strings themselves. (Two keys sharing a
    # hash - odds about 1e-8 at a million keys - would interleave; the key-change test
    # below would then restart their totals at each row.)
    agg = (
        hist.group_by([*keys, period])
        .agg([pl.col(v).sum() for v in values])
        .with_columns(pl.struct(keys).hash(seed=0).alias("_key_hash"))
        .sort(["_key_hash", period])
        .drop("_key_hash")
    )
    first = pl.any_horizontal([pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys]) | (pl.int_range(pl.len()) == 0)
    exprs = []
    for v in values:
        run = pl.col(v).cum_sum()
        base = pl.when(first).then(run - pl.col(v)).otherwise(None).forward_fill()
        exprs.append((run - base).alias(v))
    return agg.with_columns(exprs)


def window_sums(
    lf: pl.LazyFrame,
    cum: pl.LazyFrame,
    *,
    by_left: Sequence[str],
    by_right: Sequence[str],
    end: pl.Expr,
    length: int | None,
    values: Sequence[str],
    prefix: str,
    period: str = "period",
    presorted: bool = False,
) -> pl.LazyFrame:
    """Add ``{prefix}{value}``: the sum of ``value`` over periods ``[end - length + 1, end]``
    (``length=None``: every period up to ``end``, one lookup instead of two).

    ``cum`` comes from :func:`cumulate`. Keys with no history give 0 (a count of nothing),
    never null; rows whose key is null give 0 too, and features decide what that means.

    ``presorted=True`` promises that ``end`` does not decrease along the frame's current
    order (e.g. ``week - 1`` on a frame sorted by arrival day), which saves a sort per lookup.
    """
    by_left, by_right = list(by_left), list(by_right)
    q_hi, q_lo = f"_{prefix}q_hi", f"_{prefix}q_lo"
    lf = lf.with_columns(end.cast(pl.Int32).alias(q_hi))
    lf = lf.with_columns(pl.col(q_hi).set_sorted()) if presorted else lf.sort(q_hi)
    # q_lo = q_hi - length keeps the order, so one sort serves both lookups.
    lookups = [(q_hi, "hi")]
    if length is not None:
        lf = lf.with_columns((pl.col(q_hi) - length).set_sorted().alias(q_lo))
        lookups.append((q_lo, "lo"))
    for q, tag in lookups:
        right = cum.select(
            [pl.col(k).alias(f"_{prefix}{tag}_k{i}") for i, k in enumerate(by_right)]
            + [pl.col(period).cast(pl.Int32).alias(q)]
            + [pl.col(v).alias(f"_{prefix}{tag}_{v}") for v in values]
        )
        lf = lf.join_asof(
            right,
            on=q,
            by_left=by_left,
            by_right=[f"_{prefix}{tag}_k{i}" for i in range(len(by_right))],
            strategy="backward",
            check_sortedness=False,
        )
    out = [
        (pl.col(f"_{prefix}hi_{v}").fill_null(0) - (pl.col(f"_{prefix}lo_{v}").fill_null(0) if length is not None else 0))
        .alias(f"{prefix}{v}")
        for v in values
    ]
    drop = [q for q, _ in lookups] + [f"_{prefix}{tag}_{v}" for _, tag in lookups for v in values]
    return lf.with_columns(out).drop(drop)


def first_seen(lf: pl.LazyFrame, table: pl.LazyFrame, *, on: Sequence[str], name: str, table_on: Sequence[str] | None = None) -> pl.LazyFrame:
    """Join ``first_day`` (Int32 day index) of the keys ``on`` from a first-seen table as ``name``.

    The earliest date of an entity is point-in-time safe to read: if it is before the
    shipment's arrival, it was known then; later rows can only move it earlier if they
    are earlier, which appended later rows are not.
    """
    table_on = list(table_on or on)
    right = table.group_by(table_on).agg(pl.col("first_day").min().alias(name))
    return lf.join(right, left_on=list(on), right_on=table_on, how="left", maintain_order="left")


def event_window_sums(
    lf: pl.LazyFrame,
    hist: pl.LazyFrame,
    *,
    by_left: Sequence[str],
    by_right: Sequence[str],
    event_week: str,
    event_weeks: Sequence[int],
    length: int,
    values: Sequence[str],
    prefix: str,
) -> pl.LazyFrame:
    """Add ``{prefix}{value}``: the sum over the ``length`` weeks before the row's event week.

    Tariff events are few, so the window sums are computed once per distinct event week
    from the raw (not cumulated) history and joined by (keys, event week): a hash join that
    keeps the frame's order, instead of a sort and two as-of lookups. The window ends before
    the event, which is before the arrival: point-in-time by construction.
    """
    by_left, by_right = list(by_left), list(by_right)
    keys = [f"_{prefix}k{i}" for i in range(len(by_right))]
    wk = f"_{prefix}week"
    if not event_weeks:
        return lf.with_columns([pl.lit(0, dtype=pl.Int64).alias(f"{prefix}{v}") for v in values])
    parts = [
        hist.filter(pl.col("period").is_between(e - length, e - 1))
        .group_by(by_right)
        .agg([pl.col(v).sum() for v in values])
        .with_columns(pl.lit(e, dtype=pl.Int32).alias(wk))
        for e in sorted(set(event_weeks))
    ]
    table = pl.concat(parts).select(
        [pl.col(k).alias(a) for k, a in zip(by_right, keys)] + [wk] + [pl.col(v).alias(f"{prefix}{v}") for v in values]
    )
    lf = lf.join(table, left_on=[*by_left, event_week], right_on=[*keys, wk], how="left", maintain_order="left")
    return lf.with_columns([pl.col(f"{prefix}{v}").fill_null(0) for v in values])
