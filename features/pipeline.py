"""Build the feature frame: the input rows plus one column per registry feature.

``build`` combines the reference state with the file's own rows dated after
``state.as_of`` into cumulated history (small frames, collected once when ``build`` is
called: one streaming pass over the input), prepares per-row keys (HS6, week, month,
tariffed origin) and folds the feature families over the rows. The per-row frame stays
lazy; the result runs under ``collect(engine="streaming")``. Rows come back in input
order; each row's features depend only on its own values and on history strictly before
its arrival week (see ``features/families/_history.py``), never on row order.
"""
from __future__ import annotations

from collections.abc import Callable

import polars as pl

from features.families import consistency, entities, origin_switch, price, tariff, value_added
from features.families._context import CHAPTER, DAY, HS6, MONTH, ROW, WEEK, Context
from features.families._history import cumulate, day_of, hs6, month_of, week_of
from features.registry import FEATURE_NAMES
from features.schema import EVENTS, INPUTS, SHIPMENTS
from features.state import FIRST_TABLES, SUM_TABLES, ReferenceState, fit_state, history_tables

#: Contract columns the families read (the rest stay in the wide frame untouched).
NARROW = (
    "arrival_date", "importer_id", "exporter_id", "hs_code", "origin_country", "export_country",
    "declared_value_usd", "weight_kg", "quantity", "manufacturer_id", "port_of_lading",
)

Family = Callable[[pl.LazyFrame, Context], pl.LazyFrame]

#: The fold, in order. The tariffed origin is computed before any of them.
FAMILIES: tuple[Family, ...] = (
    value_added.apply,
    price.apply,
    origin_switch.apply,
    consistency.apply,
    entities.apply,
    tariff.apply,
)


def _combined(state: ReferenceState, shipments: pl.LazyFrame, inputs: pl.LazyFrame | None) -> dict[str, pl.LazyFrame]:
    """State tables + the file's rows after ``as_of`` (the state is authoritative up to it)."""
    after = pl.col("arrival_date") > pl.lit(state.as_of, dtype=pl.Date)
    fresh = history_tables(shipments.filter(after), None if inputs is None else inputs.filter(after))
    return {name: pl.concat([state.tables[name].lazy(), fresh[name]], how="vertical_relaxed") for name in fresh}


def _context(tables: dict[str, pl.LazyFrame], has_inputs: bool, events: pl.DataFrame) -> Context:
    def sums(name: str, keys: list[str], values: tuple[str, ...]) -> pl.LazyFrame:
        return tables[name].group_by([*keys, "period"]).agg([pl.col(v).sum() for v in values])

    raw = {name: tables[name] for name in SUM_TABLES}
    raw["exports_total"] = sums("exports", ["exporter_id"], ("value", "n"))
    raw["imports_total"] = sums("imports", ["importer_id", "hs6"], ("value",))
    raw["national_total"] = sums("national", ["hs6"], ("value",))
    raw["inputs_total"] = sums("inputs", ["importer_id"], ("value",))
    raw["inputs_by_country"] = sums("inputs", ["importer_id", "supplier_country"], ("value",))
    keys = {name: list(SUM_TABLES[name][0]) for name in SUM_TABLES} | {
        "exports_total": ["exporter_id"], "imports_total": ["importer_id", "hs6"], "national_total": ["hs6"],
        "inputs_total": ["importer_id"], "inputs_by_country": ["importer_id", "supplier_country"],
    }
    cum = {name: cumulate(frame, keys[name], [c for c in frame.collect_schema().names() if c not in (*keys[name], "period")])
           for name, frame in raw.items()}
    for name, table in (("exporter_origins", "first_exporter_origin"), ("exporter_chapters", "first_exporter_chapter")):
        firsts = tables[table].group_by(list(FIRST_TABLES[table])).agg(pl.col("first_day").min())
        cum[name] = cumulate(firsts.select("exporter_id", "first_day", pl.lit(1, dtype=pl.Int64).alias("n")), ["exporter_id"], ("n",), period="first_day")
    event_weeks = tuple(events.select(week_of(pl.col("effective_date")).unique()).to_series().drop_nulls().to_list())
    return Context(cum=cum, raw=raw, first={name: tables[name] for name in FIRST_TABLES}, has_inputs=has_inputs, event_weeks=event_weeks)


def _materialize(ctx: Context) -> Context:
    """Collect the history frames once (one streaming pass over the input).

    Each cumulated table is read by several lookups; left lazy, every reader would
    recompute it from the rows (the streaming engine shares no sub-plans), which measured
    2x slower at 1M rows. The frames are small aggregates, so holding them is cheap.
    """
    groups = (ctx.cum, ctx.raw, ctx.first)
    frames = pl.collect_all([f for g in groups for f in g.values()], engine="streaming")
    it = iter(frames)
    cum, raw, first = ({name: next(it).lazy() for name in g} for g in groups)
    return Context(cum=cum, raw=raw, first=first, has_inputs=ctx.has_inputs, event_weeks=ctx.event_weeks)


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
) -> pl.LazyFrame:
    """All input columns + every feature of ``FEATURE_NAMES`` (Float64, null = unknown) + ``ev_*`` evidence.

    ``state=None`` means "no history before this file" (``fit_state`` of nothing).
    ``events=None`` uses the state's events (none for an empty state).
    """
    shipments = _conform(shipments.lazy(), SHIPMENTS.schema)
    if inputs is not None:
        inputs = _conform(inputs.lazy(), INPUTS.schema)
    if state is None:
        state = fit_state(pl.LazyFrame(schema=SHIPMENTS.schema), None, events)
    if events is None:
        events = state.events
    events = events.select(EVENTS.names) if events.height else pl.DataFrame(schema=EVENTS.schema)
    has_inputs = inputs is not None or state.has_inputs
    ctx = _materialize(_context(_combined(state, shipments, inputs), has_inputs, events))

    wide = shipments.with_row_index(ROW)
    # Families work on a narrow copy sorted by arrival day: lookups whose window end grows
    # with the day need no sort of their own, and every sort moves few columns.
    lf = wide.select(ROW, *NARROW).sort("arrival_date").with_columns(
        hs6(pl.col("hs_code")).alias(HS6),
        pl.col("hs_code").str.slice(0, 2).alias(CHAPTER),
        week_of(pl.col("arrival_date")).alias(WEEK),
        month_of(pl.col("arrival_date")).alias(MONTH),
        day_of(pl.col("arrival_date")).alias(DAY),
    )
    lf = tariff.tariffed_origin(lf, events)
    for family in FAMILIES:
        lf = family(lf, ctx)
    added = [c for c in lf.collect_schema().names() if c in FEATURE_NAMES or c.startswith("ev_")]
    feats = lf.select(ROW, *added).with_columns([pl.col(n).cast(pl.Float64) for n in FEATURE_NAMES])
    return wide.join(feats, on=ROW, how="left", maintain_order="left").drop(ROW)


def feature_columns(lf: pl.LazyFrame) -> list[str]:
    """Registry features and evidence columns present in a built frame."""
    names = lf.collect_schema().names()
    return [n for n in names if n in FEATURE_NAMES or n.startswith("ev_")]
