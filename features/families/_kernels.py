"""Compiled kernels behind every history lookup: per-key totals before a period, in one pass.

Given history rows ``(key, period, values)`` and query points ``(key, bound)``, return for
each query the sum of the values of its key over periods strictly before the bound. Keys
are UInt64 hashes (see ``_history.key_hash``). Three steps, each reusable on its own so a
build that runs many lookups over the same tables pays for what they share once (the
indexes a ``_history.Table`` keeps):

1. :func:`index` maps history keys to dense slots with a small open-addressing table;
2. :func:`lookup` finds each query key's slot in it (``-1``: no history);
3. :func:`window_totals` walks history and queries together in period order, keeping a
   running total per slot. Periods are week, month or day indexes (a narrow range), so
   both sides are ordered by a counting sort (a merge sort for a huge range); a side
   already in order (a file sorted by arrival date) is read in place, with no sort.

Linear in rows: the data is never sorted by key, and a side is ordered by period only
when it is not in order already. Sums are integers (int64), so the result does not depend
on the order rows are added in.
"""
from __future__ import annotations


import numba
import numpy as np

#: Above this many distinct periods the walk orders rows with a merge sort instead.
_MAX_COUNTING_RANGE = 1 << 24


@numba.njit(cache=True, nogil=True)
def _home(k, mask):
    return np.int64((k ^ (k >> np.uint64(29))) & np.uint64(mask))


@numba.njit(cache=True, nogil=True)
def _grow(table):
    """The table with twice the entries, every key placed again."""
    new = np.zeros(2 * table.shape[0], dtype=np.uint64)
    mask = table.shape[0] - 1  # entries in the new table - 1
    for i in range(table.shape[0] // 2):
        if table[2 * i + 1] != 0:
            j = _home(table[2 * i], mask)
            while new[2 * j + 1] != 0:
                j = (j + 1) & mask
            new[2 * j] = table[2 * i]
            new[2 * j + 1] = table[2 * i + 1]
    return new


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``: the kernels are compiled (and cached) once for read-only
    inputs, which is how Polars hands out columns read in place, whatever the caller has."""
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v


def index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense slot of each history key (uint64): ``(slots, table, n_slots)``, slots as int32
    (half the memory of int64; a chunk never holds 2^31 keys), see :func:`_index`."""
    return _index(_ro(keys))


def lookup(table: np.ndarray, keys: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Slot of each query key, ``-1`` when invalid or absent from the history (:func:`_lookup`)."""
    return _lookup(_ro(table), _ro(keys), _ro(valid))


def min_by_slot(h_slot: np.ndarray, h_values: np.ndarray, n_slots: int, q_slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the minimum of ``h_values`` over the history rows of its slot, and whether
    there is any (:func:`_min_by_slot`)."""
    return _min_by_slot(_ro(h_slot), _ro(np.ascontiguousarray(h_values)), int(n_slots), _ro(q_slot))


@numba.njit(cache=True, nogil=True)
def _index(keys):
    """Dense slot of each history key, the open-addressing table and the number of slots:
    ``(slots, table, n_slots)``.

    The table is kept at most half full and grown by doubling (sized by the distinct keys,
    so it stays small and in cache). Entry ``j`` holds a key at ``2j`` and its slot + 1 at
    ``2j + 1`` (0: empty): a probe reads one cache line, and an empty entry, the usual
    case while building, is recognised first.
    """
    table = np.zeros(2 * 1024, dtype=np.uint64)
    out = np.empty(keys.shape[0], dtype=np.int32)
    n = 0
    mask = 1023
    for i in range(keys.shape[0]):
        k = keys[i]
        j = _home(k, mask)
        while True:
            if table[2 * j + 1] == 0:
                break
            if table[2 * j] == k:
                break
            j = (j + 1) & mask
        if table[2 * j + 1] != 0:
            out[i] = np.int32(table[2 * j + 1] - 1)
            continue
        if 2 * (n + 1) > mask + 1:
            table = _grow(table)
            mask = table.shape[0] // 2 - 1
            j = _home(k, mask)
            while table[2 * j + 1] != 0:
                j = (j + 1) & mask
        table[2 * j] = k
        table[2 * j + 1] = np.uint64(n + 1)
        out[i] = np.int32(n)
        n += 1
    return out, table, n


@numba.njit(cache=True, nogil=True)
def _lookup(table, keys, valid):
    """Slot of each query key, ``-1`` when invalid or absent from the history."""
    mask = table.shape[0] // 2 - 1
    out = np.full(keys.shape[0], -1, dtype=np.int32)
    for i in range(keys.shape[0]):
        if valid[i]:
            k = keys[i]
            j = _home(k, mask)
            while True:
                e = table[2 * j + 1]
                if e == 0:
                    break
                if table[2 * j] == k:
                    out[i] = np.int32(e - 1)
                    break
                j = (j + 1) & mask
    return out


@numba.njit(cache=True, nogil=True)
def _order(periods, lo, span, counting):
    """Indexes of ``periods`` in ascending order (stable): a counting sort over a narrow range.
    Empty when ``periods`` is already in order (rows of a file sorted by date): the walk
    then reads them in place, with no array allocated."""
    ordered = True
    for i in range(1, periods.shape[0]):
        if periods[i] < periods[i - 1]:
            ordered = False
            break
    if ordered:
        return np.empty(0, dtype=np.int32)
    if not counting:
        return np.argsort(periods, kind="mergesort").astype(np.int32)
    counts = np.zeros(span + 1, dtype=np.int64)
    for p in periods:
        counts[p - lo + 1] += 1
    for i in range(1, span + 1):
        counts[i] += counts[i - 1]
    out = np.empty(periods.shape[0], dtype=np.int32)
    for i in range(periods.shape[0]):
        b = periods[i] - lo
        out[counts[b]] = np.int32(i)
        counts[b] += 1
    return out


@numba.njit(cache=True, nogil=True)
def _walk(history, queries, window, periods):
    """:func:`window_totals`' pass. ``history`` is ``(slot, period, values, n_slots)``,
    ``queries`` ``(slot, bound)``, ``window`` ``(offsets, signs)`` (each query adds
    ``sign`` x its key's total before ``bound - offset``) and ``periods`` ``(lo, span,
    counting)``, the range a counting sort orders periods over (see :func:`_order`)."""
    h_slot, h_period, h_values, n_slots = history
    q_slot, q_x = queries
    offsets, signs = window
    lo, span, counting = periods
    m = h_values.shape[1]
    n_off = offsets.shape[0]
    nq = q_slot.shape[0]
    out = np.zeros((m, nq), dtype=np.int64)
    acc = np.zeros((n_slots, m), dtype=np.int64)
    ho = _order(h_period, lo, span, counting)
    qo = _order(q_x, lo, span, counting)  # x - offset keeps this order: one sort serves all offsets
    h_sorted, q_sorted = ho.shape[0] == 0, qo.shape[0] == 0
    nh = h_period.shape[0]
    ptr = np.zeros(n_off, dtype=np.int64)
    # One pass over the history in period order, a period at a time: before adding the rows
    # of period p, every query (of every offset) whose bound x - offset is <= p adds
    # ``sign`` x the totals so far (periods < bound): +T(x) - T(x - length) is the window,
    # with no array per offset. Queries are checked once per period, not once per history
    # row: most rows share their period with the row before.
    ii = 0
    while True:
        r = ii if h_sorted or ii == nh else ho[ii]
        p = h_period[r] if ii < nh else np.iinfo(np.int64).max
        for k in range(n_off):
            off = offsets[k]
            sign = signs[k]
            pk = ptr[k]  # a local: the compiler keeps it in a register
            while pk < nq:
                j = pk if q_sorted else qo[pk]
                if q_x[j] - off > p:
                    break
                s = q_slot[j]
                if s >= 0:
                    if m == 1:  # most lookups read one value: no inner loop
                        out[0, j] += sign * acc[s, 0]
                    else:
                        for c in range(m):
                            out[c, j] += sign * acc[s, c]
                pk += 1
            ptr[k] = pk
        if ii == nh:
            return out
        while ii < nh:  # the rows of period p
            r = ii if h_sorted else ho[ii]
            if h_period[r] != p:
                break
            s = h_slot[r]
            if s >= 0:  # -1: a row that is not history (only queried)
                if m == 1:
                    acc[s, 0] += h_values[r, 0]
                else:
                    for c in range(m):
                        acc[s, c] += h_values[r, c]
            ii += 1


def window_totals(h_slot: np.ndarray, h_period: np.ndarray, h_values: np.ndarray, n_slots: int,
                  q_slot: np.ndarray, q_x: np.ndarray, length: int | None = None) -> np.ndarray:
    """``out[c, j]`` = sum of ``h_values[i, c]`` over history rows with ``h_slot[i] == q_slot[j]``
    and ``q_x[j] - length <= h_period[i] < q_x[j]`` (every period before ``q_x[j]`` when
    ``length`` is None); 0 where ``q_slot[j] < 0``; rows with ``h_slot[i] < 0`` are not
    history. One row per value: each is contiguous.

    Slots come from :func:`index` and :func:`lookup`; periods and ``q_x`` are integer arrays.
    """
    offs = np.array([0] if length is None else [0, length], dtype=np.int64)
    signs = np.array([1, -1][: offs.size], dtype=np.int64)
    sizes = [a for a in (h_period, q_x) if a.size]
    lo = int(min(a.min() for a in sizes)) - int(offs.max()) if sizes else 0
    hi = int(max(a.max() for a in sizes)) if sizes else 0
    span = hi - lo + 1
    counting = span <= _MAX_COUNTING_RANGE
    history = (_ro(h_slot), _ro(h_period), _ro(np.ascontiguousarray(h_values, dtype=np.int64)), int(n_slots))
    return _walk(history, (_ro(q_slot), _ro(q_x)), (_ro(offs), _ro(signs)), (lo, span if counting else 1, counting))


def totals_before(h_key: np.ndarray, h_period: np.ndarray, h_values: np.ndarray,
                  q_key: np.ndarray, q_valid: np.ndarray, q_x: np.ndarray, length: int | None = None) -> np.ndarray:
    """:func:`window_totals` from keys: ``out[c, j]`` = sum of ``h_values[i, c]`` over history
    rows with ``h_key[i] == q_key[j]`` and ``q_x[j] - length <= h_period[i] < q_x[j]``; 0 for
    invalid (null) queries or keys without history.

    ``h_key``/``q_key`` uint64, ``h_period``/``q_x`` int64, ``h_values`` int64 (rows x values).
    History rows must all be valid (drop null keys before).
    """
    h_slot, table, n_slots = index(h_key)
    q_slot = lookup(table, q_key, q_valid)
    return window_totals(h_slot, h_period, h_values, n_slots, q_slot, q_x, length)


@numba.njit(cache=True, nogil=True)
def _min_by_slot(h_slot, h_values, n_slots, q_slot):
    """Per query, the minimum of ``h_values`` over the history rows of its slot, and whether
    there is any (``found`` False where ``q_slot < 0``)."""
    best = np.empty(n_slots, dtype=np.int64)
    seen = np.zeros(n_slots, dtype=np.bool_)
    for r in range(h_slot.shape[0]):
        s = h_slot[r]
        if s < 0:
            continue
        if not seen[s] or h_values[r] < best[s]:
            best[s] = h_values[r]
            seen[s] = True
    out = np.zeros(q_slot.shape[0], dtype=np.int64)
    found = np.zeros(q_slot.shape[0], dtype=np.bool_)
    for j in range(q_slot.shape[0]):
        s = q_slot[j]
        if s >= 0 and seen[s]:  # a key may be indexed with no history row (only queried)
            out[j] = best[s]
            found[j] = True
    return out, found


def min_by_key(h_key: np.ndarray, h_values: np.ndarray, q_key: np.ndarray, q_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the minimum of ``h_values`` over history rows with its key, and whether
    there is any (``found`` False for invalid queries and keys without history)."""
    h_slot, table, n_slots = index(h_key)
    return min_by_slot(h_slot, h_values, n_slots, lookup(table, q_key, q_valid))


def warm() -> None:
    """Load the compiled kernels (from numba's on-disk cache after the first run) on tiny
    inputs typed as a build's (Int32 periods and bounds), so a caller can overlap that
    fixed cost with reading its input."""
    k = np.arange(4, dtype=np.uint64)
    p = np.arange(4, dtype=np.int32)  # periods, bounds and first-seen days: Int32 columns read in place
    ok = np.ones(4, dtype=np.bool_)
    totals_before(k, p, np.ones((4, 1), dtype=np.int64), k, ok, p, 1)
    min_by_key(k, p, k, ok)
