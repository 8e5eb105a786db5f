"""Known parties: lines whose importer, exporter or manufacturer enforcement has already named.

A party list (contract table ``PARTIES``: ``party_id`` and/or ``party_name``, ``role``,
``list_name``, ``source``, ``date_listed``) names firms found in circumvention or evasion
findings, earlier seizures or a team's own watch list. A listed party matches a line when,
for its role's column (``importer_id``, ``exporter_id``, ``manufacturer_id``):

- its ``party_id`` equals the line's id exactly, or
- its ``party_name``, normalised (:func:`normalise_name`: accents, case, punctuation and
  legal forms such as "Co., Ltd", "JSC", "Sdn Bhd", "PT", "LLC", "GmbH" removed), equals the
  line's name for that role normalised the same way: the optional column ``<role>_name``
  (or a mapping's pass-through ``x_<role>_name``) when the file has one, and the line's id
  itself (extracts often carry the firm's name as its id);

and the line arrived on or after ``date_listed``: a party counts from its listing on,
never before (point-in-time, as every feature).

``known_party`` is the number of listings (role x list) a line matches, 0 for none, and null
when no list was given (the feature is then unknown, so a model trained without a list
leaves it out). The evidence names the first match (exporter before manufacturer before
importer, then the earliest listing) and every match in one text.
"""
from __future__ import annotations

import hashlib

import polars as pl

from features.families._context import DAY, Context
from features.families._history import day_of

#: The roles a listed party can have, each with the line's id column.
ROLES = {"exporter": "exporter_id", "manufacturer": "manufacturer_id", "importer": "importer_id"}
#: Internal columns the pipeline passes to this family: each role's id (the pipeline drops
#: some contract columns before the families run) and name columns.
ROW_PREFIX = "_party_"
FEATURE = "known_party"
EVIDENCE = ("ev_known_party_role", "ev_known_party_list", "ev_known_party_since", "ev_known_party_source",
            "ev_known_party_listed_as", "ev_known_parties")

#: Legal forms and company words dropped from names before comparing them, as whole words
#: (after accents, case and punctuation): "Shenzhen X Co., Ltd." and "SHENZHEN X" are one name.
LEGAL_FORMS = (
    "co", "company", "corp", "corporation", "inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "plc",
    "jsc", "ojsc", "cjsc", "pjsc", "joint", "stock", "sdn", "bhd", "berhad", "pt", "tbk", "persero", "cv",
    "gmbh", "ag", "kg", "ug", "mbh", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "ab", "oy", "as", "aps",
    "pte", "pty", "pvt", "private", "public", "pcl", "kk", "kabushiki", "kaisha", "ltda", "limitada", "sl",
    "tnhh", "cong", "ty", "mtv", "cp",
)
#: Letters Unicode decomposition leaves alone, spelt in ASCII.
_SPELLED = {"đ": "d", "ð": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ł": "l", "ı": "i", "þ": "th"}


def normalise_name(name: pl.Expr) -> pl.Expr:
    """A firm's name as compared: no accents, lower case, punctuation as spaces, legal forms
    dropped (whole words), spaces collapsed; null when nothing is left."""
    text = name.cast(pl.String).str.normalize("NFKD").str.replace_all(r"\p{M}", "").str.to_lowercase()
    for letter, ascii_ in _SPELLED.items():
        text = text.str.replace_all(letter, ascii_, literal=True)
    text = text.str.replace_all("&", " and ", literal=True).str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars()
    words = text.str.split(" ").list.eval(pl.element().filter(~pl.element().is_in(LEGAL_FORMS) & (pl.element() != "")))
    joined = words.list.join(" ")
    return pl.when(joined.str.len_chars() > 0).then(joined)


def name_columns(columns: list[str], role: str) -> list[str]:
    """The line's name columns for ``role`` present among ``columns``."""
    return [c for c in (f"{role}_name", f"x_{role}_name") if c in columns]


def row_columns(columns: list[str]) -> list[pl.Expr]:
    """What the pipeline passes to this family beside its narrow rows: each role's id and
    name columns, under internal names."""
    out = []
    for role, id_col in ROLES.items():
        if id_col in columns:
            out.append(pl.col(id_col).cast(pl.String).alias(f"{ROW_PREFIX}{role}_id"))
        for k, name in enumerate(name_columns(columns, role)):
            out.append(pl.col(name).cast(pl.String).alias(f"{ROW_PREFIX}{role}_name{k}"))
    return out


def prepare(parties: pl.DataFrame) -> pl.DataFrame:
    """The usable listings: role in lower case, one of :data:`ROLES`; an id or a name; a date."""
    role = pl.col("role").cast(pl.String).str.strip_chars().str.to_lowercase()
    return parties.with_columns(role.alias("role")).filter(
        pl.col("role").is_in(list(ROLES)) & pl.col("date_listed").is_not_null()
        & (pl.col("party_id").is_not_null() | normalise_name(pl.col("party_name")).is_not_null())
    )


def parties_digest(parties: pl.DataFrame) -> str:
    """SHA-256 over a party list's contract columns (rows sorted: order does not change it)."""
    from features.schema import PARTIES

    frame = parties.select([pl.col(c).cast(t) if c in parties.columns else pl.lit(None, dtype=t).alias(c)
                            for c, t in PARTIES.schema.items()])
    h = hashlib.sha256(f"{frame.schema}".encode())
    if frame.height:
        h.update(frame.sort(frame.columns, nulls_last=True).write_csv().encode())
    return h.hexdigest()


def _keys(parties: pl.DataFrame) -> pl.DataFrame:
    """One row per listing and key it is found by: ``id:<party_id>`` and ``name:<normalised name>``."""
    base = prepare(parties).with_columns(
        pl.coalesce(pl.col("party_name"), pl.col("party_id")).alias("_listed_as"),
        day_of(pl.col("date_listed")).alias("_listed_day"),
    )
    cols = ["role", "list_name", "source", "date_listed", "_listed_day", "_listed_as"]
    by_id = base.filter(pl.col("party_id").is_not_null()).select(
        (pl.lit("id:") + pl.col("party_id")).alias("_key"), *cols)
    by_name = base.select((pl.lit("name:") + normalise_name(pl.col("party_name"))).alias("_key"), *cols)
    return pl.concat([by_id, by_name]).drop_nulls("_key").unique(maintain_order=True)


def _unknown(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.lit(None, dtype=pl.Float64).alias(FEATURE),
                           *(pl.lit(None, dtype=pl.Date if c == "ev_known_party_since" else pl.String).alias(c)
                             for c in EVIDENCE))


def apply(lf: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    """``known_party`` and its evidence (see the module docstring)."""
    parties = ctx.parties
    if parties is None:  # no list: unknown, not "no match"
        return _unknown(lf)
    keys = _keys(parties).lazy()
    names = lf.collect_schema().names()
    rows = lf.with_row_index("_pi")
    candidates = []
    for role in ROLES:
        id_col = f"{ROW_PREFIX}{role}_id"
        texts = [c for c in names if c.startswith(f"{ROW_PREFIX}{role}_name")]
        exprs = []
        if id_col in names:
            exprs += [pl.lit("id:") + pl.col(id_col), pl.lit("name:") + normalise_name(pl.col(id_col))]
        exprs += [pl.lit("name:") + normalise_name(pl.col(c)) for c in texts]
        candidates += [rows.select("_pi", DAY, e.alias("_key"), pl.lit(role).alias("role")) for e in exprs]
    if not candidates:  # no party column at all: nothing can match
        return _unknown(lf).with_columns(pl.lit(0.0).alias(FEATURE))
    priority = pl.col("role").replace_strict(list(ROLES), list(range(len(ROLES))), return_dtype=pl.Int32)
    hits = (
        pl.concat(candidates).drop_nulls("_key")
        .join(keys, on=["_key", "role"], how="inner")
        .filter(pl.col(DAY) >= pl.col("_listed_day"))  # a party counts from its listing on
        .unique(["_pi", "role", "list_name"], keep="first", maintain_order=True)
        .sort(["_pi", priority, "date_listed", "list_name"])
    )
    said = pl.format("{} in {} since {}", pl.col("role"), pl.col("list_name"), pl.col("date_listed").cast(pl.String))
    found = hits.group_by("_pi").agg(
        pl.len().cast(pl.Float64).alias(FEATURE),
        pl.col("role").first().alias("ev_known_party_role"),
        pl.col("list_name").first().alias("ev_known_party_list"),
        pl.col("date_listed").first().alias("ev_known_party_since"),
        pl.col("source").first().alias("ev_known_party_source"),
        pl.col("_listed_as").first().alias("ev_known_party_listed_as"),
        said.str.join("; ").alias("ev_known_parties"),
    )
    out = rows.join(found, on="_pi", how="left", maintain_order="left").drop("_pi")
    return out.with_columns(pl.col(FEATURE).fill_null(0.0))
