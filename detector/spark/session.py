"""The Spark session and the file system calls a job needs (globs, renames, deletes).

Paths are whatever Spark's Hadoop file systems read (local, ``s3a://``, ``hdfs://``,
``abfss://``): listing and renaming go through Hadoop's ``FileSystem`` of each path, so
the commit of an output is a rename on the store that holds it.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from detector.errors import InputError

#: Rows per Arrow batch handed to the Python workers: a batch is read, validated and
#: built as one Polars frame, so larger batches pay the per-call cost less often.
ARROW_BATCH_ROWS = 100_000


def session(master: str | None = None, *, app_name: str = "waypoint", conf: dict[str, str] | None = None):
    """The active Spark session, or a new one on ``master`` (default ``local[*]``).

    An existing session (a notebook's, ``spark-submit``'s) is used as it is. A local master runs its Python workers with this interpreter,
    so they import the same waypoint and Polars as the driver.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("--engine spark needs pyspark", hint="pip install 'waypoint[spark]' (and Java 17+)") from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    master = master or "local[*]"
    builder = SparkSession.builder.appName(app_name)
    if master.startswith("local"):
        # Workers of a local master are this interpreter (the venv's): a bare `python`
        # on PATH may lack waypoint's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = builder.config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "8")
    builder = builder.master(master).config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - Java missing or the master unreachable: say which
        raise InputError(f"cannot start Spark on {master}: {str(exc).splitlines()[0]}",
                         hint="Spark needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _fs(spark, path: str):
    jvm = spark._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark._jsc.hadoopConfiguration()), p


def expand(spark, paths: Sequence[str]) -> list[str]:
    """Each path or glob as the files it names (fully qualified, globs sorted, repeats dropped)."""
    if not paths:
        raise InputError("no input file given", hint="pass one or more CSV/Parquet files or a glob like 'data/*.csv'")
    found: list[str] = []
    for text in paths:
        fs, p = _fs(spark, str(text))
        statuses = fs.globStatus(p)
        if statuses is None or len(statuses) == 0:
            raise InputError(f"{text}: no such file" + (" (no file matches this pattern)" if set("*?[") & set(str(text)) else ""),
                             hint="check the path and quote the glob")
        names = sorted(s.getPath().toString() for s in statuses if s.isFile())
        if not names:
            raise InputError(f"{text}: not a file", hint="pass files or a glob like 'dir/*.csv'")
        found.extend(names)
    return list(dict.fromkeys(found))


def exists(spark, path: str) -> bool:
    fs, p = _fs(spark, path)
    return bool(fs.exists(p))


def delete(spark, path: str) -> None:
    fs, p = _fs(spark, path)
    if fs.exists(p):
        fs.delete(p, True)


def rename(spark, src: str, dst: str) -> None:
    """Move ``src`` to ``dst`` on its file system, replacing what ``dst`` held."""
    fs, s = _fs(spark, src)
    _, d = _fs(spark, dst)
    if fs.exists(d):
        fs.delete(d, True)
    if not fs.rename(s, d):
        raise RuntimeError(f"cannot rename {src} to {dst}")


def part_files(spark, directory: str, suffix: str = ".parquet") -> list[str]:
    """The data files Spark wrote in ``directory`` (not its markers), sorted."""
    fs, p = _fs(spark, directory)
    return sorted(s.getPath().toString() for s in fs.listStatus(p)
                  if s.isFile() and s.getPath().getName().endswith(suffix) and not s.getPath().getName().startswith(("_", ".")))


def qualify(spark, path: str) -> str:
    """``path`` fully qualified on its file system (``file:/abs/...`` for a local path)."""
    fs, p = _fs(spark, str(path))
    return fs.makeQualified(p).toString()


def expand_quiet(spark, pattern: str) -> list[str]:
    """What a glob names (files or folders), or nothing."""
    fs, p = _fs(spark, pattern)
    statuses = fs.globStatus(p)
    return [] if statuses is None else sorted(s.getPath().toString() for s in statuses)
