"""Column mappings: read a foreign file (other column names, units, codes) as the contract.

A mapping is a small TOML file (documented in ``docs/mappings.md``)::

    [columns]                 # contract column = "source column"
    shipment_id = "Declaration Line ID"
    [countries]
    alpha3 = ["origin_country", "export_country"]   # ISO alpha-3 -> alpha-2
    [multiply]
    declared_value_usd = 1.08                       # EUR -> USD
    weight_kg = "tonnes"                            # or a number: 1000
    [hs]
    digits = 8                # 7-digit codes (numbers that lost their zero) get it back
    [constants]
    export_country = "VN"     # a column the source does not have
    [extra]
    categorical = ["Customs Office"]   # kept as x_customs_office
    numeric = ["Gross Mass"]
    [read]                    # how the file is written (all optional)
    delimiter = ";"           # default ","
    decimal_comma = true      # 1.234,56 = 1234.56 in number columns
    date_format = "%d/%m/%Y"  # strftime, default "%Y-%m-%d"
    encoding = "latin-1"      # any Python codec name, default "utf-8"

The mapping is applied lazily, as Polars expressions over the columns as read, before
validation; the rejects file still shows the source row as read.
"""
from __future__ import annotations

import codecs
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector.errors import MappingError
from features.schema import Kind, Table
from features.validate import ALPHA3_TO_ALPHA2

#: Named weight units accepted in ``[multiply]`` (factor to kilograms).
UNITS: dict[str, float] = {
    "kg": 1.0,
    "g": 0.001,
    "t": 1000.0,
    "tonnes": 1000.0,
    "tons": 1000.0,
    "lb": 0.45359237,
    "lbs": 0.45359237,
}
#: Contract columns a named unit may convert: weights (named units are units of mass).
_WEIGHT_COLUMNS = frozenset({"weight_kg"})
_SECTIONS = {"mapping", "columns", "countries", "multiply", "hs", "constants", "extra", "read"}
#: The keys each fixed section takes (``[columns]``, ``[multiply]`` and ``[constants]``
#: take contract column names, checked against the table).
_KEYS = {
    "mapping": {"name"},
    "countries": {"alpha3"},
    "hs": {"digits"},
    "extra": {"categorical", "numeric"},
    "read": {"delimiter", "decimal_comma", "date_format", "encoding"},
}
_NUMERIC = (Kind.POSITIVE, Kind.NON_NEGATIVE, Kind.NUMBER)
#: A date format must name a year, a month and a day.
_DATE_PARTS = (("%Y", "%y"), ("%m", "%b", "%B"), ("%d", "%e"))


@dataclass(frozen=True)
class ReadOptions:
    """How a CSV file is written (the ``[read]`` section); the defaults are the contract's."""

    delimiter: str = ","
    decimal_comma: bool = False
    date_format: str = "%Y-%m-%d"
    encoding: str = "utf-8"  # a Python codec name, normalised

    @property
    def utf8(self) -> bool:
        return self.encoding == "utf-8"


def extra_name(source: str) -> str:
    """Name of a passed-through source column in the valid frame: ``x_`` + snake_case."""
    return "x_" + (re.sub(r"[^0-9a-z]+", "_", source.lower()).strip("_") or "column")


@dataclass(frozen=True)
class Mapped:
    """What a mapping makes of one file: raw contract columns, extras, used source columns."""

    columns: dict[str, pl.Expr]  # contract name -> expression over the source columns
    extras: dict[str, pl.Expr]  # x_ name -> typed expression
    used: set[str]  # source columns the mapping reads


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file; see the module docstring for the format."""

    source: Path | None = None
    name: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # contract -> source column
    alpha3: tuple[str, ...] = ()
    multiply: dict[str, float] = field(default_factory=dict)
    hs_digits: int | None = None
    constants: dict[str, str] = field(default_factory=dict)
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    read: ReadOptions = field(default_factory=ReadOptions)

    @classmethod
    def from_toml(cls, path: str | Path) -> Mapping:
        """Read and check a mapping file; raises MappingError naming the file and the key."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror or exc})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"{path}: not a valid TOML file: {exc}", hint="see docs/mappings.md for the format") from None
        return cls.from_dict(data, source=path)

    @classmethod
    def from_dict(cls, data: dict, *, source: Path | None = None) -> Mapping:
        where = str(source or "mapping")

        def fail(msg: str) -> MappingError:
            return MappingError(f"{where}: {msg}", hint="see docs/mappings.md for the format")

        unknown = sorted(set(data) - _SECTIONS)
        if unknown:
            raise fail(f"unknown section(s) {', '.join(unknown)}; expected {', '.join(sorted(_SECTIONS))}")
        for section in _SECTIONS:
            if section in data and not isinstance(data[section], dict):
                raise fail(f"[{section}] must be a table")
        for section, keys in _KEYS.items():
            bad_keys = sorted(set(data.get(section, {})) - keys)
            if bad_keys:
                raise fail(f"[{section}] unknown key(s) {', '.join(bad_keys)}; expected {', '.join(sorted(keys))}")

        def strings(section: str, key: str) -> tuple[str, ...]:
            value = data.get(section, {}).get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise fail(f"[{section}] {key} must be a list of column names")
            return tuple(value)

        columns = data.get("columns", {})
        for contract, src in columns.items():
            if not isinstance(src, str) or not src:
                raise fail(f"[columns] {contract} must be the name of a source column (a string)")
        multiply: dict[str, float] = {}
        for contract, factor in data.get("multiply", {}).items():
            if isinstance(factor, str):
                if factor.lower() not in UNITS:
                    raise fail(f"[multiply] {contract}: unknown unit {factor!r}; known: {', '.join(UNITS)} or a number")
                if contract not in _WEIGHT_COLUMNS:
                    raise fail(f"[multiply] {contract}: {factor!r} is a unit of weight, and {contract} is not a weight; "
                               "give a number (a currency rate, say)")
                factor = UNITS[factor.lower()]
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
                raise fail(f"[multiply] {contract} must be a positive number or a unit name, not {factor!r}")
            multiply[contract] = float(factor)
        hs = data.get("hs", {})
        digits = hs.get("digits")
        if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int) or not 6 <= digits <= 10):
            raise fail(f"[hs] digits must be a whole number from 6 to 10, not {digits!r}")
        constants = {}
        for contract, value in data.get("constants", {}).items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise fail(f"[constants] {contract} must be a string or a number")
            constants[contract] = str(value)
        both = sorted(set(constants) & set(columns))
        if both:
            raise fail(f"{', '.join(both)} set both in [columns] and [constants]")
        read = _read_options(data.get("read", {}), fail)
        name = data.get("mapping", {}).get("name", "")
        return cls(
            source=source,
            name=str(name),
            columns=dict(columns),
            alpha3=strings("countries", "alpha3"),
            multiply=multiply,
            hs_digits=digits,
            constants=constants,
            extra_categorical=strings("extra", "categorical"),
            extra_numeric=strings("extra", "numeric"),
            read=read,
        )

    def _check_against(self, table: Table) -> None:
        """Every contract name the mapping uses must belong to ``table`` and fit its kind."""
        where = str(self.source or "mapping")
        problems = []
        for section, names in (("columns", self.columns), ("constants", self.constants), ("multiply", self.multiply), ("countries", self.alpha3)):
            for n in names:
                if n not in table.names:
                    problems.append(f"[{section}] {n!r} is not a column of {table.name} ({', '.join(table.names)})")
                elif section == "multiply" and table.column(n).kind not in _NUMERIC:
                    problems.append(f"[multiply] {n!r} is not a numeric column")
                elif section == "countries" and table.column(n).kind is not Kind.COUNTRY:
                    problems.append(f"[countries] {n!r} is not a country column")
        if problems:
            raise MappingError(f"{where}: " + "; ".join(problems), hint="see docs/mappings.md for the format")

    def apply(self, table: Table, schema: pl.Schema, col: Callable[[str], pl.Expr], file: Path | str) -> Mapped:
        """Expressions giving ``table``'s raw columns from a file with source ``schema``.

        ``col(source_name)`` returns the expression reading a source column (the reader
        keeps source columns under a private prefix). Contract columns the mapping does
        not name are taken from a source column of the same name, if any.
        Raises MappingError naming every source column the file lacks.
        """
        self._check_against(table)
        wanted = {**{c: s for c, s in self.columns.items()}}
        named = [*wanted.values(), *self.extra_categorical, *self.extra_numeric]
        absent = [s for s in dict.fromkeys(named) if s not in schema]
        if absent:
            raise MappingError(
                f"{file}: column(s) {', '.join(repr(a) for a in absent)} named by mapping {self.source or ''} not found in the file",
                hint=f"the file has: {', '.join(schema.names())}",
            )
        out: dict[str, pl.Expr] = {}
        used: set[str] = set()
        for contract in table.names:
            if contract in self.constants:
                out[contract] = pl.lit(self.constants[contract], dtype=pl.String)
                continue
            src = wanted.get(contract, contract if contract in schema and contract not in self.columns.values() else None)
            if src is None:
                continue
            used.add(src)
            out[contract] = self._convert(table.column(contract).kind, contract, col(src), schema[src])
        extras = {}
        for src in self.extra_categorical:
            used.add(src)
            e = col(src).cast(pl.String).str.strip_chars()
            extras[extra_name(src)] = pl.when(e.str.len_bytes() > 0).then(e)
        for src in self.extra_numeric:
            used.add(src)
            e = col(src) if schema[src].is_numeric() else col(src).cast(pl.String).str.strip_chars()
            if self.read.decimal_comma and not schema[src].is_numeric():
                e = decimal_comma(e)
            extras[extra_name(src)] = e.cast(pl.Float64, strict=False)
        return Mapped(out, extras, used)

    def _convert(self, kind: Kind, contract: str, e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        if self.read.decimal_comma and kind in _NUMERIC and not dtype.is_numeric():
            e = decimal_comma(e)
        if contract in self.alpha3:
            u = e.cast(pl.String).str.strip_chars().str.to_uppercase()
            # Alpha-2 values and unknown codes pass through; validation rejects the unknown.
            e = u.replace(ALPHA3_TO_ALPHA2)
        if contract in self.multiply:
            k = self.multiply[contract]
            if dtype.is_numeric():
                e = e.cast(pl.Float64) * k
            else:
                num = e.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
                # Unparseable text stays as is, so validation reports it (bad_value, bad_weight, ...).
                e = pl.when(num.is_not_null()).then((num * k).cast(pl.String)).otherwise(e.cast(pl.String))
        if kind is Kind.HS and self.hs_digits:
            text = e.cast(pl.Int64, strict=False).cast(pl.String) if dtype.is_numeric() else e.cast(pl.String).str.replace_all(r"[.\s]", "")
            # A number can lose only one leading zero (no HS chapter starts with 00), so
            # only codes exactly one digit short are padded; "12" stays bad.
            short = text.str.contains(r"^\d+$") & (text.str.len_bytes() == self.hs_digits - 1)
            e = pl.when(short).then(pl.lit("0") + text).otherwise(text)
        return e


def decimal_comma(e: pl.Expr) -> pl.Expr:
    """Number text written with a decimal comma (``1.234,56``, ``1 234,56``) as the
    contract writes it (``1234.56``): grouping dots and spaces go, the comma is the point."""
    text = e.cast(pl.String).str.strip_chars()
    for sep in (".", " ", "\u00a0", "\u202f"):  # grouping: dot, space, no-break and narrow no-break space
        text = text.str.replace_all(sep, "", literal=True)
    return text.str.replace(",", ".", literal=True)


def _read_options(section: dict, fail) -> ReadOptions:
    """The ``[read]`` section, checked: one-character delimiter, a boolean, a date format
    naming year, month and day, a codec Python knows."""
    opts = ReadOptions()
    delimiter = section.get("delimiter", opts.delimiter)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise fail(f"[read] delimiter must be one character (\",\", \";\", \"\\t\", \"|\"), not {delimiter!r}")
    comma = section.get("decimal_comma", opts.decimal_comma)
    if not isinstance(comma, bool):
        raise fail(f"[read] decimal_comma must be true or false, not {comma!r}")
    date_format = section.get("date_format", opts.date_format)
    if not isinstance(date_format, str) or not all(any(p in date_format for p in parts) for parts in _DATE_PARTS):
        raise fail(f"[read] date_format must be a strftime format with a year, a month and a day (\"%d/%m/%Y\"), not {date_format!r}")
    encoding = section.get("encoding", opts.encoding)
    try:
        name = codecs.lookup(encoding).name if isinstance(encoding, str) else None
    except LookupError:
        name = None
    if name is None:
        raise fail(f"[read] encoding {encoding!r} is not a known text encoding (\"utf-8\", \"latin-1\", \"cp1252\")")
    return ReadOptions(delimiter=delimiter, decimal_comma=comma, date_format=date_format,
                       encoding="utf-8" if name in ("utf-8", "utf-8-sig") else name)
