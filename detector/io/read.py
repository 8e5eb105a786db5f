"""Read input files (CSV/Parquet, several, globbed), map them, validate, split valid/rejects.

:func:`load` scans every file lazily, applies the optional :class:`~detector.io.mapping.Mapping`,
types and checks each row with the rules in :mod:`features.validate`, all in one
``collect`` of the concatenated plans (one pass over the data), then splits valid rows
from rejects on the collected frame. (``pl.collect_all`` of separate valid/reject
queries scanned the file twice under Polars 2.1's streaming engine.) Nothing read is
lost: ``rows_read == valid.height + rejects.height``.

Line numbers (``_line``): for CSV, the line in the file (the header is line 1),
assuming no quoted value spans several lines; blank lines are skipped (not rows).
For Parquet, the 1-based row number. CSV rows with more fields than the header are
rejected as ``ragged_row``; rows with fewer fields read the missing trailing fields
as empty.
"""
from __future__ import annotations

import codecs
import glob
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.io.write import write_table
from features import validate as v
from features.schema import EVENTS, INPUTS, LABELS, Table

#: Prefix of the source columns (as read) inside the working frame.
SRC_PREFIX = "__src__"
#: Catches the first field beyond the header on a ragged CSV line.
_OVERFLOW = "__overflow__"
_CSV = {".csv"}
_PARQUET = {".parquet", ".pq"}
_GLOB_CHARS = set("*?[")


def _src(name: str) -> str:
    return SRC_PREFIX + name


@dataclass(frozen=True)
class Loaded:
    """The outcome of reading one set of files as one contract table."""

    table: Table
    valid: pl.DataFrame  # table.schema columns (+ x_ extras), then _source, _line
    rejects: pl.DataFrame  # rows as read (strings) + _source, _line, reason_codes, reasons
    rows_read: int
    reject_counts: dict[str, int]  # reason code -> rows carrying it
    files: list[Path]
    extra_columns: list[str]  # source columns neither contract nor used by the mapping
    found: list[str] = field(default_factory=list)  # contract columns present (or mapped)
    reject_examples: dict[str, list[dict]] = field(default_factory=dict)  # code -> first 3 {file, line, reason}
    missing_optional: list[str] = field(default_factory=list)

    def summary(self, examples: int = 3) -> dict:
        """A JSON-ready account of the read: columns, counts, and example lines per reason."""
        by_reason = {
            code: {"rows": n, "examples": self.reject_examples.get(code, [])[:examples]} for code, n in self.reject_counts.items()
        }
        return {
            "table": self.table.name,
            "files": [str(f) for f in self.files],
            "columns_found": self.found,
            "missing_required": [],
            "missing_optional": self.missing_optional,
            "unused_source_columns": self.extra_columns,
            "rows_read": self.rows_read,
            "rows_valid": self.valid.height,
            "rows_rejected": self.rejects.height,
            "rejected_by_reason": by_reason,
        }


def resolve(paths: Sequence[str | Path]) -> list[Path]:
    """Expand globs and check every path is an existing file; keep order, drop repeats."""
    if not paths:
        raise InputError("no input file given", hint="pass one or more CSV/Parquet files or a glob like 'data/*.csv'")
    found: list[Path] = []
    for p in paths:
        text = str(p)
        if _GLOB_CHARS & set(text) and not Path(text).exists():
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError(f"{text}: no file matches this pattern", hint="check the path and quote the glob")
            found.extend(matches)
        else:
            path = Path(text)
            if not path.exists():
                raise InputError(f"{path}: no such file", hint="check the path")
            if not path.is_file():
                raise InputError(f"{path}: not a file", hint="pass files or a glob like 'dir/*.csv'")
            found.append(path)
    return list(dict.fromkeys(found))


def _scan(path: Path) -> pl.LazyFrame:
    """Scan one file with source columns renamed to ``SRC_PREFIX + name`` plus ``_line``."""
    suffix = path.suffix.lower()
    try:
        if suffix in _CSV:
            header = pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", n_rows=1).collect_schema().names()
            names = [h.lstrip("\ufeff").strip() for h in header]
            # Read without the header and with one spare column: a ragged line's first
            # surplus field lands there instead of being silently truncated.
            schema = {_src(n): pl.String for n in names} | {_OVERFLOW: pl.String}
            return pl.scan_csv(
                path,
                has_header=False,
                skip_rows=1,
                schema=schema,
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
                missing_columns="insert",
                row_index_name="_line",
                row_index_offset=2,
            )
        if suffix in _PARQUET:
            lf = pl.scan_parquet(path)
            names = lf.collect_schema().names()
            return lf.rename({n: _src(n) for n in names}).with_row_index("_line", offset=1)
    except pl.exceptions.NoDataError:
        raise InputError(f"{path}: the file is empty", hint="a CSV needs a header row and at least one data row") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot read the file: {str(exc).splitlines()[0]}") from None
    raise InputError(
        f"{path}: unknown file format {suffix or '(no extension)'!r}", hint="waypoint reads .csv (UTF-8, header, comma) and .parquet files"
    )


def _is_utf8(path: Path, chunk: int = 1 << 24) -> bool:
    """True when the whole file decodes as UTF-8 (Python's decoder runs at memory speed)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while block := fh.read(chunk):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _duplicates(keys: pl.Series) -> pl.Series:
    """True on every non-null key already seen on an earlier row (first occurrence kept).

    Hashing to u64 first is twice as fast as comparing strings; only rows whose hash
    repeats are then compared exactly, so a hash collision never rejects a row.
    """
    suspect = keys.hash().is_duplicated() & keys.is_not_null()
    if not suspect.any():
        return pl.repeat(False, keys.len(), eager=True, dtype=pl.Boolean)
    idx = suspect.arg_true()
    exact = ~keys.gather(idx).is_first_distinct()
    return pl.repeat(False, keys.len(), eager=True, dtype=pl.Boolean).scatter(idx, exact)


@dataclass
class _FilePlan:
    lf: pl.LazyFrame
    checks: list[v.Check]
    found: list[str]
    unused: list[str]
    extras: list[str]


def _plan_file(i: int, path: Path, table: Table, mapping: Mapping | None, problems: list[str]) -> _FilePlan | None:
    lf = _scan(path)
    schema = lf.collect_schema()
    if path.suffix.lower() in _CSV:
        # A blank line is no data row: skip it (line numbers of later rows stay right).
        lf = lf.filter(~pl.all_horizontal(pl.col(n).is_null() for n in schema.names() if n.startswith(SRC_PREFIX)))
    source = pl.Schema({n.removeprefix(SRC_PREFIX): d for n, d in schema.items() if n.startswith(SRC_PREFIX)})
    mapped = (mapping or Mapping()).apply(table, source, lambda s: pl.col(_src(s)), path)
    lf = lf.with_columns(e.alias(v.raw(c)) for c, e in mapped.columns.items())
    raw_schema = lf.select(v.raw(c) for c in mapped.columns).collect_schema()
    p = v.plan(table, {c: raw_schema[v.raw(c)] for c in mapped.columns})
    if p.problems:
        problems.append(f"{path}: " + "; ".join(p.problems) + f" (the file has: {', '.join(source.names())})")
        return None
    checks = list(p.checks)
    if _OVERFLOW in schema:
        checks.append(v.Check("ragged_row", "row", "has more fields than the header", pl.col(_OVERFLOW).is_not_null(), _OVERFLOW))
    lf = p.apply(lf).with_columns(
        *(c.bad.alias(c.flag) for c in checks[len(p.checks):]),
        *(e.alias(n) for n, e in mapped.extras.items()),
        pl.lit(str(path)).alias("_source"),
        pl.lit(i, dtype=pl.UInt32).alias("_file"),
        pl.col("_line").cast(pl.Int64),
        # Rejects show the row as read: every source column as text.
        *(pl.col(_src(n)).cast(pl.String) for n, d in source.items() if d != pl.String),
        *(pl.col(v.raw(c)).cast(pl.String) for c in mapped.columns),
    )
    unused = [n for n in source.names() if n not in mapped.used]
    return _FilePlan(lf, checks, sorted(mapped.columns), unused, list(mapped.extras))


def _collect(plans: list[_FilePlan], files: list[Path]) -> pl.DataFrame:
    """Run every file's plan in one collect (the only pass over the data)."""
    try:
        return pl.concat([p.lf for p in plans], how="diagonal_relaxed").collect()
    except pl.exceptions.PolarsError as exc:
        names = ", ".join(str(f) for f in files)
        raise InputError(
            f"{names}: cannot read the file(s): {str(exc).splitlines()[0]}", hint="is it a UTF-8 CSV with a header row, or a Parquet file?"
        ) from None


def _rejects(bad: pl.DataFrame, checks: dict[str, v.Check]) -> tuple[pl.DataFrame, dict[str, int], dict[str, list[dict]]]:
    """Rejected rows as read with their reasons; counts by code; three examples per code."""
    codes, texts = v.reason_lists(checks)
    source_cols = [c for c in bad.columns if c.startswith(SRC_PREFIX)]
    rejects = (
        bad.sort("_file", "_line")
        .with_columns(codes.alias("_codes"), texts.alias("_texts"))
        .with_columns(v.join_reasons(pl.col("_codes"), pl.col("_texts")))
    )
    examples = rejects.select("_codes", "_source", "_line", "_texts").explode("_codes", "_texts").group_by("_codes", maintain_order=True).head(3)
    reject_examples: dict[str, list[dict]] = {}
    for code, source, line, text in examples.select("_codes", "_source", "_line", "_texts").iter_rows():
        reject_examples.setdefault(code, []).append({"file": source, "line": line, "reason": text})
    rejects = rejects.select(
        *(pl.col(c).alias(c.removeprefix(SRC_PREFIX)) for c in source_cols), "_source", "_line", "reason_codes", "reasons"
    )
    counts = (
        dict(rejects.select(pl.col("reason_codes").str.split(",").explode().value_counts(sort=True)).unnest("reason_codes").iter_rows())
        if rejects.height
        else {}
    )
    return rejects, counts, reject_examples


def _plans(files: list[Path], table: Table, mapping: Mapping | None):
    """Each file's read plan, the row checks they use and the extra columns, or one
    InputError naming every schema problem of every file at once."""
    problems: list[str] = []
    plans = [_plan_file(i, f, table, mapping, problems) for i, f in enumerate(files)]
    if problems:
        raise InputError(
            f"{table.name}: " + " | ".join(problems),
            hint="rename the columns to the contract (see docs/data-contract.md) or pass --mapping FILE.toml",
        )
    plans = [p for p in plans if p is not None]
    checks: dict[str, v.Check] = {}
    for p in plans:
        checks.update({c.flag: c for c in p.checks})
    extras = list(dict.fromkeys(x for p in plans for x in p.extras))
    return plans, checks, extras


def _loaded(table: Table, valid: pl.DataFrame, plans, files: list[Path], per_file: dict, rejects: pl.DataFrame,
            reject_counts: dict[str, int], reject_examples) -> Loaded:
    """What both loaders report: the valid rows given, counts, columns found and unused."""
    found = sorted({c for p in plans for c in p.found}, key=table.names.index)
    return Loaded(
        table=table,
        valid=valid,
        rejects=rejects,
        rows_read=sum(per_file.values()),
        reject_counts=reject_counts,
        files=files,
        extra_columns=list(dict.fromkeys(n for p in plans for n in p.unused)),
        found=found,
        missing_optional=[c for c in table.names if c not in found and c not in table.required],
        reject_examples=reject_examples,
    )


def load(paths: Sequence[str | Path], table: Table, *, mapping: Mapping | None = None) -> Loaded:
    """Read, map and validate ``paths`` as ``table``; split valid rows from rejects.

    Raises InputError (exit 2) for a missing file, an unknown format, an empty or
    header-only file, and — all at once — every missing required or mistyped column.
    """
    files = resolve(paths)
    plans, checks, extras = _plans(files, table, mapping)
    # One pass: every per-row rule runs in the (parallel) engine; the split into valid
    # rows and rejects, and the cross-file duplicate check, run on the collected frame.
    # The UTF-8 test of each CSV runs in a thread while Polars (which releases the GIL)
    # collects; only files with undecodable bytes then pay for the U+FFFD search.
    with ThreadPoolExecutor(max_workers=1) as pool:
        utf8 = {i: pool.submit(_is_utf8, f) for i, f in enumerate(files) if f.suffix.lower() in _CSV}
        df = _collect(plans, files)
        not_utf8 = [i for i, done in utf8.items() if not done.result()]
    df = _encoding_flags(df, not_utf8, checks)
    per_file = {0: df.height} if len(plans) == 1 else dict(df.group_by("_file").len().iter_rows())
    _refuse_empty(files, per_file)
    if table.key:
        dup = v.duplicate_check(table.key)
        checks[dup.flag] = dup
        df = df.with_columns(_duplicates(df[table.key]).alias(dup.flag))
    ok = df.select(v.ok_expr(list(checks))).to_series()
    valid = df.select(*table.names, *extras, "_source", "_line").filter(ok)
    rejects, reject_counts, reject_examples = _rejects(df.filter(~ok), checks)
    return _loaded(table, valid, plans, files, per_file, rejects, reject_counts, reject_examples)


def _encoding_flags(frame, not_utf8: list[int], checks: dict[str, v.Check]):
    """Flag text with undecodable bytes in the files that are not UTF-8 (a frame or a lazy
    one), adding those checks; files that decode cleanly pay for nothing."""
    if not not_utf8:
        return frame
    in_file = pl.col("_file").is_in(not_utf8)
    enc = [v.encoding_check(c, c.removeprefix(SRC_PREFIX)) for c, d in frame.collect_schema().items()
           if c.startswith(SRC_PREFIX) and d == pl.String]
    checks.update({c.flag: c for c in enc})
    return frame.with_columns((in_file & c.bad).fill_null(False).alias(c.flag) for c in enc)


def _refuse_empty(files: list[Path], per_file: dict[int, int]) -> None:
    """A file with a header and no data row is an error naming it."""
    empty = [str(f) for i, f in enumerate(files) if not per_file.get(i)]
    if empty:
        raise InputError(f"{', '.join(empty)}: no data rows (header only)", hint="the file needs at least one data row")


def load_spilled(
    paths: Sequence[str | Path], table: Table, spill_dir: str | Path, *, mapping: Mapping | None = None,
    in_memory_bytes: int = 0,
) -> tuple[Loaded, pl.LazyFrame]:
    """:func:`load` under a memory bound, for files larger than memory (``waypoint score``).

    The same plans and checks, but the checked rows are streamed to Parquet in
    ``spill_dir`` instead of collected; only the key column (for the duplicate check)
    and the rejects are held in memory. Returns the :class:`Loaded` (its ``valid`` is
    empty, with the valid rows' schema) and the valid rows as a LazyFrame
    (``rows_read - rejects.height`` rows, in file order). Files of at most
    ``in_memory_bytes`` in all are read by :func:`load` in memory (the same rows, twice
    as fast: no spill to write and read back).
    """
    files = resolve(paths)
    if sum(f.stat().st_size for f in files) <= in_memory_bytes:
        loaded = load(files, table, mapping=mapping)
        return replace(loaded, valid=loaded.valid.clear()), loaded.valid.lazy()
    plans, checks, extras = _plans(files, table, mapping)
    checked = Path(spill_dir) / f"{table.name}.checked.parquet"
    with ThreadPoolExecutor(max_workers=1) as pool:
        utf8 = {i: pool.submit(_is_utf8, f) for i, f in enumerate(files) if f.suffix.lower() in _CSV}
        try:
            pl.concat([p.lf for p in plans], how="diagonal_relaxed").sink_parquet(checked, compression="lz4")
        except pl.exceptions.PolarsError as exc:
            names = ", ".join(str(f) for f in files)
            raise InputError(
                f"{names}: cannot read the file(s): {str(exc).splitlines()[0]}",
                hint="is it a UTF-8 CSV with a header row, or a Parquet file?",
            ) from None
        not_utf8 = [i for i, done in utf8.items() if not done.result()]
    scan = pl.scan_parquet(checked).with_row_index("_i")
    scan = _encoding_flags(scan, not_utf8, checks)
    per_file = dict(scan.group_by("_file").len().collect().iter_rows())
    _refuse_empty(files, per_file)
    if table.key:
        dup = v.duplicate_check(table.key)
        checks[dup.flag] = dup
        # Only the key column is held: the rows it repeats on are few, their numbers mark them.
        repeated = _duplicates(pl.scan_parquet(checked).select(table.key).collect().to_series()).arg_true()
        scan = scan.with_columns(pl.col("_i").cast(repeated.dtype).is_in(pl.lit(repeated).implode()).alias(dup.flag))
    ok = v.ok_expr(list(checks))
    valid_path = Path(spill_dir) / f"{table.name}.valid.parquet"
    scan.filter(ok).select(*table.names, *extras, "_source", "_line").sink_parquet(valid_path, compression="lz4")
    rejects, reject_counts, reject_examples = _rejects(scan.filter(~ok).drop("_i").collect(), checks)
    valid = pl.scan_parquet(valid_path)
    return _loaded(table, pl.DataFrame(schema=valid.collect_schema()), plans, files, per_file, rejects,
                   reject_counts, reject_examples), valid


#: The tariff-event table that ships with waypoint, used when no events file is given.
DEFAULT_EVENTS = Path(__file__).resolve().parent.parent / "data" / "tariff_events.csv"


def load_side_tables(inputs: Sequence[str | Path] | None, events: Sequence[str | Path] | None
                     ) -> tuple[Loaded | None, Loaded]:
    """Component imports (optional) and tariff events (the shipped table when none are given)."""
    return (load(inputs, INPUTS) if inputs else None), load(list(events) if events else [DEFAULT_EVENTS], EVENTS)


def load_labels(path: str | Path) -> Loaded:
    """Read a label file (``shipment_id,label[,scenario]``); bad rows go to rejects."""
    return load([path], LABELS)


def rejects_path(output: str | Path) -> Path:
    """Where the rejects of a run writing ``output`` go: ``OUT.rejects.csv`` beside it."""
    output = Path(output)
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.rejects.csv")


def write_rejects(loaded: Loaded, output_path: str | Path) -> Path:
    """Write ``loaded.rejects`` beside ``output_path`` (atomic, spreadsheet-safe).

    Written even when empty (header only), so a rejects file never belongs to an
    earlier run of the same output.
    """
    return write_table(loaded.rejects, rejects_path(output_path))
