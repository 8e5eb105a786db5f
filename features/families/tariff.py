"""Tariffed origin and the tariff differential.

The *tariffed origin* of a line is the country, other than the declared origin, whose
tariff events in force at arrival (``effective_date <= arrival_date``, HS code starting
with ``hs_prefix``; empty prefix = every line) add the highest duty in total. Null when no
such country exists; every feature that compares with it is then null. Events are a small
eager table: :func:`tariffed_origin_by_line` is the definition, a few column expressions
per event (no per-row Python); :func:`tariffed_origin`, which the pipeline calls, evaluates
that definition once per combination of the keys it reads rather than once per line.

Measures belong to the importing country. An event naming an ``importing_country``
applies only to lines imported into that country; an event naming none applies to every
line. A line that does not state its ``importing_country`` is taken as an import of the one
country the events name (the shipped table names only ``US``); with events naming several
countries such a line gets only the events that name none. A line of another country than
every event's gets no measure: its tariffed origin and every feature built on it are
unknown. An event adding nothing (rate 0, e.g. the duty on goods *found* transshipped, which
changes no declared origin's duty) is a record only: it is never a line's event.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import polars as pl

from features.families._context import EVENT_WEEK, Context
from features.families._history import week_of

Frame = TypeVar("Frame", pl.LazyFrame, pl.DataFrame)


def _prefix_col(prefix: str) -> str:
    return f"_hs_starts_{prefix}"


#: The shipments' and the events' column naming the importing country.
IMPORTING = "importing_country"
#: Internal column: the importing country a line is taken to be an import of.
_LINE_COUNTRY = "_tariff_importing"


def stated_countries(events: pl.DataFrame) -> list[str]:
    """The importing countries the events name, sorted (none when the column is absent)."""
    if IMPORTING not in events.columns:
        return []
    return sorted(events.get_column(IMPORTING).drop_nulls().unique().to_list())


def default_country(events: pl.DataFrame) -> str | None:
    """The importing country of a line that states none: the one country the events name
    (the shipped table: ``US``); None when they name none or several."""
    names = stated_countries(events)
    return names[0] if len(names) == 1 else None


def applicable(events: pl.DataFrame, country: str | None) -> pl.DataFrame:
    """The events that can apply to imports into ``country`` (None: a line stating no country):
    its own, those naming no country, and none that add nothing."""
    if country is None:
        country = default_country(events)
    keep = pl.col("added_duty_rate").fill_null(0.0) != 0.0
    if IMPORTING in events.columns:
        keep &= pl.col(IMPORTING).is_null() | (pl.col(IMPORTING) == pl.lit(country, dtype=pl.String)).fill_null(False)
    return events.filter(keep)


def conform_events(events: pl.DataFrame) -> pl.DataFrame:
    """An events table with every contract column (optional ones absent from it as null),
    in contract order: a table saved before a column existed reads as one without it."""
    from features.schema import EVENTS

    return events.with_columns(
        pl.lit(None, dtype=t).alias(n) for n, t in EVENTS.schema.items() if n not in events.columns
    ).select(EVENTS.names)


def events_digest(events: pl.DataFrame) -> str:
    """SHA-256 over an events table's content (rows sorted, so row order does not change it)."""
    h = hashlib.sha256()
    h.update(f"{events.schema}".encode())
    if events.height:
        h.update(events.sort(events.columns, nulls_last=True).write_csv().encode())
    return h.hexdigest()


def _line_country(schema_names: list[str], default: str | None) -> pl.Expr:
    """The importing country a line is taken to be an import of (see the module docstring)."""
    own = pl.col(IMPORTING) if IMPORTING in schema_names else pl.lit(None, dtype=pl.String)
    return (own.fill_null(pl.lit(default, dtype=pl.String)) if default else own).alias(_LINE_COUNTRY)


def _matches(ev: dict) -> pl.Expr:
    in_force = pl.col("arrival_date") >= pl.lit(ev["effective_date"], dtype=pl.Date)
    prefix = ev["hs_prefix"] or ""
    if prefix:
        in_force = in_force & pl.col(_prefix_col(prefix))
    country = ev.get(IMPORTING)
    if country:  # a measure of one importing country: only its lines
        in_force = in_force & (pl.col(_LINE_COUNTRY) == pl.lit(country, dtype=pl.String)).fill_null(False)
    return in_force


#: Internal column: each line's row in the table of :func:`_per_combination`.
_AT = "_tariff_at"
#: Columns :func:`tariffed_origin` adds.
OUTPUTS = ("ev_tariffed_origin", "ev_added_duty_tariffed", "ev_added_duty_declared", "ev_event_name", "ev_event_date", EVENT_WEEK)


def tariffed_origin(lf: Frame, events: pl.DataFrame) -> Frame:
    """Add ``ev_tariffed_origin``, its added duty, the declared origin's added duty, and the
    name and date of the latest event in force for the tariffed origin and this HS code
    (to a LazyFrame, or to a DataFrame in memory: evaluated at once, column by column).

    The columns :func:`tariffed_origin_by_line` gives, worked out once per combination of
    keys (:func:`_per_combination`) and read at each line's row; the HS codes' distinct
    values are read from ``lf`` first (one column).
    """
    codes = lf.lazy().select(pl.col("hs_code").unique()).collect().to_series()
    found = _per_combination(codes, events)
    if found is None:
        return tariffed_origin_by_line(lf, events)  # no event in force: constant columns
    missing = IMPORTING not in lf.collect_schema().names()
    if missing:  # lines that state no importing country
        lf = lf.with_columns(pl.lit(None, dtype=pl.String).alias(IMPORTING))
    out = lf.with_columns(found.at.alias(_AT)).with_columns(found.columns(_AT)).drop(_AT)
    return out.drop(IMPORTING) if missing else out


@dataclass(frozen=True)
class _Combinations:
    """:func:`tariffed_origin_by_line`'s columns for every combination of keys (``table``,
    one row per combination) and the expression of each line's row in it (``at``, UInt32)."""

    table: pl.DataFrame
    at: pl.Expr

    def columns(self, at: str) -> list[pl.Expr]:
        """The tariffed origin's columns, read at each line's row (column ``at`` holds :attr:`at`),
        in the order :func:`tariffed_origin_by_line` adds them."""
        return [pl.lit(self.table.get_column(c)).gather(pl.col(at)).alias(c) for c in self.table.columns if c in OUTPUTS]


def _per_combination(codes: pl.Series, events: pl.DataFrame) -> _Combinations | None:
    """The tariffed origin worked out once per combination of keys, for lines whose HS codes
    are among ``codes`` (None without events in force).

    A line's answer depends on it only through four small keys: which event prefixes its
    HS code starts with, which event dates its arrival is on or after, which of the
    events' countries (if any) it declares and, when events name importing countries,
    which of them (if any) it is imported into. :func:`tariffed_origin_by_line` works the
    answer out once per combination of keys (a table of a few thousand rows at most), and
    each line reads its combination's row: a handful of column operations per line instead
    of a few per event.
    The lines must have an ``importing_country`` column when events name importing
    countries (null where a line states none).
    """
    rows = _in_force_order(events)
    if not rows:
        return None
    dates = sorted({r["effective_date"] for r in rows})
    countries = sorted({r["origin_country"] for r in rows})
    prefixes = sorted({r["hs_prefix"] for r in rows if r["hs_prefix"]})
    importers = sorted({r[IMPORTING] for r in rows if r.get(IMPORTING)})

    # HS codes: one group per distinct set of matching prefixes. A null code matches no
    # prefix, exactly as "" does (the events' prefixes are not empty).
    codes = pl.concat([codes.fill_null("").rename("hs_code"), pl.Series("hs_code", [""])]).unique()
    flags = [f"_starts_with_{i}" for i in range(len(prefixes))]
    matched = pl.DataFrame(codes).with_columns(pl.col("hs_code").str.starts_with(p).alias(f) for f, p in zip(flags, prefixes))
    groups = matched.group_by(flags or [pl.lit(True).alias("_starts_with_none")], maintain_order=True).agg(
        pl.col("hs_code").first().alias("_group_code"), pl.col("hs_code").alias("_group_codes"))
    groups = groups.with_row_index("_code_group")
    code_group = groups.select("_code_group", "_group_codes").explode("_group_codes")
    # Arrival dates: interval k holds dates on or after the k-th event date and before the
    # next one (k = 0: before every event); the last class is a null date.
    n_dates = len(dates) + 2
    starts = [dates[0] - timedelta(days=1) if dates[0] > date.min else dates[0], *dates, None]
    # Declared origins: each of the events' countries, any other country, null.
    other = "_" * (max(len(c) for c in countries) + 1)  # not one of the countries
    origins = [*countries, other, None]
    # Importing countries: each the events name, any other, null (a line stating none).
    # Without stated countries every line is in the one class of a null country.
    elsewhere = "_" * (max((len(c) for c in importers), default=0) + 1)
    imports = [*importers, elsewhere, None] if importers else [None]

    def classes(name: str, column: str, values: list, dtype: pl.DataType) -> pl.DataFrame:
        return pl.DataFrame({name: range(len(values)), column: values}, schema={name: pl.UInt32, column: dtype})

    table = (
        groups.select("_code_group", pl.col("_group_code").alias("hs_code"))
        .join(classes("_date_class", "arrival_date", starts, pl.Date), how="cross")
        .join(classes("_origin_class", "origin_country", origins, pl.String), how="cross")
        .join(classes("_import_class", IMPORTING, imports, pl.String), how="cross")
    )
    combination = ((pl.col("_code_group").cast(pl.UInt32) * n_dates + pl.col("_date_class")) * len(origins)
                   + pl.col("_origin_class")) * len(imports) + pl.col("_import_class")
    table = tariffed_origin_by_line(table.lazy(), events).with_columns(combination.alias("_combination")).sort(
        "_combination").collect()

    group = pl.col("hs_code").fill_null("").replace_strict(code_group["_group_codes"], code_group["_code_group"], return_dtype=pl.UInt32)
    when = pl.lit(pl.Series(dates, dtype=pl.Date)).search_sorted(pl.col("arrival_date"), side="right").cast(pl.UInt32)
    when = pl.when(pl.col("arrival_date").is_null()).then(pl.lit(n_dates - 1, dtype=pl.UInt32)).otherwise(when)
    origin = pl.when(pl.col("origin_country").is_null()).then(pl.lit(len(origins) - 1, dtype=pl.UInt32))
    for k, c in enumerate(countries):  # a few countries: cheaper than a hash lookup
        origin = origin.when(pl.col("origin_country") == c).then(pl.lit(k, dtype=pl.UInt32))
    origin = origin.otherwise(pl.lit(len(countries), dtype=pl.UInt32))
    at = (group * n_dates + when) * len(origins) + origin
    if importers:
        into = pl.when(pl.col(IMPORTING).is_null()).then(pl.lit(len(imports) - 1, dtype=pl.UInt32))
        for k, c in enumerate(importers):
            into = into.when(pl.col(IMPORTING) == c).then(pl.lit(k, dtype=pl.UInt32))
        at = at * len(imports) + into.otherwise(pl.lit(len(importers), dtype=pl.UInt32))
    return _Combinations(table=table, at=at)


def _in_force_order(events: pl.DataFrame) -> list[dict]:
    """The events that can be in force, latest first (an event adding nothing is a record, never in force)."""
    usable = events.drop_nulls(["effective_date", "origin_country", "added_duty_rate"]).filter(pl.col("added_duty_rate") != 0.0)
    return usable.sort("effective_date", descending=True).to_dicts()


def tariffed_origin_by_line(lf: Frame, events: pl.DataFrame) -> Frame:
    """:func:`tariffed_origin`'s columns worked out line by line, a few expressions per event:
    the definition of which event applies to a line, which ``tariffed_origin`` evaluates once
    per combination of keys."""
    rows = _in_force_order(events)
    if not rows:
        return lf.with_columns(
            pl.lit(None, dtype=pl.String).alias("ev_tariffed_origin"),
            pl.lit(None, dtype=pl.Float64).alias("ev_added_duty_tariffed"),
            pl.lit(0.0).alias("ev_added_duty_declared"),
            pl.lit(None, dtype=pl.String).alias("ev_event_name"),
            pl.lit(None, dtype=pl.Date).alias("ev_event_date"),
            pl.lit(None, dtype=pl.Int32).alias(EVENT_WEEK),
        )
    countries = sorted({r["origin_country"] for r in rows})
    # Each distinct prefix is matched once, however many events share it.
    prefixes = sorted({r["hs_prefix"] for r in rows if r["hs_prefix"]})
    lf = lf.with_columns([pl.col("hs_code").str.starts_with(p).alias(_prefix_col(p)) for p in prefixes])
    lf = lf.with_columns(_line_country(lf.collect_schema().names(), default_country(events)))
    duty = {
        c: pl.sum_horizontal(
            [pl.when(_matches(r)).then(pl.lit(float(r["added_duty_rate"]))).otherwise(0.0) for r in rows if r["origin_country"] == c]
        )
        for c in countries
    }
    cand = [pl.when(pl.col("origin_country") != c).then(duty[c]).otherwise(0.0).alias(f"_duty_{c}") for c in countries]
    declared = pl.sum_horizontal([pl.when(pl.col("origin_country") == c).then(duty[c]).otherwise(0.0) for c in countries])
    lf = lf.with_columns(*cand, declared.alias("ev_added_duty_declared"))
    best = pl.max_horizontal([pl.col(f"_duty_{c}") for c in countries])
    # Ties go to the first country in alphabetical order: deterministic, documented.
    chain = pl.when(best <= 0).then(pl.lit(None, dtype=pl.String))
    for c in countries:
        chain = chain.when(pl.col(f"_duty_{c}") == best).then(pl.lit(c))
    lf = lf.with_columns(chain.otherwise(None).alias("ev_tariffed_origin"), pl.when(best > 0).then(best).alias("ev_added_duty_tariffed"))
    # Which event (its position in ``rows``) is in force, as an integer chain: one string
    # and one date column are then looked up once, not built branch by branch.
    which = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int32))
    for k, r in enumerate(rows):  # latest first: the first match is the most recent event in force
        hit = (pl.col("ev_tariffed_origin") == r["origin_country"]) & _matches(r)
        which = which.when(hit).then(pl.lit(k, dtype=pl.Int32))
    positions = list(range(len(rows)))
    lf = lf.with_columns(which.otherwise(None).alias("_event_pos"))
    lf = lf.with_columns(
        pl.col("_event_pos").replace_strict(positions, [r["name"] for r in rows], default=None, return_dtype=pl.String).alias("ev_event_name"),
        pl.col("_event_pos").replace_strict(positions, [r["effective_date"] for r in rows], default=None, return_dtype=pl.Date).alias("ev_event_date"),
    ).drop("_event_pos")
    lf = lf.with_columns(week_of(pl.col("ev_event_date")).alias(EVENT_WEEK))
    return lf.drop([f"_duty_{c}" for c in countries] + [_prefix_col(p) for p in prefixes] + [_LINE_COUNTRY])


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    """``tariff_differential_usd``: duty avoided by declaring the origin rather than the tariffed one."""
    diff = (pl.col("ev_added_duty_tariffed") - pl.col("ev_added_duty_declared")) * pl.col("declared_value_usd")
    return lf.with_columns(
        pl.when(pl.col("ev_tariffed_origin").is_not_null()).then(diff).otherwise(None).cast(pl.Float64).alias("tariff_differential_usd"),
    )
