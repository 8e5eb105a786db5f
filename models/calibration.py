"""Turning raw anomaly scores into a 0-100 risk score, a rank and a flag.

- ``risk_score`` is a percentile among the training shipments: 98 means the
  shipment is more anomalous than 98 % of the shipments the model was trained on.
  It is read off a stored grid of training-score quantiles (1001 points by default),
  interpolated, so it is monotone in the anomaly score and needs no training data at
  scoring time.
- **The top keeps its resolution.** Above the top 1 % of the training scores the
  percentile follows a fitted tail: ``100 - risk_score`` is the share of training lines
  expected to score as high, ``(100 - r0) * (1 + y / (2 * scale)) ** -2`` for a score ``y``
  above the tail's start (a generalized Pareto tail of shape 1/2 whose scale is fitted by
  the training scores' mean excess over the start). It is continuous with the percentile
  below, strictly increasing and below 100, so lines beyond every training line (a drifted
  file) keep distinct scores in the order of their ranks, where a plain percentile reads
  100.0 for all of them. The tail is heavier than an exponential one on purpose: it never
  overstates how rare a line far beyond the training scores is, and it keeps distinct
  floating-point values however far out a line is (an exponential tail rounds to 100.0
  a few dozen scales out). :func:`one_in` turns a score into its rarity: "1 in N
  training lines score this high".
- The **threshold** comes from ``contamination`` at training time (the anomaly score
  above which that share of training rows lies) and is stored with the model.
- The **flag rule** is an inspection budget by default (:data:`DEFAULT_BUDGET`, or the
  budget a model was trained with): exactly ``ceil(budget * n)`` (at least one) or, with
  **top**, ``min(top, n)`` rows are flagged, the highest-ranked. The model's threshold is
  the explicit alternative. Ranks order by anomaly score, highest first, ties broken by
  ``shipment_id`` then input order, so the same file always gives the same flags.

Anomaly scores here are "higher = more anomalous" (``-score_samples``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from models.errors import ModelInputError as InputError
from models.metrics import inspected

GRID_POINTS = 1001
#: The flag rule when neither the run nor the model says otherwise: inspect 1 % of the lines.
DEFAULT_BUDGET = 0.01
#: Share of the training scores the exponential tail is fitted on (the top 1 %) ...
TAIL_SHARE = 0.01
#: ... and at least this many of them (a small training set fits its tail on a larger share).
TAIL_MIN_ROWS = 20
#: Shape of the generalized Pareto tail (module docstring): 1/2, a polynomial decay.
TAIL_SHAPE = 0.5


@dataclass
class Calibration:
    """Quantile grid of training anomaly scores, with an exponential tail above its top; monotone."""

    grid_: np.ndarray  # float64 (GRID_POINTS,) non-decreasing quantiles of training anomaly scores
    # Where the tail starts (an anomaly score) and its scale (fitted by the training scores'
    # mean excess over the start). None: no tail (too few distinct top scores, or saved before tails).
    tail_start_: float | None = None
    tail_scale_: float | None = None

    @classmethod
    def fit(cls, anomaly: np.ndarray, points: int = GRID_POINTS) -> Calibration:
        a = np.asarray(anomaly, dtype=np.float64)
        if a.size == 0 or not np.isfinite(a).all():
            raise ValueError("calibration needs at least one finite training anomaly score")
        share = min(0.5, max(TAIL_SHARE, TAIL_MIN_ROWS / a.size))
        start = float(np.quantile(a, 1.0 - share))
        excess = a[a > start] - start
        # For a generalized Pareto tail the mean excess is scale / (1 - shape).
        scale = float(excess.mean()) * (1.0 - TAIL_SHAPE) if excess.size >= 2 else 0.0
        tail = (start, scale) if scale > 0.0 and np.isfinite(scale) else (None, None)
        return cls(grid_=np.quantile(a, np.linspace(0.0, 1.0, points)), tail_start_=tail[0], tail_scale_=tail[1])

    def _percentile(self, a: np.ndarray) -> np.ndarray:
        """The interpolated percentile of the grid (0 below every training score, 100 above)."""
        grid = self.grid_
        pct = np.linspace(0.0, 100.0, grid.size)
        # Repeated quantiles (ties in training) keep their highest percentile, so
        # the interpolation points strictly increase and the map stays monotone.
        values, first = np.unique(grid[::-1], return_index=True)
        last = grid.size - 1 - first
        if values.size == 1:
            return np.where(a >= values[0], 100.0, 0.0)
        risk = np.interp(a, values, pct[last])
        return np.clip(np.where(a < values[0], 0.0, risk), 0.0, 100.0)  # below every training row

    def risk_score(self, anomaly: np.ndarray) -> np.ndarray:
        """0-100 percentile of each anomaly score among the training scores, the top 1 % on the
        fitted tail (distinct and below 100 however far beyond the training scores a line is)."""
        a = np.asarray(anomaly, dtype=np.float64)
        risk = self._percentile(a)
        if self.tail_start_ is None or self.tail_scale_ is None:
            return risk
        start = float(self.tail_start_)
        above = a > start
        if above.any():
            at_start = float(self._percentile(np.array([start]))[0])
            # equal to the percentile at the start, then strictly increasing towards 100
            y = (a[above] - start) / float(self.tail_scale_)
            rest = (100.0 - at_start) * (1.0 + TAIL_SHAPE * y) ** (-1.0 / TAIL_SHAPE)
            risk[above] = 100.0 - rest
        return risk


def one_in(risk_score: np.ndarray | float) -> np.ndarray | float:
    """Rarity of a score: N in "1 in N training lines score this high" (``100 / (100 - risk_score)``;
    infinite at 100). Beside the percentile it tells the first flag of a drifted file from the
    five-thousandth, which both read 100.0 at one decimal."""
    r = np.asarray(risk_score, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.where(r >= 100.0, np.inf, 100.0 / np.maximum(100.0 - r, 0.0))
    return float(out) if out.ndim == 0 else out


def parse_share(text: str | float, *, what: str = "--budget") -> float:
    """A share of the lines from how a user writes it: ``"1%"`` -> 0.01, ``"0.02"`` -> 0.02.

    A bare number of 1 or more (``"1"``, ``"5"``) is refused rather than read as 100 % or
    500 %: it is most likely a percent without its sign, or a count of lines (``--top``).
    """
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise InputError(f"{what} {text!r} is not a share of the lines", hint="write it as 1% or 0.01") from None
    if not raw.endswith("%") and value >= 1:
        raise InputError(
            f"{what} {text!r} has no % sign: a share must be below 1 (0.01) or written with % (1%)",
            hint=f"write {what} {raw}% for {raw} percent of the lines, or --top {raw} to flag {raw} line(s)",
        )
    if not (0.0 < value <= 1.0) or not np.isfinite(value):
        raise InputError(f"{what} {text!r} must be above 0 and at most 100%", hint="e.g. 1% or 0.01")
    return value


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
