"""Application glue for ``waypoint features``: read files, build features, measure signals.

:func:`build_files` reads and validates shipments (and optional component imports and
tariff events; the default events table ships in ``detector/data``), builds the feature
frame and writes it. :func:`signal_report` measures each registry feature against known
labels: univariate ROC-AUC oriented by the feature's ``direction`` (0.5 = no signal,
1.0 = perfect) and coverage (share of rows where the feature is known).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.io.read import Loaded, load, load_labels, write_rejects
from detector.io.write import write_table
from features.pipeline import build
from features.registry import REGISTRY
from features.schema import EVENTS, INPUTS, SHIPMENTS

DEFAULT_EVENTS = Path(__file__).parent / "data" / "tariff_events.csv"


@dataclass(frozen=True)
class Built:
    """A built feature frame and what was read to make it."""

    features: pl.DataFrame
    shipments: Loaded
    inputs: Loaded | None
    events_file: Path


def build_files(
    shipments: Sequence[str | Path],
    *,
    inputs: Sequence[str | Path] | None = None,
    events: str | Path | None = None,
    mapping: str | Path | None = None,
) -> Built:
    """Read, validate and build features for shipment files (one streaming collect)."""
    mapped = Mapping.from_toml(mapping) if mapping else None
    ships = load(list(shipments), SHIPMENTS, mapping=mapped)
    ins = load(list(inputs), INPUTS) if inputs else None
    events_file = Path(events) if events else DEFAULT_EVENTS
    ev = load([events_file], EVENTS)
    if ev.rejects.height:
        first = ev.rejects.row(0, named=True)
        raise InputError(
            f"{events_file}: {ev.rejects.height} bad tariff event row(s), first at line {first['_line']}: {first['reasons']}",
            hint="fix the events file: every row is needed to find the tariffed origin",
        )
    built = build(ships.valid.lazy(), inputs=None if ins is None else ins.valid.lazy(), events=ev.valid.select(EVENTS.names))
    return Built(built, ships, ins, events_file)


def write_features(built: Built, out: str | Path) -> tuple[Path, Path | None]:
    """Write the feature frame (atomic) and the shipments' rejects beside it."""
    return write_table(built.features, out), write_rejects(built.shipments, out)


def roc_auc(score: np.ndarray, label: np.ndarray) -> float | None:
    """ROC-AUC by the rank (Mann-Whitney) formula, ties averaged; None without both classes."""
    score = np.asarray(score, dtype=float)
    label = np.asarray(label).astype(bool)
    pos, neg = int(label.sum()), int((~label).sum())
    if pos == 0 or neg == 0:
        return None
    ranks = pl.Series(score).rank("average").to_numpy()
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def signal_report(features: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """One row per registry feature: family, direction, auc, coverage, rows; sorted by auc.

    ``labels`` has ``shipment_id`` and ``label`` (1 = transshipment). AUC is computed on
    the labelled rows where the feature is known, with the suspicious side oriented up
    (a "lower" feature is negated), so 0.5 is chance whatever the direction.
    """
    # A `label` column of the shipments (optional contract column) gives way to the label file.
    joined = features.drop("label", strict=False).join(labels.select("shipment_id", pl.col("label").cast(pl.Int8)), on="shipment_id", how="inner")
    if not joined.height:
        raise InputError("labels: no label matches a shipment_id of the shipments", hint="pass the labels file written with these shipments")
    rows = []
    for f in REGISTRY:
        known = joined.filter(pl.col(f.name).is_not_null() & pl.col(f.name).is_not_nan())
        sign = 1.0 if f.direction == "higher" else -1.0
        auc = roc_auc(sign * known[f.name].to_numpy(), known["label"].to_numpy()) if known.height else None
        rows.append({
            "feature": f.name, "family": f.family, "direction": f.direction, "auc": auc,
            "coverage": known.height / joined.height, "rows": known.height,
        })
    return pl.DataFrame(rows, schema={"feature": pl.String, "family": pl.String, "direction": pl.String,
                                      "auc": pl.Float64, "coverage": pl.Float64, "rows": pl.Int64}).sort(
        "auc", descending=True, nulls_last=True
    )


def report_files(
    shipments: Sequence[str | Path],
    labels: str | Path,
    *,
    inputs: Sequence[str | Path] | None = None,
    events: str | Path | None = None,
    mapping: str | Path | None = None,
) -> pl.DataFrame:
    """Build features from files and measure each against a label file."""
    built = build_files(shipments, inputs=inputs, events=events, mapping=mapping)
    lab = load_labels(labels)
    return signal_report(built.features, lab.valid)
