"""Atomic, spreadsheet-safe output.

Every file waypoint writes goes through :func:`write_table` or :func:`atomic_path`:
the data is written to a temporary file in the same directory and renamed over the
target only when complete, so a failed or interrupted run never leaves a partial file.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import polars as pl

from detector.errors import InputError

#: A cell starting with one of these is a formula to Excel/LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


#: ``-o -``: the output goes to stdout instead of a file.
STDOUT = "-"
#: What a run leaves beside its output while it works, named after the output and the
#: run's process id so a later run can tell a dead run's leftovers from a live one's:
#: ``.NAME.<pid>.<12 hex>.partial`` (atomic writes) and ``.NAME.<pid>.<random>.spill``
#: (spill folders). Files of earlier versions had no process id.
_LEFTOVER = r"\.{name}\.(?:(?P<pid>[0-9]+)\.)?(?:(?P<hex>[0-9a-f]{{12}})\.partial|(?P<rand>[a-z0-9_]{{8}})\.spill)"


def leftover_prefix(target: str | Path) -> str:
    """The start of the name of a temporary file or folder beside ``target`` (see ``_LEFTOVER``)."""
    return f".{Path(target).name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def is_stdout(path: str | Path | None) -> bool:
    return path is not None and str(path) == STDOUT


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (or cannot be read): not the same file
        return False


def _expand(paths: Iterable[str | Path | None]) -> list[Path]:
    """The files named by ``paths`` (globs expanded as the reader expands them)."""
    from detector.io.read import expand_paths  # the reader's rules, loaded only when checking

    out: list[Path] = []
    for p in paths:
        if p is None or is_stdout(p):
            continue
        try:
            out.extend(expand_paths([p]))
        except InputError:  # a missing input: the read itself reports it, before anything is written
            out.append(Path(p))
    return out


def check_output(
    output: str | Path,
    inputs: Iterable[str | Path | None] = (),
    *,
    beside: Sequence[Path] = (),
    option: str = "-o",
    stdout: bool = False,
) -> None:
    """Refuse, before any work is done, an output that would destroy an input or cannot be written.

    ``output`` must not be a directory, and neither it nor the files written ``beside`` it
    (e.g. the rejects file) may be the same file as any input: equal names, ``./x`` and
    ``x``, hard links and symbolic links are all caught (``os.path.samefile``). ``-`` (stdout)
    is accepted only where the command can write there (``stdout=True``).
    """
    if is_stdout(output):
        if not stdout:
            raise InputError(f"{option} -: this output is a file (Parquet or CSV, with rejects beside it), not a stream",
                             hint=f"give {option} a file name")
        return
    output = Path(output)
    if output.is_dir():
        raise InputError(f"{option} {output}: is a directory", hint=f"give {option} a file name, e.g. {output / 'out.parquet'}")
    parent = output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{option} {output}: {parent} is not a directory", hint="give a path inside a folder")
    sources = _expand(inputs)
    for target in (output, *beside):
        if target.is_dir():
            raise InputError(f"{target}: is a directory, and {option} {output} would write there",
                             hint=f"give {option} another file name")
        for source in sources:
            if _same_file(target, source) or target.absolute() == source.absolute():
                what = "output" if target == output else f"file written beside the output ({target.name})"
                raise InputError(
                    f"{option} {output}: the {what} is the input {source}; it would be overwritten",
                    hint="write the output to another file name",
                )


def remove_leftovers(target: str | Path) -> list[Path]:
    """Remove what killed runs left beside ``target``: half-written files and spill folders.

    Only our own naming is touched (``.TARGET.<pid>.<12 hex>.partial`` files of
    :func:`atomic_path` and ``.TARGET.<pid>.<random>.spill`` folders of the scoring job), and
    only when the run that made them is gone: a run writing the same output at the same
    time keeps its files. A user's file never matches. Returns what was removed.
    """
    target = Path(target)
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    ours = re.compile(_LEFTOVER.format(name=re.escape(target.name)))
    for entry in entries:
        m = ours.fullmatch(entry.name)
        if not m or entry.is_symlink():
            continue
        if m.group("pid") and _alive(int(m.group("pid"))):
            continue
        with contextlib.suppress(OSError):
            if m.group("hex") and entry.is_file():
                entry.unlink()
            elif m.group("rand") and entry.is_dir():
                shutil.rmtree(entry)
            else:
                continue
            removed.append(entry)
    return removed


def write_text_output(text: str, path: str | Path) -> Path | None:
    """Write ``text`` to ``path`` atomically, or to stdout when ``path`` is ``-`` (returns None)."""
    if is_stdout(path):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return None
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)  # a killed run's half-written file of the same target
    # not mkstemp: it creates 0600 files; O_EXCL with 0666 lets the umask decide, like any new file
    while True:
        tmp_path = target.parent / f"{leftover_prefix(target)}{secrets.token_hex(6)}.partial"
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


def write_frames(frames: Iterable[pl.DataFrame], path: str | Path, fmt: str, *, empty: pl.DataFrame | None = None,
                 compression: str = "zstd", metadata: dict[str, str] | None = None) -> int:
    """Write frames of one schema one after another into a single Parquet or CSV file at
    ``path`` (not atomic: callers write to a temporary path); returns the rows written.

    Memory holds one frame at a time. ``empty`` gives the file's schema when there are no frames.
    ``metadata``: key/value metadata of a Parquet file (``pl.read_parquet_metadata`` reads it).
    """
    import pyarrow.parquet as pq

    rows, started, writer = 0, False, None
    with open(path, "wb") as handle:
        for frame in frames:
            if fmt == "parquet":
                table = frame.to_arrow()
                if metadata:
                    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
                writer = writer or pq.ParquetWriter(handle, table.schema, compression=compression)
                writer.write_table(table)
            else:
                frame.write_csv(handle, include_header=not started)
            started = True
            rows += frame.height
        if writer is not None:
            writer.close()
        if not started and empty is not None:
            if fmt == "parquet":
                empty.write_parquet(handle, metadata=metadata)
            else:
                empty.write_csv(handle)
    return rows
