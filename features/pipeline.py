"""Build the feature frame: the input rows plus one column per registry feature.

``build`` reads the input once, prepares per-row keys (HS6, week, month, tariffed origin)
and what each line adds to the history on a narrow in-memory copy, and runs the feature
families over the rows. Each history is the reference state's table plus the rows it lacks (the
file's own rows, and the component imports given, dated after the state's span for
that source: see ``features/state.py``), read in place (the rows are not copied or grouped:
every lookup sums repeated keys). Each history lookup is a compiled linear pass
(``features/families/_kernels.py``); the families are independent
given the rows, so they run on two threads and their columns are stacked in registry
order. Rows come back in input order; each row's features depend only on its own values
and on history strictly before its arrival week, month or day (see
``features/families/_history.py``), never on row order.

``build_chunks`` bounds memory for inputs larger than it: the same ``build``, a few
arrival months at a time, each chunk with a state holding the earlier chunks' history.
"""
from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from features import revenue
from features.families import consistency, entities, origin_switch, price, routes, tariff, value_added
from features.families import parties as known_parties
from features.families._context import (
    CHAPTER, DAY, FOREIGN_MARK, HS6, LADING_COUNTRY, MID_COUNTRY, MONTH, VALUE_CENTS, WEEK, Context,
)
from features.families._history import History, Part, Table, day_of, first_sightings, hs6, key_hash, month_of, week_of
from features.registry import FEATURE_NAMES
from features.schema import EVENTS, INPUTS, SHIPMENTS
from features.state import (
    FIRST_TABLES, SUM_TABLES, ReferenceState, extended, fit_state, foreign_mark, history_tables, input_rows, line_values,
    mark_country, mark_country_of_few,
)

#: Contract columns the families read (the rest stay in the wide frame untouched).
NARROW = (
    "arrival_date", "importer_id", "exporter_id", "hs_code", "origin_country", "export_country",
    "declared_value_usd", "weight_kg", "quantity", "manufacturer_id", "port_of_lading", "importing_country",
)

#: Contract columns the families never read: the keys, dates and countries derived from them are.
_DERIVED_FROM = ("arrival_date", "hs_code", "manufacturer_id", "port_of_lading")

Family = Callable[[pl.LazyFrame, Context], pl.LazyFrame]

#: The families in registry order (the tariffed origin is computed before any of them),
#: each with the number of history lookups it makes: the families run two at a time and
#: the costliest start first, so the two threads finish together.
FAMILIES: tuple[tuple[Family, int], ...] = (
    (value_added.apply, 6),
    (price.apply, 2),
    (origin_switch.apply, 7),
    (consistency.apply, 1),
    (entities.apply, 9),
    (tariff.apply, 0),
    (routes.apply, 4),
    (known_parties.apply, 0),  # a join with the party list
)


#: Rows' internal columns that make them history: what each line adds to the sums tables
#: (``state.line_values``) and whether it is after the state's ``as_of``.
_LINE = {"value": VALUE_CENTS, "n": "_line_n", "priced": "_line_priced", "foreign": FOREIGN_MARK, "s1": "_line_s1",
         "s2": "_line_s2"}
_FRESH = "_line_fresh"
#: The history tables' column names -> the rows' columns holding the same values.
_AS_HISTORY = {"hs6": HS6, "chapter": CHAPTER, "first_day": DAY, **_LINE}


def _history(state: ReferenceState, rows: Table, inputs: pl.LazyFrame | None,
             kernels: threading.Thread) -> dict[str, History]:
    """Each table's history: the state's table plus the rows it lacks (the file's rows after
    the state's shipments span, the component imports after its inputs span), as parts
    whose sums add up.

    The shipment rows are their own history (:class:`Part` reads the ``rows`` table through
    the tables' column names), so a lookup keyed by the rows' own columns shares one index
    with them. Component imports are stacked and collected once. The per-exporter first
    sightings of an origin or a chapter reduce the rows with the compiled kernels (the
    indexes they build on ``rows`` then serve the families), once the thread loading them
    (``kernels``) is done.
    """
    def part(name: str, period: str | None = None) -> tuple[Part, ...]:
        names = _AS_HISTORY | ({"period": period} if period else {})
        return (Part(Table(state.tables[name])), Part(rows, names, keep=_FRESH))

    hist: dict[str, History] = {name: part(name, MONTH if name == "price" else WEEK)
                                for name in SUM_TABLES if name != "inputs"}
    hist |= {name: part(name) for name in FIRST_TABLES if name != "first_input_importer"}
    after = pl.col("arrival_date") > pl.lit(state.complete_to("inputs"), dtype=pl.Date)
    stacked = {name: pl.concat([state.tables[name].lazy(), df], how="vertical_relaxed")
               for name, df in input_rows(None if inputs is None else inputs.filter(after)).items()}
    # Collected once (each is read by several lookups, and the component imports may be a
    # file scan that would otherwise be read once per reader), on another thread: reading
    # them keeps Polars' threads busy while the kernels finish loading and the first
    # sightings below run in them.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="waypoint-inputs") as pool:
        read = pool.submit(pl.collect_all, list(stacked.values()))
        kernels.join()
        derived = {}
        for name, table in (("exporter_origins", "first_exporter_origin"), ("exporter_chapters", "first_exporter_chapter")):
            keys = FIRST_TABLES[table]
            own = first_sightings(hist[table][1], keys)  # one row per key among the file's rows
            seen = pl.concat([state.tables[table].lazy(), own.lazy()], how="vertical_relaxed")
            firsts = seen.with_columns(key_hash(keys).alias("_kh")).group_by("_kh").agg(
                pl.col("exporter_id").first(), pl.col("first_day").min())
            derived[name] = firsts.select("exporter_id", "first_day", pl.lit(1, dtype=pl.Int64).alias("n"))
        frames = dict(zip(derived, pl.collect_all(list(derived.values())), strict=True))
        frames |= dict(zip(stacked, read.result(), strict=True))
    return hist | {name: Table(df) for name, df in frames.items()}


def _context(hist: dict[str, History], has_inputs: bool, events: pl.DataFrame, rows: Table,
             parties: pl.DataFrame | None) -> Context:
    """Name the history each family reads; ``*_total`` lookups read the finer table with fewer keys."""
    coarser = {"exports_total": "exports", "imports_total": "imports", "national_total": "national",
               "inputs_total": "inputs", "inputs_by_country": "inputs"}
    sums = {name: hist[name] for name in (*SUM_TABLES, "exporter_origins", "exporter_chapters")}
    sums |= {name: hist[src] for name, src in coarser.items()}
    event_weeks = tuple(events.select(week_of(pl.col("effective_date")).unique()).to_series().drop_nulls().to_list())
    firsts = {name: hist[name] for name in FIRST_TABLES}
    return Context(sums=sums, firsts=firsts, has_inputs=has_inputs, event_weeks=event_weeks, rows=rows, parties=parties)


def _conform(lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Contract columns typed as the schema (optional ones added as null), extras kept."""
    have = lf.collect_schema()
    return lf.with_columns(
        [pl.col(n).cast(t) if n in have else pl.lit(None, dtype=t).alias(n) for n, t in schema.items()]
    )


def build(
    shipments: pl.LazyFrame,
    *,
    inputs: pl.LazyFrame | None = None,
    events: pl.DataFrame | None = None,
    state: ReferenceState | None = None,
    parties: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """All input columns + every feature of ``FEATURE_NAMES`` (Float64, null = unknown) + ``ev_*`` evidence
    + ``duty_at_risk_usd`` (``features/revenue.py``).

    ``state=None`` means "no history before this file" (``fit_state`` of nothing).
    ``events=None`` uses the state's events (none for an empty state). The input is read
    once, into memory, and the frame returned holds the result; for inputs larger than
    memory use :func:`build_chunks`. ``parties=None``
    uses the state's known-party list (none for a state without one).
    """
    return _build(shipments, inputs=inputs, events=events, state=state, parties=parties)


def _build(shipments: pl.LazyFrame, *, inputs: pl.LazyFrame | None, events: pl.DataFrame | None,
           state: ReferenceState | None, parties: pl.DataFrame | None = None) -> pl.DataFrame:
    # Loading the compiled lookup kernels is a fixed cost once per process: it starts
    # first, on its own thread, and runs while the input is read.
    warm = threading.Thread(target=_load_kernels, name="waypoint-kernels", daemon=True)
    warm.start()
    shipments = _conform(shipments.lazy(), SHIPMENTS.schema)
    if inputs is not None:
        inputs = _conform(inputs.lazy(), INPUTS.schema)
    if state is None:
        state = fit_state(pl.LazyFrame(schema=SHIPMENTS.schema), None, events)
    if events is None:
        events = state.events
    events = tariff.conform_events(events) if events.height else pl.DataFrame(schema=EVENTS.schema)
    has_inputs = inputs is not None or state.has_inputs

    # One read of the input; everything after works on memory. Rows are never reordered,
    # so the features line up with the input rows and are stacked beside them at the end.
    wide = shipments.collect(engine="streaming")
    # The rows the families read: a narrow copy in one chunk per column, with the keys,
    # dates and line values they need, worked out in memory (eager ``with_columns`` keeps
    # one chunk, where a lazy plan comes back split in about ten). Every lookup attaches a
    # one-chunk column to these rows, and Polars rechunks a whole frame whose columns are
    # chunked differently, once per family plan; a one-chunk column is also read as an
    # array without a copy. The codes and
    # dates the keys were derived from are not read again: they are dropped.
    rows = wide.select(*NARROW, *known_parties.row_columns(wide.columns)).rechunk().with_columns(
        hs6(pl.col("hs_code")).alias(HS6),
        pl.col("hs_code").str.slice(0, 2).alias(CHAPTER),
        week_of(pl.col("arrival_date")).alias(WEEK),
        month_of(pl.col("arrival_date")).alias(MONTH),
        day_of(pl.col("arrival_date")).alias(DAY),
        mark_country("manufacturer_id").alias(MID_COUNTRY),
        mark_country_of_few("port_of_lading", wide.get_column("port_of_lading").unique()).alias(LADING_COUNTRY),
    )
    foreign = foreign_mark(pl.col(MID_COUNTRY), pl.col(LADING_COUNTRY))
    rows = rows.with_columns(
        *[expr.alias(_LINE[name]) for name, expr in line_values(foreign).items()],
        (pl.col("arrival_date") > pl.lit(state.complete_to("shipments"), dtype=pl.Date)).fill_null(False).alias(_FRESH),
    )
    rows = tariff.tariffed_origin(rows, events)
    rows = rows.drop(_DERIVED_FROM).rechunk()  # (already one chunk: kept so)
    # One table of the rows, which the lookups query and which is also part of every history
    # of shipments: what a lookup works out on it (hashes, indexes) serves the others.
    table = Table(rows)
    ctx = _context(_history(state, table, inputs, warm), has_inputs, events, table,
                   parties if parties is not None else state.parties)

    def run(family: Family) -> pl.DataFrame:
        out = family(rows.lazy(), ctx)
        return out.select([c for c in out.collect_schema().names() if c not in rows.columns]).collect(engine="in-memory")

    # The families are independent given the rows (each reads only contract columns, the
    # tariffed origin and the history), so they run side by side: the lookup kernels and
    # Polars release the GIL. The result is the fold's, column for column.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="waypoint-family") as pool:
        costliest_first = sorted(FAMILIES, key=lambda fc: -fc[1])
        done = {family: pool.submit(run, family) for family, _ in costliest_first}
        added_by_family = [done[family].result() for family, _ in FAMILIES]
    lf = pl.concat([rows, *added_by_family], how="horizontal").lazy()
    added = [c for c in lf.collect_schema().names() if c in FEATURE_NAMES or c.startswith("ev_")]
    feats = lf.select(*added).with_columns([pl.col(n).cast(pl.Float64) for n in FEATURE_NAMES]).collect()
    # The duty at risk is worked out on a narrow lazy copy and stacked beside the rest: an
    # eager ``with_columns`` over the wide frame would rechunk every one of its columns.
    read = [c for c in revenue.READS if c in wide.columns]
    duty = revenue.with_duty_at_risk(pl.concat([wide.select(read), feats], how="horizontal").lazy(),
                                     tariff.default_country(events)).select(revenue.OUTPUTS).collect()
    return pl.concat([wide, feats, duty], how="horizontal")


def _load_kernels() -> None:
    """Import and load the compiled kernels, on the loading thread: importing numba is a
    fixed cost of its own, which the read then overlaps too."""
    from features.families import _kernels

    _kernels.warm()


def feature_columns(lf: pl.LazyFrame) -> list[str]:
    """Registry features and evidence columns present in a built frame."""
    names = lf.collect_schema().names()
    return [n for n in names if n in FEATURE_NAMES or n.startswith("ev_")]


#: Internal column: the arrival month of a row while a chunked build spills its input.
_CHUNK = "_chunk_month"


def build_chunks(
    shipments: pl.LazyFrame,
    *,
    inputs: pl.LazyFrame | None = None,
    events: pl.DataFrame | None = None,
    state: ReferenceState | None = None,
    chunk_rows: int = 2_000_000,
    spill_dir: str | Path | None = None,
    parties: pl.DataFrame | None = None,
) -> Iterator[pl.DataFrame]:
    """:func:`build` under a memory bound: the same features, computed a few arrival months at a time.

    The input is first streamed to Parquet in a temporary directory (one read of a CSV),
    then consecutive arrival months are taken together until a chunk holds at least
    ``chunk_rows`` rows. Each chunk is built by :func:`build` with a state holding every
    earlier chunk's history: the exact fit/apply property (integer sums, lookups strictly
    before a row's own week, month or day) makes each row's features the same as in one
    ``build`` over everything. Memory holds one chunk plus the aggregated history.

    Yields one feature frame per chunk, in arrival-month order (input order within a
    month); write each away before taking the next (``detector.io.write.write_frames``).
    """
    if state is None:
        state = fit_state(pl.LazyFrame(schema=SHIPMENTS.schema), None, events)
    if events is None:
        events = state.events
    with tempfile.TemporaryDirectory(prefix="waypoint-chunks-", dir=spill_dir) as tmp:
        ships_path = Path(tmp) / "shipments.parquet"
        shipments.lazy().with_columns(month_of(pl.col("arrival_date").cast(pl.Date)).alias(_CHUNK)).sink_parquet(ships_path)
        ships = pl.scan_parquet(ships_path)
        ins = None
        if inputs is not None:
            inputs.lazy().pipe(_conform, INPUTS.schema).select(INPUTS.names).sink_parquet(Path(tmp) / "inputs.parquet")
            ins = pl.scan_parquet(Path(tmp) / "inputs.parquet")
        counts = ships.group_by(_CHUNK).len().sort(_CHUNK).collect()
        has_inputs = inputs is not None or state.has_inputs
        for months in _group_months(counts[_CHUNK].to_list(), counts["len"].to_list(), chunk_rows):
            chunk = ships.filter(pl.col(_CHUNK).is_in(months)).drop(_CHUNK).collect()
            last_day = _last_day(max(months))
            chunk_inputs = None
            if ins is not None:
                lacking = pl.col("arrival_date").is_between(state.complete_to("inputs"), last_day, closed="right")
                chunk_inputs = ins.filter(lacking).collect()
            yield build(chunk.lazy(), inputs=None if chunk_inputs is None else chunk_inputs.lazy(), events=events, state=state,
                        parties=parties)
            # The rows this chunk added to the history join the state, which is then
            # complete to the chunk's last day for every source.
            lacking = pl.col("arrival_date") > pl.lit(state.complete_to("shipments"), dtype=pl.Date)
            added = {"shipments": _conform(chunk.lazy(), SHIPMENTS.schema).filter(lacking),
                     "inputs": None if chunk_inputs is None else chunk_inputs.lazy()}
            fresh = history_tables(added["shipments"], added["inputs"])
            days = {source: lf.select(pl.col("arrival_date").min().alias("first"), pl.col("arrival_date").max().alias("last"))
                    for source, lf in added.items() if lf is not None}
            done = pl.collect_all([*fresh.values(), *days.values()])
            tables, bounds = done[:len(fresh)], done[len(fresh):]
            spans = {source: df.row(0, named=True) for source, df in zip(days, bounds, strict=True)}
            state = extended(state, dict(zip(fresh, tables, strict=True)), last_day, has_inputs=has_inputs,
                             first={k: v["first"] for k, v in spans.items()}, last={k: v["last"] for k, v in spans.items()})


def _group_months(months: list[int], counts: list[int], chunk_rows: int) -> Iterator[list[int]]:
    """Consecutive months, taken together until a group holds at least ``chunk_rows`` rows."""
    group: list[int] = []
    total = 0
    for month, n in zip(months, counts, strict=True):
        group.append(month)
        total += n
        if total >= chunk_rows:
            yield group
            group, total = [], 0
    if group:
        yield group


def _last_day(month_index: int) -> date:
    """Last day of a month index (``year * 12 + month - 1``, see ``month_of``)."""
    year, month = divmod(month_index + 1, 12)
    return date(year, month + 1, 1) - timedelta(days=1)
