"""The forest's knobs as plain data, importable without numpy, numba or scikit-learn.

A run's request (``detector.jobs.requests.TrainRequest``) holds them, and the command line
builds that request before anything heavy is imported; :func:`models.detector.fit` reads them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ForestParams:
    """The isolation forest's knobs, named as sklearn's ``IsolationForest`` names them.

    ``seed`` is the forest's only source of randomness (a training run seeds its ranker and
    baseline with it too); ``scale`` standardises the features first
    (:class:`models.preprocess.Preprocessor`).
    """

    n_estimators: int = 200
    max_samples: int | str = 256
    contamination: float = 0.01
    seed: int = 0
    scale: bool = False
