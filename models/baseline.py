"""The plain baseline every claim stands beside: an untuned gradient-boosted classifier.

What a customs analyst with a notebook would fit first: scikit-learn's
``HistGradientBoostingClassifier`` with its default settings, on the raw contract columns
of the line (amounts as they are, every text column as an ordinal code and a count,
fitted on the training rows; unseen values are unknown), the mapped ``[extra]`` columns
likewise. No features, no history, no outcome profiles. ``waypoint train --labels L
--baseline`` and ``bench/baseline_gbm.py`` fit it on the same temporal split as the
detector, so the gap between the two is what waypoint's features and ranker buy.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

#: Contract columns read as numbers, and as codes (ordinal + count), when present.
NUMERIC = ("declared_value_usd", "weight_kg", "quantity", "duty_rate")
CODES = (
    "hs_code", "importer_id", "exporter_id", "origin_country", "export_country", "importing_country",
    "quantity_unit", "manufacturer_id", "port_of_lading", "port_of_unlading", "carrier_id",
)
EXTRA_PREFIX = "x_"


@dataclass
class Baseline:
    """The fitted baseline: the classifier and its ordinal / count tables."""

    model: HistGradientBoostingClassifier
    numeric: list[str]
    codes: list[str]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)  # code -> value, ordinal, count

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        return _matrix(frame, self.numeric, self.codes, self.tables)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Probability of a positive outcome per row."""
        if frame.height == 0:
            return np.zeros(0)
        return np.asarray(self.model.predict_proba(self.matrix(frame))[:, 1], dtype=np.float64)


def columns_of(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, code) columns of the baseline present in ``frame``, extras included."""
    numeric = [c for c in NUMERIC if c in frame.columns]
    codes = [c for c in CODES if c in frame.columns]
    for name, dtype in frame.schema.items():
        if name.startswith(EXTRA_PREFIX):
            (numeric if dtype.is_numeric() else codes).append(name)
    return numeric, codes


def _matrix(frame: pl.DataFrame, numeric: Sequence[str], codes: Sequence[str], tables: dict[str, pl.DataFrame]) -> np.ndarray:
    parts = [frame.select(pl.col(c).cast(pl.Float64) for c in numeric).fill_null(float("nan")).to_numpy()] if numeric else []
    rows = frame.with_row_index("_row")
    for name in codes:
        got = rows.select("_row", pl.col(name).cast(pl.String).alias("value")).join(
            tables[name], on="value", how="left").sort("_row")
        parts.append(got.select(pl.col("ordinal").cast(pl.Float64), pl.col("count").cast(pl.Float64).fill_null(0.0))
                     .fill_null(float("nan")).to_numpy())
    return np.hstack(parts) if parts else np.zeros((frame.height, 0))


def fit_baseline(frame: pl.DataFrame, labels: np.ndarray, *, seed: int = 0) -> Baseline:
    """Fit on the rows of ``frame`` with a known label (``labels`` NaN = unknown).

    Codes are ordinal in sorted order (the HS code's order keeps chapters together) and
    counted over every training row; the classifier keeps scikit-learn's defaults.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = np.asarray(labels, dtype=np.float64)
    known = np.isfinite(y)
    numeric, codes = columns_of(frame)
    tables = {}
    for name in codes:
        counts = frame.select(pl.col(name).cast(pl.String).alias("value")).drop_nulls().group_by("value").agg(
            pl.len().cast(pl.Int64).alias("count")).sort("value")
        tables[name] = counts.with_row_index("ordinal").select("value", pl.col("ordinal").cast(pl.Int64), "count")
    X = _matrix(frame, numeric, codes, tables)
    model = HistGradientBoostingClassifier(random_state=seed).fit(X[known], y[known].astype(np.int64))
    return Baseline(model, numeric, codes, tables)
