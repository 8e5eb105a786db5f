"""A known-party list for a generated world: some of its shell exporters, listed mid-career.

Enforcement names a shell after it has shipped for a while (an evasion determination, a
seizure), so each listed shell is dated at the arrival of its middle line: the lines before
are the point-in-time case (not matched), the lines after carry ``KNOWN_PARTY``. Every other
shell is listed (sorted by id, so the same world gives the same list); the rest stay unknown,
as real lists are incomplete.
"""
from __future__ import annotations

import polars as pl

from features.schema import PARTIES

#: The scenario whose exporters are shells (``detector.synth.scenarios``).
SHELL_SCENARIO = "transship_shell"


def shell_parties(shipments: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """The party list (contract table ``PARTIES``) naming every other shell exporter of a world."""
    shells = (
        shipments.select("shipment_id", "exporter_id", "arrival_date")
        .join(labels.filter(pl.col("scenario") == SHELL_SCENARIO).select("shipment_id"), on="shipment_id")
        .sort("exporter_id", "arrival_date", "shipment_id")
        .group_by("exporter_id", maintain_order=True)
        .agg(pl.col("arrival_date").get(pl.len() // 2).alias("date_listed"))
        .gather_every(2)
    )
    return shells.with_row_index("_n", offset=1).select(
        pl.col("exporter_id").alias("party_id"),
        pl.lit(None, dtype=pl.String).alias("party_name"),
        pl.lit("exporter").alias("role"),
        pl.format("Synthetic evasion determination {}", pl.col("_n")).alias("list_name"),
        pl.lit("generated world: a shell exporter of the transshipment scenario").alias("source"),
        pl.col("date_listed"),
    ).cast(dict(PARTIES.schema))
