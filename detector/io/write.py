"""Atomic, spreadsheet-safe output.

Every file waypoint writes goes through :func:`write_table` or :func:`atomic_path`:
the data is written to a temporary file in the same directory and renamed over the
target only when complete, so a failed or interrupted run never leaves a partial file.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from detector.errors import InputError

#: A cell starting with one of these is a formula to Excel/LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp: it creates 0600 files; O_EXCL with 0666 lets the umask decide, like any new file
    while True:
        tmp_path = target.parent / f".{target.name}.{secrets.token_hex(6)}.partial"
        try:
            os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def neutralise_formulas(df: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a single quote.

    Numbers stay numbers: only string columns are touched, so ``-3.5`` in a float
    column is written as is, while the text ``-3.5`` or ``=HYPERLINK(...)`` becomes ``'...``.
    """
    pattern = "^[" + "".join("\\t" if p == "\t" else "\\r" if p == "\r" else "\\" + p for p in FORMULA_PREFIXES) + "]"
    exprs = [
        pl.when(pl.col(name).str.contains(pattern)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name, dtype in df.schema.items()
        if dtype == pl.String
    ]
    return df.with_columns(exprs) if exprs else df


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise InputError(f"{path}: unknown output format {suffix or '(none)'!r}", hint="use a .parquet or .csv file name")


def write_table(df: pl.DataFrame, path: str | Path) -> Path:
    """Write ``df`` atomically as Parquet or CSV (by extension); CSV is spreadsheet-safe."""
    path = Path(path)
    fmt = output_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            df.write_parquet(tmp)
        else:
            neutralise_formulas(df).write_csv(tmp)
    return path
