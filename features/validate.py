"""Row rules of the data contract as pure Polars expressions (no I/O, no collect).

Input: a frame whose contract columns are *raw* (String when read from CSV, or
whatever type a Parquet file had) under the name ``raw(column)``. Output, in four
``with_columns`` stages described by a :class:`Plan`:

1. ``clean``: raw text of required or parsed columns stripped of surrounding blanks
   (a blank value then counts as missing);
2. ``typed``: every contract column under its contract name, typed as ``Table.schema``
   (a value that breaks a rule becomes null there);
3. ``checks``: one boolean flag column per rule (``flag_name(check)``), true when the
   row breaks it;
4. ``fixes``: where a *scored* rule fires, the typed value becomes what the line is
   scored with (unknown, the HS digits it has, its own unknown party).

Score or reject (``docs/data-contract.md``): a shipment line is **rejected** only when it
cannot be keyed or placed in time (its key or its date is missing, malformed, has
control characters or undecodable bytes; a duplicate key; a ragged row). Every other
broken rule is **scored**: the line stays, the value is read as unknown (or at the level
it can be), and the rule's code goes to ``dq_codes`` with a readable note in
``dq_notes``. A customs risk engine must not let a blank field take a line out of
targeting. ``strict=True`` rejects on every rule instead, and the side tables
(component imports, tariff events, labels) are always read strictly: a row of theirs
with a defect would distort the history or the outcomes it feeds, and scoring it means
nothing. A row is valid when no rejecting flag is set.

Reason and data-quality codes are stable strings (``bad_date``, ``missing_<column>``,
``bad_value``/``bad_weight``/``bad_<column>`` for numbers, ``non_positive_value``,
``absurd_value``, ``negative_<column>``, ``bad_hs_code``, ``short_hs_code``,
``long_hs_code``, ``bad_<column>`` for country columns, ``bad_label``,
``bad_encoding``, ``bad_<key>`` for a key with control characters, ``duplicate_<key>``,
``ragged_row``); :func:`reason_lists` renders them with readable text naming the
column and the bad value.

Amounts are bounded so the history's integer sums (US cents, log unit values) cannot
overflow: a declared value outside 0.01 .. 1e9 USD or a weight outside 1e-6 .. 1e9 kg
is ``absurd_value``/``absurd_weight``. At the bound a key needs 92 million lines before
its sum of cents reaches 2^63. Dates outside 1900 .. 2100 are not dates (``bad_date``).

This module lives in ``features`` (not ``detector``) because the MLflow model checks
rows with the same rules and cannot import ``detector``; :func:`validate` is the
one-call form it uses.

HS codes given as *numbers* (a Parquet integer column) have lost their leading zero:
an integer with an odd number of digits (5, 7 or 9) is padded with one ``0``
(``6110`` is not a code, ``61091000`` stays, ``8504400`` -> ``08504400``). National
lines of odd length (Japan's 9 digits) need a mapping with ``[hs] digits``. Text that
is not ASCII (full-width digits, compatibility forms) is NFKC-normalised before it is
parsed as a code, a number, a date or a country.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from features.schema import Kind, Table

#: Prefix of the raw (as mapped, before typing) contract columns inside a frame.
RAW_PREFIX = "__raw__"
#: Prefix of the per-rule boolean flag columns.
FLAG_PREFIX = "__bad__"
#: The Unicode replacement character lossy UTF-8 decoding puts in place of bad bytes.
REPLACEMENT_CHAR = "\ufffd"

#: ISO 3166-1 alpha-2 : alpha-3, the 249 assigned codes (Debian iso-codes 4.15).
#: User-assigned codes such as ``XK`` (Kosovo) are not in the standard and are rejected.
ISO_3166_1 = """
AD:AND AE:ARE AF:AFG AG:ATG AI:AIA AL:ALB AM:ARM AO:AGO AQ:ATA AR:ARG AS:ASM AT:AUT
AU:AUS AW:ABW AX:ALA AZ:AZE BA:BIH BB:BRB BD:BGD BE:BEL BF:BFA BG:BGR BH:BHR BI:BDI
BJ:BEN BL:BLM BM:BMU BN:BRN BO:BOL BQ:BES BR:BRA BS:BHS BT:BTN BV:BVT BW:BWA BY:BLR
BZ:BLZ CA:CAN CC:CCK CD:COD CF:CAF CG:COG CH:CHE CI:CIV CK:COK CL:CHL CM:CMR CN:CHN
CO:COL CR:CRI CU:CUB CV:CPV CW:CUW CX:CXR CY:CYP CZ:CZE DE:DEU DJ:DJI DK:DNK DM:DMA
DO:DOM DZ:DZA EC:ECU EE:EST EG:EGY EH:ESH ER:ERI ES:ESP ET:ETH FI:FIN FJ:FJI FK:FLK
FM:FSM FO:FRO FR:FRA GA:GAB GB:GBR GD:GRD GE:GEO GF:GUF GG:GGY GH:GHA GI:GIB GL:GRL
GM:GMB GN:GIN GP:GLP GQ:GNQ GR:GRC GS:SGS GT:GTM GU:GUM GW:GNB GY:GUY HK:HKG HM:HMD
HN:HND HR:HRV HT:HTI HU:HUN ID:IDN IE:IRL IL:ISR IM:IMN IN:IND IO:IOT IQ:IRQ IR:IRN
IS:ISL IT:ITA JE:JEY JM:JAM JO:JOR JP:JPN KE:KEN KG:KGZ KH:KHM KI:KIR KM:COM KN:KNA
KP:PRK KR:KOR KW:KWT KY:CYM KZ:KAZ LA:LAO LB:LBN LC:LCA LI:LIE LK:LKA LR:LBR LS:LSO
LT:LTU LU:LUX LV:LVA LY:LBY MA:MAR MC:MCO MD:MDA ME:MNE MF:MAF MG:MDG MH:MHL MK:MKD
ML:MLI MM:MMR MN:MNG MO:MAC MP:MNP MQ:MTQ MR:MRT MS:MSR MT:MLT MU:MUS MV:MDV MW:MWI
MX:MEX MY:MYS MZ:MOZ NA:NAM NC:NCL NE:NER NF:NFK NG:NGA NI:NIC NL:NLD NO:NOR NP:NPL
NR:NRU NU:NIU NZ:NZL OM:OMN PA:PAN PE:PER PF:PYF PG:PNG PH:PHL PK:PAK PL:POL PM:SPM
PN:PCN PR:PRI PS:PSE PT:PRT PW:PLW PY:PRY QA:QAT RE:REU RO:ROU RS:SRB RU:RUS RW:RWA
SA:SAU SB:SLB SC:SYC SD:SDN SE:SWE SG:SGP SH:SHN SI:SVN SJ:SJM SK:SVK SL:SLE SM:SMR
SN:SEN SO:SOM SR:SUR SS:SSD ST:STP SV:SLV SX:SXM SY:SYR SZ:SWZ TC:TCA TD:TCD TF:ATF
TG:TGO TH:THA TJ:TJK TK:TKL TL:TLS TM:TKM TN:TUN TO:TON TR:TUR TT:TTO TV:TUV TW:TWN
TZ:TZA UA:UKR UG:UGA UM:UMI US:USA UY:URY UZ:UZB VA:VAT VC:VCT VE:VEN VG:VGB VI:VIR
VN:VNM VU:VUT WF:WLF WS:WSM YE:YEM YT:MYT ZA:ZAF ZM:ZMB ZW:ZWE
"""
ALPHA3_TO_ALPHA2: dict[str, str] = {p[3:]: p[:2] for p in ISO_3166_1.split()}
ALPHA2: frozenset[str] = frozenset(ALPHA3_TO_ALPHA2.values())

_DIGITS = r"^[0-9]+$"
_HS_PREFIX_DIGITS = r"^[0-9]{0,10}$"
#: Control characters (C0 and DEL): a key holding one cannot be shown, typed or linked.
_CONTROL = r"[\x00-\x1F\x7F]"
#: Reason codes use the short name of the two money/weight columns (``non_positive_value``).
_SHORT = {"declared_value_usd": "value", "weight_kg": "weight"}
#: Amounts outside these bounds are absurd (a shifted decimal, cents as dollars, a unit
#: mix-up) and would overflow the history's integer sums: read as unknown.
BOUNDS: dict[str, tuple[float, float, str]] = {
    "declared_value_usd": (0.01, 1e9, "USD"),
    "weight_kg": (1e-6, 1e9, "kg"),
}
#: Years a date may have; anything else is a typing slip, not an arrival.
YEARS = (1900, 2100)
#: What a scored line's empty party is read as: its own party, named after the line.
UNKNOWN_PARTY = "unknown-{role}:"
DQ_CODES, DQ_NOTES = "dq_codes", "dq_notes"
#: Tables whose defects are scored (data-quality codes) rather than rejected.
SCORED_TABLES = frozenset({"shipments"})


def raw(name: str) -> str:
    """Name of the raw column that holds contract column ``name`` before typing."""
    return RAW_PREFIX + name


@dataclass(frozen=True)
class Check:
    """One rule: ``bad`` is true on rows that break it (never null).

    ``column`` is the column named to the user and ``value`` the column (String-castable)
    whose value is quoted in the readable reason, or None when there is none to quote.
    ``scored``: a row breaking it is scored with the code in ``dq_codes`` (not rejected).
    """

    code: str
    column: str
    message: str
    bad: pl.Expr
    value: str | None = None
    scored: bool = False

    @property
    def flag(self) -> str:
        return flag_name(self.code, self.column)


def flag_name(code: str, column: str) -> str:
    return f"{FLAG_PREFIX}{code}__{column}"


@dataclass(frozen=True)
class Plan:
    """How to turn raw columns into typed ones and which rules to check (see module doc)."""

    clean: tuple[pl.Expr, ...]
    typed: tuple[pl.Expr, ...]
    checks: tuple[Check, ...]
    problems: tuple[str, ...]  # schema problems: missing required / impossible column types
    fixes: tuple[pl.Expr, ...] = ()  # typed values of rows a scored rule fired on

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Add the typed contract columns and one flag column per check."""
        if self.clean:
            lf = lf.with_columns(self.clean)
        lf = lf.with_columns(self.typed).with_columns(c.bad.alias(c.flag) for c in self.checks)
        return lf.with_columns(self.fixes) if self.fixes else lf


def scores_defects(table: Table, strict: bool = False) -> bool:
    """True when ``table``'s lines are scored with data-quality codes instead of rejected."""
    return not strict and table.name in SCORED_TABLES


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def _is_number(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


_EXPECTED = {
    Kind.DATE: "YYYY-MM-DD text or a date",
    Kind.POSITIVE: "a number",
    Kind.NON_NEGATIVE: "a number",
    Kind.NUMBER: "a number",
    Kind.HS: "text or an integer",
    Kind.HS_PREFIX: "text or an integer",
    Kind.COUNTRY: "text",
    Kind.LABEL: "0/1 as a number, text or boolean",
    Kind.STRING: "text, a number or a date",
}


def _accepts(kind: Kind, dtype: pl.DataType) -> bool:
    if dtype == pl.Null or _is_text(dtype):
        return True
    if kind is Kind.DATE:
        return dtype == pl.Date or isinstance(dtype, pl.Datetime)
    if kind in (Kind.POSITIVE, Kind.NON_NEGATIVE, Kind.NUMBER, Kind.HS, Kind.HS_PREFIX):
        return _is_number(dtype)
    if kind is Kind.LABEL:
        return _is_number(dtype) or dtype == pl.Boolean
    if kind is Kind.STRING:
        return _is_number(dtype) or dtype.is_temporal() or dtype == pl.Boolean
    return False  # COUNTRY: text only


def _pad_odd(digits: pl.Expr) -> pl.Expr:
    """Restore the leading zero an integer HS code lost (odd length -> one '0' in front)."""
    return pl.when(digits.str.len_bytes() % 2 == 1).then(pl.lit("0") + digits).otherwise(digits)


def nfkc(text: pl.Expr) -> pl.Expr:
    """NFKC form of text that is not ASCII (full-width digits -> ASCII); ASCII as is.

    Guarded: normalising every value costs far more than testing for non-ASCII bytes."""
    return pl.when(text.str.len_bytes() != text.str.len_chars()).then(text.str.normalize("NFKC")).otherwise(text)


def _typed(kind: Kind, c: pl.Expr, dtype: pl.DataType, date_format: str) -> pl.Expr:
    """The typed value of cleaned raw column ``c`` (null where it breaks the rule's parse)."""
    text = _is_text(dtype) or dtype == pl.Null
    if kind is Kind.STRING:
        return c.cast(pl.String)
    if text and kind is not Kind.STRING:
        c = nfkc(c.cast(pl.String))
    if kind is Kind.DATE:
        if text:
            return c.str.to_date(date_format, strict=False)
        return c.dt.date() if isinstance(dtype, pl.Datetime) else c.cast(pl.Date)
    if kind in (Kind.POSITIVE, Kind.NON_NEGATIVE, Kind.NUMBER):
        return c.cast(pl.Float64, strict=False)
    if kind in (Kind.HS, Kind.HS_PREFIX):
        if text:
            # Two literal replaces are faster than one regex over millions of rows.
            return c.str.replace_all(".", "", literal=True).str.replace_all(" ", "", literal=True)
        whole = c if dtype.is_integer() else pl.when(c == c.round(0)).then(c)
        return _pad_odd(whole.cast(pl.Int64, strict=False).abs().cast(pl.String))
    if kind is Kind.COUNTRY:
        return c.str.to_uppercase()
    if kind is Kind.LABEL:
        num = c.cast(pl.Float64, strict=False) if text or dtype != pl.Boolean else c.cast(pl.Float64)
        return pl.when(num.is_in([0.0, 1.0])).then(num.cast(pl.Int8))
    raise AssertionError(kind)


def _number_code(name: str) -> str:
    return f"bad_{_SHORT.get(name, name)}"


def _rules(table: Table, name: str, kind: Kind, dtype: pl.DataType, scored: bool,
           date_format: str) -> list[Check]:
    """The rules of one present column, each guarded so a missing value only says 'missing'.

    ``scored``: the column's rules score the line (data-quality codes) instead of
    rejecting it; their messages then say how the value is read."""
    c, t = pl.col(raw(name)), pl.col(name)
    # Blank text (after the clean stage's strip) counts as missing, like an empty field.
    missing = (c.is_null() | (c.cast(pl.String).str.len_bytes() == 0)) if _is_text(dtype) else c.is_null()
    given = ~missing
    checks: list[Check] = []
    unknown = "; read as unknown" if scored else ""
    if table.column(name).required:
        how = ("; read as its own unknown party" if kind is Kind.STRING else unknown) if scored else ""
        checks.append(Check(f"missing_{name}", name, "required value is missing" + how, missing.fill_null(True), scored=scored))

    def rule(code: str, message: str, bad: pl.Expr) -> None:
        checks.append(Check(code, name, message, (given & bad).fill_null(False), raw(name), scored=scored))

    if kind is Kind.DATE:
        iso = date_format == "%Y-%m-%d"
        what = "not a YYYY-MM-DD date" if iso else f"not a date of the form {date_format}"
        rule("bad_date", f"{what} from {YEARS[0]} to {YEARS[1]}", t.is_null() | ~t.dt.year().is_between(*YEARS))
    elif kind in (Kind.POSITIVE, Kind.NON_NEGATIVE, Kind.NUMBER):
        rule(_number_code(name), "not a number" + unknown, t.is_null() | ~t.is_finite())
        if kind is Kind.POSITIVE:
            rule(f"non_positive_{_SHORT.get(name, name)}", "must be greater than 0" + unknown, t <= 0)
        elif kind is Kind.NON_NEGATIVE:
            rule(f"negative_{name}", "must not be negative" + unknown, t < 0)
        if name in BOUNDS:
            lo, hi, unit = BOUNDS[name]
            rule(f"absurd_{_SHORT.get(name, name)}", f"outside {lo:g} .. {hi:g} {unit}" + unknown,
                 t.is_finite() & (t > 0) & ~t.is_between(lo, hi))
    elif kind is Kind.HS:
        digits = t.str.contains(_DIGITS)
        used = "; its leading digits are used" if scored else ""
        # Null here means a number that is not a whole code (6109.5): bad as well.
        rule("bad_hs_code", "not an HS code of digits" + (used + " when there are two or more" if scored else ""),
             (~digits | (t.str.len_bytes() < 2)).fill_null(True))
        rule("short_hs_code", "has fewer than 6 digits" + ("; used at the level it has" if scored else ""),
             digits & t.str.len_bytes().is_between(2, 5))
        rule("long_hs_code", "has more than 10 digits" + ("; its first 10 are used" if scored else ""),
             digits & (t.str.len_bytes() > 10))
    elif kind is Kind.HS_PREFIX:
        rule("bad_hs_prefix", "not an HS prefix of 0-10 digits", (~t.str.contains(_HS_PREFIX_DIGITS)).fill_null(True))
    elif kind is Kind.COUNTRY:
        rule(f"bad_{name}", "not an ISO 3166-1 alpha-2 country code" + unknown, ~t.is_in(sorted(ALPHA2)))
    elif kind is Kind.LABEL:
        rule("bad_label", "must be 0 or 1" + unknown, t.is_null())
    elif kind is Kind.STRING and name == table.key:
        rule(f"bad_{name}", "contains control characters", t.str.contains(_CONTROL))
    return checks


def _fix(table: Table, name: str, kind: Kind, flags: list[str]) -> pl.Expr:
    """The typed column where one of its scored rules fired: what the line is scored with."""
    t = pl.col(name)
    if kind is Kind.HS:
        value = t.str.extract(r"^([0-9]{2,10})", 1)  # the digits it has, up to 10
    elif kind is Kind.STRING and table.key:
        role = name.removesuffix("_id")
        value = pl.lit(UNKNOWN_PARTY.format(role=role)) + pl.col(table.key)
    else:
        value = pl.lit(None, dtype=table.column(name).dtype)
    return pl.when(pl.any_horizontal([pl.col(f) for f in flags])).then(value).otherwise(t).alias(name)


def plan(table: Table, raw_schema: Mapping[str, pl.DataType], *, strict: bool = False,
         date_format: str | None = None) -> Plan:
    """Plan the typing and checking of ``table`` given the raw dtype of each present column.

    ``raw_schema`` maps contract column names to the dtype of ``raw(name)`` in the frame;
    absent optional columns become typed nulls, absent required ones and impossible
    types are listed in ``Plan.problems`` (all of them, so the user fixes them at once).
    ``strict`` rejects on every rule (see the module doc); ``date_format`` (strftime,
    default ISO ``%Y-%m-%d``) is how text dates are written.
    """
    date_format = date_format or "%Y-%m-%d"
    lenient = scores_defects(table, strict)
    clean, typed, checks, problems, missing, fixes = [], [], [], [], [], []
    for col in table.columns:
        dtype = raw_schema.get(col.name)
        if dtype is None:
            if col.required:
                missing.append(col.name)
            typed.append(pl.lit("" if col.kind is Kind.HS_PREFIX else None, dtype=col.dtype).alias(col.name))
            continue
        if not _accepts(col.kind, dtype):
            problems.append(f"column {col.name!r} has type {dtype}, which cannot be {_EXPECTED[col.kind]}")
            continue
        c = pl.col(raw(col.name))
        # Strip surrounding blanks (and read blank as missing) where a rule parses the
        # value or it is required; optional free text is kept as given (stripping every
        # text column costs about as much as reading it).
        if _is_text(dtype) and (col.required or col.kind is not Kind.STRING) and col.kind not in (Kind.HS, Kind.HS_PREFIX):
            clean.append(c.cast(pl.String).str.strip_chars().alias(raw(col.name)))
        value = _typed(col.kind, c, dtype, date_format)
        if col.kind is Kind.HS_PREFIX:
            value = pl.when(c.is_null()).then(pl.lit("")).otherwise(value)  # empty = every line
        typed.append(value.cast(col.dtype).alias(col.name))
        # A line is rejected only when it cannot be keyed or placed in time.
        scored = lenient and col.name != table.key and col.kind is not Kind.DATE
        rules = _rules(table, col.name, col.kind, dtype, scored, date_format)
        checks.extend(rules)
        if scored and rules:
            fixes.append(_fix(table, col.name, col.kind, [r.flag for r in rules]))
    if missing:
        problems.insert(0, f"missing required column(s) {', '.join(missing)}")
    return Plan(tuple(clean), tuple(typed), tuple(checks), tuple(problems), tuple(fixes))


def encoding_check(column: str, shown_as: str | None = None, *, scored: bool = False) -> Check:
    """Flag a text column holding U+FFFD: bytes that were not UTF-8 (after lossy decoding).

    ``scored``: the value is kept with its replacement characters and the line scored."""
    return Check(
        "bad_encoding",
        shown_as or column,
        "contains bytes that are not valid UTF-8" + ("; kept with replacement characters" if scored else ""),
        pl.col(column).str.contains(REPLACEMENT_CHAR, literal=True).fill_null(False),
        column,
        scored=scored,
    )


def encoding_scored(table: Table, column: str, strict: bool = False) -> bool:
    """Whether undecodable bytes in contract ``column`` score the line (else reject it):
    they reject it in the key and the dates, which place the line."""
    if not scores_defects(table, strict) or column == table.key:
        return False
    return column not in table.names or table.column(column).kind is not Kind.DATE


def duplicate_check(key: str) -> Check:
    """Flag every row whose typed ``key`` already appeared on an earlier row (first kept)."""
    k = pl.col(key)
    return Check(f"duplicate_{key}", key, "duplicate of an earlier row", (k.is_not_null() & ~k.is_first_distinct()).fill_null(False), key)


def rejecting(checks: Mapping[str, Check]) -> dict[str, Check]:
    """The checks that reject a row (by flag column)."""
    return {f: c for f, c in checks.items() if not c.scored}


def scoring(checks: Mapping[str, Check]) -> dict[str, Check]:
    """The checks that score a row with a data-quality code (by flag column)."""
    return {f: c for f, c in checks.items() if c.scored}


def ok_expr(flags: list[str]) -> pl.Expr:
    """True on rows where no flag is set (a flag absent from a file's rows is null = not set)."""
    if not flags:
        return pl.lit(True)
    return ~pl.any_horizontal([pl.col(f).fill_null(False) for f in flags])


def reason_lists(checks: Mapping[str, Check]) -> tuple[pl.Expr, pl.Expr]:
    """(codes, texts): aligned list columns, one entry per broken rule of the row.

    ``checks`` maps flag column names to their check. Evaluate on rejected rows only
    (it is the costly part, so the reader applies it after filtering).
    """
    codes, texts = [], []
    for flag, chk in checks.items():
        on = pl.col(flag).fill_null(False)
        codes.append(pl.when(on).then(pl.lit(chk.code)))
        if chk.value is None:
            text = pl.lit(f"{chk.column}: {chk.message}")
        else:
            text = pl.format(f"{chk.column}: {chk.message}: '{{}}'", pl.col(chk.value).cast(pl.String).fill_null(""))
        texts.append(pl.when(on).then(text))
    if not codes:
        return pl.lit([], dtype=pl.List(pl.String)), pl.lit([], dtype=pl.List(pl.String))
    return pl.concat_list(codes).list.drop_nulls(), pl.concat_list(texts).list.drop_nulls()


def join_reasons(codes: pl.Expr, texts: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``reason_codes`` (distinct codes joined by ',') and ``reasons`` (texts joined by '; ')."""
    return (
        codes.list.unique(maintain_order=True).list.join(",").alias("reason_codes"),
        texts.list.join("; ").alias("reasons"),
    )


def reject_reasons(checks: Mapping[str, Check]) -> tuple[pl.Expr, pl.Expr]:
    """``reason_codes`` and ``reasons`` columns for rows flagged by ``checks`` (what rejects a row)."""
    return join_reasons(*reason_lists(checks))


def dq_expr(checks: Mapping[str, Check]) -> pl.Expr:
    """A struct column ``{dq_codes, dq_notes}``: the scored rules a row broke (null on
    clean rows), for ``checks`` mapping flag columns to scored checks.

    Worked out on the flagged rows of each batch only: the list expressions of
    :func:`reason_lists` are costly over every row, and most rows are clean.
    Elementwise, so the streaming engine keeps it in its pipeline."""
    dtype = pl.Struct({DQ_CODES: pl.String, DQ_NOTES: pl.String})
    if not checks:
        return pl.lit(None, dtype=dtype)
    flags = list(checks)
    inputs = list(dict.fromkeys([*flags, *(c.value for c in checks.values() if c.value is not None)]))
    codes, texts = join_reasons(*reason_lists(checks))

    def render(batch: pl.Series) -> pl.Series:
        frame = batch.struct.unnest()
        hit = frame.select(pl.any_horizontal([pl.col(f).fill_null(False) for f in flags])).to_series().arg_true()
        out = pl.DataFrame({DQ_CODES: pl.repeat(None, len(frame), dtype=pl.String, eager=True),
                            DQ_NOTES: pl.repeat(None, len(frame), dtype=pl.String, eager=True)})
        if len(hit):
            got = frame[hit].select(codes.alias(DQ_CODES), texts.alias(DQ_NOTES))
            out = out.with_columns(out[DQ_CODES].scatter(hit, got[DQ_CODES]), out[DQ_NOTES].scatter(hit, got[DQ_NOTES]))
        return out.to_struct("_dq")

    return pl.struct(inputs).map_batches(render, return_dtype=dtype, is_elementwise=True)


def with_dq(frame, checks: Mapping[str, Check], hit: pl.Series | None = None):
    """``frame`` (a DataFrame or LazyFrame with the flag columns) plus ``dq_codes`` and
    ``dq_notes`` from its scored ``checks``. A DataFrame's flagged rows (``hit``, when the
    caller has the mask) are rendered and scattered back directly."""
    if not isinstance(frame, pl.DataFrame) or not checks:
        return frame.with_columns(dq_expr(checks).alias("_dq")).unnest("_dq")
    if hit is None:
        hit = frame.select(pl.any_horizontal([pl.col(f).fill_null(False) for f in checks])).to_series()
    hit = hit.arg_true()
    codes = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias(DQ_CODES)
    notes = codes.alias(DQ_NOTES)
    if len(hit):
        got = frame[hit].select(*join_reasons(*reason_lists(checks)))
        codes, notes = codes.scatter(hit, got["reason_codes"]), notes.scatter(hit, got["reasons"])
    return frame.with_columns(codes, notes)


def dq_counts(frame: pl.DataFrame, checks: Mapping[str, Check]) -> dict[str, int]:
    """Rows of ``frame`` carrying each data-quality code (a code of several columns counts a row once)."""
    by_code: dict[str, list[str]] = {}
    for flag, chk in checks.items():
        if flag in frame.columns:
            by_code.setdefault(chk.code, []).append(flag)
    if not by_code or frame.height == 0:
        return {}
    counts = frame.select(
        (pl.col(flags[0]) if len(flags) == 1 else pl.any_horizontal([pl.col(f).fill_null(False) for f in flags])).sum().alias(code)
        for code, flags in by_code.items()
    ).row(0, named=True)
    return dict(sorted(((c, int(n)) for c, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0])))


def validate(lf: pl.LazyFrame, table: Table, *, strict: bool = False) -> pl.LazyFrame:
    """Check contract-named columns of ``lf`` in one call (used by the MLflow model).

    Returns the typed contract columns (scored defects fixed as the reader fixes them)
    plus ``_ok`` (bool: not rejected), ``reason_codes`` and ``reasons`` (what rejects the
    row) and, for a table whose defects are scored, ``dq_codes`` and ``dq_notes``, for
    every row; duplicates of ``table.key`` are flagged too. Raises ``ValueError``
    listing every schema problem (``features`` cannot raise the application's errors).
    """
    schema = lf.collect_schema()
    present = {n: schema[n] for n in table.names if n in schema}
    p = plan(table, present, strict=strict)
    if p.problems:
        raise ValueError(f"{table.name}: " + "; ".join(p.problems))
    lf = lf.select(pl.col(n).alias(raw(n)) for n in present)
    extra = [encoding_check(raw(n), n, scored=encoding_scored(table, n, strict)) for n, d in present.items() if d == pl.String]
    if table.key and table.key in present:
        extra.append(duplicate_check(table.key))
    lf = p.apply(lf).with_columns(c.bad.alias(c.flag) for c in extra)
    by_flag = {c.flag: c for c in (*p.checks, *extra)}
    codes, reasons = reject_reasons(rejecting(by_flag))
    lf = lf.with_columns(ok_expr(list(rejecting(by_flag))).alias("_ok"), codes, reasons)
    dq = [DQ_CODES, DQ_NOTES] if table.name in SCORED_TABLES else []  # in strict mode too (all null)
    if dq:
        lf = with_dq(lf, scoring(by_flag))
    return lf.select(*table.names, "_ok", "reason_codes", "reasons", *dq)
