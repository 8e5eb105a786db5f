import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from models import metrics


@pytest.fixture
def ranked():
    rng = np.random.default_rng(3)
    labels = (rng.random(2000) < 0.05).astype(int)
    scores = rng.normal(size=2000) + 1.5 * labels
    return scores, labels


def test_roc_auc_matches_sklearn_including_ties(ranked):
    scores, labels = ranked
    tied = np.round(scores, 1)  # many ties
    assert metrics.roc_auc(tied, labels) == pytest.approx(roc_auc_score(labels, tied), abs=1e-12)


def test_average_precision_matches_sklearn_without_ties(ranked):
    scores, labels = ranked
    assert metrics.average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_precision_at_budget_counts_hits_in_the_top_share():
    scores = np.arange(100, dtype=float)[::-1]  # row 0 is the most suspicious
    labels = np.zeros(100)
    labels[[0, 1, 50]] = 1
    p, r = metrics.precision_recall_at(scores, labels, 0.02)  # inspect 2 lines
    assert (p, r) == (1.0, pytest.approx(2 / 3))
    p, r = metrics.precision_recall_at(scores, labels, 0.005)  # rounds up to one line
    assert (p, r) == (1.0, pytest.approx(1 / 3))


def test_budget_table_names_every_budget_for_tracking(ranked):
    table = metrics.budget_table(*ranked)
    assert {"precision_at_0_5pct", "recall_at_1pct", "precision_at_5pct", "average_precision", "roc_auc"} <= set(table)


def test_metrics_without_positives_are_nan_not_zero():
    assert np.isnan(metrics.average_precision([1.0, 2.0], [0, 0]))
    assert np.isnan(metrics.precision_recall_at([1.0, 2.0], [0, 0], 0.5)[1])
