"""`waypoint train --engine spark`: Spark reads the files, builds the training features and
fits the reference state; the forest and the ranker are fitted on the driver.

``detector.jobs.train.train`` runs the same steps as on one machine and asks this module
for the three things Spark does instead: the checked lines (:meth:`SparkTraining.start`,
a ``Loaded`` whose valid rows are the lines brought to the driver), their features
(:meth:`SparkTraining.features`: each arrival month built against the months before it,
with an empty state, exactly as a one-machine training build) and the reference state
(:meth:`SparkTraining.state`: the state's integer sums per key and period, summed by
Spark). Files of at most :data:`SAMPLE_ROWS` valid lines come to the driver whole, in
file and line order, so the model is the one ``waypoint train`` fits; larger ones are
sampled by a hash of ``shipment_id`` (the same lines for the features and the rows).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from detector.spark import session as fs
from detector.spark.build import KEYS, TABLE, VALUES, HistoryRows, features as month_features
from detector.spark.read import FILE, LINE, Checked, read
from detector.spark.types import spark_schema
from features.schema import EVENTS, INPUTS, SHIPMENTS
from features.state import EMPTY_AS_OF, TABLE_NAMES, ReferenceState, Span, fit_state

#: Most lines the forest and the ranker are fitted on (brought to the driver).
SAMPLE_ROWS = 2_000_000
ID = "shipment_id"


def _loaded(checked: Checked, valid: pl.DataFrame):
    """A ``detector.io.read.Loaded`` of what Spark read (rejects collected: they are few)."""
    from detector.io.read import Loaded

    rejects = pl.from_arrow(checked.rejects.toArrow()) if checked.rejected else pl.DataFrame(
        schema={**{c: pl.String for c in checked.source_columns}, "_source": pl.String, "_line": pl.Int64,
                "reason_codes": pl.String, "reasons": pl.String})
    return Loaded(table=checked.table, valid=valid, rejects=rejects, rows_read=checked.rows_read,
                  reject_counts=checked.reject_counts(), files=[Path(f) for f in checked.files], extra_columns=[],
                  dq_counts=dict(checked.dq_counts))


@dataclass
class SparkTraining:
    spark: object
    work: str
    shipments: Checked
    inputs: Checked | None
    keep: object  # Spark column: the lines brought to the driver

    @classmethod
    def start(cls, request, *, say=lambda _m: None) -> "SparkTraining":
        """Read and check the training files of ``request`` (a ``detector.jobs.requests.TrainRequest``)
        on Spark, at its ``master``."""
        from pyspark.sql import functions as F

        from detector.io.mapping import Mapping
        from detector.spark.session import session

        shipments, inputs, mapping = request.files.shipments, request.files.inputs, request.files.mapping
        spark = session(request.master)
        first = fs.qualify(spark, str(shipments[0]))
        work = f"{first.rsplit('/', 1)[0]}/.waypoint-spark-train-{uuid.uuid4().hex[:12]}"
        checked = read(spark, [str(p) for p in shipments], SHIPMENTS,
                       mapping=Mapping.from_toml(mapping) if mapping else None, work=work, strict=request.strict)
        ins = read(spark, [str(p) for p in inputs], INPUTS, work=work) if inputs else None
        n = checked.rows_read - checked.rejected
        keep = F.lit(True) if n <= SAMPLE_ROWS else (F.abs(F.xxhash64(ID)) % 1_000_000) < int(1_000_000 * SAMPLE_ROWS / n)
        return cls(spark, work, checked, ins, keep)

    @property
    def loaded(self):
        valid = self.shipments.valid.filter(self.keep).orderBy(FILE, LINE).drop(FILE)
        return _loaded(self.shipments, pl.from_arrow(valid.toArrow()))

    @property
    def inputs_loaded(self):
        if self.inputs is None:
            return None
        return _loaded(self.inputs, pl.from_arrow(self.inputs.valid.drop(FILE).toArrow()))

    def _lines(self, importing_country: str | None):
        from pyspark.sql import functions as F

        lines = self.shipments.valid
        if importing_country:  # as detector.jobs.context.importing_context fills the lines stating none
            lines = lines.withColumn("importing_country", F.coalesce(F.col("importing_country"), F.lit(importing_country)))
        return lines

    def features(self, events: pl.DataFrame, importing_country: str | None) -> pl.DataFrame:
        """The training features of the lines brought to the driver, in file and line order."""
        ins = self.inputs.valid.select(*INPUTS.names) if self.inputs is not None else None
        empty = fit_state(pl.LazyFrame(schema=SHIPMENTS.schema), None, events)
        feats = month_features(self.spark, self._lines(importing_country), ins, state=empty, events=events, artifact=None)
        path = f"{self.work}/features"
        feats.write.parquet(path)
        feats = self.spark.read.parquet(path).filter(self.keep).orderBy(FILE, LINE)
        out = pl.from_arrow(feats.toArrow())
        return out.drop(FILE, "arrival_month")

    def state(self, events: pl.DataFrame, importing_country: str | None = None) -> ReferenceState:
        """``features.state.fit_state`` of every line (and the component imports up to the last line's day), summed by Spark."""
        from pyspark.sql import functions as F

        lines = self._lines(importing_country)
        first, last = lines.agg(F.min("arrival_date"), F.max("arrival_date")).first()
        complete_to = last if last is not None else EMPTY_AS_OF
        schema = spark_schema(_history_schema())
        rows = lines.select(*SHIPMENTS.names).mapInArrow(HistoryRows("shipments", EMPTY_AS_OF), schema)
        spans = {"shipments": Span(complete_to, first, last), "inputs": Span()}
        if self.inputs is not None:
            ins = self.inputs.valid.select(*INPUTS.names).filter(F.col("arrival_date") <= F.lit(complete_to))
            i_first, i_last = ins.agg(F.min("arrival_date"), F.max("arrival_date")).first()
            spans["inputs"] = Span(complete_to, i_first, i_last)
            rows = rows.unionByName(ins.mapInArrow(HistoryRows("inputs", EMPTY_AS_OF), schema))
        sums = [F.sum(v).alias(v) for v in VALUES] + [F.min("first_day").alias("first_day")]
        summed = pl.from_arrow(rows.groupBy(TABLE, *KEYS, "period").agg(*sums).toArrow())
        empty = fit_state(pl.LazyFrame(schema=SHIPMENTS.schema), None, None)
        tables = {}
        for name in TABLE_NAMES:
            want = empty.tables[name].schema
            part = summed.filter(pl.col(TABLE) == name)
            tables[name] = part.select([pl.col(c).cast(t) for c, t in want.items()]) if part.height else empty.tables[name]
        self.close()  # the last step Spark does for a training run
        return ReferenceState(tables=tables, events=events.select(EVENTS.names), spans=spans, has_inputs=self.inputs is not None)

    def close(self) -> None:
        fs.delete(self.spark, self.work)


def _history_schema():
    from detector.spark.build import HISTORY

    return HISTORY
