"""Ranking metrics for an inspection budget, in plain numpy (no sklearn import needed).

Customs inspects a small share of lines, so the question is always "of the top k %
we would inspect, how many are real cases (precision) and how many of all real cases
do we catch (recall)". Ties in the score are broken by input order after a stable
sort, so the figures are deterministic.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Shares of the file an analyst team might inspect.
BUDGETS: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05)


def _arrays(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of the same length, got {s.shape} and {y.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return s, y


def inspected(n: int, budget: float) -> int:
    """How many lines a budget share of ``n`` means: at least one, rounded up."""
    return min(n, max(1, math.ceil(budget * n))) if n else 0


def precision_recall_at(scores, labels, budget: float) -> tuple[float, float]:
    """Precision and recall when the top ``budget`` share by score is inspected."""
    s, y = _arrays(scores, labels)
    k = inspected(len(s), budget)
    if k == 0:
        return float("nan"), float("nan")
    top = np.argsort(-s, kind="stable")[:k]
    hits = float(y[top].sum())
    positives = float(y.sum())
    return hits / k, (hits / positives if positives else float("nan"))


def revenue_recall_at(scores, labels, values, budget: float) -> float:
    """Share of the confirmed lines' ``values`` (their duty at risk) that the top ``budget``
    share by score holds: what an inspection budget recovers of what there is to recover.
    NaN when the confirmed lines hold nothing (no positive, or nothing at risk); an unknown
    value (NaN) counts as 0."""
    s, y = _arrays(scores, labels)
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    if v.shape != s.shape:
        raise ValueError(f"values must be as long as the scores, got {v.shape} and {s.shape}")
    at_stake = float((v * (y == 1)).sum())
    k = inspected(len(s), budget)
    if k == 0 or at_stake <= 0:
        return float("nan")
    top = np.argsort(-s, kind="stable")[:k]
    return float((v[top] * (y[top] == 1)).sum()) / at_stake


def precision_recall_of_flags(flags, labels) -> tuple[float, float]:
    """Precision and recall of a boolean flag column."""
    f = np.asarray(flags, dtype=bool)
    y = np.asarray(labels, dtype=np.float64)
    n_flagged, positives = int(f.sum()), float(y.sum())
    hits = float(y[f].sum())
    return (hits / n_flagged if n_flagged else float("nan")), (hits / positives if positives else float("nan"))


def average_precision(scores, labels) -> float:
    """Mean of the precision at the rank of each positive (area under the PR curve, step-wise)."""
    s, y = _arrays(scores, labels)
    positives = y.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    ranks = np.arange(1, len(s) + 1)
    return float(((hits / ranks) * y[order]).sum() / positives)


def roc_auc(scores, labels) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    s, y = _arrays(scores, labels)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="stable")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(s)]))
    avg = (starts + ends + 1) / 2.0  # 1-based mean rank of each tie block
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def budget_table(scores, labels, budgets: Sequence[float] = BUDGETS) -> dict[str, float]:
    """Flat metric dict (MLflow-friendly names): precision/recall at each budget + AP + ROC-AUC."""
    out: dict[str, float] = {}
    for b in budgets:
        p, r = precision_recall_at(scores, labels, b)
        tag = f"{b * 100:g}pct".replace(".", "_")
        out[f"precision_at_{tag}"] = p
        out[f"recall_at_{tag}"] = r
    out["average_precision"] = average_precision(scores, labels)
    out["roc_auc"] = roc_auc(scores, labels)
    return out
