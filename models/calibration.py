"""Turning raw anomaly scores into a 0-100 risk score, a rank and a flag.

- ``risk_score`` is a percentile among the training shipments: 98 means the
  shipment is more anomalous than 98 % of the shipments the model was trained on.
  It is read off a stored grid of training-score quantiles (1001 points by default),
  interpolated, so it is monotone in the anomaly score and needs no training data at
  scoring time.
- The **threshold** comes from ``contamination`` at training time (the anomaly score
  above which that share of training rows lies) and is stored with the model.
- At scoring, a **budget** (share of the file) or **top** (count) replaces the
  threshold: exactly ``ceil(budget * n)`` (at least one) or ``min(top, n)`` rows are
  flagged, the highest-ranked. Ranks order by anomaly score, highest first, ties
  broken by ``shipment_id`` then input order, so the same file always gives the
  same flags.

Anomaly scores here are "higher = more anomalous" (``-score_samples``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from models.errors import ModelInputError as InputError
from models.metrics import inspected

GRID_POINTS = 1001


@dataclass
class Calibration:
    """Quantile grid of training anomaly scores; percentiles from it are monotone."""

    grid_: np.ndarray  # float64 (GRID_POINTS,) non-decreasing quantiles of training anomaly scores

    @classmethod
    def fit(cls, anomaly: np.ndarray, points: int = GRID_POINTS) -> Calibration:
        a = np.asarray(anomaly, dtype=np.float64)
        if a.size == 0 or not np.isfinite(a).all():
            raise ValueError("calibration needs at least one finite training anomaly score")
        return cls(grid_=np.quantile(a, np.linspace(0.0, 1.0, points)))

    def risk_score(self, anomaly: np.ndarray) -> np.ndarray:
        """0-100 percentile of each anomaly score among the training scores."""
        grid = self.grid_
        pct = np.linspace(0.0, 100.0, grid.size)
        # Repeated quantiles (ties in training) keep their highest percentile, so
        # the interpolation points strictly increase and the map stays monotone.
        values, first = np.unique(grid[::-1], return_index=True)
        last = grid.size - 1 - first
        if values.size == 1:
            return np.where(np.asarray(anomaly, dtype=np.float64) >= values[0], 100.0, 0.0)
        a = np.asarray(anomaly, dtype=np.float64)
        risk = np.interp(a, values, pct[last])
        return np.clip(np.where(a < values[0], 0.0, risk), 0.0, 100.0)  # below every training row


def rank_order(anomaly: np.ndarray, ids: np.ndarray | pl.Series | None = None) -> np.ndarray:
    """Row indices from most to least anomalous; ties by id (ascending), then input order.

    ``ids`` may be a Polars Series: millions of ids then never become Python strings.
    """
    a = np.asarray(anomaly, dtype=np.float64)
    if ids is not None and not isinstance(ids, pl.Series):
        ids = pl.Series(np.asarray(ids), dtype=pl.String)
    keys = {"a": a} if ids is None else {"a": a, "id": ids.cast(pl.String)}
    # Polars sorts strings natively (numpy would need np.unique over Python objects: 10x slower)
    order = pl.DataFrame(keys).select(
        pl.arg_sort_by(list(keys), descending=[True] + [False] * (len(keys) - 1), maintain_order=True)
    )
    return order.to_series().to_numpy().astype(np.int64, copy=False)


def flag_count(n: int, *, budget: float | None = None, top: int | None = None) -> int | None:
    """How many rows a budget or top-N flags; ``None`` when neither is given (use the threshold)."""
    if budget is not None and top is not None:
        raise InputError("give either a budget or a top count, not both", hint="drop --budget or --top")
    if budget is not None:
        if not 0.0 < budget <= 1.0:
            raise InputError(f"budget must be a share in (0, 1], got {budget}", hint="--budget 0.01 flags the top 1 %")
        return inspected(n, budget)
    if top is not None:
        if top < 0:
            raise InputError(f"top must be >= 0, got {top}", hint="--top 100 flags the 100 highest-ranked rows")
        return min(int(top), n)
    return None


def rank_and_flag(
    anomaly: np.ndarray,
    threshold: float,
    ids: np.ndarray | pl.Series | None = None,
    *,
    budget: float | None = None,
    top: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(risk_rank, flagged)`` per row in input order; rank 1 is the most anomalous."""
    a = np.asarray(anomaly, dtype=np.float64)
    order = rank_order(a, ids)
    rank = np.empty(a.size, dtype=np.int64)
    rank[order] = np.arange(1, a.size + 1)
    k = flag_count(a.size, budget=budget, top=top)
    flagged = a > threshold if k is None else rank <= k
    return rank, flagged
