"""Polars schemas as Spark schemas, and Polars frames as the Arrow batches a UDF returns."""
from __future__ import annotations

from collections.abc import Iterator

import polars as pl

_SIMPLE = {
    pl.String: "StringType", pl.Float64: "DoubleType", pl.Float32: "FloatType", pl.Int64: "LongType",
    pl.Int32: "IntegerType", pl.Int16: "ShortType", pl.Int8: "ByteType", pl.Boolean: "BooleanType",
    pl.Date: "DateType", pl.Binary: "BinaryType", pl.UInt8: "ShortType", pl.UInt16: "IntegerType",
    pl.UInt32: "LongType", pl.UInt64: "LongType", pl.Null: "StringType", pl.Categorical: "StringType",
}
#: The Polars type each Spark type comes back as (what a UDF must return).
_BACK = {"StringType": pl.String, "DoubleType": pl.Float64, "FloatType": pl.Float32, "LongType": pl.Int64,
         "IntegerType": pl.Int32, "ShortType": pl.Int16, "ByteType": pl.Int8, "BooleanType": pl.Boolean,
         "DateType": pl.Date, "BinaryType": pl.Binary}


def _spark_type(dtype: pl.DataType):
    from pyspark.sql import types as T

    for base, name in _SIMPLE.items():
        if dtype == base:
            return getattr(T, name)()
    if isinstance(dtype, pl.Datetime):
        return T.TimestampType() if dtype.time_zone else T.TimestampNTZType()
    if isinstance(dtype, pl.List):
        return T.ArrayType(_spark_type(dtype.inner))
    raise TypeError(f"no Spark type for Polars {dtype}")


def spark_schema(schema: pl.Schema):
    """A Spark ``StructType`` for a Polars schema (every field nullable)."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(name, _spark_type(dtype), True) for name, dtype in schema.items()])


def returned(schema: pl.Schema) -> pl.Schema:
    """The Polars schema a UDF returning ``spark_schema(schema)`` must give its frames."""
    out = {}
    for name, dtype in schema.items():
        t = type(_spark_type(dtype)).__name__
        out[name] = _BACK.get(t, dtype)
    return pl.Schema(out)


def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in order, cast (absent ones null)."""
    want = returned(schema)
    return frame.select([pl.col(n).cast(t) if n in frame.columns else pl.lit(None, dtype=t).alias(n) for n, t in want.items()])


def _plain(dtype):
    """Spark's Arrow type for a Polars Arrow type: 32-bit offsets for text and bytes."""
    import pyarrow as pa

    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_large_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(_plain(dtype.value_type))
    return dtype


def to_table(frame: pl.DataFrame, schema: pl.Schema):
    """An Arrow table of ``frame`` conformed to ``schema`` in the types Spark expects (what
    applyInArrow returns; Spark refuses Polars' large string type there)."""
    import pyarrow as pa

    table = conform(frame, schema).to_arrow(compat_level=pl.CompatLevel.oldest())
    return table.cast(pa.schema([pa.field(f.name, _plain(f.type)) for f in table.schema]))


def to_batches(frame: pl.DataFrame, schema: pl.Schema) -> Iterator:
    """Arrow record batches of ``frame`` conformed to ``schema`` (what mapInArrow yields)."""
    yield from to_table(frame, schema).to_batches()
