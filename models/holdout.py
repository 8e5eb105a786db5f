"""Held-out figures: fit on the earlier labelled weeks, measure on the last ones.

``waypoint train --labels`` reports how the model ranks lines it has not seen: the last
:data:`HOLDOUT_SHARE` of the labelled span (by date, from the first Monday at or after
the cut, so no week is split) is held out; a forest and a ranker are fitted on the
training rows before it (labels of those rows only) and the held-out labelled rows are
scored as later files are, their outcome profiles reading only the earlier labels. The
blend's forest weight is picked on them (:func:`models.ranker.pick_forest_weight`, one
choice among five, so the blend's held-out figures include that choice; the ranker's and
the baseline's do not). The registered model is then fitted on everything, with that weight. With ``baseline`` the untuned
gradient-boosted baseline (:mod:`models.baseline`) is fitted on the same rows and
measured on the same held-out rows.

Metrics (MLflow names): ``heldout_precision_at_1pct``, ``heldout_precision_at_5pct``,
``heldout_average_precision``, ``heldout_roc_auc`` of the blended score, the same with
``heldout_forest_``, ``heldout_ranker_`` and ``heldout_baseline_`` for each system, and
``heldout_rows`` / ``heldout_positives`` / ``heldout_cutoff_days`` (days since 1970) /
``heldout_forest_weight``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

#: Share of the labelled span (by date) held out for the figures.
HOLDOUT_SHARE = 0.2
#: Inspection budgets reported.
BUDGETS = (0.01, 0.05)


@dataclass
class HoldoutResult:
    metrics: dict[str, float] = field(default_factory=dict)
    cutoff: dt.date | None = None
    note: str | None = None  # why no held-out figures could be given

    @property
    def forest_weight(self) -> float | None:
        """The blend's forest weight picked on the held-out lines (``models.ranker.pick_forest_weight``)."""
        return self.metrics.get("heldout_forest_weight")


def cutoff_date(dates: pl.Series, labels: np.ndarray, share: float = HOLDOUT_SHARE) -> dt.date | None:
    """The first held-out date: the Monday at or after ``share`` of the labelled span from its end."""
    known = np.isfinite(np.asarray(labels, dtype=np.float64))
    d = dates.filter(pl.Series(known)).drop_nulls()
    if d.len() == 0:
        return None
    lo, hi = d.min(), d.max()
    cut = lo + dt.timedelta(days=int(round((1.0 - share) * (hi - lo).days)))
    cut += dt.timedelta(days=(7 - cut.weekday()) % 7)
    return cut if lo < cut <= hi else None


def system_metrics(prefix: str, scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from models.metrics import average_precision, precision_recall_at, roc_auc

    out = {f"{prefix}precision_at_{b * 100:g}pct": precision_recall_at(scores, y, b)[0] for b in BUDGETS}
    out[f"{prefix}average_precision"] = average_precision(scores, y)
    out[f"{prefix}roc_auc"] = roc_auc(scores, y)
    return out


def evaluate_holdout(
    features: pl.DataFrame,
    labels: np.ndarray,
    fit_detector: Callable[[pl.DataFrame], object],
    *,
    extra_numeric: Sequence[str] = (),
    extra_categorical: Sequence[str] = (),
    baseline: bool = False,
    share: float = HOLDOUT_SHARE,
) -> HoldoutResult:
    """Held-out figures of the detector ``fit_detector(rows)`` builds, plus its ranker.

    ``features`` is the feature frame of every training row (point-in-time), ``labels``
    one outcome per row (NaN = unknown). The ranker and the baseline are seeded with the
    fitted forest's seed: one seed makes the run.
    """
    from models.detector import add_ranker
    from models.ranker import blend, fallback_reason, pick_forest_weight

    y = np.asarray(labels, dtype=np.float64)
    cut = cutoff_date(features.get_column("arrival_date"), y, share)
    if cut is None:
        return HoldoutResult(note="the labelled lines span too few days to hold out their last weeks")
    before = (features.get_column("arrival_date") < cut).to_numpy()
    test = ~before & np.isfinite(y)
    y_fit = np.where(before, y, np.nan)
    reason = fallback_reason(y_fit)
    if reason is not None:
        return HoldoutResult(cutoff=cut, note=f"no held-out figures: before {cut} there are {reason.split('(')[1].split(')')[0]}")
    y_test = y[test]
    if y_test.sum() == 0 or y_test.sum() == y_test.size:
        return HoldoutResult(cutoff=cut, note=f"no held-out figures: the labelled lines from {cut} on are all of one class")
    fit_rows = features.filter(pl.Series(before))
    detector = fit_detector(fit_rows)
    note = add_ranker(detector, fit_rows, y_fit[before], extra_numeric=extra_numeric, extra_categorical=extra_categorical)
    if note is not None:
        return HoldoutResult(cutoff=cut, note=f"no held-out figures: {note}")
    held = features.filter(pl.Series(test))
    parts = detector.components(held)
    metrics = {"heldout_rows": float(test.sum()), "heldout_positives": float(y_test.sum()),
               "heldout_cutoff_days": float((cut - dt.date(1970, 1, 1)).days)}
    weight = pick_forest_weight(parts["forest_score"], parts["ranker_score"], y_test)
    metrics["heldout_forest_weight"] = weight
    metrics |= system_metrics("heldout_", blend(parts["forest_score"], parts["ranker_score"], weight), y_test)
    metrics |= system_metrics("heldout_forest_", parts["anomaly"], y_test)
    metrics |= system_metrics("heldout_ranker_", detector.ranker.proba(detector.ranker.matrix(held, parts["anomaly"])),
                              y_test)
    if baseline:
        from models.baseline import fit_baseline

        model = fit_baseline(fit_rows, y_fit[before], seed=int(detector.params.get("seed", 0)))
        metrics |= system_metrics("heldout_baseline_", model.predict(held), y_test)
    return HoldoutResult(metrics, cut)
