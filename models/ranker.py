"""Learning from outcomes: a supervised ranker beside the isolation forest (issue 7).

When training shipments carry known outcomes (``label`` 1 = confirmed transshipment,
0 = cleared), a :class:`sklearn.ensemble.HistGradientBoostingClassifier` is trained on

- the same features as the forest, *raw* (unknown stays NaN: HGB learns where missing
  values go, so no imputation is needed),
- the forest's anomaly score (what the forest finds unusual is evidence too),
- a mapping's ``[extra]`` pass-through columns (``x_*``): numeric ones as they are,
  categorical ones as native HGB categories through a category map learned on the
  training rows (categories unseen in training become missing). No target encoding,
  so no label can leak into a feature.

**Fallback.** With fewer than :data:`MIN_POSITIVES` positives or :data:`MIN_NEGATIVES`
negatives the ranker is not trained: the detector is the forest alone and
:func:`fit_ranker` says why (the training job shows it as a warning and an MLflow tag).

**Combination rule.** Each component is turned into a 0-100 percentile of its own
training distribution (``forest_score``, ``ranker_score``); the ranking score is
``FOREST_WEIGHT * forest_score + (1 - FOREST_WEIGHT) * ranker_score`` with
``FOREST_WEIGHT = 0.3``, and ``risk_score`` is the percentile of that blend among the
training rows. Measured on a generated world (20,000 shipments, train 18 months, score
6): rank-average (w=0.5), max of the percentiles and w=0.7 all ranked below w=0.3 in
average precision, both on the labelled scenarios and on a transshipment scheme kept
out of the labels, and every blend stayed above the forest alone on that unseen scheme.
The forest keeps 30 % of the weight so that a shipment it finds very unusual still
rises when the ranker has never seen its scheme.

**Explore share.** :func:`explore_flags` reserves a share of the flags for the
shipments the forest finds most unusual among those the ranker does not place in its
own top flags: a ranker trained on past catches keeps finding the same scheme, the
explored flags are how new schemes get labelled.

**Reasons.** For a flag the ranker drives (its weighted percentile exceeds the
forest's), :meth:`Ranker.contributions` measures each feature's part in the ranker's
log-odds by occlusion: the drop in log-odds when that one feature is set to its
training median (unknown for a category). It is exact for the model (no surrogate),
costs one extra prediction per feature on the flagged rows only, and the reasons
module keeps only features on their suspicious side, as for the forest.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from models.calibration import Calibration
from models.preprocess import raw_matrix

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

#: Fewer known positives or negatives than this: no ranker, the forest alone.
MIN_POSITIVES = 50
MIN_NEGATIVES = 50
#: Weight of the forest's percentile in the blend; the ranker's is 1 - this.
FOREST_WEIGHT = 0.3
#: Default share of the flags reserved for exploration by `waypoint score`.
DEFAULT_EXPLORE = 0.1
#: Name of the forest's anomaly score among the ranker's inputs.
FOREST_INPUT = "forest_anomaly"
#: Prefix of a mapping's pass-through columns (``detector.io.mapping.extra_name``).
EXTRA_PREFIX = "x_"
#: Categories kept per categorical column (HGB's limit is max_bins = 255); the rarest go to missing.
MAX_CATEGORIES = 250


@dataclass
class Ranker:
    """A fitted gradient-boosted ranker with what it needs to build its input matrix."""

    model: HistGradientBoostingClassifier
    feature_names: list[str]  # the detector's features, in the detector's order
    extra_numeric: list[str] = field(default_factory=list)
    extra_categorical: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)  # column -> categories (code = index)
    reference: np.ndarray | None = None  # per input column: training median (NaN for categories)
    calibration: Calibration | None = None  # percentile of the ranker's probability among training rows
    forest_calibration: Calibration | None = None  # percentile of the forest anomaly among training rows
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        """Columns of the ranker's matrix, in order."""
        return [*self.feature_names, *self.extra_numeric, *self.extra_categorical, FOREST_INPUT]

    def matrix(self, frame: pl.DataFrame, anomaly: np.ndarray) -> np.ndarray:
        """The ranker's input for ``frame``: raw features (NaN = unknown), extras, forest anomaly."""
        parts = [raw_matrix(frame, self.feature_names)]
        if self.extra_numeric:
            parts.append(raw_matrix(frame, self.extra_numeric))
        for name in self.extra_categorical:
            parts.append(encode_categories(frame, name, self.categories[name])[:, None])
        parts.append(np.asarray(anomaly, dtype=np.float64)[:, None])
        return np.hstack(parts)

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self.model.decision_function(X), dtype=np.float64).reshape(-1)

    def proba(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self.model.predict_proba(X)[:, 1], dtype=np.float64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, inputs) drop in log-odds when one input is set to its training reference.

        Positive = the row's value of that input raised the ranker's score. One batched
        prediction of ``rows x inputs`` rows; meant for flagged rows only.
        """
        n, m = X.shape
        if n == 0:
            return np.zeros((0, m))
        base = self.log_odds(X)
        occluded = np.repeat(X[None, :, :], m, axis=0)  # (inputs, rows, inputs)
        for j in range(m):
            occluded[j, :, j] = self.reference[j]
        moved = self.log_odds(occluded.reshape(m * n, m)).reshape(m, n)
        return (base[None, :] - moved).T


def encode_categories(frame: pl.DataFrame, name: str, categories: Sequence[str]) -> np.ndarray:
    """Codes of a categorical column (index in ``categories``); unknown or null -> NaN."""
    if name not in frame.columns:
        from models.errors import ModelError

        raise ModelError(
            f"the input lacks the pass-through column {name!r} the ranker was trained with",
            hint="score with the same mapping (its [extra] section) the model was trained with",
        )
    lookup = pl.DataFrame({"_cat": list(categories), "_code": np.arange(len(categories), dtype=np.float64)},
                          schema={"_cat": pl.String, "_code": pl.Float64})
    codes = (
        frame.select(pl.col(name).cast(pl.String).alias("_cat"))
        .join(lookup, on="_cat", how="left", maintain_order="left")
        .get_column("_code")
    )
    return codes.fill_null(float("nan")).to_numpy().astype(np.float64)


def extra_columns(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) pass-through ``x_*`` columns of a frame, by dtype."""
    numeric, categorical = [], []
    for name, dtype in frame.schema.items():
        if not name.startswith(EXTRA_PREFIX):
            continue
        if dtype.is_numeric():
            numeric.append(name)
        elif dtype in (pl.String, pl.Categorical, pl.Enum, pl.Boolean):
            categorical.append(name)
    return numeric, categorical


def label_counts(labels: np.ndarray | None) -> tuple[int, int]:
    """(positives, negatives) among known labels (NaN = unknown)."""
    if labels is None:
        return 0, 0
    y = np.asarray(labels, dtype=np.float64)
    return int((y == 1).sum()), int((y == 0).sum())


def fallback_reason(labels: np.ndarray | None) -> str | None:
    """Why no ranker can be trained on these labels, or None when one can."""
    if labels is None:
        return "no labels given: the forest alone ranks (train with --labels to add the supervised ranker)"
    pos, neg = label_counts(labels)
    if pos < MIN_POSITIVES or neg < MIN_NEGATIVES:
        return (
            f"too few labels for the supervised ranker ({pos} positive, {neg} negative; needs at least "
            f"{MIN_POSITIVES} of each): the forest alone ranks"
        )
    return None


def fit_ranker(
    frame: pl.DataFrame,
    feature_names: Sequence[str],
    anomaly: np.ndarray,
    labels: np.ndarray,
    forest_calibration: Calibration,
    *,
    extra_numeric: Sequence[str] = (),
    extra_categorical: Sequence[str] = (),
    seed: int = 0,
    max_iter: int = 200,
    learning_rate: float = 0.05,
) -> Ranker:
    """Fit the ranker on the labelled rows of ``frame`` (``labels`` NaN = unknown, left out).

    ``anomaly`` is the forest's anomaly score of every row of ``frame``. Call
    :func:`fallback_reason` first: this raises ``ModelError`` with too few labels.
    Deterministic: no early stopping (no random validation split), fixed ``random_state``.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    from models.errors import ModelError

    reason = fallback_reason(labels)
    if reason is not None:
        raise ModelError(reason)
    y = np.asarray(labels, dtype=np.float64)
    known = np.isfinite(y)
    categories = {}
    for name in extra_categorical:
        counts = (
            frame.filter(pl.Series(known)).select(pl.col(name).cast(pl.String).drop_nulls().value_counts(sort=True))
            .unnest(name)
        )
        categories[name] = sorted(counts.get_column(name).head(MAX_CATEGORIES).to_list())
    ranker = Ranker(
        model=None,  # set below
        feature_names=list(feature_names),
        extra_numeric=list(extra_numeric),
        extra_categorical=list(extra_categorical),
        categories=categories,
        params={"max_iter": max_iter, "learning_rate": learning_rate, "seed": seed, "forest_weight": FOREST_WEIGHT},
    )
    X = ranker.matrix(frame, anomaly)
    n_num = len(feature_names) + len(extra_numeric)
    is_cat = np.zeros(X.shape[1], dtype=bool)
    is_cat[n_num : n_num + len(extra_categorical)] = True
    # Class weights were measured and hurt here (average precision 0.83 vs 0.92 with
    # the unseen scheme out of the labels): HGB's leaf values already follow the rare
    # positives, and reweighting mostly made the probabilities coarser.
    model = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=learning_rate,
        l2_regularization=1.0,
        min_samples_leaf=20,
        early_stopping=False,
        categorical_features=is_cat if is_cat.any() else None,
        random_state=seed,
    )
    model.fit(X[known], y[known].astype(np.int64))
    ranker.model = model
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(np.isfinite(X[known]), X[known], np.nan), axis=0)
    ranker.reference = np.where(is_cat, np.nan, median)
    ranker.calibration = Calibration.fit(ranker.proba(X))
    ranker.forest_calibration = forest_calibration
    ranker.params.update({"positives": int((y == 1).sum()), "negatives": int((y == 0).sum()),
                          "extra_numeric": list(extra_numeric), "extra_categorical": list(extra_categorical)})
    return ranker


def blend(forest_score: np.ndarray, ranker_score: np.ndarray) -> np.ndarray:
    """The combination rule (module docstring): weighted mean of the two percentiles."""
    return FOREST_WEIGHT * np.asarray(forest_score) + (1.0 - FOREST_WEIGHT) * np.asarray(ranker_score)


def ranker_driven(forest_score: np.ndarray, ranker_score: np.ndarray) -> np.ndarray:
    """Rows whose blended score owes more to the ranker than to the forest."""
    return (1.0 - FOREST_WEIGHT) * np.asarray(ranker_score) > FOREST_WEIGHT * np.asarray(forest_score)


def explore_flags(
    flagged: np.ndarray,
    rank: np.ndarray,
    forest: np.ndarray,
    ranker: np.ndarray,
    share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(flagged, explore)``: hand ``share`` of the flags to the forest's own picks.

    Of ``k`` flags, ``round(share * k)`` are taken from the lowest-ranked exploit flags
    and given to the rows with the highest forest score among those neither flagged
    nor in the ranker's own top ``k``. Ties go by ``rank``. ``share`` 0 changes nothing.
    """
    from models.errors import ModelInputError

    if not 0.0 <= share < 1.0:
        raise ModelInputError(f"explore share must be in [0, 1), got {share}", hint="e.g. --explore 0.1")
    flagged = np.asarray(flagged, dtype=bool).copy()
    explore = np.zeros(flagged.size, dtype=bool)
    k = int(flagged.sum())
    n_explore = int(round(share * k))
    if n_explore == 0:
        return flagged, explore
    ranker_top = np.zeros(flagged.size, dtype=bool)
    ranker_top[np.lexsort((rank, -np.asarray(ranker)))[:k]] = True
    pool = np.flatnonzero(~flagged & ~ranker_top)
    if pool.size == 0:
        return flagged, explore
    picks = pool[np.lexsort((rank[pool], -np.asarray(forest)[pool]))[:n_explore]]
    dropped = np.flatnonzero(flagged)
    dropped = dropped[np.argsort(-rank[dropped])[: picks.size]]  # the weakest exploit flags
    flagged[dropped] = False
    flagged[picks] = True
    explore[picks] = True
    return flagged, explore
