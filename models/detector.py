"""The detector: fit an IsolationForest on shipment features, score files with reasons.

:func:`fit` returns a :class:`Detector` holding everything scoring needs as plain data
(the sklearn forest, fitted preprocessing, the calibration grid, the threshold, the
feature list and contract version, the reference state). :meth:`Detector.score` turns
a feature frame into the scored output of ``docs/architecture.md``: one row per
input row, sorted by ``risk_rank``.

Scoring runs in chunks of rows so a large file needs memory for one chunk's matrix,
and uses :class:`models.fast_forest.FlatForest` (exact, compiled) instead of
sklearn's own ``score_samples``. Reasons are computed only for flagged rows, since
attributions cost about two forest walks per row.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from features.schema import CONTRACT_VERSION
from models.calibration import Calibration, rank_and_flag
from models.fast_forest import FlatForest
from models.preprocess import Preprocessor, raw_matrix
from models.reasons import REASON_CODES, REASONS, pick_reasons, render_reasons

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

    from features.state import ReferenceState

#: Rows per scoring chunk: 1M rows x 15 features is 60 MB of float32.
CHUNK_ROWS = 1_000_000
#: Training rows (evenly spaced, no randomness) whose mean attribution is the baseline.
BASELINE_ROWS = 4096
ID = "shipment_id"
FEATURE_PREFIX, EVIDENCE_PREFIX = "f_", "ev_"
SCORE_COLUMNS = ("risk_score", "risk_rank", "flagged", REASON_CODES, REASONS, "model_name", "model_version")


def _directions_from_registry(feature_names: Sequence[str]) -> dict[str, str]:
    try:
        from features.registry import REGISTRY
    except ImportError:
        return {}
    return {f.name: f.direction for f in REGISTRY if f.name in set(feature_names)}


def _span(features: pl.DataFrame) -> tuple[str, str] | None:
    if "arrival_date" not in features.columns or features.height == 0:
        return None
    dates = features.get_column("arrival_date")
    lo, hi = dates.min(), dates.max()
    return (str(lo), str(hi)) if lo is not None else None


@dataclass
class Detector:
    """A fitted transshipment detector; plain data apart from the sklearn forest."""

    forest: IsolationForest
    preprocess: Preprocessor
    calibration: Calibration
    threshold: float  # anomaly score above which a row is flagged without budget/top
    feature_names: list[str]
    contract_version: str = CONTRACT_VERSION
    state: ReferenceState | None = None
    params: dict[str, Any] = field(default_factory=dict)
    trained_span: tuple[str, str] | None = None  # first and last arrival_date trained on
    # Mean attribution per feature over training rows: a reason must beat what an
    # ordinary shipment's path gives the feature (DIFFI compares with inliers likewise).
    attribution_baseline: np.ndarray | None = None
    flat: FlatForest | None = field(default=None, repr=False)  # derived from forest

    def __post_init__(self) -> None:
        if self.flat is None:
            self.flat = FlatForest.from_sklearn(self.forest)

    # -- scores ---------------------------------------------------------------------
    def anomaly(self, X: np.ndarray) -> np.ndarray:
        """Anomaly score of preprocessed rows: higher is more anomalous (``-score_samples``)."""
        return -self.flat.score_samples(X)

    def priority(self, anomaly: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The score rows are ranked and flagged by.

        Today the forest's anomaly score. This is the one seam for a supervised ranker
        (issue 7): a ranker trained on review decisions would be blended here (e.g. its
        probability combined with the forest score), and calibration fitted on the
        blended training scores, leaving ranking, flagging and reasons unchanged.
        """
        del X  # used by a future ranker
        return anomaly

    def excess_credit(self, X: np.ndarray) -> np.ndarray:
        """Attribution of preprocessed rows above the training baseline (what reasons rank by)."""
        credit = self.flat.attributions(X)
        return credit if self.attribution_baseline is None else credit - self.attribution_baseline

    def score_matrix(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(priority, preprocessed X)`` for a raw feature matrix (NaN = unknown)."""
        X = self.preprocess.transform_raw(raw)
        return self.priority(self.anomaly(X), X), X

    # -- the scored output --------------------------------------------------------------
    def score(
        self,
        frame: pl.DataFrame,
        *,
        budget: float | None = None,
        top: int | None = None,
        model_name: str = "",
        model_version: str = "",
        chunk_rows: int = CHUNK_ROWS,
    ) -> pl.DataFrame:
        """Score a feature frame (input columns + feature columns + ``ev_*`` evidence).

        Returns the input columns, ``risk_score`` (0-100 percentile among training
        rows), ``risk_rank`` (1 = most suspicious in this frame), ``flagged`` (above the
        threshold, or within ``budget``/``top`` when given), ``reason_codes`` and
        ``reasons`` (flagged rows only; null otherwise), ``model_name``,
        ``model_version``, each feature as ``f_<name>`` and the evidence columns,
        sorted by ``risk_rank``.
        """
        n = frame.height
        raw_matrix(frame.head(0), self.feature_names)  # fail on missing columns before any work
        priority = np.empty(n, dtype=np.float64)
        for start in range(0, n, chunk_rows):
            raw = raw_matrix(frame.slice(start, chunk_rows), self.feature_names)
            priority[start : start + raw.shape[0]] = self.score_matrix(raw)[0]
        ids = frame.get_column(ID).cast(pl.String).fill_null("").to_numpy() if ID in frame.columns else None
        rank, flagged = rank_and_flag(priority, self.threshold, ids, budget=budget, top=top)

        explained = np.flatnonzero(flagged)
        codes = np.full(n, None, dtype=object)
        texts = np.full(n, None, dtype=object)
        if explained.size:
            rows = frame[explained]
            raw = raw_matrix(rows, self.feature_names)
            X = self.preprocess.transform_raw(raw)
            picks = pick_reasons(self.excess_credit(X), self.preprocess.suspicious_side(raw))
            rendered = render_reasons(rows, picks, self.feature_names)
            codes[explained] = rendered.get_column(REASON_CODES).to_numpy()
            texts[explained] = rendered.get_column(REASONS).to_numpy()

        features = set(self.feature_names)
        evidence = [c for c in frame.columns if c.startswith(EVIDENCE_PREFIX)]
        inputs = [c for c in frame.columns if c not in features and c not in evidence and c not in SCORE_COLUMNS]
        scored = pl.DataFrame(
            {
                "risk_score": self.calibration.risk_score(priority),
                "risk_rank": rank,
                "flagged": flagged,
                REASON_CODES: pl.Series(codes.tolist(), dtype=pl.String),
                REASONS: pl.Series(texts.tolist(), dtype=pl.String),
            }
        ).with_columns(model_name=pl.lit(model_name, pl.String), model_version=pl.lit(model_version, pl.String))
        lead = [c for c in inputs if c == ID]
        out = pl.concat(
            [
                frame.select(lead),
                scored,
                frame.select(c for c in inputs if c != ID),
                frame.select(pl.col(name).alias(FEATURE_PREFIX + name) for name in self.feature_names),
                frame.select(evidence),
            ],
            how="horizontal",
        )
        return out.sort("risk_rank")


def fit(
    features: pl.DataFrame,
    feature_names: Sequence[str],
    *,
    directions: Mapping[str, str] | None = None,
    n_estimators: int = 200,
    max_samples: int | str = 256,
    contamination: float = 0.01,
    seed: int = 0,
    scale: bool = False,
    state: ReferenceState | None = None,
) -> Detector:
    """Fit a :class:`Detector` on training features (one row per training shipment).

    ``directions`` maps feature name to ``"higher"``/``"lower"``/``"both"`` (which side is
    suspicious; see :mod:`models.preprocess`); when omitted it is read from
    ``features.registry``. ``seed`` is the forest's only source of randomness.
    """
    from sklearn.ensemble import IsolationForest

    from models.errors import ModelError

    names = list(feature_names)
    if not names:
        raise ModelError("no features to train on", hint="pass the feature names the model should use")
    if features.height < 2:
        raise ModelError(f"cannot train on {features.height} row(s)", hint="train on a larger file")
    dirs = dict(directions) if directions is not None else _directions_from_registry(names)
    pre = Preprocessor(names, dirs, scale=scale).fit(features)
    X = pre.transform(features)
    forest = IsolationForest(
        n_estimators=n_estimators,
        max_samples=min(max_samples, features.height) if isinstance(max_samples, int) else max_samples,
        contamination=contamination,
        random_state=seed,
    ).fit(X)
    flat = FlatForest.from_sklearn(forest)
    # Training rows' ranking score. With a supervised ranker (see Detector.priority) the
    # blended score would be calibrated here instead.
    train = -flat.score_samples(X)
    sample = X[np.linspace(0, X.shape[0] - 1, min(X.shape[0], BASELINE_ROWS)).astype(np.int64)]
    return Detector(
        forest=forest,
        preprocess=pre,
        calibration=Calibration.fit(train),
        # Equals sklearn's -offset_: decision_function < 0 flags that share of training rows.
        threshold=float(np.quantile(train, 1.0 - contamination)),
        feature_names=names,
        state=state,
        params={
            "n_estimators": n_estimators,
            "max_samples": max_samples,
            "contamination": contamination,
            "seed": seed,
            "scale": scale,
            "directions": {n: pre.direction(n) for n in names},
        },
        trained_span=_span(features),
        attribution_baseline=flat.attributions(sample).mean(axis=0),
        flat=flat,
    )
