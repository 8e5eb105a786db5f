"""Features of every line on Spark: one ``features.pipeline.build`` per arrival month.

A line's history features read only history strictly before its own week, month or day
(``features/families/_history.py``), and every history is integer sums per key and
period or a first day per key. So a month of lines built against a state holding the
reference state plus every line (and component import) before that month gives each
line the features one build over the whole file gives: this is
``features.pipeline.build_chunked`` with one month per chunk, and it is how the months are
spread over the executors.

* **History by month.** Each batch of lines is turned into the state's tables
  (``features.state.history_tables``, Polars) per arrival month of its lines, and Spark sums
  them per table, key, period and month (``history``). Only lines after the reference
  state's span of each source are history to add (the state holds the rest).
* **Partitioned by target month.** Each month ``M`` of the file gets the shipment history
  of the months before it and the component imports up to its own end (a build adds the
  imports of its own month itself; in the state they are the same sums), summed again per
  key and period. ``M``'s lines and ``M``'s history meet in one ``cogroup``, where
  :class:`MonthBuild` builds the features with ``features.pipeline.build`` and, when
  scoring, the model's per-line scores (``Detector.score_parts``).

The model artifact reaches the executors as a Spark file and is loaded once per Python
worker (:func:`detector_at`).
"""
from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl

from detector.spark.types import spark_schema, to_table
from features.schema import INPUTS, SHIPMENTS
from features.state import FIRST_TABLES, SOURCES, SUM_TABLES, TABLE_NAMES, ReferenceState, history_tables

#: Internal columns: a line's arrival month index, the month a history row is for.
MONTH, TARGET, TABLE = "_month", "_target", "_table"
#: Column of the output dataset's partitions: the arrival month as ``YYYY-MM``.
ARRIVAL_MONTH = "arrival_month"
#: Per-line score parts carried from the build to the ranking, prefixed.
PART_PREFIX = "_p_"
#: Every key and integer value column of the state's tables (``features.state``): the long
#: form of the history holds them all, each table using its own.
KEYS = tuple(dict.fromkeys(k for keys, _ in SUM_TABLES.values() for k in keys) | dict.fromkeys(
    k for keys in FIRST_TABLES.values() for k in keys))
VALUES = tuple(dict.fromkeys(v for _, values in SUM_TABLES.values() for v in values))
HISTORY = pl.Schema({TABLE: pl.String, **{k: pl.String for k in KEYS}, "period": pl.Int32, MONTH: pl.Int32,
                     **{v: pl.Int64 for v in VALUES}, "first_day": pl.Int32})
_INPUT_TABLES = SOURCES["inputs"]


def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def last_day(month: int) -> date:
    """Last day of a month index (``year * 12 + month - 1``)."""
    year, m = divmod(month + 1, 12)
    return date(year, m + 1, 1) - timedelta(days=1)


def month_label(month: int) -> str:
    year, m = divmod(month, 12)
    return f"{year:04d}-{m + 1:02d}"


def _long(tables: dict[str, pl.DataFrame], month: int, names) -> list[pl.DataFrame]:
    return [tables[n].with_columns(pl.lit(n).alias(TABLE), pl.lit(month, dtype=pl.Int32).alias(MONTH)) for n in names]


class HistoryRows:
    """mapInArrow: a batch of lines (or component imports) -> its history sums per month."""

    def __init__(self, source: str, after: date):
        self.source, self.after = source, after

    def __call__(self, batches):
        for batch in batches:
            frame = pl.from_arrow(batch)
            frame = frame.filter(pl.col("arrival_date") > pl.lit(self.after, dtype=pl.Date))
            if frame.height == 0:
                continue
            frame = frame.with_columns((pl.col("arrival_date").dt.year().cast(pl.Int32) * 12
                                        + pl.col("arrival_date").dt.month().cast(pl.Int32) - 1).alias(MONTH))
            out = []
            for part in frame.partition_by(MONTH):
                month = int(part[MONTH][0])
                if self.source == "inputs":
                    tables = history_tables(pl.LazyFrame(schema=SHIPMENTS.schema), part.select(INPUTS.names).lazy())
                    names = _INPUT_TABLES
                else:
                    tables = history_tables(part.select(SHIPMENTS.names).lazy(), None)
                    names = SOURCES["shipments"]
                done = dict(zip(names, pl.collect_all([tables[n] for n in names]), strict=True))
                out.extend(_long(done, month, names))
            yield from to_table(pl.concat(out, how="diagonal_relaxed"), HISTORY).to_batches()


def history(spark, lines, inputs, targets: list[int], state: ReferenceState):
    """The history each target month's build needs, as rows ``(_target, _table, keys, period, sums, first_day)``.

    ``lines`` and ``inputs`` are Spark DataFrames of valid rows (contract columns);
    ``state`` is the reference state (its spans say which rows it already holds).
    """
    from pyspark.sql import functions as F

    schema = spark_schema(HISTORY)
    parts = [lines.select(*SHIPMENTS.names).mapInArrow(HistoryRows("shipments", state.complete_to("shipments")), schema)]
    if inputs is not None:
        parts.append(inputs.select(*INPUTS.names).mapInArrow(HistoryRows("inputs", state.complete_to("inputs")), schema))
    rows = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    group = [TABLE, *KEYS, "period"]
    sums = [F.sum(v).alias(v) for v in VALUES] + [F.min("first_day").alias("first_day")]
    by_month = rows.groupBy(*group, MONTH).agg(*sums)
    months = spark.createDataFrame([(m,) for m in targets], f"{TARGET} int")
    # Shipments of earlier months; component imports up to the target month's end.
    is_input = F.col(TABLE).isin(*_INPUT_TABLES)
    wanted = F.when(is_input, F.col(MONTH) <= F.col(TARGET)).otherwise(F.col(MONTH) < F.col(TARGET))
    paired = by_month.join(F.broadcast(months), wanted)
    return paired.groupBy(TARGET, *group).agg(*sums)


@functools.lru_cache(maxsize=2)
def detector_at(path: str):
    """The detector saved at ``path`` (a model artifact), loaded once per process and kept."""
    from models import artifact

    return artifact.load(path)


def artifact_path(name: str) -> str:
    """Where an artifact shipped with ``SparkContext.addFile`` is on this executor."""
    from pyspark import SparkFiles

    return SparkFiles.get(name)


def month_state(ref: ReferenceState, hist: pl.DataFrame, month: int, *, inputs_given: bool) -> ReferenceState:
    """``ref`` plus the history of ``month``'s build: complete to the day before the month
    for shipments and to the month's last day for component imports given."""
    tables = {}
    for name in TABLE_NAMES:
        own = ref.tables[name]
        rows = hist.filter(pl.col(TABLE) == name).select([pl.col(c).cast(t) for c, t in own.schema.items()])
        tables[name] = pl.concat([own, rows], how="vertical_relaxed") if rows.height else own
    spans = dict(ref.spans)
    before = last_day(month - 1)
    spans["shipments"] = replace(ref.spans["shipments"], complete_to=max(ref.complete_to("shipments"), before))
    if inputs_given:
        spans["inputs"] = replace(ref.spans["inputs"], complete_to=max(ref.complete_to("inputs"), last_day(month)))
    # replace(): everything else the state carries (events, a known-party list) stays the model's.
    return replace(ref, tables=tables, spans=spans, has_inputs=ref.has_inputs or inputs_given)


class MonthBuild:
    """cogroup applyInArrow: one arrival month's lines and history -> features (and score parts).

    ``artifact``: the Spark file name of the model artifact (its state is the reference
    state, its detector scores the lines), or None to build against an empty state with
    ``events`` (training). ``drop``: input columns not passed to the build.
    """

    def __init__(self, out_schema: pl.Schema, *, events: pl.DataFrame | None, artifact: str | None,
                 inputs_given: bool, drop: tuple[str, ...] = ()):
        self.out_schema, self.events, self.artifact = out_schema, events, artifact
        self.inputs_given, self.drop = inputs_given, drop

    def reference(self):
        if self.artifact is None:
            from features.state import fit_state

            return None, fit_state(pl.LazyFrame(schema=SHIPMENTS.schema), None, self.events)
        det = detector_at(artifact_path(self.artifact))
        return det, det.state

    def __call__(self, lines_table, hist_table):
        from features.pipeline import build

        lines = pl.from_arrow(lines_table)
        if lines.height == 0:
            return to_table(pl.DataFrame(), self.out_schema)
        month = int(lines[MONTH][0])
        det, ref = self.reference()
        state = month_state(ref, pl.from_arrow(hist_table), month, inputs_given=self.inputs_given)
        rows = lines.drop(MONTH, *[c for c in self.drop if c in lines.columns])
        feats = build(rows.lazy(), inputs=None, events=self.events, state=state)
        if det is not None:
            parts = det.score_parts(feats, feats.height)
            feats = feats.with_columns([pl.Series(PART_PREFIX + k, np.asarray(v, dtype=np.float64)) for k, v in parts.items()])
        feats = feats.with_columns(pl.lit(month_label(month)).alias(ARRIVAL_MONTH))
        return to_table(feats, self.out_schema)


def features(spark, lines, inputs, *, state: ReferenceState, events: pl.DataFrame | None, artifact: str | None,
             detector=None, drop: tuple[str, ...] = ()):
    """Spark DataFrame of every valid line's features (+ ``_p_*`` score parts with a model, + ``arrival_month``).

    ``lines``: valid shipment rows (contract columns and extras); ``inputs``: valid
    component imports or None; ``state``: the reference state (the model's, or an empty
    one for training); ``detector``: the driver's copy of the model, for the output schema.
    """
    from pyspark.sql import functions as F

    from features.pipeline import build

    month = (F.year("arrival_date") * 12 + F.month("arrival_date") - 1).cast("int")
    lines = lines.withColumn(MONTH, month)
    targets = sorted(r[0] for r in lines.select(MONTH).distinct().collect())
    hist = history(spark, lines, inputs, targets, state)
    # The output schema: a build of no rows with the same columns.
    from detector.spark.types import returned

    empty = pl.DataFrame(schema=returned(_polars_schema(lines.drop(MONTH, *drop).schema)))
    out = build(empty.lazy(), inputs=None, events=events, state=state)
    if detector is not None:
        parts = detector.score_parts(out, 1)
        out = out.with_columns([pl.Series(PART_PREFIX + k, [], dtype=pl.Float64) for k in parts])
    out = out.with_columns(pl.lit(None, dtype=pl.String).alias(ARRIVAL_MONTH))
    build_month = MonthBuild(out.schema, events=events, artifact=artifact, inputs_given=inputs is not None, drop=drop)

    def fn(lines_table, hist_table):  # Spark counts a function's arguments: an object's self would count
        return build_month(lines_table, hist_table)

    return lines.groupBy(MONTH).cogroup(hist.withColumnRenamed(TARGET, MONTH).groupBy(MONTH)).applyInArrow(fn, spark_schema(out.schema))


_FROM_SPARK = {"StringType": pl.String, "DoubleType": pl.Float64, "FloatType": pl.Float32, "LongType": pl.Int64,
               "IntegerType": pl.Int32, "ShortType": pl.Int16, "ByteType": pl.Int8, "BooleanType": pl.Boolean,
               "DateType": pl.Date, "BinaryType": pl.Binary, "TimestampNTZType": pl.Datetime("us"),
               "TimestampType": pl.Datetime("us", "UTC")}


def _polars_schema(struct) -> pl.Schema:
    return pl.Schema({f.name: _FROM_SPARK[type(f.dataType).__name__] for f in struct.fields})

