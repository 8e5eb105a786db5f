"""Outcome profiles: what past inspections found for a line's importer, exporter, HS6, ...

Customs risk engines keep, per party and per commodity, how many lines were inspected and
how many of them were confirmed. Here a *profile* of a line for a key (the importer, the
exporter, the HS6, the origin x HS chapter, each categorical extra) counts the labelled
lines of that key in **weeks strictly before the line's week** (the rule of
``features/families/_history.py``: Monday-based weeks, a line never sees its own week),
and smooths their hit rate towards the overall rate of the same earlier weeks:

    rate = (hits + SMOOTHING * overall) / (inspected + SMOOTHING)

So a line's profile never counts its own label nor any later one, and appending later
labels changes nothing earlier. :func:`fit_counts` keeps the labelled lines as weekly
per-key counts (integers: exact, order-independent sums); :func:`profiles` reads them for
any rows. A model stores the counts of its training labels and scores later lines with
them: at scoring no label is read, the profiles hold the counts up to the training span.

Pure Polars; keys are strings (their columns' values joined with a unit separator), null
when any of them is null: a line with no importer is its own unknown party and has no history.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from features.families._history import week_of

#: Prior weight of the overall rate, in inspected lines.
SMOOTHING = 20.0
#: Separator of a key's columns (never in a code).
SEP = "\x1f"
#: Column of the counts table: the key kind (``importer``, ``hs6``, ...).
KIND, KEY, WEEK, INSPECTED, HITS = "kind", "key", "week", "inspected", "hits"
#: The kind holding the overall weekly totals (one key).
OVERALL = "_overall"
#: Output columns per kind: ``op_<kind>_inspected``, ``op_<kind>_hits``, ``op_<kind>_rate``.
PREFIX = "op_"
_COUNTS_SCHEMA = {KIND: pl.String, KEY: pl.String, WEEK: pl.Int32, INSPECTED: pl.Int64, HITS: pl.Int64}


def key_expr(columns: Sequence[pl.Expr]) -> pl.Expr:
    """One string per row from the key's columns (null when any of them is null or empty)."""
    cast = [c.cast(pl.String) for c in columns]
    joined = pl.concat_str(cast, separator=SEP, ignore_nulls=False)
    blank = pl.any_horizontal([(c.is_null() | (c.str.strip_chars() == "")) for c in cast])
    return pl.when(blank).then(None).otherwise(joined)


@dataclass
class OutcomeCounts:
    """Weekly inspected / hit counts per key of labelled lines (``table``), and the keys' definitions.

    ``keys`` names each kind's key columns (plain data, so the counts can be saved).
    """

    keys: dict[str, list[str]] = field(default_factory=dict)  # kind -> [column or "hs6"/"chapter"]
    table: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_COUNTS_SCHEMA))

    @property
    def kinds(self) -> list[str]:
        return list(self.keys)

    def weeks(self) -> tuple[int, int] | None:
        """First and last week with a labelled line."""
        t = self.table.filter(pl.col(KIND) == OVERALL)
        return (int(t[WEEK].min()), int(t[WEEK].max())) if t.height else None

    def to_parquet(self, path: str | Path) -> None:
        self.table.sort(KIND, KEY, WEEK).write_parquet(path, statistics=False)

    @classmethod
    def from_parquet(cls, path: str | Path, keys: Mapping[str, Sequence[str]]) -> "OutcomeCounts":
        table = pl.read_parquet(path)
        if dict(table.schema) != _COUNTS_SCHEMA:
            raise ValueError(f"{path}: not an outcome counts table (columns {dict(table.schema)})")
        return cls({k: list(v) for k, v in keys.items()}, table)


def _key_column(name: str) -> pl.Expr:
    """A key column by name: a column, or ``hs6`` / ``chapter`` of the HS code."""
    if name == "hs6":
        return pl.col("hs_code").str.slice(0, 6)
    if name == "chapter":
        return pl.col("hs_code").str.slice(0, 2)
    return pl.col(name)


#: The default kinds as key column names (see :func:`_key_column`).
DEFAULT_KEYS: dict[str, list[str]] = {
    "importer": ["importer_id"],
    "exporter": ["exporter_id"],
    "hs6": ["hs6"],
    "origin_chapter": ["origin_country", "chapter"],
}


def keys_for(extras: Sequence[str] = ()) -> dict[str, list[str]]:
    """The default kinds plus one per categorical extra column."""
    return {**DEFAULT_KEYS, **{name: [name] for name in extras}}


def fit_counts(rows: pl.DataFrame | pl.LazyFrame, label: str | pl.Series, keys: Mapping[str, Sequence[str]]) -> OutcomeCounts:
    """Weekly counts of the labelled rows (``label`` 1 / 0; null or NaN = not inspected, left out).

    ``label`` is a column of ``rows`` or a Series of one label per row.
    """
    lf = rows.lazy()
    if isinstance(label, pl.Series):
        lf = lf.with_columns(label.alias("_label"))
        label = "_label"
    lf = lf.with_columns(pl.col(label).cast(pl.Float64).fill_nan(None).alias("_y"), week_of(pl.col("arrival_date")).alias(WEEK))
    lf = lf.filter(pl.col("_y").is_not_null() & pl.col(WEEK).is_not_null())
    counts = [
        lf.group_by(WEEK).agg(pl.len().cast(pl.Int64).alias(INSPECTED), (pl.col("_y") == 1).sum().cast(pl.Int64).alias(HITS))
        .select(pl.lit(OVERALL).alias(KIND), pl.lit("").alias(KEY), WEEK, INSPECTED, HITS)
    ]
    for kind, names in keys.items():
        counts.append(
            lf.select(key_expr([_key_column(n) for n in names]).alias(KEY), WEEK, "_y").drop_nulls(KEY)
            .group_by(KEY, WEEK).agg(pl.len().cast(pl.Int64).alias(INSPECTED), (pl.col("_y") == 1).sum().cast(pl.Int64).alias(HITS))
            .select(pl.lit(kind).alias(KIND), KEY, WEEK, INSPECTED, HITS)
        )
    table = pl.concat([c.collect() for c in counts]).cast(_COUNTS_SCHEMA).sort(KIND, KEY, WEEK)
    return OutcomeCounts({k: list(v) for k, v in keys.items()}, table)


def _before(queries: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """For each query (``_row``, ``key``, ``week``): totals of ``table`` over weeks < ``week``."""
    if table.height == 0:
        return queries.with_columns(pl.lit(0, pl.Int64).alias(INSPECTED), pl.lit(0, pl.Int64).alias(HITS))
    running = table.sort(KEY, WEEK).with_columns(
        pl.col(INSPECTED).cum_sum().over(KEY), pl.col(HITS).cum_sum().over(KEY)
    ).sort(WEEK)
    found = (
        queries.sort(WEEK)
        .join_asof(running, on=WEEK, by=KEY, strategy="backward", allow_exact_matches=False, check_sortedness=False)
    )
    return found.with_columns(pl.col(INSPECTED).fill_null(0), pl.col(HITS).fill_null(0))


def profiles(rows: pl.DataFrame, counts: OutcomeCounts, *, smoothing: float = SMOOTHING) -> pl.DataFrame:
    """Per row of ``rows``, in order: ``op_<kind>_inspected``, ``op_<kind>_hits``, ``op_<kind>_rate``.

    Counts over weeks strictly before the row's week; ``rate`` is smoothed towards the
    overall rate of those weeks and null when no labelled line came before the row's week.
    A row with a null key part has 0 counts (and the overall rate).
    """
    base = rows.select(week_of(pl.col("arrival_date")).alias(WEEK)).with_row_index("_row")
    by_kind = counts.table.partition_by(KIND, as_dict=True, include_key=False)

    def table(kind: str) -> pl.DataFrame:
        return by_kind.get((kind,), pl.DataFrame(schema={k: v for k, v in _COUNTS_SCHEMA.items() if k != KIND}))

    overall = _before(base.with_columns(pl.lit("").alias(KEY)), table(OVERALL)).sort("_row")
    prior = (overall[HITS].cast(pl.Float64) / overall[INSPECTED].cast(pl.Float64)).set(overall[INSPECTED] == 0, None)
    out = {}
    for kind, names in counts.keys.items():
        missing = [n for n in names if n not in ("hs6", "chapter") and n not in rows.columns]
        if missing:
            raise ValueError(f"the rows lack the column(s) {', '.join(missing)} of the outcome profile {kind!r}")
        q = base.with_columns(rows.select(key_expr([_key_column(n) for n in names]).alias(KEY)).to_series())
        got = _before(q, table(kind)).sort("_row")
        n, hits = got[INSPECTED], got[HITS]
        rate = (hits.cast(pl.Float64) + smoothing * prior) / (n.cast(pl.Float64) + smoothing)
        out[f"{PREFIX}{kind}_{INSPECTED}"] = n
        out[f"{PREFIX}{kind}_{HITS}"] = hits
        out[f"{PREFIX}{kind}_rate"] = rate
    return pl.DataFrame(out, schema={name: (pl.Float64 if name.endswith("_rate") else pl.Int64) for name in out}) \
        if out else pl.DataFrame(schema={})


def profile_columns(kinds: Sequence[str]) -> list[str]:
    """Names of :func:`profiles`' columns for ``kinds``, in order."""
    return [f"{PREFIX}{k}_{suffix}" for k in kinds for suffix in (INSPECTED, HITS, "rate")]
