"""Read input files (CSV/Parquet, several, globbed), map them, validate, split valid/rejects.

:func:`load` scans every file lazily, applies the optional :class:`~detector.io.mapping.Mapping`,
types and checks each row with the rules in :mod:`features.validate`, all in one
``collect`` of the concatenated plans (one pass over the data), then splits valid rows
from rejects on the collected frame. (``pl.collect_all`` of separate valid/reject
queries scanned the file twice under Polars 2.1's streaming engine.) Nothing read is
lost: ``rows_read == valid.height + rejects.height``.

Score or reject (``docs/data-contract.md``): shipment lines that cannot be keyed or
placed in time are rejected; every other defect leaves the line valid with its codes in
``dq_codes`` (``strict=True`` rejects them instead). Side tables are read strictly.

CSV files and their quotes. Polars reads CSV as RFC 4180 says: a quote opened in one
line and closed lines later makes one field of everything between, and a stray quote
inside an unquoted field (``12" PIPE``) fails the whole read. Neither may cost a line in
silence, so every read is checked against the file's physical lines (counted while
the file is tested for UTF-8, at memory speed): a file whose rows do not add up to its
lines, or that Polars cannot parse, is read again from a copy in which every line
stands for itself (:func:`_analyse`): a quoted field that spans lines is kept when the
lines joined make one row of the header's width and none of the lines it would take in
reads as a row of its own; otherwise the line that opened the quote is rejected
(``bad_quote``) and the next lines are read as rows. A stray quote inside an unquoted
field is text. Files without a problem pay for the line count only.

Line numbers (``_line``): for CSV, the line in the file where the row starts (the header
is line 1), right after multi-line fields too; blank lines are skipped (not rows). For
Parquet, the 1-based row number. CSV rows with more fields than the header are rejected
as ``ragged_row``; rows with fewer fields read the missing trailing fields as empty.
"""
from __future__ import annotations

import codecs
import csv
import glob
import io
import mmap
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from detector.errors import InputError
from detector.io.mapping import Mapping, ReadOptions
from detector.io.write import write_table
from features import validate as v
from features.schema import EVENTS, INPUTS, LABELS, Table

#: Prefix of the source columns (as read) inside the working frame.
SRC_PREFIX = "__src__"
#: Catches the first field beyond the header on a ragged CSV line.
_OVERFLOW = "__overflow__"
#: Record number of a row in its file (0 = the first row after the header).
_REC = "__rec__"
#: True on a blank CSV line (no data row: skipped, but counted against the file's lines).
_BLANK = "__blank__"
#: Why a line that opened an unclosed quote was read on its own (null on other rows).
_QUOTE_NOTE = "__quote__"
#: Whether a row breaks a rule that rejects it / one that scores it with a data-quality
#: code: worked out in the streaming read, where it is cheap (horizontal operations over
#: the collected frame's many chunks are slow).
_REJECTED, _SCORED = "__rejected__", "__scored__"
_CSV = {".csv"}
_PARQUET = {".parquet", ".pq"}
_GLOB_CHARS = set("*?[")
#: Longest run of lines one quoted field may span before its opening line is refused.
MAX_FIELD_LINES = 200


def _src(name: str) -> str:
    return SRC_PREFIX + name


def _public(message: str) -> str:
    """A Polars message without the reader's internal column names."""
    for prefix in (SRC_PREFIX, v.RAW_PREFIX):
        message = message.replace(prefix, "")
    return re.sub(re.escape(v.FLAG_PREFIX) + r"\w+", "(a check)", message)


@dataclass(frozen=True)
class Loaded:
    """The outcome of reading one set of files as one contract table."""

    table: Table
    valid: pl.DataFrame  # table.schema columns (+ x_ extras, + dq_codes/dq_notes for shipments), then _source, _line
    rejects: pl.DataFrame  # rows as read (strings) + _source, _line, reason_codes, reasons
    rows_read: int
    reject_counts: dict[str, int]  # reason code -> rows carrying it
    files: list[Path]
    extra_columns: list[str]  # source columns neither contract nor used by the mapping
    found: list[str] = field(default_factory=list)  # contract columns present (or mapped)
    reject_examples: dict[str, list[dict]] = field(default_factory=dict)  # code -> first 3 {file, line, reason}
    missing_optional: list[str] = field(default_factory=list)
    dq_counts: dict[str, int] = field(default_factory=dict)  # data-quality code -> valid rows carrying it
    dq_examples: dict[str, list[dict]] = field(default_factory=dict)  # code -> first 3 {file, line, note}
    dq_rows: int = 0  # valid rows with at least one data-quality code
    hints: list[str] = field(default_factory=list)  # likely fixes (a delimiter, a date format)
    strict: bool = False

    def summary(self, examples: int = 3) -> dict:
        """A JSON-ready account of the read: columns, counts, and example lines per reason."""
        by_reason = {
            code: {"rows": n, "examples": self.reject_examples.get(code, [])[:examples]} for code, n in self.reject_counts.items()
        }
        by_dq = {code: {"rows": n, "examples": self.dq_examples.get(code, [])[:examples]} for code, n in self.dq_counts.items()}
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
            "rows_with_dq_codes": self.dq_rows,
            "dq_by_code": by_dq,
            "strict": self.strict,
            "hints": self.hints,
        }


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Expand globs and check every path is an existing file; keep order, drop repeats.

    A name that exists is read as itself, even with glob characters in it (``decl[1].csv``)."""
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


# -- the files as read -------------------------------------------------------------------


@dataclass
class _Fix:
    """What :func:`_analyse` made of a CSV file whose rows did not match its lines."""

    records: int  # data rows (blank lines included) the copy holds
    breaks: list[tuple[int, int]]  # (first row after a multi-line row, lines taken in so far)
    bad: dict[int, str]  # row -> why its line was read on its own (an unclosed quote)


@dataclass
class _Source:
    """One input file: the path reported in messages and the file Polars reads (the same,
    a UTF-8 copy of a file in another encoding, or a copy whose lines stand for themselves)."""

    index: int
    path: Path
    read: Path
    csv: bool
    header: list[str] = field(default_factory=list)
    fix: _Fix | None = None
    lossy: bool = False  # transcoded with replacement characters


@dataclass(frozen=True)
class _Facts:
    utf8: bool
    lines: int  # physical lines; a last line without a newline counts
    quotes: bool


def _facts(path: Path, chunk: int = 1 << 24) -> _Facts:
    """Whether the file decodes as UTF-8, its lines and whether it holds a quote, in one
    read (Python's decoder and ``bytes.count`` run at memory speed)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, lines, quotes, last = True, 0, False, b"\n"
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
            lines += block.count(b"\n")
            quotes = quotes or b'"' in block
            last = block[-1:]
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return _Facts(utf8, lines + (last != b"\n"), quotes)


def _transcode(path: Path, encoding: str, out: Path) -> bool:
    """Write a UTF-8 copy of a text file in ``encoding`` (in blocks); True when some bytes
    did not decode (they are replacement characters in the copy)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    lossy = False
    with path.open("rb") as src, out.open("wb") as dst:
        while block := src.read(1 << 24):
            text = decoder.decode(block)
            lossy = lossy or "\ufffd" in text
            dst.write(text.encode("utf-8"))
        text = decoder.decode(b"", final=True)
        dst.write(text.encode("utf-8"))
    return lossy or "\ufffd" in text


def _header(src: _Source, delimiter: str) -> list[str]:
    """The CSV header's column names (BOM and surrounding blanks removed); repeated names
    are an error naming them."""
    with src.read.open("rb") as fh:
        first = fh.readline()
    if not first.strip():
        raise InputError(f"{src.path}: the file is empty", hint="a CSV needs a header row and at least one data row")
    text = first.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
    names = [n.strip() for n in next(csv.reader([text], delimiter=delimiter))]
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names, start=1):
        seen.setdefault(n, []).append(i)
    repeated = {n: at for n, at in seen.items() if len(at) > 1}
    if repeated:
        listed = "; ".join(f"{n!r} (columns {', '.join(map(str, at))})" for n, at in repeated.items())
        raise InputError(f"{src.path}: the header repeats column name(s) {listed}", hint="give each column its own name")
    return names


def _prepare(i: int, path: Path, opts: ReadOptions, work: Path) -> _Source:
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return _Source(i, path, path, csv=False)
    if suffix not in _CSV:
        raise InputError(
            f"{path}: unknown file format {suffix or '(no extension)'!r}",
            hint="waypoint reads .csv (UTF-8, header, comma; see [read] in docs/mappings.md for others) and .parquet files",
        )
    src = _Source(i, path, path, csv=True)
    if not opts.utf8:
        try:
            src.read = work / f"{i}.utf8.csv"
            src.lossy = _transcode(path, opts.encoding, src.read)
        except OSError as exc:
            raise InputError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    try:
        src.header = _header(src, opts.delimiter)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    return src


def _line_expr(fix: _Fix | None) -> pl.Expr:
    """The line a row starts on, from its record number (rows after a multi-line row shift)."""
    line = pl.col(_REC).cast(pl.Int64) + 2
    if fix is None or not fix.breaks:
        return line
    firsts = pl.Series([b for b, _ in fix.breaks], dtype=pl.Int64)
    shifts = pl.Series([0, *(s for _, s in fix.breaks)], dtype=pl.Int64)
    at = pl.lit(firsts).search_sorted(pl.col(_REC).cast(pl.Int64), side="right")
    return line + pl.lit(shifts).gather(at)


def _displayable(dtype: pl.DataType) -> bool:
    """A type that reads as text in the rejects (not nested, not raw bytes)."""
    return not (dtype.is_nested() or dtype == pl.Binary or isinstance(dtype, pl.Object))


def _scan(src: _Source, opts: ReadOptions) -> pl.LazyFrame:
    """Scan one file with source columns renamed to ``SRC_PREFIX + name``, ``_REC``,
    ``_line`` and ``_BLANK``."""
    try:
        if src.csv:
            # Read without the header and with one spare column: a ragged line's first
            # surplus field lands there instead of being silently truncated.
            schema = {_src(n): pl.String for n in src.header} | {_OVERFLOW: pl.String}
            lf = pl.scan_csv(
                src.read,
                has_header=False,
                skip_rows=1,
                schema=schema,
                separator=opts.delimiter,
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
                missing_columns="insert",
                # A first row wider than header + overflow would otherwise fail the file.
                extra_columns="ignore",
                row_index_name=_REC,
                glob=False,
            )
            blank = pl.all_horizontal(pl.col(n).is_null() for n in schema)
            return lf.with_columns(_line_expr(src.fix).alias("_line"), blank.alias(_BLANK))
        lf = pl.scan_parquet(src.read, glob=False)
        names = lf.collect_schema().names()
        lf = lf.rename({n: _src(n) for n in names}).with_row_index(_REC)
        return lf.with_columns((pl.col(_REC).cast(pl.Int64) + 1).alias("_line"), pl.lit(False).alias(_BLANK))
    except pl.exceptions.NoDataError:
        raise InputError(f"{src.path}: the file is empty", hint="a CSV needs a header row and at least one data row") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{src.path}: cannot read the file: {_public(str(exc).splitlines()[0])}") from None


@dataclass
class _FilePlan:
    lf: pl.LazyFrame
    checks: list[v.Check]
    found: list[str]
    unused: list[str]
    extras: list[str]
    text_columns: list[tuple[str, str]]  # (column of the frame, name shown) that may hold undecodable text


def _delimiter_hint(src: _Source, opts: ReadOptions) -> str | None:
    """A likely fix when a CSV header reads as one column holding another delimiter."""
    if not src.csv or len(src.header) != 1:
        return None
    for sep, name in ((";", '";"'), ("\t", '"\\t"'), ("|", '"|"')):
        if sep != opts.delimiter and sep in src.header[0]:
            return f"the header of {src.path} looks {'tab' if sep == chr(9) else repr(sep)}-separated: " \
                   f"add [read] delimiter = {name} to a mapping (--mapping FILE.toml, see docs/mappings.md)"
    return None


def _plan_file(src: _Source, table: Table, mapping: Mapping | None, strict: bool, problems: list[str],
               hints: list[str]) -> _FilePlan | None:
    mapping = mapping or Mapping()
    lf = _scan(src, mapping.read)
    schema = lf.collect_schema()
    source = pl.Schema({n.removeprefix(SRC_PREFIX): d for n, d in schema.items() if n.startswith(SRC_PREFIX)})
    mapped = mapping.apply(table, source, lambda s: pl.col(_src(s)), src.path)
    # Columns nobody reads are not read: a nested column (List, Struct) cannot be shown as text.
    dropped = [n for n, d in source.items() if n not in mapped.used and not _displayable(d)]
    if dropped:
        lf = lf.drop([_src(n) for n in dropped])
    lf = lf.with_columns(e.alias(v.raw(c)) for c, e in mapped.columns.items())
    raw_schema = lf.select(v.raw(c) for c in mapped.columns).collect_schema()
    p = v.plan(table, {c: raw_schema[v.raw(c)] for c in mapped.columns}, strict=strict, date_format=mapping.read.date_format)
    if p.problems:
        problems.append(f"{src.path}: " + "; ".join(p.problems) + f" (the file has: {', '.join(source.names())})")
        if (hint := _delimiter_hint(src, mapping.read)) is not None:
            hints.append(hint)
        return None
    checks = list(p.checks)
    if src.csv:
        checks.append(v.Check("ragged_row", "row", "has more fields than the header", pl.col(_OVERFLOW).is_not_null(), _OVERFLOW))
        if src.fix is not None and src.fix.bad:
            bad = src.fix.bad
            note = pl.col(_REC).cast(pl.Int64).replace_strict(list(bad), list(bad.values()), default=None, return_dtype=pl.String)
            lf = lf.with_columns(note.alias(_QUOTE_NOTE))
            checks.append(v.Check("bad_quote", "row", "a quote opened on this line is not closed; the line is read on its own",
                                  pl.col(_QUOTE_NOTE).is_not_null(), _QUOTE_NOTE))
    lf = p.apply(lf).with_columns(
        *(c.bad.alias(c.flag) for c in checks[len(p.checks):]),
    ).with_columns(
        _any([c.flag for c in checks if not c.scored]).alias(_REJECTED),
        _any([c.flag for c in checks if c.scored]).alias(_SCORED),
        *(e.alias(n) for n, e in mapped.extras.items()),
        pl.lit(str(src.path)).alias("_source"),
        pl.lit(src.index, dtype=pl.UInt32).alias("_file"),
        # Rejects show the row as read: every source column as text.
        *(pl.col(_src(n)).cast(pl.String) for n, d in source.items() if d != pl.String and n not in dropped),
        *(pl.col(v.raw(c)).cast(pl.String) for c in mapped.columns),
    )
    unused = [n for n in source.names() if n not in mapped.used]
    text = [(v.raw(c), c) for c in mapped.columns] + [(x, x) for x in mapped.extras]
    return _FilePlan(lf, checks, sorted(mapped.columns), unused, list(mapped.extras), text)


def _any(flags: list[str]) -> pl.Expr:
    """True where any of the flag columns is (flags are never null)."""
    return pl.any_horizontal(flags) if flags else pl.lit(False)


def _plans(sources: list[_Source], table: Table, mapping: Mapping | None, strict: bool):
    """Each file's read plan, the row checks they use and the extra columns, or one
    InputError naming every schema problem of every file at once."""
    problems: list[str] = []
    hints: list[str] = []
    plans = [_plan_file(s, table, mapping, strict, problems, hints) for s in sources]
    if problems:
        raise InputError(
            f"{table.name}: " + " | ".join(problems),
            hint="; ".join(hints) if hints else "rename the columns to the contract (see docs/data-contract.md) or pass --mapping FILE.toml",
        )
    checks: dict[str, v.Check] = {}
    for p in plans:
        checks.update({c.flag: c for c in p.checks})
    extras = list(dict.fromkeys(x for p in plans for x in p.extras))
    return plans, checks, extras


# -- quotes that span lines ----------------------------------------------------------------


def _regular(delimiter: str) -> re.Pattern[bytes]:
    """A physical line Polars reads as exactly one row: fields either quoted (``""`` inside)
    or free of quotes, with no quote left open."""
    d = re.escape(delimiter).encode()
    one = rb'(?:"[^"]*(?:""[^"]*)*"|[^"' + d + rb"\r\n]*)"
    return re.compile(one + rb"(?:" + d + one + rb")*\r?\n?")


def _split_end(text: str) -> tuple[str, str]:
    for end in ("\r\n", "\n"):
        if text.endswith(end):
            return text[: -len(end)], end
    return text, ""


class _Fields:
    """A lenient CSV record parser fed one physical line at a time: a quote opens a field
    only at the start of the field (``12" PIPE`` is text), ``""`` is a quote inside one."""

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.fields: list[str] = []
        self.current: list[str] = []
        self.quoted = False
        self.start = True  # at the start of a field
        self.irregular = False  # a quote Polars would not read as this parser does

    def feed(self, body: str, end: str) -> bool:
        """Parse one line (``end`` its line ending); True when the record is complete."""
        d, cur = self.delimiter, self.current
        i, n = 0, len(body)
        while i < n:
            ch = body[i]
            if self.quoted:
                if ch == '"':
                    if i + 1 < n and body[i + 1] == '"':
                        cur.append('"')
                        i += 2
                        continue
                    self.quoted = False
                    if i + 1 < n and body[i + 1] != d:
                        self.irregular = True  # text after a closing quote
                else:
                    cur.append(ch)
                i += 1
                continue
            if ch == d:
                self.fields.append("".join(cur))
                cur.clear()
                self.start = True
            elif ch == '"' and self.start:
                self.quoted = True
                self.start = False
            else:
                if ch == '"':
                    self.irregular = True
                cur.append(ch)
                self.start = False
            i += 1
        if self.quoted:
            cur.append(end or "\n")
            return False
        self.fields.append("".join(cur))
        return True


def _parse_alone(line: bytes, delimiter: str) -> tuple[list[str], bool]:
    """A line parsed on its own: (fields, complete: no quote left open)."""
    body, end = _split_end(line.decode("utf-8", "surrogateescape"))
    rec = _Fields(delimiter)
    done = rec.feed(body, end)
    return (rec.fields if done else [*rec.fields, "".join(rec.current)]), done


def _emit(fields: list[str], delimiter: str, end: str) -> bytes:
    """One row written so Polars reads exactly these fields (quoted where needed)."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator=end or "\n").writerow(fields)
    return buf.getvalue().encode("utf-8", "surrogateescape")


#: Bytes of the file scanned at once for quotes and line ends.
_SCAN_BLOCK = 1 << 26


def _suspect_lines(data: np.ndarray, delimiter: str) -> tuple[np.ndarray, np.ndarray]:
    """(offsets of every newline, sorted numbers of the lines whose quotes Polars may not
    read line for line): a line with an odd number of quotes (it opens or closes a field
    that spans lines) or a quote that is neither at a field's edge nor doubled (``12"``).

    Vectorised over blocks of the file (no Python loop per line); a line that crosses a
    block's edge is a suspect too, and is then read in full by :func:`_analyse`."""
    d = ord(delimiter)
    starts_ok = np.array([d, 10, 34], dtype=np.uint8)  # before an opening quote: delimiter, line start, quote
    ends_ok = np.array([d, 13, 10, 34], dtype=np.uint8)  # after a closing quote: delimiter, line end, quote
    newlines, suspects, before = [], [], 0
    n = data.shape[0]
    for off in range(0, n, _SCAN_BLOCK):
        block = data[off : off + _SCAN_BLOCK]
        nl = np.flatnonzero(block == 10) + off
        quotes = np.flatnonzero(block == 34) + off
        if quotes.size:
            line = before + np.searchsorted(nl, quotes)  # the line each quote is on
            prev = np.where(quotes > 0, data[np.maximum(quotes - 1, 0)], 10)
            nxt = np.where(quotes < n - 1, data[np.minimum(quotes + 1, n - 1)], 10)
            stray = ~(np.isin(prev, starts_ok) | np.isin(nxt, ends_ok))
            counts = np.bincount(line - before, minlength=nl.size + 1)
            odd = np.flatnonzero(counts % 2 == 1) + before
            suspects.extend([line[stray], odd, np.array([before], dtype=np.int64)])
        newlines.append(nl)
        before += nl.size
    lines = np.concatenate(newlines) if newlines else np.empty(0, dtype=np.int64)
    found = np.unique(np.concatenate(suspects)) if suspects else np.empty(0, dtype=np.int64)
    return lines, found[found > 0]  # line 0 is the header


def _analyse(src: _Source, delimiter: str, out: Path) -> _Fix:
    """Copy a CSV file so that no row takes in lines that are rows of their own.

    Lines Polars reads as one row each are copied as they are, in runs between the
    suspect lines :func:`_suspect_lines` finds. A suspect line with a stray quote in an
    unquoted field is written with that field quoted. A line that leaves a quote open is
    joined with the next lines until it closes when the joined lines make one row of the
    header's width and none of the lines taken in reads as a complete row on its own (a
    real multi-line field); otherwise it is written on its own, quotes as text, and
    marked ``bad_quote``.
    """
    width = len(src.header)
    regular = _regular(delimiter)
    records, breaks, bad, taken_in = 0, [], {}, 0
    with src.read.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm, out.open("wb") as dst:
        data = np.frombuffer(mm, dtype=np.uint8)
        newlines, suspects = _suspect_lines(data, delimiter)
        size = data.shape[0]
        n_lines = newlines.size + (1 if size and mm[size - 1] != 10 else 0)

        def start(k: int) -> int:
            return 0 if k == 0 else (int(newlines[k - 1]) + 1 if k - 1 < newlines.size else size)

        def line(k: int) -> bytes:
            return mm[start(k) : start(k + 1)]

        dst.write(line(0))  # the header
        k, at = 1, 0
        while k < n_lines:
            at = int(np.searchsorted(suspects, k))
            nxt = int(suspects[at]) if at < suspects.size else n_lines
            if nxt > k:  # lines Polars reads as they are: copied in one piece
                dst.write(mm[start(k) : start(nxt)])
                records += nxt - k
                k = nxt
                continue
            text = line(k)
            k += 1
            if regular.fullmatch(text):
                dst.write(text)
                records += 1
                continue
            rec = _Fields(delimiter)
            body, end = _split_end(text.decode("utf-8", "surrogateescape"))
            if rec.feed(body, end):
                dst.write(_emit(rec.fields, delimiter, end) if rec.irregular else text)
                records += 1
                continue
            span: list[bytes] = []
            closed = False
            while len(span) < MAX_FIELD_LINES and k + len(span) < n_lines:
                nxt_line = line(k + len(span))
                span.append(nxt_line)
                body, end = _split_end(nxt_line.decode("utf-8", "surrogateescape"))
                if rec.feed(body, end):
                    closed = True
                    break
            rows_inside = [i for i, s in enumerate(span, start=1) if _complete_row(s, delimiter, width)]
            if closed and len(rec.fields) == width and not rows_inside:
                whole = text + b"".join(span)
                dst.write(whole if regular.fullmatch(whole) and not rec.irregular else _emit(rec.fields, delimiter, end))
                records += 1
                taken_in += len(span)
                breaks.append((records, taken_in))
                k += len(span)
                continue
            if not closed:
                why = f"it is not closed in the next {len(span)} line(s)" + (" (end of file)" if len(span) < MAX_FIELD_LINES else "")
            elif rows_inside:
                why = f"closing it would take in {len(span)} line(s), of which {len(rows_inside)} read as rows of their own"
            else:
                why = f"the lines joined would have {len(rec.fields)} fields, the header has {width}"
            body, end = _split_end(text.decode("utf-8", "surrogateescape"))
            dst.write(_emit(body.split(delimiter), delimiter, end))
            bad[records] = why
            records += 1  # the lines after it are read as rows again
        del data  # the buffer must be released before the map closes
    src.read = out
    return _Fix(records, breaks, bad)


def _complete_row(line: bytes, delimiter: str, width: int) -> bool:
    fields, done = _parse_alone(line, delimiter)
    return done and len(fields) == width


# -- one pass over the data ----------------------------------------------------------------


def _run(plans: list[_FilePlan], sink: Path | None) -> pl.DataFrame | None:
    frame = pl.concat([p.lf for p in plans], how="diagonal_relaxed")
    if sink is None:
        return frame.collect()
    frame.sink_parquet(sink, compression="lz4")
    return None


def _records(df: pl.DataFrame | None, sink: Path | None) -> dict[int, int]:
    """Rows (blank lines included) read from each file."""
    frame = df.lazy() if df is not None else pl.scan_parquet(sink)
    return dict(frame.group_by("_file").len().collect().iter_rows())


def _cannot_read(sources: list[_Source], exc: Exception) -> InputError:
    names = ", ".join(str(s.path) for s in sources)
    return InputError(
        f"{names}: cannot read the file(s): {_public(str(exc).splitlines()[0])}",
        hint="is it a UTF-8 CSV with a header row (see [read] in docs/mappings.md for other encodings and delimiters), or a Parquet file?",
    )


def _read(sources: list[_Source], table: Table, mapping: Mapping | None, strict: bool, work: Path,
          sink: Path | None = None):
    """Plan and run the read of every file, checked against the files' lines (module doc).

    Returns (frame or None when sunk to ``sink``, plans, checks, extras, files not UTF-8)."""
    opts = (mapping or Mapping()).read
    plans, checks, extras = _plans(sources, table, mapping, strict)
    error: Exception | None = None
    # The files' facts are read on a thread while Polars (which releases the GIL) collects.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = {s.index: pool.submit(_facts, s.read) for s in sources if s.csv}
        try:
            df = _run(plans, sink)
        except pl.exceptions.PolarsError as exc:
            df, error = None, exc
        facts = {i: f.result() for i, f in pending.items()}
    records = _records(df, sink) if error is None else {}
    suspects = [s for s in sources if s.csv and (
        (error is not None and facts[s.index].quotes) or (error is None and records.get(s.index, 0) != facts[s.index].lines - 1))]
    if error is not None and not suspects:
        raise _cannot_read(sources, error)
    if suspects:
        for s in suspects:
            s.fix = _analyse(s, opts.delimiter, work / f"{s.index}.lines.csv")
        plans, checks, extras = _plans(sources, table, mapping, strict)
        try:
            df = _run(plans, sink)
        except pl.exceptions.PolarsError as exc:
            raise _cannot_read(sources, exc) from None
        records = _records(df, sink)
        for s in suspects:
            if records.get(s.index, 0) != s.fix.records:
                raise InputError(f"{s.path}: {records.get(s.index, 0):,} rows were read from {s.fix.records:,} lines; "
                                 "the file cannot be read line for line", hint="check its quotes and line endings")
    not_utf8 = [s.index for s in sources if s.csv and (s.lossy or not facts[s.index].utf8)]
    return df, plans, checks, extras, not_utf8


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


def _dq_summary(frame: pl.LazyFrame, checks: dict[str, v.Check]) -> tuple[dict[str, int], dict[str, list[dict]], int]:
    """Counts of valid rows by data-quality code, three examples each, rows with any code."""
    scored = v.scoring(checks)
    if not scored:
        return {}, {}, 0
    names = frame.collect_schema().names()
    scored = {f: c for f, c in scored.items() if f in names}
    counts = v.dq_counts(frame.select(list(scored)).collect(engine="in-memory"), scored)
    rows = int(frame.select(pl.col(_SCORED).sum()).collect(engine="in-memory").item()) if counts else 0
    examples: dict[str, list[dict]] = {}
    for code in counts:
        own = {f: c for f, c in scored.items() if c.code == code}
        hit = pl.any_horizontal([pl.col(f).fill_null(False) for f in own])
        _, texts = v.reason_lists(own)
        # The in-memory engine: rows of a filtered head collected by the streaming engine came
        # back with broken string views under Polars 2.1 (the notes then panicked).
        head = frame.filter(hit).head(3).select("_source", "_line", *_inputs(own)).collect(engine="in-memory")
        first = head.select("_source", "_line", texts.list.join("; ").alias("_note"))
        examples[code] = [{"file": s, "line": n, "note": t} for s, n, t in first.iter_rows()]
    return counts, examples, rows


def _inputs(checks: dict[str, v.Check]) -> list[str]:
    """The columns the reasons of ``checks`` read: their flags and quoted values."""
    return list(dict.fromkeys([*checks, *(c.value for c in checks.values() if c.value is not None)]))


class _Split(NamedTuple):
    """What the checks made of the rows read: the valid rows, the rejected rows as read with
    their reasons, rows per reject code, three examples per code (:func:`_rejects`), and the
    data-quality summary of the valid rows (:func:`_dq_summary`)."""

    valid: pl.DataFrame
    rejects: pl.DataFrame
    reject_counts: dict[str, int]
    reject_examples: dict[str, list[dict]]
    dq: tuple[dict[str, int], dict[str, list[dict]], int]


def _loaded(table: Table, plans, files: list[Path], per_file: dict, split: _Split, *, mapping: Mapping | None,
            strict: bool) -> Loaded:
    """What both loaders report: the valid rows given, counts, columns found and unused, likely fixes."""
    found = sorted({c for p in plans for c in p.found}, key=table.names.index)
    rows = sum(per_file.values())
    return Loaded(
        table=table,
        valid=split.valid,
        rejects=split.rejects,
        rows_read=rows,
        reject_counts=split.reject_counts,
        files=files,
        extra_columns=list(dict.fromkeys(n for p in plans for n in p.unused)),
        found=found,
        missing_optional=[c for c in table.names if c not in found and c not in table.required],
        reject_examples=split.reject_examples,
        dq_counts=split.dq[0],
        dq_examples=split.dq[1],
        dq_rows=split.dq[2],
        hints=_hints(split.rejects, split.reject_counts, split.dq[0], rows, mapping),
        strict=strict,
    )


def _valid_columns(table: Table, extras: list[str]) -> list[str]:
    dq = [v.DQ_CODES, v.DQ_NOTES] if table.name in v.SCORED_TABLES else []
    return [*table.names, *extras, *dq, "_source", "_line"]


def load(paths: Sequence[str | Path], table: Table, *, mapping: Mapping | None = None, strict: bool = False) -> Loaded:
    """Read, map and validate ``paths`` as ``table``; split valid rows from rejects.

    ``strict``: reject every line that breaks a rule (by default a shipment line is
    rejected only when it cannot be keyed or placed in time; see the module doc).
    Raises InputError (exit 2) for a missing file, an unknown format, an empty or
    header-only file, and — all at once — every missing required or mistyped column.
    """
    files = expand_paths(paths)
    opts = (mapping or Mapping()).read
    with tempfile.TemporaryDirectory(prefix="waypoint-read-") as tmp:
        sources = [_prepare(i, f, opts, Path(tmp)) for i, f in enumerate(files)]
        # One pass: every per-row rule runs in the (parallel) engine; the split into valid
        # rows and rejects, and the cross-file duplicate check, run on the collected frame.
        df, plans, checks, extras, not_utf8 = _read(sources, table, mapping, strict, Path(tmp))
    if df.get_column(_BLANK).any():
        df = df.filter(~pl.col(_BLANK))
    df = _encoding_flags(df, not_utf8, checks, plans, table, strict)
    per_file = {0: df.height} if len(plans) == 1 else dict(df.group_by("_file").len().iter_rows())
    _refuse_empty(files, per_file)
    if table.key:
        dup = _duplicate_check(table.key)
        checks[dup.flag] = dup
        repeated = _duplicates(df[table.key])
        first = _first_seen(df.select(table.key, "_source", "_line"), table.key, repeated.arg_true())
        df = df.with_columns(repeated.alias(dup.flag), first.alias(_FIRST))
        df = df.with_columns(pl.col(_REJECTED) | pl.col(dup.flag))
    ok = ~df.get_column(_REJECTED)
    good = df.filter(ok) if not ok.all() else df
    dq = _dq_summary(good.lazy(), checks)
    if table.name in v.SCORED_TABLES:
        good = v.with_dq(good, v.scoring(checks), hit=good.get_column(_SCORED))
    valid = good.select(_valid_columns(table, extras))
    split = _Split(valid, *_rejects(df.filter(~ok), v.rejecting(checks)), dq)
    return _loaded(table, plans, files, per_file, split, mapping=mapping, strict=strict)


def _encoding_flags(frame, not_utf8: list[int], checks: dict[str, v.Check], plans: list[_FilePlan], table: Table,
                    strict: bool):
    """Flag text with undecodable bytes in the files that are not UTF-8 (a frame or a lazy
    one), adding those checks; files that decode cleanly pay for nothing. Bytes in the key
    or a date reject the line; elsewhere they are kept (replacement characters) and scored."""
    if not not_utf8:
        return frame
    in_file = pl.col("_file").is_in(not_utf8)
    schema = frame.collect_schema()
    columns = dict.fromkeys(c for p in plans for c in p.text_columns if schema.get(c[0]) == pl.String)
    enc = [v.encoding_check(col, shown, scored=v.encoding_scored(table, shown, strict)) for col, shown in columns]
    checks.update({c.flag: c for c in enc})
    frame = frame.with_columns((in_file & c.bad).fill_null(False).alias(c.flag) for c in enc)
    return frame.with_columns(pl.col(_REJECTED) | _any([c.flag for c in enc if not c.scored]),
                              pl.col(_SCORED) | _any([c.flag for c in enc if c.scored]))


def _refuse_empty(files: list[Path], per_file: dict[int, int]) -> None:
    """A file with a header and no data row is an error naming it."""
    empty = [str(f) for i, f in enumerate(files) if not per_file.get(i)]
    if empty:
        raise InputError(f"{', '.join(empty)}: no data rows (header only)", hint="the file needs at least one data row")


#: Where a repeated key was first seen ("file:line"), on the rows that repeat it.
_FIRST = "__first__"


def _duplicate_check(key: str) -> v.Check:
    """A repeated key rejects the line; the reason names the line that has it first."""
    return v.Check(f"duplicate_{key}", key, "repeats the key of an earlier line", pl.col(v.flag_name(f"duplicate_{key}", key)), _FIRST)


def _first_seen(rows: pl.DataFrame, key: str, repeated: pl.Series) -> pl.Series:
    """``'KEY' first at FILE:LINE`` on the rows at ``repeated`` (their key's first line), null elsewhere."""
    out = pl.repeat(None, rows.height, dtype=pl.String, eager=True).alias(_FIRST)
    if not len(repeated):
        return out
    keys = rows.get_column(key).gather(repeated).unique()
    firsts = (rows.with_row_index("_at").filter(pl.col(key).is_in(keys.implode()))
              .group_by(key).agg(pl.col("_source").first(), pl.col("_line").first()))
    told = rows[repeated].select(key).join(firsts, on=key, how="left", maintain_order="left").select(
        pl.format("{} first at {}:{}", pl.col(key), pl.col("_source"), pl.col("_line"))).to_series()
    return out.scatter(repeated, told)


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


def load_spilled(
    paths: Sequence[str | Path], table: Table, spill_dir: str | Path, *, mapping: Mapping | None = None,
    in_memory_bytes: int = 0, strict: bool = False,
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
    files = expand_paths(paths)
    if sum(f.stat().st_size for f in files) <= in_memory_bytes:
        loaded = load(files, table, mapping=mapping, strict=strict)
        return replace(loaded, valid=loaded.valid.clear()), loaded.valid.lazy()
    opts = (mapping or Mapping()).read
    spill = Path(spill_dir)
    checked = spill / f"{table.name}.checked.parquet"
    with tempfile.TemporaryDirectory(prefix="waypoint-read-", dir=spill) as tmp:
        sources = [_prepare(i, f, opts, Path(tmp)) for i, f in enumerate(files)]
        _, plans, checks, extras, not_utf8 = _read(sources, table, mapping, strict, Path(tmp), sink=checked)
    scan = pl.scan_parquet(checked).filter(~pl.col(_BLANK)).with_row_index("_i")
    scan = _encoding_flags(scan, not_utf8, checks, plans, table, strict)
    per_file = dict(scan.group_by("_file").len().collect().iter_rows())
    _refuse_empty(files, per_file)
    if table.key:
        dup = _duplicate_check(table.key)
        checks[dup.flag] = dup
        # Only the key column (and where each line is) is held: the rows it repeats on are
        # few, their numbers mark them.
        keys = pl.scan_parquet(checked).filter(~pl.col(_BLANK)).select(table.key, "_source", "_line").collect()
        repeated = _duplicates(keys.get_column(table.key)).arg_true()
        first = _first_seen(keys, table.key, repeated)
        where = pl.DataFrame({"_i": repeated.cast(pl.UInt32), _FIRST: first.gather(repeated)})
        scan = scan.with_columns(pl.col("_i").cast(repeated.dtype).is_in(pl.lit(repeated).implode()).alias(dup.flag))
        scan = scan.join(where.lazy(), on="_i", how="left", maintain_order="left") if where.height else \
            scan.with_columns(pl.lit(None, dtype=pl.String).alias(_FIRST))
        scan = scan.with_columns(pl.col(_REJECTED) | pl.col(dup.flag))
    ok = ~pl.col(_REJECTED)
    dq = _dq_summary(scan.filter(ok), checks)
    good = scan.filter(ok)
    if table.name in v.SCORED_TABLES:
        good = v.with_dq(good, v.scoring(checks))
    valid_path = spill / f"{table.name}.valid.parquet"
    good.select(_valid_columns(table, extras)).sink_parquet(valid_path, compression="lz4")
    valid = pl.scan_parquet(valid_path)
    split = _Split(pl.DataFrame(schema=valid.collect_schema()), *_rejects(scan.filter(~ok).drop("_i").collect(),
                                                                        v.rejecting(checks)), dq)
    return _loaded(table, plans, files, per_file, split, mapping=mapping, strict=strict), valid


# -- what the user should hear -------------------------------------------------------------

#: Date formats tried on rejected dates to suggest a ``[read] date_format``.
_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%d/%m/%y", "%m/%d/%y")


def _date_source(mapping: Mapping | None) -> str:
    return (mapping.columns.get("arrival_date", "arrival_date") if mapping else "arrival_date")


def _hints(rejects: pl.DataFrame, reject_counts: dict[str, int], dq_counts: dict[str, int], rows: int,
           mapping: Mapping | None) -> list[str]:
    """Likely fixes when most rows fail the same way: every date in another format, numbers
    with decimal commas."""
    hints = []
    bad_dates = reject_counts.get("bad_date", 0)
    column = _date_source(mapping)
    if rows and bad_dates >= max(1, rows // 2) and column in rejects.columns:
        sample = rejects.filter(pl.col("reason_codes").str.contains("bad_date")).get_column(column).drop_nulls().head(200).to_list()
        for fmt in _DATE_FORMATS:
            if sample and all(_parses(s.strip(), fmt) for s in sample):
                hints.append(f"the dates look like {sample[0]!r}: add [read] date_format = \"{fmt}\" to a mapping "
                             "(--mapping FILE.toml, see docs/mappings.md)")
                break
        else:
            hints.append(f"{bad_dates:,} of {rows:,} rows have a date that is not YYYY-MM-DD: "
                         "give its format with [read] date_format in a mapping (see docs/mappings.md)")
    bad_numbers = dq_counts.get("bad_value", 0) + reject_counts.get("bad_value", 0)
    if rows and bad_numbers >= max(1, rows // 2) and not (mapping and mapping.read.decimal_comma):
        hints.append("most declared values are not numbers: if they are written with a decimal comma (1234,56), "
                     "add [read] decimal_comma = true to a mapping")
    return hints


def _parses(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def check_rejects(loaded: Loaded, max_share: float | None = None, *, what: str = "scored") -> None:
    """Fail (InputError, exit 2) when every row was rejected, or more than ``max_share`` of them."""
    rejected, read = loaded.rejects.height, loaded.rows_read
    if not read or (rejected < read and (max_share is None or rejected / read <= max_share)):
        return
    top = sorted(loaded.reject_counts.items(), key=lambda kv: -kv[1])[:3]
    why = ", ".join(f"{code} {n:,}" for code, n in top)
    first = next((ex[0] for code, _ in top if (ex := loaded.reject_examples.get(code))), None)
    example = f"; first: {first['file']}:{first['line']} {first['reason']}" if first else ""
    names = ", ".join(str(f) for f in loaded.files)
    if rejected == read:
        msg = f"{names}: all {read:,} {loaded.table.name} row(s) were rejected ({why}){example}; nothing {what}"
    else:
        msg = (f"{names}: {rejected:,} of {read:,} {loaded.table.name} rows ({rejected / read:.1%}) were rejected, "
               f"more than --max-reject-share {max_share:.1%} ({why}){example}")
    hint = "; ".join(loaded.hints) if loaded.hints else "see every reason with `waypoint check FILE --rejects rejects.csv`"
    raise InputError(msg, hint=hint)


def parse_share(text: str | None, option: str = "--max-reject-share") -> float | None:
    """'5%' -> 0.05, '0.05' -> 0.05 (a share from 0 to 1); None stays None."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a share", hint="write it as 5% or 0.05") from None
    if not 0 <= value <= 1 or (value >= 1 and not raw.endswith("%")):
        # "1" could mean 1 % or all of them: it is refused rather than guessed.
        raise InputError(f"{option} {text!r} must be a share from 0 to 100%", hint="write it as 5% or 0.05")
    return value


#: The tariff-event table that ships with waypoint, used when no events file is given.
DEFAULT_EVENTS = Path(__file__).resolve().parent.parent / "data" / "tariff_events.csv"


def load_side_tables(inputs: Sequence[str | Path] | None, events: Sequence[str | Path] | None
                     ) -> tuple[Loaded | None, Loaded]:
    """Component imports (optional) and tariff events (the shipped table when none are given).

    Side tables are read strictly: a row with any defect is rejected (and reported)."""
    return (load(inputs, INPUTS, strict=True) if inputs else None), load(list(events) if events else [DEFAULT_EVENTS], EVENTS, strict=True)


def load_labels(path: str | Path) -> Loaded:
    """Read a label file (``shipment_id,label[,scenario]``); bad rows go to rejects."""
    return load([path], LABELS, strict=True)


def side_report(role: str, loaded: Loaded | None, rejects_file: Path | None = None) -> dict | None:
    """A side table's rejects for a run summary (None when it rejected nothing)."""
    if loaded is None or not loaded.rejects.height:
        return None
    first = next((ex[0] for ex in loaded.reject_examples.values() if ex), None)
    return {
        "role": role,
        "table": loaded.table.name,
        "files": [str(f) for f in loaded.files],
        "rows_read": loaded.rows_read,
        "rows_rejected": loaded.rejects.height,
        "reject_counts": dict(loaded.reject_counts),
        "first": first,
        "rejects_file": str(rejects_file) if rejects_file else None,
    }


def side_warning(report: dict) -> str:
    """One loud line about a side table's rejected rows."""
    why = ", ".join(f"{c} {n:,}" for c, n in sorted(report["reject_counts"].items(), key=lambda kv: -kv[1])[:3])
    first = report.get("first")
    at = f"; first: {first['file']}:{first['line']} {first['reason']}" if first else ""
    where = f" (rows in {report['rejects_file']})" if report.get("rejects_file") else ""
    return (f"{report['rows_rejected']:,} of {report['rows_read']:,} {report['table']} rows were rejected and not used "
            f"({why}){at}{where}; the features that read them are computed without them")


def side_rejects(tables: dict[str, Loaded | None], *, strict: bool = False) -> list[dict]:
    """Reports of the side tables (by role: ``inputs``, ``events``, ``labels``) that rejected
    rows; with ``strict`` any such table fails the run (InputError) before work is done."""
    reports = [r for role, t in tables.items() if (r := side_report(role, t)) is not None]
    if strict:
        refuse_side_rejects(reports)
    return reports


def write_side_rejects(output: str | Path, tables: dict[str, Loaded | None], reports: Sequence[dict]) -> None:
    """Write each side table's rejects beside ``output`` (``OUT.<role>.rejects.csv``), naming
    the file in its report; a stale one of a table that rejected nothing is removed."""
    by_role = {r["role"]: r for r in reports}
    for role, table in tables.items():
        if role in by_role:
            by_role[role]["rejects_file"] = str(write_rejects(table, output, role))
        else:
            rejects_path(output, role).unlink(missing_ok=True)


def refuse_side_rejects(reports: Sequence[dict]) -> None:
    """``--strict``: a side table with rejected rows fails the run."""
    if reports:
        raise InputError("--strict: " + " | ".join(side_warning(r) for r in reports),
                         hint="fix the rows listed, or run without --strict to go on without them")


def rejects_path(output: str | Path, role: str | None = None) -> Path:
    """Where the rejects of a run writing ``output`` go: ``OUT.rejects.csv`` beside it
    (a side table's: ``OUT.<role>.rejects.csv``)."""
    output = Path(output)
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.{role}.rejects.csv" if role else f"{stem}.rejects.csv")


def write_rejects(loaded: Loaded, output_path: str | Path, role: str | None = None) -> Path:
    """Write ``loaded.rejects`` beside ``output_path`` (atomic, spreadsheet-safe).

    Written even when empty (header only), so a rejects file never belongs to an
    earlier run of the same output.
    """
    return write_table(loaded.rejects, rejects_path(output_path, role))
