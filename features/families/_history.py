"""Point-in-time lookups over bucketed history: the one mechanism every history feature uses.

History is kept as per (key, period) sums in **integers** (US cents, counts, log unit
values quantised to 1e-6). Integer sums are exact and associative, so a state fitted on
January-May plus June's own rows gives bit-for-bit the same sums as January-June at once,
whatever the order or grouping: this is what makes fit/apply exact.

A window of ``length`` periods before ``x`` sums the periods ``[x - length, x - 1]``: that is
``T(x) - T(x - length)``, where ``T(x)`` is the key's total over periods strictly before
``x`` (a :class:`Window` names ``x`` for each row). The windows of the recent past end
before the row's own period (its arrival week, month or day): a shipment sees only
*completed* weeks (or months) before the one it arrived in, so rows of the same day - and
of the same week - are never used. The other windows end earlier still (before the tariff
event, at the end of an exporter's first weeks). That is the point-in-time rule, and later
rows cannot change it.

How ``T`` is read: the history rows and the rows' query points go to a compiled kernel
(``_kernels.window_totals``) that maps keys to dense slots with a hash table and walks
history and queries together in period order, keeping a running total per key: linear in
rows, no join. The lookups therefore work on frames in memory (:class:`Table`) and return
one value per row, in the rows' order, which the caller attaches as columns. Keys are
64-bit hashes of the key columns (:func:`key_hash`): two different keys sharing a hash
would merge their histories; the odds are about n^2 / 2^65 (1e-8 for a million keys),
accepted.
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
    return week_of_day(date.cast(pl.Int32)).cast(pl.Int32)


def week_of_day(day: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """Monday-based week index of a day index (:func:`day_of`), in the day's integer type."""
    return (day - _EPOCH_MONDAY_DAYS) // 7


def week_monday(week: pl.Expr) -> pl.Expr:
    """The Monday (Date) of a week index of :func:`week_of`: its inverse."""
    return (week.cast(pl.Int32) * 7 + _EPOCH_MONDAY_DAYS).cast(pl.Date)


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
    """UInt64 hash of a key made of ``cols`` (null when any column is null, so it never matches).

    Columns are hashed one by one and folded with a multiply-xor, in position order, so
    ``("exporter_id", "hs6")`` on the rows and ``("importer_id", "hs6")`` on the inputs
    hash alike when their values are equal, and a column's hash is computed once for every
    key it is part of (:meth:`Table.keys`).
    """
    exprs = [pl.col(c) if isinstance(c, str) else c for c in cols]
    h = exprs[0].hash(seed=_KEY_SEED)
    for e in exprs[1:]:
        h = (h * pl.lit(_MIX, dtype=pl.UInt64)) ^ e.hash(seed=_KEY_SEED)
    return pl.when(pl.any_horizontal([e.is_null() for e in exprs])).then(None).otherwise(h)


def period_sums(hist: pl.LazyFrame, keys: Sequence[str], values: Sequence[str], period: str = "period") -> pl.LazyFrame:
    """Per (key, period) sums of integer ``values``: history in the form :func:`window_sums` reads.

    Re-aggregating is optional (``window_sums`` accepts repeated (key, period) rows, e.g. a
    state table stacked with a file's own rows); it makes a history that is read many times
    smaller.
    """
    return hist.group_by([*keys, period]).agg([pl.col(v).sum() for v in values])


def _fold(hashes: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`key_hash`'s fold of column hashes, with the rows where every column is valid."""
    h = hashes[0][0]
    for column, _ in hashes[1:]:
        h = (h * np.uint64(_MIX)) ^ column  # wraps modulo 2^64, as UInt64 arithmetic does
    masks = [m for _, m in hashes if m is not None]
    return h, (np.logical_and.reduce(masks) if masks else None)


def _scatter(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``values`` placed at the True positions of ``where`` (0 elsewhere)."""
    out = np.zeros(where.shape[0], dtype=values.dtype)
    out[where] = values
    return out


def _bounds(x: pl.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """The first period a window excludes, per row, and the mask of rows where it is null (None: none)."""
    x = x.cast(pl.Int32)
    return x.fill_null(0).to_numpy(), (x.is_null().to_numpy() if x.null_count() else None)


class Table:
    """A frame in memory that lookups read, and the arrays they derive from it.

    Lookups hash key columns, index keys and read integer columns. Many read the same
    table by the same key (an exporter's exports over the long window, its lines so far,
    its early lines) and the rows by the same few columns, so each derived array is worked
    out the first time a lookup asks for it and kept on the table. Lookups share that work
    by sharing the Table object: a build makes one Table of its rows and one per history
    frame, and its context hands those same objects to every lookup. Only what is reused
    is kept: an array kept is memory touched for the first time, which costs more than the
    work it saves for anything read once.
    Safe across the threads the families run on: each entry is computed once.
    """

    def __init__(self, frame: pl.DataFrame | pl.LazyFrame) -> None:
        # Collected once: every array read from it then lines up row for row (a lazy plan
        # such as a ``group_by`` may give its rows in another order each time).
        self.frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        self._kept: dict[tuple, object] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    @property
    def height(self) -> int:
        return self.frame.height

    def _once(self, key: tuple, compute):
        with self._lock:
            if key in self._kept:
                return self._kept[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._kept:
                    return self._kept[key]
            value = compute()
            with self._lock:
                self._kept[key] = value
            return value

    def keys(self, cols: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(hash, valid)`` of the key ``cols`` for every row: the :func:`key_hash` fold of
        each column's hash (each kept: a few columns make most keys); ``valid`` is None when
        no column has a null."""
        def column_hash(col: str):
            c = self.frame.get_column(col)
            return c.hash(seed=_KEY_SEED).to_numpy(), (c.is_not_null().to_numpy() if c.null_count() else None)
        return _fold([self._once(("hash", c), lambda c=c: column_hash(c)) for c in cols])

    def index(self, cols: Sequence[str]) -> tuple[np.ndarray, int, np.ndarray]:
        """Slot of every row by the key ``cols`` (-1: null key), the number of slots and the
        open-addressing table other keys are looked up in (kept)."""
        from features.families._kernels import index

        def compute():
            hashes, valid = self.keys(cols)
            slot, table, n_slots = index(hashes if valid is None else hashes[valid])
            if valid is not None:
                slot = np.where(valid, _scatter(slot, valid), -1)
            return slot, n_slots, table
        return self._once(("index", tuple(cols)), compute)

    def integers(self, col: str) -> np.ndarray:
        """One integer column (null = 0): an Int32 or Int64 column without nulls is read in
        place, anything else becomes Int64."""
        c = self.frame.get_column(col)
        if c.dtype not in (pl.Int32, pl.Int64):
            c = c.cast(pl.Int64)
        return (c.fill_null(0) if c.null_count() else c).to_numpy()

    def values(self, cols: Sequence[str]) -> np.ndarray:
        """The integer columns ``cols`` (rows x columns, int64; null = 0). A single Int64
        column without nulls is read in place; several are copied once (kept)."""
        if len(cols) == 1:
            col = self.integers(cols[0])
            if col.dtype == np.int64:
                return col.reshape(-1, 1)

        def compute():
            picked = [self.frame.get_column(c).cast(pl.Int64).fill_null(0) for c in cols]
            return np.ascontiguousarray(pl.DataFrame(picked).to_numpy(), dtype=np.int64)
        return self._once(("values", tuple(cols)), compute)

    def history(self, cols: Sequence[str], period: str, keep: str | None) -> tuple[np.ndarray, np.ndarray, int]:
        """``(slot, period, n_slots)`` of every row read as history by the key ``cols``: slot -1
        for rows that are not history (null key or period, or ``keep`` not true) (kept)."""
        def compute():
            slot, n_slots, _ = self.index(cols)
            drop = self.frame.get_column(period).is_null()
            if keep is not None:
                drop = drop | ~self.frame.get_column(keep).fill_null(False)
            if drop.any():
                slot = np.where(drop.to_numpy(), -1, slot)
            return slot, self.integers(period), n_slots
        return self._once(("history", tuple(cols), period, keep), compute)

    def bounds(self, col: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Column ``col`` as the first period a window excludes, for every row, and the mask
        of rows where it is null (None: none). Kept: most lookups end the week before arrival."""
        return self._once(("bounds", col), lambda: _bounds(self.frame.get_column(col)))

    def slots(self, on: Sequence[str], part: Part, table_on: Sequence[str]) -> np.ndarray:
        """Slot in the part's index of each row's key ``on`` (-1: null key, or no history)."""
        from features.families._kernels import lookup

        cols = part.cols(table_on)
        if part.table is self and list(on) == cols:
            return self.index(cols)[0]  # the rows are their own history: their slots are its index
        hashes, valid = self.keys(on)
        if valid is None:
            valid = np.ones(hashes.shape[0], dtype=np.bool_)
        return lookup(part.table.index(cols)[2], hashes, valid)


@dataclass(frozen=True)
class Part:
    """One table of history rows, read through logical column names.

    ``names`` maps a logical name (``exporter_id``, ``hs6``, ``period``, ``value``...) to the
    table's column (default: the same name), so a build's own rows can serve as history
    without being copied into one table per lookup. ``keep`` names a Boolean column of the
    rows that are history (the others are only queried); None keeps every row.
    """

    table: Table
    names: Mapping[str, str] = field(default_factory=dict)
    keep: str | None = None

    def cols(self, logical: Sequence[str]) -> list[str]:
        return [self.names.get(c, c) for c in logical]

    def history(self, keys: Sequence[str], period: str) -> tuple[np.ndarray, np.ndarray, int]:
        """:meth:`Table.history` by logical names."""
        return self.table.history(self.cols(keys), self.cols([period])[0], self.keep)

    def values(self, values: Sequence[str]) -> np.ndarray:
        return self.table.values(self.cols(values))

    def integers(self, name: str) -> np.ndarray:
        return self.table.integers(self.cols([name])[0])


#: History read by a lookup: a table of history rows (a frame is read as one), or several
#: parts whose sums add up (a fitted state's table and the build's own rows after it).
History = Table | pl.DataFrame | pl.LazyFrame | tuple[Part, ...]


def parts(history: History) -> list[Part]:
    """The parts of ``history`` that hold any row (an empty state adds nothing)."""
    if isinstance(history, tuple):
        found = history
    else:
        found = (Part(history if isinstance(history, Table) else Table(history)),)
    return [part for part in found if part.table.height]


@dataclass(frozen=True)
class Window:
    """The periods a lookup sums for each row: the ``length`` periods before the row's
    ``before`` (every earlier period when None), read from the history's ``period`` column.

    ``before`` is a column of the rows holding the first period excluded (a lookup of the
    completed weeks before arrival names the rows' week), or a Series of one such period
    per row. A window never includes the row's own period: that is the point-in-time rule.
    """

    before: str | pl.Series
    length: int | None = None
    period: str = "period"


def _as_table(rows: Table | pl.DataFrame | pl.LazyFrame) -> Table:
    return rows if isinstance(rows, Table) else Table(rows)


def window_sums(rows: Table | pl.DataFrame | pl.LazyFrame, history: History, *, on: Sequence[str],
                table_on: Sequence[str], window: Window, values: Sequence[str], prefix: str) -> list[pl.Series]:
    """``{prefix}{value}`` for every row: the sum of ``value`` over the periods of ``window``
    in the history rows whose key ``table_on`` equals the row's key ``on``.

    ``history`` holds rows ``(table_on..., period, values...)`` (see :func:`period_sums`;
    repeated (key, period) rows are summed), as one table or as parts whose sums add up.
    Keys with no history give 0 (a count of nothing), never null; rows whose key or bound
    is null give 0 too, and features decide what that means. One value per row of ``rows``,
    in their order.
    """
    from features.families._kernels import window_totals  # compiled on first use; keep imports light

    rows = _as_table(rows)
    if isinstance(window.before, pl.Series):
        x, missing = _bounds(window.before)
    else:
        x, missing = rows.bounds(window.before)
    sums = None
    for part in parts(history):
        slot = rows.slots(on, part, table_on)
        if missing is not None:
            slot = np.where(missing, -1, slot)
        h_slot, h_period, n_slots = part.history(table_on, window.period)
        got = window_totals(h_slot, h_period, part.values(values), n_slots, slot, x, window.length)
        sums = got if sums is None else sums + got
    if sums is None:
        sums = np.zeros((len(values), x.shape[0]), dtype=np.int64)
    return [pl.Series(f"{prefix}{v}", sums[c]) for c, v in enumerate(values)]


def first_days(rows: Table | pl.DataFrame | pl.LazyFrame, history: History, *, on: Sequence[str],
               table_on: Sequence[str] | None = None) -> pl.Series:
    """The ``first_day`` (Int32 day index) of each row's key ``on`` in a first-seen table
    (null when the key was never seen).

    The earliest date of an entity is point-in-time safe to read: if it is before the
    shipment's arrival, it was known then; later rows can only move it earlier if they
    are earlier, which appended later rows are not. ``history`` may repeat keys (a state
    stacked with a build's rows) and come in parts: the minimum is taken.
    """
    from features.families._kernels import min_by_slot

    rows = _as_table(rows)
    table_on = list(table_on or on)
    best = found = None
    for part in parts(history):
        slot = rows.slots(on, part, table_on)
        h_slot, _, n_slots = part.history(table_on, "first_day")
        b, f = min_by_slot(h_slot, part.integers("first_day"), n_slots, slot)
        if best is None:
            best, found = b, f
        else:
            best = np.where(f & (~found | (b < best)), b, best)
            found = found | f
    if best is None:
        return pl.Series("first_day", [None] * rows.height, dtype=pl.Int32)
    day = pl.Series("first_day", best, dtype=pl.Int64).cast(pl.Int32)
    return day.set(~pl.Series(found), None)


def first_sightings(part: Part, keys: Sequence[str]) -> pl.DataFrame:
    """The part's history rows reduced to one per key: the ``keys`` columns (logical names)
    of the key's first row and its earliest ``first_day``. Rows that are not history (null
    key or day, or not kept) are left out.

    Reads the part's index by ``keys`` (shared with :func:`first_days` over the same part)
    and two passes of the compiled minimum per slot (the earliest day; the first row), so
    the rows are reduced without a hash ``group_by``.
    """
    from features.families._kernels import min_by_slot

    slot, _, n_slots = part.history(keys, "first_day")
    every = np.arange(n_slots, dtype=np.int32)
    day, found = min_by_slot(slot, part.integers("first_day"), n_slots, every)
    row, _ = min_by_slot(slot, np.arange(slot.shape[0], dtype=np.int32), n_slots, every)
    picked = part.table.frame.select([pl.col(c).alias(k) for c, k in zip(part.cols(keys), keys, strict=True)])
    return picked[row[found]].with_columns(pl.Series("first_day", day[found]).cast(pl.Int32))
