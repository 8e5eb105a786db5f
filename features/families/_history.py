"""Point-in-time lookups over bucketed history: the one mechanism every history feature uses.

History is kept as per (key, period) sums in **integers** (US cents, counts, log unit
values quantised to 1e-6). Integer sums are exact and associative, so a state fitted on
January-May plus June's own rows gives bit-for-bit the same sums as January-June at once,
whatever the order or grouping: this is what makes fit/apply exact.

A window sum over periods ``[end - length + 1, end]`` is ``T(end + 1) - T(end + 1 - length)``,
where ``T(x)`` is the key's total over periods strictly before ``x``. Lookups always end at
``period_of(arrival) - 1``: a shipment sees only *completed* weeks (or months) before the
one it arrived in, so rows of the same day - and of the same week - are never used. That is
the point-in-time rule, and later rows cannot change it.

How ``T`` is read: the history rows and the rows' query points go to a compiled kernel
(``_kernels.window_totals``) that maps keys to dense slots with a hash table and walks
history and queries together in period order, keeping a running total per key: linear in
rows, no join (an order of magnitude faster than the ``join_asof`` it replaced: see
CHANGELOG.md). The lookups therefore materialise their inputs (the history
and the rows' keys) when they are added to a plan, and attach their results as columns:
``lf`` must have the rows of ``queries`` in the same order. Keys are 64-bit hashes of the
key columns (:func:`key_hash`): two different keys sharing a hash would merge their
histories; the odds are about n^2 / 2^65 (1e-8 for a million keys), accepted.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

#: Monday 1970-01-05: weeks start on Mondays so a week index is (date - epoch_monday) // 7.
_EPOCH_MONDAY_DAYS = 4
CENTS = 100
LOG_SCALE = 1_000_000
#: Fixed seeds: hashes must agree between the rows and the history within one process.
_KEY_SEED = 0x5EED
#: Odd 64-bit constant (golden ratio): multiplying by it permutes UInt64 values (wrapping).
_MIX = 0x9E3779B97F4A7C15


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


def key_hash(cols: Sequence[str | pl.Expr]) -> pl.Expr:
    """UInt64 hash of a key made of ``cols`` (null when any part is null, so it never matches).

    Parts are hashed one by one and folded with a multiply-xor, in position order, so
    ``("exporter_id", "hs6")`` on the rows and ``("importer_id", "hs6")`` on the inputs
    hash alike when their values are equal (3x cheaper than hashing a struct).
    """
    exprs = [pl.col(c) if isinstance(c, str) else c for c in cols]
    h = exprs[0].hash(seed=_KEY_SEED)
    for e in exprs[1:]:
        h = (h * pl.lit(_MIX, dtype=pl.UInt64)) ^ e.hash(seed=_KEY_SEED)
    return pl.when(pl.any_horizontal([e.is_null() for e in exprs])).then(None).otherwise(h)


def cumulate(hist: pl.LazyFrame, keys: Sequence[str], values: Sequence[str], period: str = "period") -> pl.LazyFrame:
    """Per (key, period) sums of integer ``values``: history in the form :func:`window_sums` reads.

    Re-aggregating is optional (``window_sums`` accepts repeated (key, period) rows, e.g. a
    state table stacked with a file's own rows); it makes a history that is read many times
    smaller.
    """
    return hist.group_by([*keys, period]).agg([pl.col(v).sum() for v in values])


def _column_hash(frame: pl.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray | None]:
    c = frame.get_column(col)
    return c.hash(seed=_KEY_SEED).to_numpy(), (c.is_not_null().to_numpy() if c.null_count() else None)


def _fold(parts: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`key_hash`'s fold of column hashes, with the rows where every part is valid."""
    h = parts[0][0]
    for part, _ in parts[1:]:
        h = (h * np.uint64(_MIX)) ^ part  # wraps modulo 2^64, as UInt64 arithmetic does
    masks = [m for _, m in parts if m is not None]
    return h, (np.logical_and.reduce(masks) if masks else None)


@dataclass(frozen=True)
class Part:
    """One frame of history rows, read through logical column names.

    ``names`` maps a logical name (``exporter_id``, ``hs6``, ``period``, ``value``...) to the
    frame's column (default: the same name), so a file's own rows can serve as history
    without being copied into one table per lookup. ``keep`` names a Boolean column of the
    rows that are history (the others are only queried); None keeps every row.
    """

    frame: pl.LazyFrame
    names: Mapping[str, str] = field(default_factory=dict)
    keep: str | None = None

    def cols(self, logical: Sequence[str]) -> list[str]:
        return [self.names.get(c, c) for c in logical]


#: History read by a lookup: a frame of history rows, or several parts whose sums add up
#: (a fitted state's table and the file's own rows after it).
History = pl.LazyFrame | tuple[Part, ...]


def _parts(history: History) -> tuple[Part, ...]:
    return (Part(history),) if isinstance(history, pl.LazyFrame) else tuple(history)


class Lookups:
    """What the lookups of one build share, computed once: the hash of each column and
    each history part's hash index.

    Many features read the same history with the same key (an exporter's exports over 26
    weeks, its lines so far, its early lines) and the rows' same few columns, so hashing
    and indexing once per (part, key) instead of once per lookup saves much of their cost.
    When a part is the query rows themselves, read by the same columns, its index gives
    the queries' slots too: no hash table lookup at all. Only what is reused is kept:
    every array kept is memory touched for the first time, which costs more than the work
    it saves for anything used once.
    Entries are keyed by the frames' identity and hold the frames, so an identity cannot be
    reused while the cache lives (one build's :class:`~features.families._context.Context`).
    Safe across the threads the families run on: each entry is computed once.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple, tuple] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def _once(self, key: tuple, frames: tuple, compute):
        with self._lock:
            if key in self._memo:
                return self._memo[key][0]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._memo:
                    return self._memo[key][0]
            value = compute()
            with self._lock:
                self._memo[key] = (value, frames)
            return value

    def parts(self, history: History) -> list[Part]:
        """The parts of ``history`` that hold any row (an empty state adds nothing)."""
        return [part for part in _parts(history) if self.frame(part.frame).height]

    def frame(self, frame: pl.LazyFrame) -> pl.DataFrame:
        """``frame`` collected once: every array read from it then lines up row for row
        (a lazy plan such as a ``group_by`` may give its rows in another order each time)."""
        return self._once(("frame", id(frame)), (frame,), frame.collect)

    def keys(self, frame: pl.LazyFrame, cols: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(hash, valid)`` of the key ``cols`` for every row of ``frame``: the :func:`key_hash`
        fold of each column's hash (kept: a few columns make most keys); ``valid`` is None
        when no part is null."""
        return _fold([
            self._once(("column", id(frame), c), (frame,), lambda c=c: _column_hash(self.frame(frame), c))
            for c in cols
        ])

    def _index(self, frame: pl.LazyFrame, cols: Sequence[str]) -> tuple[np.ndarray, int, np.ndarray]:
        """Slot of every row of ``frame`` by the key ``cols`` (-1: null key), the number of
        slots and the open-addressing table queries are looked up in."""
        from features.families._kernels import index

        def compute():
            hashes, valid = self.keys(frame, cols)
            slot, table, n_slots = index(hashes if valid is None else hashes[valid])
            if valid is not None:
                slot = np.where(valid, _scatter(slot, valid), -1)
            return slot, n_slots, table
        return self._once(("index", id(frame), tuple(cols)), (frame,), compute)

    def periods(self, part: Part, period: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The part's ``period`` column as an integer array (read in place when it can be)
        and the mask of rows that are not history (null period, or not kept; None: none)."""

        def compute():
            df = self.frame(part.frame)
            drop = df.get_column(part.cols([period])[0]).is_null()
            if part.keep is not None:
                drop = drop | ~df.get_column(part.keep).fill_null(False)
            return self.column(part, period), (drop.to_numpy() if drop.any() else None)
        return self._once(("periods", id(part.frame), part.cols([period])[0], part.keep), (part.frame,), compute)

    def history(self, part: Part, cols: Sequence[str], period: str) -> tuple[np.ndarray, np.ndarray, int]:
        """``(slot, period, n_slots)`` for every row of the part: slot -1 for rows that are
        not history (null key or period, or not kept)."""

        def compute():
            slot, n_slots, _ = self._index(part.frame, part.cols(cols))
            periods, drop = self.periods(part, period)
            if drop is not None:
                slot = np.where(drop, -1, slot)
            return slot, periods, n_slots
        return self._once(("history", id(part.frame), tuple(part.cols(cols)), part.cols([period])[0], part.keep),
                          (part.frame,), compute)

    def values(self, part: Part, values: Sequence[str]) -> np.ndarray:
        """The integer ``values`` of every row of the part (rows x values, int64; null = 0).
        A single Int64 column without nulls is read in place; several are copied once."""
        if len(values) == 1:
            col = self.column(part, values[0])
            if col.dtype == np.int64:
                return col.reshape(-1, 1)

        def compute():
            cols = [self.frame(part.frame).get_column(c).cast(pl.Int64).fill_null(0) for c in part.cols(values)]
            return np.ascontiguousarray(pl.DataFrame(cols).to_numpy(), dtype=np.int64)
        return self._once(("values", id(part.frame), tuple(part.cols(values))), (part.frame,), compute)

    def column(self, part: Part, name: str) -> np.ndarray:
        """One integer column of the part (null = 0): an Int32 or Int64 column without nulls
        is read in place, anything else becomes Int64."""
        c = self.frame(part.frame).get_column(part.cols([name])[0])
        if c.dtype not in (pl.Int32, pl.Int64):
            c = c.cast(pl.Int64)
        return (c.fill_null(0) if c.null_count() else c).to_numpy()

    def bounds(self, queries: pl.LazyFrame, end: pl.Expr) -> tuple[np.ndarray, np.ndarray | None]:
        """``end + 1`` for every query row (the first period a window excludes), and the mask
        of rows where it is null (None: none). Kept: most lookups end the week before arrival."""
        return self._once(("bounds", id(queries), str(end)), (queries,),
                          lambda: _bounds(self.frame(queries).select(end.alias("_end")).to_series()))

    def slots(self, queries: pl.LazyFrame, on: Sequence[str], part: Part, table_on: Sequence[str]) -> np.ndarray:
        """Slot in the part's index of each query row's key (-1: null key, or no history)."""
        from features.families._kernels import lookup

        cols = part.cols(table_on)
        if queries is part.frame and list(on) == cols:
            return self._index(part.frame, cols)[0]  # the rows are their own history
        hashes, valid = self.keys(queries, on)
        if valid is None:
            valid = np.ones(hashes.shape[0], dtype=np.bool_)
        return lookup(self._index(part.frame, cols)[2], hashes, valid)


def _bounds(end: pl.Series) -> tuple[np.ndarray, np.ndarray | None]:
    x = end.cast(pl.Int32) + 1
    return x.fill_null(0).to_numpy(), (x.is_null().to_numpy() if x.null_count() else None)


def _scatter(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``values`` placed at the True positions of ``where`` (0 elsewhere)."""
    out = np.zeros(where.shape[0], dtype=values.dtype)
    out[where] = values
    return out


def window_sums(
    lf: pl.LazyFrame,
    cum: History,
    *,
    by_left: Sequence[str],
    by_right: Sequence[str],
    end: pl.Expr | pl.Series,
    length: int | None,
    values: Sequence[str],
    prefix: str,
    period: str = "period",
    queries: pl.LazyFrame | None = None,
    lookups: Lookups | None = None,
) -> pl.LazyFrame:
    """Add ``{prefix}{value}``: the sum of ``value`` over periods ``[end - length + 1, end]``
    (``length=None``: every period up to ``end``, one lookup instead of two).

    ``cum`` holds history rows ``(by_right..., period, values...)`` (see :func:`cumulate`;
    repeated (key, period) rows are summed), as one frame or as parts whose sums add up.
    Keys with no history give 0 (a count of nothing), never null; rows whose key or
    ``end`` is null give 0 too, and features decide what that means. Rows keep their order.

    ``queries`` (default: ``lf``) is a frame with the same rows in the same order as ``lf``
    holding the key and period columns: a pipeline adding many lookups passes its base rows
    (in memory), so each lookup reads them rather than re-running the plan built so far.
    ``end`` is an expression over ``queries`` or a Series of one value per query row.
    ``lookups`` shares key hashes and history indexes between the lookups of one build.
    """
    from features.families._kernels import window_totals  # compiled on first use; keep imports light

    lookups = lookups or Lookups()
    q = lf if queries is None else queries
    x, missing = _bounds(end) if isinstance(end, pl.Series) else lookups.bounds(q, end)
    sums = None
    for part in lookups.parts(cum):
        slot = lookups.slots(q, by_left, part, by_right)
        if missing is not None:
            slot = np.where(missing, -1, slot)
        h_slot, h_period, n_slots = lookups.history(part, by_right, period)
        got = window_totals(h_slot, h_period, lookups.values(part, values), n_slots, slot, x, length)
        sums = got if sums is None else sums + got
    if sums is None:
        sums = np.zeros((len(values), x.shape[0]), dtype=np.int64)
    return lf.with_columns([pl.Series(f"{prefix}{v}", sums[c]) for c, v in enumerate(values)])


def first_seen(lf: pl.LazyFrame, table: History, *, on: Sequence[str], name: str,
               table_on: Sequence[str] | None = None, queries: pl.LazyFrame | None = None,
               lookups: Lookups | None = None) -> pl.LazyFrame:
    """Add ``first_day`` (Int32 day index) of the keys ``on`` from a first-seen table as ``name``
    (null when the key was never seen): :func:`first_days` as a column."""
    q = lf if queries is None else queries
    return lf.with_columns(first_days(q, table, on=on, table_on=table_on, lookups=lookups).alias(name))


def first_days(queries: pl.LazyFrame, table: History, *, on: Sequence[str],
               table_on: Sequence[str] | None = None, lookups: Lookups | None = None) -> pl.Series:
    """The ``first_day`` (Int32 day index) of each query row's key ``on`` in a first-seen
    table (null when the key was never seen).

    The earliest date of an entity is point-in-time safe to read: if it is before the
    shipment's arrival, it was known then; later rows can only move it earlier if they
    are earlier, which appended later rows are not. ``table`` may repeat keys (a state
    stacked with a file's rows) and come in parts: the minimum is taken. ``lookups``: as
    in :func:`window_sums`.
    """
    from features.families._kernels import min_by_slot

    lookups = lookups or Lookups()
    table_on = list(table_on or on)
    best = found = None
    for part in lookups.parts(table):
        slot = lookups.slots(queries, on, part, table_on)
        h_slot, _, n_slots = lookups.history(part, table_on, "first_day")
        days = lookups.column(part, "first_day")
        b, f = min_by_slot(h_slot, days, n_slots, slot)
        if best is None:
            best, found = b, f
        else:
            best = np.where(f & (~found | (b < best)), b, best)
            found = found | f
    if best is None:
        return pl.Series("first_day", [None] * lookups.frame(queries).height, dtype=pl.Int32)
    day = pl.Series("first_day", best, dtype=pl.Int64).cast(pl.Int32)
    return day.set(~pl.Series(found), None)


def first_sightings(part: Part, keys: Sequence[str], lookups: Lookups) -> pl.DataFrame:
    """The part's history rows reduced to one per key: the ``keys`` columns (logical names)
    of the key's first row and its earliest ``first_day``. Rows that are not history (null
    key or day, or not kept) are left out.

    Reads the part's index by ``keys`` (shared with :func:`first_days` over the same part)
    and two passes of the compiled minimum per slot (the earliest day; the first row), so a
    million rows are reduced without a hash ``group_by`` (the index is one the first-seen
    lookups of the families read anyway).
    """
    from features.families._kernels import min_by_slot

    slot, _, n_slots = lookups.history(part, keys, "first_day")
    every = np.arange(n_slots, dtype=np.int32)
    day, found = min_by_slot(slot, lookups.column(part, "first_day"), n_slots, every)
    row, _ = min_by_slot(slot, np.arange(slot.shape[0], dtype=np.int32), n_slots, every)
    frame = lookups.frame(part.frame)
    return frame.select([pl.col(c).alias(k) for c, k in zip(part.cols(keys), keys, strict=True)])[row[found]].with_columns(
        pl.Series("first_day", day[found]).cast(pl.Int32)
    )


def event_window_sums(
    lf: pl.LazyFrame,
    hist: History,
    *,
    by_left: Sequence[str],
    by_right: Sequence[str],
    event_week: str,
    event_weeks: Sequence[int],
    length: int,
    values: Sequence[str],
    prefix: str,
    queries: pl.LazyFrame | None = None,
    lookups: Lookups | None = None,
) -> pl.LazyFrame:
    """Add ``{prefix}{value}``: the sum over the ``length`` weeks before the row's event week
    (0 when the row has no event).

    The same lookup as :func:`window_sums` with the window ending the week before the
    event, which is before the arrival: point-in-time by construction. ``event_weeks``
    (the distinct event weeks) only short-cuts the case of no events at all.
    """
    if not event_weeks:
        return lf.with_columns([pl.lit(0, dtype=pl.Int64).alias(f"{prefix}{v}") for v in values])
    return window_sums(lf, hist, by_left=by_left, by_right=by_right, end=pl.col(event_week) - 1, length=length,
                       values=values, prefix=prefix, queries=queries, lookups=lookups)
