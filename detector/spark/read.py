"""Read, map and validate files with Spark, through the single-machine reader.

Spark reads the lines (CSV: the bytes of each line as written; Parquet: the rows) with
their file and line number. Each Arrow batch of one file's lines is written to a small
file in the worker's temporary directory (the file's header, then those lines, bytes
unchanged) and read by :func:`detector.io.read.load`, the reader ``waypoint score`` uses:
the same mapping, parsing, validation and score-or-reject policy, row for row. The lines
keep the file and line numbers they have in the input.

Two rules need the whole file and are applied by Spark afterwards or per batch:

* a ``shipment_id`` repeated in another batch is found among the valid rows with a window
  ordered by file and line (the first kept, as on one machine); inside a batch the reader
  finds it itself;
* a CSV file's encoding is judged per batch of lines, and a quoted field can span lines
  only inside one batch (100,000 lines).

Line numbers of CSV files: each line's number is the lines of the earlier blocks of its
file (Spark's splits, counted in one pass) plus its place in its block.
"""
from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import polars as pl

from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.spark import session as fs
from detector.spark.types import spark_schema, to_batches
from features.schema import Table

KIND, FILE, LINE, SOURCE, RAW, REJECT, COUNT, DQ = "_kind", "_file", "_line", "_source", "_raw", "_reject", "_count", "_dq"
_CSV, _PARQUET = (".csv",), (".parquet", ".pq")


@dataclass
class Checked:
    """What Spark read of one set of files as one contract table.

    ``valid``: a Spark DataFrame of the valid rows typed as the single-machine reader's
    ``Loaded.valid`` (plus ``_file``); ``rejects``: a Spark DataFrame with the source
    columns (text, as read), ``_source``, ``_line``, ``reason_codes`` and ``reasons``.
    """

    table: Table
    valid: object
    rejects: object
    rows_read: int
    files: list[str]
    source_columns: list[str]
    rejected: int = 0
    dq_counts: dict[str, int] = field(default_factory=dict)

    def reject_counts(self) -> dict[str, int]:
        from pyspark.sql import functions as F

        rows = (self.rejects.select(F.explode(F.split("reason_codes", ",")).alias("code"))
                .filter(F.col("code") != "").groupBy("code").count().collect())
        return {r["code"]: int(r["count"]) for r in sorted(rows, key=lambda r: (-r["count"], r["code"]))}


def _shown(path: str) -> str:
    """A file as the user named it: local files without the ``file:`` scheme."""
    return unquote(path[len("file:"):]) if path.startswith("file:") else path


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def _probe(table: Table, mapping: Mapping | None, name: str, write) -> pl.Schema:
    """The valid rows' schema for a file, from the reader run on a one-row copy of it
    (``write(path)`` writes that copy); a schema problem is raised naming ``name``."""
    from detector.io.read import load

    with tempfile.TemporaryDirectory(prefix="waypoint-spark-probe-") as tmp:
        path = Path(tmp) / name.rsplit("/", 1)[-1]
        write(path)
        try:
            loaded = load([path], table, mapping=mapping)
        except InputError as exc:
            raise InputError(str(exc).replace(str(path), _shown(name)), hint=exc.hint) from None
    return loaded.valid.schema


def read(spark, paths: list[str], table: Table, *, mapping: Mapping | None = None, work: str, strict: bool = False) -> Checked:
    """Read ``paths`` (files or globs on any file system Spark reads) as ``table``.

    The checked rows are written once to ``work`` (a Parquet dataset) and read back from
    there, so every later count and join sees the same rows.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    files = fs.expand(spark, paths)
    kinds = {_suffix(f) for f in files}
    unknown = [f for f in files if _suffix(f) not in (*_CSV, *_PARQUET)]
    if unknown:
        raise InputError(f"{_shown(unknown[0])}: unknown file format {_suffix(unknown[0]) or '(no extension)'!r}",
                         hint="waypoint reads .csv and .parquet files")
    if len(kinds) > 1:
        raise InputError(f"{table.name}: give CSV or Parquet files, not both, in one --engine spark run",
                         hint="convert one set, or score them in two runs")
    index = {unquote(f): i for i, f in enumerate(files)}
    opts = (mapping or Mapping()).read
    if kinds <= set(_CSV):
        raw, headers, source_columns = _csv_lines(spark, files, index)
        sep = opts.delimiter.encode()

        def one_row(header: bytes):
            width = len(next(csv.reader([header.decode("utf-8", "replace").lstrip("\ufeff")], delimiter=opts.delimiter)))
            return lambda path: path.write_bytes(header + b"\n" + sep.join([b"x"] * max(width, 1)) + b"\n")

        schemas = [_probe(table, mapping, files[i], one_row(h)) for i, h in headers.items()]
    else:
        df = spark.read.option("mergeSchema", "true").parquet(*files)
        source_columns = [c for c in df.columns]
        path_col = F.col("_metadata.file_path")
        raw = df.select(
            *[F.col(f"`{c}`") for c in source_columns],
            F.udf(lambda p: index.get(unquote(p), -1), "int")(path_col).alias(FILE),
            (F.col("_metadata.row_index") + 1).alias(LINE),
            F.to_json(F.struct(*[F.col(f"`{c}`") for c in source_columns])).cast("binary").alias(RAW),
        )
        headers = {}
        arrow_schema = df.limit(0).toArrow().schema

        def empty_row(path: Path):
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist([{c: None for c in source_columns}], schema=arrow_schema), path)

        schemas = [_probe(table, mapping, files[0], empty_row)]
    valid_schema = _union(schemas)
    out_schema = pl.Schema({**valid_schema, FILE: pl.Int32, RAW: pl.Binary, KIND: pl.String, REJECT: pl.String,
                            COUNT: pl.Int64, DQ: pl.String})
    shown = {i: _shown(f) for i, f in enumerate(files)}
    is_csv = kinds <= set(_CSV)
    checker = _Checker(table, mapping, headers, shown, is_csv, out_schema, strict)
    checked = raw.mapInArrow(checker, spark_schema(out_schema))
    checked_path = f"{work}/{table.name}.checked"
    checked.write.mode("overwrite").parquet(checked_path)
    checked = spark.read.parquet(checked_path)

    counts = checked.filter(F.col(KIND) == "count").select(COUNT, DQ).collect()
    rows_read = sum(int(r[COUNT]) for r in counts)
    dq_counts: dict[str, int] = {}
    for r in counts:
        for code, n in json.loads(r[DQ] or "{}").items():
            dq_counts[code] = dq_counts.get(code, 0) + int(n)
    if rows_read == 0:
        raise InputError(f"{', '.join(shown.values())}: no data rows (header only)", hint="the file needs at least one data row")
    valid = checked.filter(F.col(KIND) == "valid")
    keep = [c for c in valid_schema if c not in (SOURCE,)] + [SOURCE, FILE]
    if table.key:
        # The first row of a key (in file and line order) stays; later ones are rejects.
        w = Window.partitionBy(table.key).orderBy(FILE, LINE)
        marked = valid.withColumn("_nth", F.row_number().over(w))
        dups = marked.filter(F.col("_nth") > 1).select(table.key, FILE, LINE, RAW)
        dup_rejects = dups.mapInArrow(_DupRejects(table.key, headers, shown, is_csv, opts.delimiter, opts.encoding),
                                      f"{REJECT} string")
        valid = marked.filter(F.col("_nth") == 1).select(*keep)
        reject_json = checked.filter(F.col(KIND) == "reject").select(REJECT).unionByName(dup_rejects)
    else:
        valid = valid.select(*keep)
        reject_json = checked.filter(F.col(KIND) == "reject").select(REJECT)
    rejects = _reject_frame(reject_json, source_columns)
    rejects_path = f"{work}/{table.name}.rejects"
    rejects.write.mode("overwrite").parquet(rejects_path)
    rejects = spark.read.parquet(rejects_path)
    return Checked(table, valid, rejects, rows_read, [shown[i] for i in range(len(files))], source_columns,
                   rejects.count(), dq_counts)


def _union(schemas: list[pl.Schema]) -> pl.Schema:
    out: dict[str, pl.DataType] = {}
    for s in schemas:
        for name, dtype in s.items():
            out.setdefault(name, dtype)
    return pl.Schema(out)


def _csv_lines(spark, files: list[str], index: dict[str, int]):
    """Every line of the CSV files with its file index and line number; each file's header."""
    from pyspark.sql import functions as F

    lines = spark.read.format("text").load(files).select(
        F.col("value").cast("binary").alias(RAW),
        F.col("_metadata.file_path").alias("_path"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_mid"),
    )
    # Rows of one block are consecutive in its partition, so a line's place in its block
    # is its id less the block's first id; the blocks before it in its file give the rest.
    blocks = lines.groupBy("_path", "_block").agg(
        F.count(F.lit(1)).alias("n"), F.min("_mid").alias("first"), F.min_by(RAW, "_mid").alias("head")).collect()
    by_file: dict[str, list] = {}
    for b in blocks:
        by_file.setdefault(b["_path"], []).append(b)
    deltas, headers = [], {}
    for path, parts in by_file.items():
        i = index.get(unquote(path))
        if i is None:  # a path Spark spells otherwise than the listing: keep it, after the others
            i = index[unquote(path)] = len(index)
        before = 0
        for b in sorted(parts, key=lambda b: b["_block"]):
            deltas.append((path, int(b["_block"]), i, before + 1 - int(b["first"])))
            if before == 0:
                headers[i] = bytes(b["head"]).rstrip(b"\r")
            before += int(b["n"])
    empty = [f for f, i in index.items() if i not in headers and i < len(files)]
    if empty:
        raise InputError(f"{_shown(empty[0])}: the file is empty", hint="a CSV needs a header row and at least one data row")
    table = spark.createDataFrame(deltas, "_path string, _block long, _file int, _delta long")
    numbered = lines.join(F.broadcast(table), ["_path", "_block"]).select(
        RAW, F.col(FILE), (F.col("_mid") + F.col("_delta")).alias(LINE)).filter(F.col(LINE) > 1)
    names: list[str] = []
    for h in headers.values():
        for n in next(csv.reader([h.decode("utf-8", "replace").lstrip("\ufeff")])):
            if n.strip() not in names:
                names.append(n.strip())
    return numbered, headers, names


class _Checker:
    """The mapInArrow function: each batch's lines of each file through ``load``."""

    def __init__(self, table, mapping, headers, shown, is_csv, out_schema, strict):
        self.table, self.mapping, self.headers, self.shown = table, mapping, headers, shown
        self.is_csv, self.out_schema, self.strict = is_csv, out_schema, strict

    def __call__(self, batches: Iterator) -> Iterator:
        from detector.io.read import load

        with tempfile.TemporaryDirectory(prefix="waypoint-spark-read-") as tmp:
            for batch in batches:
                frame = pl.from_arrow(batch)
                if frame.height == 0:
                    continue
                for part in frame.partition_by(FILE, maintain_order=True):
                    part = part.sort(LINE)
                    i = int(part[FILE][0])
                    lines = part[LINE].to_numpy()
                    path = Path(tmp) / (f"part{_suffix(self.shown[i]) or '.csv'}")
                    if self.is_csv:
                        body = b"\n".join(bytes(x).rstrip(b"\r") for x in part[RAW].to_list())
                        path.write_bytes(self.headers[i] + b"\n" + body + b"\n")
                    else:
                        part.drop(FILE, LINE, RAW).write_parquet(path)
                    try:
                        loaded = load([path], self.table, mapping=self.mapping, strict=self.strict)
                    except InputError as exc:
                        if "no data rows" in str(exc):  # a batch of blank lines only
                            yield from to_batches(pl.DataFrame({KIND: ["count"], COUNT: [0]}), self.out_schema)
                            continue
                        raise
                    yield from to_batches(self._out(loaded, part, i, lines), self.out_schema)

    def _out(self, loaded, part: pl.DataFrame, i: int, lines) -> pl.DataFrame:
        # The reader numbers the copy's rows: CSV data lines from 2, Parquet rows from 1.
        offset = 2 if self.is_csv else 1
        line_of = pl.Series(lines)

        def original(frame: pl.DataFrame) -> pl.DataFrame:
            at = (frame[LINE].cast(pl.Int64) - offset).to_numpy()
            return frame.with_columns(pl.Series(LINE, line_of.to_numpy()[at], dtype=pl.Int64),
                                      pl.lit(self.shown[i]).alias(SOURCE))

        valid = original(loaded.valid)
        at = (loaded.valid[LINE].cast(pl.Int64) - offset).to_numpy()
        valid = valid.with_columns(pl.lit(i, dtype=pl.Int32).alias(FILE), part[RAW].gather(at).alias(RAW),
                                   pl.lit("valid").alias(KIND))
        rejects = original(loaded.rejects)
        rejects = rejects.select(
            pl.lit("reject").alias(KIND),
            pl.struct(pl.struct([pl.col(c).cast(pl.String) for c in rejects.columns if c not in (SOURCE, LINE, "reason_codes", "reasons")]).alias("row"),
                      SOURCE, LINE, "reason_codes", "reasons").struct.json_encode().alias(REJECT),
        )
        count = pl.DataFrame({KIND: ["count"], COUNT: [loaded.rows_read], DQ: [json.dumps(dict(loaded.dq_counts))]})
        return pl.concat([valid, rejects, count], how="diagonal_relaxed")


class _DupRejects:
    """Rows whose key an earlier row of another batch has: the rejects the reader would write."""

    def __init__(self, key, headers, shown, is_csv, delimiter, encoding):
        self.key, self.headers, self.shown = key, headers, shown
        self.is_csv, self.delimiter, self.encoding = is_csv, delimiter, encoding

    def __call__(self, batches):
        import pyarrow as pa

        from features import validate as v

        check = v.duplicate_check(self.key)
        for batch in batches:
            out = []
            for row in batch.to_pylist():
                raw = bytes(row[RAW])
                if self.is_csv:
                    header = self.headers[row[FILE]].decode(self.encoding, "replace").lstrip("\ufeff")
                    names = [n.strip() for n in next(csv.reader([header], delimiter=self.delimiter))]
                    values = next(csv.reader([raw.decode(self.encoding, "replace")], delimiter=self.delimiter), [])
                    record = dict(zip(names, values + [None] * (len(names) - len(values)), strict=False))
                else:
                    record = {k: None if val is None else str(val) for k, val in json.loads(raw).items()}
                text = f"{check.column}: {check.message}: '{row[self.key]}'" if check.value else f"{check.column}: {check.message}"
                out.append(json.dumps({"row": record, SOURCE: self.shown[row[FILE]], LINE: row[LINE],
                                       "reason_codes": check.code, "reasons": text}))
            yield pa.RecordBatch.from_pydict({REJECT: pa.array(out, pa.string())})


def _reject_frame(reject_json, source_columns: list[str]):
    """The rejects as columns: the source columns as read, ``_source``, ``_line``, codes, reasons."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType

    schema = StructType([StructField("row", MapType(StringType(), StringType())), StructField(SOURCE, StringType()),
                         StructField(LINE, LongType()), StructField("reason_codes", StringType()),
                         StructField("reasons", StringType())])
    parsed = reject_json.select(F.from_json(REJECT, schema).alias("r"))
    return parsed.select(*[F.col("r.row").getItem(c).alias(c) for c in source_columns],
                         F.col(f"r.{SOURCE}").alias(SOURCE), F.col(f"r.{LINE}").alias(LINE),
                         F.col("r.reason_codes").alias("reason_codes"), F.col("r.reasons").alias("reasons"))

