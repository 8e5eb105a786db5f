"""From a feature frame to the forest's matrix: explicit imputation and one-sided clipping.

Two decisions live here, both fitted on the training shipments and stored as plain
arrays (trailing-underscore attributes):

- **Unknown is neutral.** A null (or NaN) feature becomes the feature's training
  median of known values, never 0: a shipment whose exporter has no history must
  not look suspicious merely because a ratio could not be computed.
- **Only the suspicious side may be unusual.** Transshipment shows in one direction
  (little value added, prices near China's, a new exporter). For a feature whose
  ``direction`` is ``"higher"`` (large values are suspicious) every value below the
  training median is raised to the median, and the reverse for ``"lower"``; the
  forest then spends no splits on honest rarities on the harmless side (bulk lots,
  samples). ``"both"`` keeps both sides.

``±inf`` is clipped to the training range of finite values: it says "extreme", and
stays extreme, without breaking the forest's uniform thresholds.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import polars as pl

from models.errors import ModelError

#: Values of ``Feature.direction`` (see ``features.registry``).
HIGHER, LOWER, BOTH = "higher", "lower", "both"
DIRECTIONS = (HIGHER, LOWER, BOTH)


def raw_matrix(frame: pl.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
    """The feature columns as float64 with NaN for unknown; raises ModelError naming absent columns."""
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise ModelError(
            f"the input lacks feature column(s) the model needs: {', '.join(missing)}",
            hint="build the features with the same waypoint version the model was trained with",
        )
    if not feature_names:
        return np.zeros((frame.height, 0))
    cols = frame.select(pl.col(name).cast(pl.Float64, strict=False).fill_null(float("nan")) for name in feature_names)
    return np.asarray(cols.to_numpy(order="c"), dtype=np.float64).reshape(frame.height, len(feature_names))


@dataclass
class Preprocessor:
    """Fitted imputation, one-sided clipping and optional robust scaling for a feature list.

    >>> pre = Preprocessor(["price_ratio"], {"price_ratio": "lower"}).fit(train)  # doctest: +SKIP
    >>> X = pre.transform(frame)  # float32 (n, 1), no NaN  # doctest: +SKIP
    """

    feature_names: list[str]
    directions: dict[str, str] = field(default_factory=dict)  # absent = "both"
    scale: bool = False  # robust-scale by the interquartile range (the forest itself is scale-free)
    median_: np.ndarray | None = None
    low_: np.ndarray | None = None  # smallest finite training value
    high_: np.ndarray | None = None  # largest finite training value
    iqr_: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.feature_names = list(self.feature_names)
        self.directions = {str(k): str(v) for k, v in dict(self.directions).items()}
        bad = {k: v for k, v in self.directions.items() if v not in DIRECTIONS}
        if bad:
            raise ValueError(f"unknown feature direction(s) {bad}; expected one of {DIRECTIONS}")

    def direction(self, name: str) -> str:
        return self.directions.get(name, BOTH)

    def fit(self, frame: pl.DataFrame) -> Preprocessor:
        """Learn each feature's median, finite range and spread from training rows."""
        raw = raw_matrix(frame, self.feature_names)
        finite = np.where(np.isfinite(raw), raw, np.nan)
        empty = [n for n, ok in zip(self.feature_names, np.isfinite(raw).any(axis=0), strict=True) if not ok]
        if empty:
            raise ModelError(
                f"feature(s) with no known value in the {frame.height} training rows: {', '.join(empty)}",
                hint="train on more data, or drop the feature from the model",
            )
        self.median_ = np.nanmedian(finite, axis=0)
        self.low_ = np.nanmin(finite, axis=0)
        self.high_ = np.nanmax(finite, axis=0)
        q1, q3 = np.nanpercentile(finite, [25, 75], axis=0)
        iqr = q3 - q1
        self.iqr_ = np.where(iqr > 0, iqr, 1.0)  # a constant quartile range must not divide by 0
        return self

    def _check_fitted(self) -> None:
        if self.median_ is None:
            raise ModelError("the preprocessor is not fitted", hint="call fit() on training features first")

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """The forest's input: float32, shape (rows, features), no NaN or inf."""
        return self.transform_raw(raw_matrix(frame, self.feature_names))

    def transform_raw(self, raw: np.ndarray) -> np.ndarray:
        """:meth:`transform` on a matrix from :func:`raw_matrix` (avoids converting twice).

        Unknown (NaN) -> the training median; ±inf -> the training max/min (a new finite
        extreme at scoring time stays as it is); then the harmless side is clipped at the
        median; then optional robust scaling. One compiled pass over the rows: the numpy
        version of the same steps allocates a temporary matrix per step.
        """
        self._check_fitted()
        clip = np.array([{HIGHER: 1, LOWER: -1}.get(self.direction(n), 0) for n in self.feature_names], dtype=np.int8)
        raw = np.ascontiguousarray(raw, dtype=np.float64)
        return _transform(raw, np.asarray(self.median_, dtype=np.float64), np.asarray(self.low_, dtype=np.float64),
                          np.asarray(self.high_, dtype=np.float64), np.asarray(self.iqr_, dtype=np.float64),
                          clip, bool(self.scale))

    def suspicious_side(self, raw: np.ndarray) -> np.ndarray:
        """Bool (rows, features): the known value lies strictly on the suspicious side of the median.

        Only such a value can argue for suspicion in a reason; unknown values never do.
        """
        self._check_fitted()
        with np.errstate(invalid="ignore"):
            above = raw > self.median_
            below = raw < self.median_
        out = np.zeros(raw.shape, dtype=bool)
        for j, name in enumerate(self.feature_names):
            d = self.direction(name)
            out[:, j] = above[:, j] if d == HIGHER else below[:, j] if d == LOWER else above[:, j] | below[:, j]
        return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _transform(raw, median, low, high, iqr, clip, scale):
    n, m = raw.shape
    out = np.empty((n, m), dtype=np.float32)
    for i in numba.prange(n):
        for j in range(m):
            x = raw[i, j]
            if np.isnan(x):
                x = median[j]
            elif x == np.inf:
                x = high[j]
            elif x == -np.inf:
                x = low[j]
            if clip[j] == 1 and x < median[j]:
                x = median[j]
            elif clip[j] == -1 and x > median[j]:
                x = median[j]
            if scale:
                x = (x - median[j]) / iqr[j]
            out[i, j] = np.float32(x)
    return out
