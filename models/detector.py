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

With known outcomes, :func:`add_ranker` adds a supervised ranker (:mod:`models.ranker`):
rows are then ranked by the blend of the forest's and the ranker's training
percentiles, the output gains ``forest_score``, ``ranker_score`` and ``explore``, and
flags the ranker drives are explained by the ranker's own attribution.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from features.schema import CONTRACT_VERSION
from models.calibration import Calibration, flag_count, rank_and_flag, rank_order
from models.fast_forest import FlatForest
from models.params import ForestParams
from models.preprocess import Preprocessor, raw_matrix
from models.reasons import REASON_CODES, REASONS, evidence_known, pick_reasons, render_reasons, with_stated

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

    from features.state import ReferenceState
    from models.ranker import Ranker, RankerParams

#: Rows per scoring chunk: 1M rows x 15 features is 60 MB of float32.
CHUNK_ROWS = 1_000_000
#: Training rows (evenly spaced, no randomness) whose mean attribution is the baseline.
BASELINE_ROWS = 4096
ID = "shipment_id"
FEATURE_PREFIX, EVIDENCE_PREFIX = "f_", "ev_"
SCORE_COLUMNS = ("risk_score", "risk_rank", "flagged", REASON_CODES, REASONS, "model_name", "model_version")
#: Revenue columns of the scored output: the ranker's probability of fraud and the duty it
#: expects an inspection to recover (null without a ranker: no probability was calibrated).
DUTY_AT_RISK, PROBABILITY, RECOVERY = "duty_at_risk_usd", "fraud_probability", "expected_recovery_usd"
REVENUE_COLUMNS = (PROBABILITY, RECOVERY)
#: What ``rank_by`` can order the lines by: the risk score, or the expected recovery.
RANK_BY = ("risk", "recovery")
#: Extra columns of the scored output when the detector has a supervised ranker.
COMPONENT_COLUMNS = ("forest_score", "ranker_score", "explore")


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

    forest: IsolationForest | None  # None when loaded for scoring: see sklearn_forest()
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
    # Supervised ranker trained on known outcomes (models.ranker); None = the forest alone.
    ranker: Ranker | None = field(default=None, repr=False)
    # Loads the sklearn forest on demand (a saved model scores from ``flat`` alone).
    forest_source: Callable[[], IsolationForest] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.flat is None:
            self.flat = FlatForest.from_sklearn(self.sklearn_forest())

    def sklearn_forest(self) -> IsolationForest:
        """The fitted sklearn forest, loaded from its artifact on first use if needed."""
        if self.forest is None and self.forest_source is not None:
            self.forest = self.forest_source()
        return self.forest

    # -- scores ---------------------------------------------------------------------
    def anomaly(self, X: np.ndarray) -> np.ndarray:
        """Anomaly score of preprocessed rows: higher is more anomalous (``-score_samples``)."""
        return -self.flat.score_samples(X)

    def components(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """Scores of a feature frame: ``anomaly`` (forest), ``priority`` (what ranks and flags).

        With a ranker also ``forest_score`` and ``ranker_score`` (0-100 percentiles of
        each component among the training rows) and ``priority`` is their blend
        (:func:`models.ranker.blend`); without one ``priority`` is the forest's anomaly.
        """
        raw = raw_matrix(frame, self.feature_names)
        anomaly = self.anomaly(self.preprocess.transform_raw(raw))
        out = {"anomaly": anomaly, "priority": anomaly}
        if self.ranker is not None:
            from models.ranker import blend

            r = self.ranker
            out["forest_score"] = r.forest_calibration.risk_score(anomaly)
            out["probability"] = r.proba(r.matrix(frame, anomaly))
            out["ranker_score"] = r.calibration.risk_score(out["probability"])
            if DUTY_AT_RISK in frame.columns:  # unknown duty at risk (unknown value) recovers nothing known
                out["duty_at_risk"] = frame.get_column(DUTY_AT_RISK).cast(pl.Float64).fill_null(0.0).to_numpy()
            out["priority"] = blend(out["forest_score"], out["ranker_score"], r.forest_weight)
        return out

    def excess_credit(self, X: np.ndarray) -> np.ndarray:
        """Attribution of preprocessed rows above the training baseline (what reasons rank by)."""
        credit = self.flat.attributions(X)
        return credit if self.attribution_baseline is None else credit - self.attribution_baseline

    def score_matrix(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(forest anomaly, preprocessed X)`` for a raw feature matrix (NaN = unknown)."""
        X = self.preprocess.transform_raw(raw)
        return self.anomaly(X), X

    @property
    def budget(self) -> float | None:
        """The inspection budget the model flags by default (set at training; None: its threshold)."""
        value = self.params.get("budget")
        return None if value is None else float(value)

    def revenue(self, parts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``fraud_probability`` and ``expected_recovery_usd`` (probability x duty at risk) from
        :meth:`components`; empty without a ranker or without the duty at risk."""
        if "probability" not in parts or "duty_at_risk" not in parts:
            return {}
        return {PROBABILITY: parts["probability"], RECOVERY: parts["probability"] * parts["duty_at_risk"]}

    # -- the scored output, step by step ------------------------------------------------
    @property
    def input_columns(self) -> list[str]:
        """Columns of a feature frame that :meth:`components` reads (features, ranker extras)."""
        extra = [] if self.ranker is None else [*self.ranker.extra_numeric, *self.ranker.extra_categorical]
        if self.ranker is not None and (self.ranker.encoder is not None or self.ranker.outcomes is not None):
            from models.encoding import DQ, IMPORTING, OPTIONAL, REQUIRED

            extra += ["arrival_date", *REQUIRED, *OPTIONAL, IMPORTING, DQ]  # the line itself (absent ones are skipped)
        return list(dict.fromkeys([*self.feature_names, *extra]))

    def score_parts(self, frame: pl.DataFrame, chunk_rows: int = CHUNK_ROWS) -> dict[str, np.ndarray]:
        """:meth:`components` of every row, computed ``chunk_rows`` at a time (one chunk's matrix in memory)."""
        n = frame.height
        raw_matrix(frame.head(0), self.feature_names)  # fail on missing columns before any work
        if n == 0:
            return self.components(frame)
        parts: dict[str, np.ndarray] = {}
        for start in range(0, n, chunk_rows):
            chunk = self.components(frame.slice(start, chunk_rows))
            for key, values in chunk.items():
                parts.setdefault(key, np.empty(n, dtype=np.float64))[start : start + values.size] = values
        return parts

    def rank(
        self,
        parts: Mapping[str, np.ndarray],
        ids: np.ndarray | pl.Series | None,
        *,
        budget: float | None = None,
        top: int | None = None,
        explore: float = 0.0,
        threshold: bool = False,
        rank_by: str = "risk",
    ) -> dict[str, np.ndarray]:
        """Risk score, rank and flags of a whole file from its concatenated :meth:`components`.

        Needs every row at once (ranks and budgets are file-wide) but only the score
        arrays and ``ids`` (``shipment_id`` as strings, ties broken by it). Returns, in
        input order, ``risk_score``, ``risk_rank``, ``flagged`` and, with a ranker,
        ``forest_score``, ``ranker_score`` and ``explore`` (see :meth:`score`).
        The flags are ``top``, else ``budget``, else (``threshold``) the rows above the
        model's threshold, else the model's own inspection budget (:attr:`budget`).

        ``rank_by="recovery"`` ranks by ``expected_recovery_usd`` instead (the ranker's
        probability of fraud x ``duty_at_risk_usd``) within the risk ranking's top lines
        (:func:`recovery_rank`), so a budget selects the lines with the most expected
        recovery; it needs a ranker and a budget or ``top``. With a ranker the result also holds ``fraud_probability`` and
        ``expected_recovery_usd``, whatever ``rank_by``.
        """
        from models.errors import ModelInputError

        if rank_by not in RANK_BY:
            raise ModelInputError(f"rank by {rank_by!r}: not one of {', '.join(RANK_BY)}", hint="--rank-by risk or --rank-by recovery")
        priority = parts["priority"]
        if budget is None and top is None and not threshold:
            budget = self.budget
        revenue = self.revenue(parts)
        if rank_by == "recovery":
            if not revenue:
                raise ModelInputError(
                    "--rank-by recovery needs a probability of fraud, which only a model trained on outcomes has "
                    "(a supervised ranker): this model is the forest alone, so expected recovery is unavailable",
                    hint="train with --labels (at least 50 confirmed and 50 cleared lines), or rank by risk",
                )
            if threshold:
                raise ModelInputError("--rank-by recovery flags an inspection budget, not the model's threshold",
                                      hint="give --budget or --top (or neither: the model's budget)")
            rank, flagged = recovery_rank(revenue[RECOVERY], priority, ids, flag_count(priority.size, budget=budget, top=top))
        else:
            rank, flagged = rank_and_flag(priority, self.threshold, ids, budget=budget, top=top)
        out = {"risk_score": self.calibration.risk_score(priority), **revenue}
        if self.ranker is not None:
            from models.ranker import explore_flags

            flagged, explored = explore_flags(flagged, rank, parts["forest_score"], parts["ranker_score"], explore)
            out |= {"forest_score": parts["forest_score"], "ranker_score": parts["ranker_score"], "explore": explored}
        return out | {"risk_rank": rank, "flagged": flagged}

    def explain(self, rows: pl.DataFrame, parts: Mapping[str, np.ndarray]) -> pl.DataFrame:
        """``reason_codes`` and ``reasons`` of ``rows`` (meant for flagged rows only), in row order.

        ``parts`` holds the rows' own :meth:`components` (and ``explore`` from
        :meth:`rank` when the detector has a ranker): a flag the ranker drives is
        explained by the ranker's attribution, explored and forest-driven flags by the
        forest's.
        """
        if rows.height == 0:
            return pl.DataFrame(schema={REASON_CODES: pl.String, REASONS: pl.String})
        raw = raw_matrix(rows, self.feature_names)
        X = self.preprocess.transform_raw(raw)
        credit = self.excess_credit(X)
        suspicious = self.preprocess.suspicious_side(raw) & evidence_known(rows, self.feature_names)
        rendered = render_reasons(rows, pick_reasons(credit, suspicious), self.feature_names)
        if self.ranker is not None:
            from models.ranker import ranker_driven

            own = ranker_driven(parts["forest_score"], parts["ranker_score"], self.ranker.forest_weight)
            if "explore" in parts:
                own &= ~np.asarray(parts["explore"], dtype=bool)
            if own.any():  # the ranker's own reasons: its features and the line's (models.ranker)
                codes, texts = self.ranker.reasons(rows.filter(pl.Series(own)), parts["anomaly"][own], suspicious[own])
                at = np.flatnonzero(own)
                rendered = pl.DataFrame({
                    REASON_CODES: rendered[REASON_CODES].scatter(at, pl.Series(codes, dtype=pl.String)),
                    REASONS: rendered[REASONS].scatter(at, pl.Series(texts, dtype=pl.String)),
                })
        return with_stated(rows, rendered)  # facts such as a listed party, on every flag they hold for

    def output_columns(self, columns: Sequence[str]) -> list[pl.Expr]:
        """Expressions giving the scored output's columns, in order, from a frame holding
        a feature frame's ``columns`` beside the score columns (:meth:`rank` + reasons +
        model name and version): ``shipment_id``, the scores, the other input columns,
        each feature as ``f_<name>``, the evidence. Works on a LazyFrame as on a DataFrame.
        """
        features = set(self.feature_names)
        evidence = [c for c in columns if c.startswith(EVIDENCE_PREFIX)]
        reserved = {*SCORE_COLUMNS, *COMPONENT_COLUMNS, *REVENUE_COLUMNS}
        inputs = [c for c in columns if c not in features and c not in evidence and c not in reserved]
        scores = ["risk_score", *(COMPONENT_COLUMNS if self.ranker is not None else ()), "risk_rank", "flagged",
                  *REVENUE_COLUMNS, REASON_CODES, REASONS, "model_name", "model_version"]
        return [
            *(pl.col(c) for c in inputs if c == ID),
            *(pl.col(c) for c in scores),
            *(pl.col(c) for c in inputs if c != ID),
            *(pl.col(name).alias(FEATURE_PREFIX + name) for name in self.feature_names),
            *(pl.col(c) for c in evidence),
        ]

    def score_frame(
        self, ranking: Mapping[str, np.ndarray], codes: Sequence | None, texts: Sequence | None,
        model_name: str, model_version: str,
    ) -> pl.DataFrame:
        """The score columns as a frame (one row per ranked row); ``codes``/``texts`` None = no reasons."""
        n = ranking["risk_rank"].size
        columns = {name: ranking[name] for name in ("risk_score", *COMPONENT_COLUMNS, "risk_rank", "flagged") if name in ranking}
        # Unavailable without a ranker (no calibrated probability): null, never a made-up 0.
        revenue = {name: pl.Series(ranking[name], dtype=pl.Float64) if name in ranking else pl.Series([None] * n, dtype=pl.Float64)
                   for name in REVENUE_COLUMNS}
        return pl.DataFrame(
            {
                **columns,
                **revenue,
                REASON_CODES: pl.Series(codes if codes is not None else [None] * n, dtype=pl.String),
                REASONS: pl.Series(texts if texts is not None else [None] * n, dtype=pl.String),
            }
        ).with_columns(model_name=pl.lit(model_name, pl.String), model_version=pl.lit(model_version, pl.String))

    def score(
        self,
        frame: pl.DataFrame,
        *,
        model_name: str = "",
        model_version: str = "",
        chunk_rows: int = CHUNK_ROWS,
        **flag_rule: Any,
    ) -> pl.DataFrame:
        """Score a feature frame (input columns + feature columns + ``ev_*`` evidence).

        ``flag_rule`` is :meth:`rank`'s keywords (``budget``, ``top``, ``explore``,
        ``threshold``, ``rank_by``), passed to it as they are.

        Returns the input columns, ``risk_score`` (0-100 percentile among training
        rows), ``risk_rank`` (1 = most suspicious in this frame), ``flagged`` (within
        ``top``/``budget`` when given, else above the threshold with ``threshold``, else
        within the model's :attr:`budget`), ``reason_codes`` and
        ``reasons`` (flagged rows only; null otherwise), ``model_name``,
        ``model_version``, each feature as ``f_<name>`` and the evidence columns,
        sorted by ``risk_rank``.

        With a ranker the output also has ``forest_score`` and ``ranker_score`` and an
        ``explore`` column: ``explore`` (a share of the flags, e.g. 0.1) hands that share
        of the flags to the forest's most unusual rows the ranker does not rank high
        (:func:`models.ranker.explore_flags`). Without a ranker ``explore`` does nothing.
        ``rank_by="recovery"`` ranks and flags by expected recovery (:meth:`rank`).

        The steps (:meth:`score_parts`, :meth:`rank`, :meth:`explain`,
        :meth:`score_frame`, :meth:`output_columns`) are what ``detector.jobs.score``
        runs over files larger than memory.
        """
        n = frame.height
        parts = self.score_parts(frame, chunk_rows)
        ids = frame.get_column(ID).cast(pl.String).fill_null("") if ID in frame.columns else None
        ranking = self.rank(parts, ids, **flag_rule)
        explained = np.flatnonzero(ranking["flagged"])
        codes = np.full(n, None, dtype=object)
        texts = np.full(n, None, dtype=object)
        if explained.size:
            own = {k: v[explained] for k, v in parts.items()}
            if "explore" in ranking:
                own["explore"] = ranking["explore"][explained]
            rendered = self.explain(frame[explained], own)
            codes[explained] = rendered.get_column(REASON_CODES).to_numpy()
            texts[explained] = rendered.get_column(REASONS).to_numpy()
        scores = self.score_frame(ranking, codes.tolist(), texts.tolist(), model_name, model_version)
        dropped = [c for c in frame.columns if c in scores.columns]  # reserved names are replaced
        out = pl.concat([frame.drop(dropped), scores], how="horizontal")
        return out.select(self.output_columns(frame.columns)).sort("risk_rank")


#: Recovery ranking draws each line from the risk ranking's top ``RECOVERY_POOL`` x its position.
RECOVERY_POOL = 2


def recovery_rank(recovery: np.ndarray, priority: np.ndarray, ids: np.ndarray | pl.Series | None,
                  k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(risk_rank, flagged)`` in input order by expected recovery, the first ``k`` flagged.

    The j-th line inspected is the one with the most expected recovery (ties: the riskier)
    among the lines not yet taken within the risk ranking's top ``RECOVERY_POOL * j``. A
    probability of fraud is least sure where lines are rarest, and the largest lines are the
    rarest: 0.7 % on a 200 M USD bulk lot outweighs 99 % on a 40 k USD line, and an inspection
    spent on it is nearly always wasted. Drawing from twice the budget keeps every budget's
    precision at least 2 x (the risk ranking's precision at twice the budget) - 1, while the
    duty the inspections hold rises.
    """
    import heapq

    by_risk = rank_order(priority, ids)
    gain = np.asarray(recovery, dtype=np.float64)[by_risk].tolist()
    n = len(gain)
    heap: list[tuple[float, int]] = []
    order = np.empty(n, dtype=np.int64)
    added = 0
    for j in range(n):
        while added < min(n, RECOVERY_POOL * (j + 1)):
            heapq.heappush(heap, (-gain[added], added))
            added += 1
        order[j] = by_risk[heapq.heappop(heap)[1]]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    return rank, (rank <= (k if k is not None else n))


def fit(
    features: pl.DataFrame,
    feature_names: Sequence[str],
    forest: ForestParams | None = None,
    *,
    directions: Mapping[str, str] | None = None,
    state: ReferenceState | None = None,
    budget: float | None = None,
    **knobs: Any,
) -> Detector:
    """Fit a :class:`Detector` on training features (one row per training shipment).

    ``forest`` holds the forest's knobs (default :class:`ForestParams`); a knob given by
    name (``fit(rows, names, n_estimators=50, seed=1)``) replaces that field of it.
    ``budget`` (a share of the lines) is the inspection budget the detector flags by
    default; None keeps the threshold (``contamination``) as its flag rule.

    ``directions`` maps feature name to ``"higher"``/``"lower"``/``"both"`` (which side is
    suspicious; see :mod:`models.preprocess`); when omitted it is read from
    ``features.registry``.
    """
    from sklearn.ensemble import IsolationForest

    from models.errors import ModelError

    params = replace(forest or ForestParams(), **knobs)
    names = list(feature_names)
    if not names:
        raise ModelError("no features to train on", hint="pass the feature names the model should use")
    if features.height < 2:
        raise ModelError(f"cannot train on {features.height} row(s)", hint="train on a larger file")
    dirs = dict(directions) if directions is not None else _directions_from_registry(names)
    pre = Preprocessor(names, dirs, scale=params.scale).fit(features)
    X = pre.transform(features)
    max_samples = params.max_samples
    fitted = IsolationForest(
        n_estimators=params.n_estimators,
        max_samples=min(max_samples, features.height) if isinstance(max_samples, int) else max_samples,
        contamination=params.contamination,
        random_state=params.seed,
    ).fit(X)
    flat = FlatForest.from_sklearn(fitted)
    # Training rows' ranking score; add_ranker recalibrates on the blend when labels exist.
    train = -flat.score_samples(X)
    sample = X[np.linspace(0, X.shape[0] - 1, min(X.shape[0], BASELINE_ROWS)).astype(np.int64)]
    return Detector(
        forest=fitted,
        preprocess=pre,
        calibration=Calibration.fit(train),
        # Equals sklearn's -offset_: decision_function < 0 flags that share of training rows.
        threshold=float(np.quantile(train, 1.0 - params.contamination)),
        feature_names=names,
        state=state,
        params={
            "n_estimators": params.n_estimators,
            "max_samples": max_samples,
            "contamination": params.contamination,
            "budget": budget,
            "seed": params.seed,
            "scale": params.scale,
            "directions": {n: pre.direction(n) for n in names},
        },
        trained_span=_span(features),
        attribution_baseline=flat.attributions(sample).mean(axis=0),
        flat=flat,
    )


def add_ranker(
    detector: Detector,
    features: pl.DataFrame,
    labels: np.ndarray | None,
    *,
    extra_numeric: Sequence[str] = (),
    extra_categorical: Sequence[str] = (),
    ranker: RankerParams | None = None,
    **knobs: Any,
) -> str | None:
    """Train the supervised ranker on labelled training rows and switch ``detector`` to the blend.

    ``labels`` holds one outcome per row of ``features`` (1, 0, NaN = unknown). Returns
    ``None`` when the ranker was trained, or the reason it was not (too few labels; the
    detector is then left as the forest alone). The calibration grid and the flag
    threshold are refitted on the blended training scores, so ``risk_score`` stays a
    percentile among training rows and ``contamination`` keeps its meaning.

    ``ranker`` holds the ranker's knobs (:class:`models.ranker.RankerParams`; without it, the
    forest's seed and the defaults); a knob given by name (``forest_weight=0.1``,
    ``max_iter=100``) replaces that field, None leaving it as it is.
    """
    from models.ranker import RankerParams, fallback_reason, fit_ranker

    reason = fallback_reason(labels)
    if reason is not None:
        return reason
    params = ranker or RankerParams(seed=int(detector.params.get("seed", 0)))
    params = replace(params, **{k: v for k, v in knobs.items() if v is not None})
    contamination = float(detector.params.get("contamination", 0.01))
    anomaly = detector.components(features)["anomaly"]
    detector.ranker = fit_ranker(
        features,
        detector.feature_names,
        anomaly,
        labels,
        extra_numeric=extra_numeric,
        extra_categorical=extra_categorical,
        params=params,
    )
    blended = detector.components(features)["priority"]
    detector.calibration = Calibration.fit(blended)
    detector.threshold = float(np.quantile(blended, 1.0 - contamination))
    return None
