"""Reading a known-party list (``--parties``): the contract's reading layer plus the list's own rules.

The file is read as the ``PARTIES`` table by :func:`detector.io.read.load` (CSV or Parquet,
several files, strictly: a row with any defect is rejected with its file, line and reason).
On top of the table's column rules a list needs, per file, a ``party_id`` or a ``party_name``
column (else an error naming the file), and per row a role among importer, exporter and
manufacturer and an id or a name that is not only a legal form: other rows are rejected
(``bad_role``, ``no_party``) with their line, like any other reject.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.io.read import Loaded, load
from features.families.parties import ROLES, normalise_name
from features.schema import PARTIES


def load_parties(paths: Sequence[str | Path]) -> Loaded:
    """Read party list files; ``valid`` holds the usable listings (role in lower case)."""
    loaded = load(list(paths), PARTIES, strict=True)
    if "party_id" not in loaded.found and "party_name" not in loaded.found:
        raise InputError(
            f"{', '.join(str(f) for f in loaded.files)}: a party list needs a party_id or a party_name column",
            hint="columns: party_id and/or party_name, role, list_name, source, date_listed (see docs/revenue.md)",
        )
    valid = loaded.valid.with_columns(pl.col("role").str.strip_chars().str.to_lowercase())
    bad_role = ~pl.col("role").is_in(list(ROLES))
    no_party = pl.col("party_id").is_null() & normalise_name(pl.col("party_name")).is_null()
    checked = valid.with_columns(bad_role.alias("_bad_role"), no_party.alias("_no_party"))
    bad = checked.filter(pl.col("_bad_role") | pl.col("_no_party"))
    if bad.height == 0:
        return dataclasses.replace(loaded, valid=valid)
    roles = ", ".join(ROLES)
    codes = pl.concat_list(pl.when("_bad_role").then(pl.lit("bad_role")), pl.when("_no_party").then(pl.lit("no_party"))).list.drop_nulls()
    texts = pl.concat_list(
        pl.when("_bad_role").then(pl.format("role {} is not one of {}", pl.col("role").fill_null(""), pl.lit(roles))),
        pl.when("_no_party").then(pl.lit("neither a party_id nor a party_name (a legal form alone names nobody)")),
    ).list.drop_nulls()
    rows = bad.select(
        *(pl.col(c).cast(pl.String) for c in PARTIES.names), "_source", "_line",
        codes.list.join(",").alias("reason_codes"), texts.list.join("; ").alias("reasons"),
    )
    rejects = pl.concat([loaded.rejects, rows], how="diagonal_relaxed").sort("_source", "_line")
    counts = dict(loaded.reject_counts)
    examples = {k: list(v) for k, v in loaded.reject_examples.items()}
    for r in rows.iter_rows(named=True):
        for code, text in zip(r["reason_codes"].split(","), r["reasons"].split("; "), strict=True):
            counts[code] = counts.get(code, 0) + 1
            if len(examples.setdefault(code, [])) < 3:
                examples[code].append({"file": r["_source"], "line": r["_line"], "reason": text})
    good = checked.filter(~(pl.col("_bad_role") | pl.col("_no_party"))).drop("_bad_role", "_no_party")
    return dataclasses.replace(loaded, valid=good, rejects=rejects, reject_counts=counts, reject_examples=examples)


def party_frame(loaded: Loaded | None) -> pl.DataFrame | None:
    """The listings a build uses: the contract columns of the valid rows (None without a list)."""
    return None if loaded is None else loaded.valid.select(PARTIES.names)
