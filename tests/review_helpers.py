"""A realistic scored file for the review and report tests (what `waypoint score` writes)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from features.schema import SHIPMENTS

XSS = '<script>alert("x")</script> steel <b>bolts</b>'


def make_scored(n: int = 300, *, seed: int = 7, n_flagged: int = 15) -> pl.DataFrame:
    """``n`` scored shipment lines; the ``n_flagged`` riskiest are flagged.

    Exporter ``EXP-VN-1`` ships HS 850440 from VN to importer ``IMP-1`` at China's price
    after the tariff event; shipment ``S00000`` has a ``<script>`` description.
    """
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 1, 1)
    origins = rng.choice(["CN", "VN", "TH", "MY", "KH"], size=n, p=[0.3, 0.3, 0.15, 0.15, 0.1])
    days = np.sort(rng.integers(0, 540, size=n))
    hs = rng.choice(["850440", "940360", "731815", "610910"], size=n)
    weight = rng.uniform(100, 5000, size=n).round(1)
    uv = np.where(origins == "CN", 2.0, 3.5) * rng.uniform(0.8, 1.2, size=n)
    score = rng.uniform(0, 90, size=n)
    df = pl.DataFrame(
        {
            "shipment_id": [f"S{i:05d}" for i in range(n)],
            "arrival_date": [start + dt.timedelta(days=int(d)) for d in days],
            "importer_id": rng.choice(["IMP-1", "IMP-2", "IMP-3"], size=n).tolist(),
            "exporter_id": [f"EXP-{o}-{rng.integers(1, 4)}" for o in origins],
            "hs_code": hs.tolist(),
            "origin_country": origins.tolist(),
            "export_country": origins.tolist(),
            "declared_value_usd": (weight * uv).round(2),
            "weight_kg": weight,
            "quantity": weight.round(0),
            "quantity_unit": ["KG"] * n,
            "manufacturer_id": [None] * n,
            "port_of_lading": [f"{o}XXX" for o in origins],
            "port_of_unlading": ["USLAX"] * n,
            "carrier_id": ["CARR-1"] * n,
            "goods_description": ["parts"] * n,
            "duty_rate": [0.05] * n,
            "label": [None] * n,
            "risk_score": score,
        },
        schema_overrides={"label": pl.Int8, "manufacturer_id": pl.String},
    )
    # The transshipment story: VN exporter, HS 850440, China's price, after the event, high scores.
    story = (pl.int_range(pl.len()) % 17 == 3) & (pl.col("arrival_date") > dt.date(2024, 7, 1))
    df = df.with_columns(
        pl.when(story).then(pl.lit("EXP-VN-1")).otherwise(pl.col("exporter_id")).alias("exporter_id"),
        pl.when(story).then(pl.lit("IMP-1")).otherwise(pl.col("importer_id")).alias("importer_id"),
        pl.when(story).then(pl.lit("850440")).otherwise(pl.col("hs_code")).alias("hs_code"),
        pl.when(story).then(pl.lit("VN")).otherwise(pl.col("origin_country")).alias("origin_country"),
        pl.when(story).then(pl.lit("VN")).otherwise(pl.col("export_country")).alias("export_country"),
        pl.when(story).then(pl.col("weight_kg") * 2.0).otherwise(pl.col("declared_value_usd")).alias("declared_value_usd"),
        pl.when(story).then(95 + pl.col("risk_score") / 20).otherwise(pl.col("risk_score")).alias("risk_score"),
    )
    df = df.with_columns(
        pl.when(pl.col("shipment_id") == "S00000").then(pl.lit(XSS)).otherwise(pl.col("goods_description")).alias("goods_description"),
        pl.when(pl.col("shipment_id") == "S00000").then(99.9).otherwise(pl.col("risk_score")).alias("risk_score"),
    )
    df = df.with_columns(pl.col("risk_score").rank("ordinal", descending=True).cast(pl.Int64).alias("risk_rank"))
    df = df.with_columns(
        (pl.col("risk_rank") <= n_flagged).alias("flagged"),
        pl.when(pl.col("exporter_id") == "EXP-VN-1")
        .then(pl.lit("PRICE_AT_TARIFFED_ORIGIN,NEW_EXPORTER"))
        .otherwise(pl.lit("ODD_WEIGHT"))
        .alias("reason_codes"),
        pl.when(pl.col("exporter_id") == "EXP-VN-1")
        .then(pl.format("unit value {} USD/kg is at China's level (2.0), not Vietnam's (3.5) | exporter first seen after the tariff",
                        (pl.col("declared_value_usd") / pl.col("weight_kg")).round(2)))
        .otherwise(pl.lit("weight unusual for this HS code"))
        .alias("reasons"),
        pl.lit("waypoint-iforest").alias("model_name"),
        pl.lit("3").alias("model_version"),
        (pl.col("declared_value_usd") / pl.col("weight_kg")).alias("f_unit_value_ratio"),
        pl.lit(0.2).alias("f_value_added"),
        pl.lit("CN").alias("ev_tariffed_origin"),
        (pl.col("declared_value_usd") / pl.col("weight_kg")).alias("ev_unit_value_kg"),
        pl.lit("Section 301 list 3").alias("ev_event_name"),
        pl.lit(dt.date(2024, 6, 1)).alias("ev_event_date"),
    )
    front = ["shipment_id", "risk_score", "risk_rank", "flagged", "reason_codes", "reasons", "model_name", "model_version"]
    return df.select(front + [c for c in SHIPMENTS.names if c not in front and c in df.columns] + [c for c in df.columns if c.startswith(("f_", "ev_"))])


def make_inputs() -> pl.DataFrame:
    """Component imports of EXP-VN-1 from China (HS 850440), monthly."""
    months = [dt.date(2024, m, 15) for m in range(5, 13)]
    return pl.DataFrame(
        {
            "input_id": [f"I{i}" for i in range(len(months))],
            "arrival_date": months,
            "importer_id": ["EXP-VN-1"] * len(months),
            "supplier_country": ["CN"] * len(months),
            "hs_code": ["850440"] * len(months),
            "declared_value_usd": [9000.0 + 500 * i for i in range(len(months))],
            "weight_kg": [4000.0] * len(months),
        }
    )


def make_events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "effective_date": [dt.date(2024, 6, 1), dt.date(2024, 9, 1)],
            "origin_country": ["CN", "CN"],
            "hs_prefix": ["8504", "94"],
            "added_duty_rate": [0.25, 0.10],
            "name": ["Section 301 list 3", "Furniture tariff"],
        }
    )
