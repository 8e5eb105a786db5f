"""The fitted reference state: history aggregates and norms learned from training data.

A :class:`ReferenceState` is a handful of small frames of per (key, week/month) integer
sums and per-entity first-seen days, plus the tariff events it was fitted with and, per
source of history, the :class:`Span` of dates it covers.

The rule that keeps training and scoring the same (no train/serve skew):

* Each source (``shipments``; ``inputs``, the component imports) has a span. The state
  holds every row of that source dated up to the span's ``complete_to`` and nothing after.
* ``complete_to`` is the last day of the training shipments for *every* source: component
  imports dated after it are left out when fitting (a shipment file covers a period; an
  inputs file for the whole year must not make the state look complete past it). A state
  fitted without component imports has an inputs span complete to nothing.
* Building features with a state adds, per source, exactly the rows it lacks: the file's
  rows (or the component imports given) dated *after* that source's ``complete_to``.
  Rows on or before it are scored but not added again, so nothing is counted twice.

So ``build(later, state=fit_state(earlier))`` gives the features of the later rows that
``build(earlier + later)`` gives, and ``build(all, state=None)`` is literally
``build(all, state=fit_state(empty))``: the training path and the scoring path are the
same code (:func:`history_tables`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from features.families._history import LOG_SCALE, cents, day_of, hs6, month_of, week_of
from features.families.tariff import conform_events
from features.schema import EVENTS, INPUTS, SHIPMENTS

#: The day before any real data: a state fitted on nothing is complete up to here.
EMPTY_AS_OF = date(1, 1, 1)
STATE_FORMAT = 4

#: Name -> (key columns, integer value columns). Period columns are named ``period``
#: (week index, or month index for ``price``); first-seen tables carry ``first_day``.
SUM_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "exports": (("exporter_id", "hs6"), ("value", "n")),
    "imports": (("importer_id", "hs6", "origin_country"), ("value",)),
    "national": (("hs6", "origin_country"), ("value",)),
    # ``priced``: lines with a known unit value (a line of unknown value or weight is not
    # part of a price norm, and must not pull its mean towards 0 = 1 USD/kg).
    "price": (("hs6", "origin_country"), ("priced", "s1", "s2")),
    "inputs": (("importer_id", "hs6", "supplier_country"), ("value",)),
    # lines whose manufacturer ID or loading port names another country than the declared origin
    "exporter_marks": (("exporter_id",), ("n", "foreign")),
}
FIRST_TABLES: dict[str, tuple[str, ...]] = {
    "first_exporter": ("exporter_id",),
    "first_importer": ("importer_id",),
    "first_pair": ("importer_id", "exporter_id"),
    "first_exporter_origin": ("exporter_id", "origin_country"),
    "first_exporter_chapter": ("exporter_id", "chapter"),
    "first_input_importer": ("importer_id",),
}
TABLE_NAMES = (*SUM_TABLES, *FIRST_TABLES)
#: The sources of history, and the tables each one feeds.
SOURCES: dict[str, tuple[str, ...]] = {
    "inputs": ("inputs", "first_input_importer"),
    "shipments": tuple(n for n in TABLE_NAMES if n not in ("inputs", "first_input_importer")),
}


def _log_uv() -> pl.Expr:
    return (pl.col("declared_value_usd") / pl.col("weight_kg")).log()


def mark_country(column: str) -> pl.Expr:
    """The country a manufacturer ID or UN/LOCODE names: the first two letters of the trimmed
    code, upper-cased (null if it has fewer than two)."""
    # Sliced before anything else: the string work then runs on two characters, not the code.
    code = pl.col(column).str.strip_chars_start().str.slice(0, 2)
    return pl.when(code.str.strip_chars_end().str.len_chars() == 2).then(code.str.to_uppercase())


#: Above this many distinct codes, mapping them back costs more than the string work it saves.
_FEW = 100_000


def mark_country_of_few(column: str, codes: pl.Series) -> pl.Expr:
    """:func:`mark_country` for a column of few distinct codes (``codes``: its distinct
    values), such as ports: worked out once per code and mapped back, since a port repeats
    over many lines. Manufacturer IDs are too many for it to pay, and
    so is a column of more than :data:`_FEW` distinct codes: it is worked out line by line."""
    codes = codes.drop_nulls()
    if codes.len() > _FEW:
        return mark_country(column)
    country = pl.DataFrame({column: codes}).select(mark_country(column)).to_series()
    return pl.col(column).replace_strict(codes, country, default=None, return_dtype=pl.String)


def foreign_mark(mid: pl.Expr | None = None, lading: pl.Expr | None = None) -> pl.Expr:
    """True when the manufacturer ID or the port of lading names another country than the origin.

    ``mid`` and ``lading`` are their countries when already computed (default: from the codes).
    """
    origin = pl.col("origin_country")
    mid = mark_country("manufacturer_id") if mid is None else mid
    lading = mark_country("port_of_lading") if lading is None else lading
    return (mid != origin).fill_null(False) | (lading != origin).fill_null(False)


def line_values(foreign: pl.Expr | None = None) -> dict[str, pl.Expr]:
    """What one shipment line adds to the sums tables, by value column (integers).

    ``foreign`` is the line's :func:`foreign_mark` when the caller has it (default: computed).
    """
    return {
        "value": cents(pl.col("declared_value_usd")),
        "n": pl.lit(1, dtype=pl.Int64),
        "priced": _log_uv().is_not_null().cast(pl.Int64),
        "foreign": (foreign_mark() if foreign is None else foreign).cast(pl.Int64),
        "s1": (_log_uv() * LOG_SCALE).round(0).cast(pl.Int64),
        "s2": (_log_uv().pow(2) * LOG_SCALE).round(0).cast(pl.Int64),
    }


def history_rows(shipments: pl.LazyFrame, inputs: pl.LazyFrame | None) -> dict[str, pl.LazyFrame]:
    """The state's tables before aggregation: one row per shipment (or component import).

    Same columns as :func:`history_tables` (sums tables carry ``n = 1`` per row, first-seen
    tables the row's day as ``first_day``).
    """
    s = shipments.select(
        "exporter_id",
        "importer_id",
        "origin_country",
        hs6(pl.col("hs_code")).alias("hs6"),
        pl.col("hs_code").str.slice(0, 2).alias("chapter"),
        week_of(pl.col("arrival_date")).alias("period"),
        month_of(pl.col("arrival_date")).alias("month"),
        day_of(pl.col("arrival_date")).alias("first_day"),
        *[expr.alias(name) for name, expr in line_values().items()],
    )
    out: dict[str, pl.LazyFrame] = {
        name: s.select(*keys, "period", *values) for name, (keys, values) in SUM_TABLES.items() if name not in ("price", "inputs")
    }
    out["price"] = s.select("hs6", "origin_country", pl.col("month").alias("period"), *SUM_TABLES["price"][1])
    for name, keys in FIRST_TABLES.items():
        if name != "first_input_importer":
            out[name] = s.select(*keys, "first_day")
    out |= input_rows(inputs)
    return {name: out[name] for name in TABLE_NAMES}


def input_rows(inputs: pl.LazyFrame | None) -> dict[str, pl.LazyFrame]:
    """The component-import tables of :func:`history_rows`: one row per import line."""
    if inputs is None:
        inputs = pl.LazyFrame(schema=INPUTS.schema)
    i = inputs.select(
        "importer_id",
        "supplier_country",
        hs6(pl.col("hs_code")).alias("hs6"),
        week_of(pl.col("arrival_date")).alias("period"),
        day_of(pl.col("arrival_date")).alias("first_day"),
        cents(pl.col("declared_value_usd")).alias("value"),
    )
    return {
        "inputs": i.select("importer_id", "hs6", "supplier_country", "period", "value"),
        "first_input_importer": i.select("importer_id", "first_day"),
    }


def history_tables(shipments: pl.LazyFrame, inputs: pl.LazyFrame | None) -> dict[str, pl.LazyFrame]:
    """Aggregate rows into the state's tables (lazy): :func:`history_rows` summed per
    (key, period), first-seen days reduced to the minimum per key."""
    rows = history_rows(shipments, inputs)
    out = {
        name: rows[name].group_by(*keys, "period").agg([pl.col(v).sum() for v in values])
        for name, (keys, values) in SUM_TABLES.items()
    }
    for name, keys in FIRST_TABLES.items():
        out[name] = rows[name].group_by(*keys).agg(pl.col("first_day").min())
    return {name: out[name] for name in TABLE_NAMES}


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENTS.schema)


@dataclass(frozen=True)
class Span:
    """The dates a state covers of one source of history.

    The state holds every row of the source dated on or before ``complete_to`` and none
    after; ``first`` and ``last`` are the first and last days of the rows it holds (None
    when it holds none). Building with the state adds the source's rows after ``complete_to``.
    """

    complete_to: date = EMPTY_AS_OF
    first: date | None = None
    last: date | None = None

    def to_json(self) -> dict:
        return {k: None if v is None else v.isoformat() for k, v in
                (("complete_to", self.complete_to), ("first", self.first), ("last", self.last))}

    @classmethod
    def from_json(cls, data: dict) -> "Span":
        day = lambda v: None if v is None else date.fromisoformat(v)  # noqa: E731
        return cls(complete_to=date.fromisoformat(data["complete_to"]), first=day(data["first"]), last=day(data["last"]))


def _no_spans() -> dict[str, Span]:
    return {source: Span() for source in SOURCES}


@dataclass(frozen=True)
class ReferenceState:
    """History aggregates fitted on training data; see the module docstring for the rules.

    ``tables`` maps each name of :data:`TABLE_NAMES` to a small DataFrame; ``events`` is
    the tariff-event table the state was fitted with; ``spans`` maps each source of
    :data:`SOURCES` to the :class:`Span` it covers; ``has_inputs`` records whether
    component imports were part of the fit.
    """

    tables: dict[str, pl.DataFrame]
    events: pl.DataFrame
    spans: dict[str, Span] = field(default_factory=_no_spans)
    has_inputs: bool = False
    format: int = field(default=STATE_FORMAT)
    # The known-party list the model was trained with (``features.families.parties``); None: none.
    parties: pl.DataFrame | None = None

    @property
    def as_of(self) -> date:
        """The last day of the training shipments: the state is complete up to it."""
        return self.spans["shipments"].complete_to

    def complete_to(self, source: str) -> date:
        """The day up to which the state holds every row of ``source``: a build adds the rows after it."""
        return self.spans[source].complete_to

    def to_dir(self, path: str | Path) -> Path:
        """Write one Parquet file per table plus ``state.json`` (spans, flags, digest)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, df in self.tables.items():
            df.write_parquet(path / f"{name}.parquet")
        self.events.write_parquet(path / "events.parquet")
        if self.parties is not None:
            self.parties.write_parquet(path / "parties.parquet")
        meta = {"format": self.format, "as_of": self.as_of.isoformat(), "has_inputs": self.has_inputs,
                "spans": {k: v.to_json() for k, v in self.spans.items()}, "digest": self.digest()}
        (path / "state.json").write_text(json.dumps(meta, indent=2) + "\n")
        return path

    @classmethod
    def from_dir(cls, path: str | Path, *, verify: bool = True) -> "ReferenceState":
        """Read a state written by :meth:`to_dir`; raises ``ValueError`` if its digest does not match.

        ``verify=False`` skips recomputing the content digest (seconds on a large state) for
        callers that have already checked every file's bytes, as a model artifact's
        SHA-256 manifest does.
        """
        path = Path(path)
        meta = json.loads((path / "state.json").read_text())
        if meta.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: reference state format {meta.get('format')!r}, expected {STATE_FORMAT} "
                             "(made by another waypoint version: train the model again)")
        state = cls(
            tables={name: pl.read_parquet(path / f"{name}.parquet") for name in TABLE_NAMES},
            events=pl.read_parquet(path / "events.parquet"),
            spans={source: Span.from_json(meta["spans"][source]) for source in SOURCES},
            has_inputs=bool(meta["has_inputs"]),
            parties=pl.read_parquet(path / "parties.parquet") if (path / "parties.parquet").is_file() else None,
        )
        if verify and state.digest() != meta["digest"]:
            raise ValueError(f"{path}: reference state digest does not match its content (file changed or damaged)")
        return state

    def digest(self) -> str:
        """SHA-256 over the content (rows sorted, so it does not depend on row order)."""
        h = hashlib.sha256()
        spans = ";".join(f"{k}={v.to_json()}" for k, v in sorted(self.spans.items()))
        h.update(f"format={self.format};spans={spans};inputs={self.has_inputs}".encode())
        for name in TABLE_NAMES:
            _update(h, name, self.tables[name])
        _update(h, "events", self.events)
        if self.parties is not None:  # a state without a list keeps the digest it always had
            _update(h, "parties", self.parties)
        return h.hexdigest()


def _update(h: "hashlib._Hash", name: str, df: pl.DataFrame) -> None:
    h.update(f"|{name}|{df.schema}|".encode())
    if df.height:
        df = df.sort(df.columns, nulls_last=True)
        h.update(df.write_csv().encode())


def fit_state(shipments: pl.LazyFrame, inputs: pl.LazyFrame | None, events: pl.DataFrame | None) -> ReferenceState:
    """Fit history aggregates on training rows (typed per ``features.schema``).

    Every source is complete to the last training shipment's day: component imports dated
    after it are left out (see the module docstring), so a scored file's own ``--inputs``
    add them, and the state never claims a day the training shipments did not reach.
    """
    events = empty_events() if events is None else conform_events(events)
    shipments = shipments.select(SHIPMENTS.names)
    first, last = shipments.select(pl.col("arrival_date").min().alias("a"), pl.col("arrival_date").max().alias("b")).collect().row(0)
    complete_to = last if last is not None else EMPTY_AS_OF
    spans = {"shipments": Span(complete_to, first, last), "inputs": Span()}
    if inputs is not None:
        inputs = inputs.filter(pl.col("arrival_date") <= pl.lit(complete_to, dtype=pl.Date))
        i_first, i_last = inputs.select(pl.col("arrival_date").min().alias("a"), pl.col("arrival_date").max().alias("b")).collect().row(0)
        spans["inputs"] = Span(complete_to, i_first, i_last)
    tables = history_tables(shipments, inputs)
    collected = pl.collect_all(list(tables.values()), engine="streaming")
    return ReferenceState(
        tables=dict(zip(tables, collected, strict=True)),
        events=events,
        spans=spans,
        has_inputs=inputs is not None,
    )


def _bound(pick, *days: date | None) -> date | None:
    known = [d for d in days if d is not None]
    return pick(known) if known else None


def extended(state: ReferenceState, tables: dict[str, pl.DataFrame], complete_to: date, *,
             has_inputs: bool, first: dict[str, date | None], last: dict[str, date | None]) -> ReferenceState:
    """``state`` with more history: ``tables`` (of :data:`TABLE_NAMES`) stacked under its own,
    every source complete to ``complete_to``; ``first``/``last`` are the added rows' days per source."""
    def span(source: str) -> Span:
        old = state.spans[source]
        return Span(max(old.complete_to, complete_to), _bound(min, old.first, first.get(source)),
                    _bound(max, old.last, last.get(source)))

    return ReferenceState(
        tables={name: pl.concat([state.tables[name], tables[name]], how="vertical_relaxed") for name in TABLE_NAMES},
        events=state.events,
        spans={source: span(source) for source in SOURCES},
        has_inputs=has_inputs,
        parties=state.parties,
    )
