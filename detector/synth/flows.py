"""The aggregate trade flows of a generated world, and the truth about its routes.

Derived from the world's frames alone (no random draw: a seed's world is unchanged):

* ``flows``: monthly statistics in the shape of the trade-flows table
  (``features.schema.FLOWS``): the destination's imports by HS6 and declared origin (what
  its customs statistics record, from every line as declared) and each transit country's
  imports by HS6 and supplier (from the component imports, each the country its importer
  ships from).
* ``truth``: per route (HS6, origin ``CN``, transit) the generator used, whether it carried
  transshipment or honest relocation, its lines and value, and the tariff event before
  its first such line (the one the firms answered, as far as dates tell) with whether that
  event covers the product. A route carrying both kinds is marked ``mixed``.
"""
from __future__ import annotations

import polars as pl

from detector.synth.events import IMPORTING_COUNTRY
from detector.synth.parts import TRANSSHIPMENT

#: Scenarios whose routes the truth records.
RELOCATION = "relocation"
TRUTH_COLUMNS = (
    "route", "hs", "origin", "transit", "kind", "lines", "value_usd", "first_date", "last_date",
    "event_name", "event_date", "event_covers_product", "mixed",
)


def world_flows(shipments: pl.DataFrame, inputs: pl.DataFrame) -> pl.DataFrame:
    """Monthly flows (``FLOWS`` columns) of a world's shipments and component imports."""
    month = lambda c: pl.col(c).dt.strftime("%Y-%m")  # noqa: E731
    dest = shipments.group_by(month("arrival_date").alias("period"), pl.col("origin_country").alias("partner"),
                              pl.col("hs_code").str.slice(0, 6).alias("hs_code")).agg(
        pl.col("declared_value_usd").sum().alias("value_usd")).with_columns(
        pl.lit(IMPORTING_COUNTRY).alias("reporter"), pl.lit("import").alias("flow"))
    home = shipments.group_by("exporter_id", "export_country").len().sort(
        ["exporter_id", "len", "export_country"], descending=[False, True, False]).group_by(
        "exporter_id", maintain_order=True).first().select(pl.col("exporter_id").alias("importer_id"),
                                                           pl.col("export_country").alias("reporter"))
    transit = inputs.join(home, on="importer_id").group_by(
        month("arrival_date").alias("period"), "reporter", pl.col("supplier_country").alias("partner"),
        pl.col("hs_code").str.slice(0, 6).alias("hs_code")).agg(pl.col("declared_value_usd").sum().alias("value_usd")).with_columns(
        pl.lit("import").alias("flow"))
    cols = ["period", "reporter", "partner", "flow", "hs_code", "value_usd"]
    out = pl.concat([dest.select(cols), transit.select(cols)])
    return out.with_columns(pl.col("value_usd").round(2)).sort("reporter", "partner", "hs_code", "period")


def route_truth(shipments: pl.DataFrame, labels: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Per route and kind (transshipment / relocation): the lines the generator put on it."""
    kinds = {**{s: "transshipment" for s in TRANSSHIPMENT}, RELOCATION: "relocation"}
    lines = shipments.join(labels.select("shipment_id", "scenario"), on="shipment_id").filter(
        pl.col("scenario").is_in(list(kinds))).with_columns(
        pl.col("scenario").replace_strict(kinds).alias("kind"), pl.col("hs_code").str.slice(0, 6).alias("hs"))
    per = lines.group_by("hs", pl.col("origin_country").alias("transit"), "kind").agg(
        pl.len().alias("lines"), pl.col("declared_value_usd").sum().round(2).alias("value_usd"),
        pl.col("arrival_date").min().alias("first_date"), pl.col("arrival_date").max().alias("last_date"),
    ).with_columns(pl.lit("CN").alias("origin"))
    per = per.with_columns(pl.format("{}-{}-{}", "hs", "origin", "transit").alias("route"))
    per = per.with_columns((pl.col("kind").n_unique().over("route") > 1).alias("mixed"))
    cn = events.filter(pl.col("origin_country") == "CN", pl.col("added_duty_rate") > 0).select(
        pl.col("effective_date").alias("event_date"), pl.col("name").alias("event_name"),
        pl.col("hs_prefix").fill_null("").alias("_prefix")).sort("event_date")
    per = per.sort("first_date").join_asof(cn, left_on="first_date", right_on="event_date", strategy="backward")
    covers = pl.col("_prefix").is_null() | pl.col("hs").str.starts_with(pl.col("_prefix").fill_null(""))
    per = per.with_columns((covers & pl.col("event_date").is_not_null()).alias("event_covers_product"))
    return per.select(TRUTH_COLUMNS).sort("kind", "value_usd", descending=[True, True])
