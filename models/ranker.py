"""Learning from outcomes: a supervised ranker beside the isolation forest.

When training shipments carry known outcomes (``label`` 1 = confirmed fraud, 0 = cleared),
a :class:`sklearn.ensemble.HistGradientBoostingClassifier` is trained on

- the same features as the forest, *raw* (unknown stays NaN: HGB learns where missing
  values go, so no imputation is needed), and the forest's anomaly score;
- **the line itself** (:class:`models.encoding.LineEncoder`): log value, weight and unit
  values, quantity, duty rate, unit value and unit weight against the training norm of
  the line's HS6 x origin, and its codes (HS chapter to full code, countries, importer,
  exporter, data-quality codes, categorical ``[extra]`` columns) through an out-of-fold
  target encoding and counts fitted on training rows only (unseen values are unknown),
  small codes also as native categories; numeric ``[extra]`` columns as they are;
- **outcome profiles** (:mod:`features.outcomes`): per importer, exporter, HS6, origin x
  HS chapter and categorical extra, the inspected and confirmed labelled lines of earlier
  weeks only, smoothed towards the overall rate. The weekly counts of the training labels
  are part of the ranker: a scored line's profile reads them (the counts up to the
  training span), never a label of the scored file.

Real outcome labels record every kind of fraud an inspection finds (undervaluation,
misclassification, misdeclared quantity, origin), so the ranker reads what the line says
as well as the transshipment features.

**Fallback.** With fewer than :data:`MIN_POSITIVES` positives or :data:`MIN_NEGATIVES`
negatives the ranker is not trained: the detector is the forest alone and
:func:`fit_ranker` says why (the training job shows it as a warning and an MLflow tag).

**Combination rule.** Each component is turned into a 0-100 percentile of its own
training distribution (``forest_score``, ``ranker_score``); the ranking score is
``FOREST_WEIGHT * forest_score + (1 - FOREST_WEIGHT) * ranker_score`` with
``FOREST_WEIGHT = 0.3``, and ``risk_score`` is the percentile of that blend among the
training rows. Rank-average (w=0.5), the maximum of the percentiles and w=0.7 ranked below
w=0.3 on generated worlds, both on the labelled scenarios and on a transshipment scheme kept
out of the labels. The forest keeps 30 % of the weight so that a shipment it finds very
unusual still rises when the ranker has never seen its scheme.

**Explore share.** :func:`explore_flags` reserves a share of the flags for the
shipments the forest finds most unusual among those the ranker does not place in its
own top flags: a ranker trained on past catches keeps finding the same scheme, the
explored flags are how new schemes get labelled.

**Reasons.** For a flag the ranker drives (its weighted percentile exceeds the
forest's), :meth:`Ranker.reasons` measures each reason's part in the ranker's log-odds by
occlusion: the drop in log-odds when that reason's inputs are set to their training
median (unknown for a category) together. It is exact for the model (no surrogate) and
costs one extra prediction per reason on the flagged rows only. A transshipment feature
is a reason only on its suspicious side, as for the forest; a reason of the line itself
(:data:`LINE_REASONS`) states the line's own figures: "declared 0.31 USD/kg, 9 % of the
usual price of HS 640399 from CN", "HS 851762: 38 % of inspected lines of this
subheading were confirmed (19 of 50)".
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from models.calibration import Calibration
from models.preprocess import raw_matrix

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from features.outcomes import OutcomeCounts
    from models.encoding import LineEncoder

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
#: Files of the ranker's tables inside a saved detector's ranker directory.
ENCODER_DIR, OUTCOMES_FILE = "encoder", "outcomes.parquet"

#: Reason codes of the line itself (the ranker's own reasons; transshipment features keep
#: the registry's codes). ``{kind}`` of an extra is its column name without ``x_``, upper case.
LINE_REASONS: dict[str, str] = {
    "LINE_PRICE_LOW": "declared unit value far below the usual price of its HS6 from its origin",
    "LINE_PRICE_HIGH": "declared unit value far above the usual price of its HS6 (goods of another subheading)",
    "LINE_UNIT_WEIGHT": "weight per declared unit away from the usual of its HS6",
    "LINE_DUTY": "the declared duty rate",
    "LINE_DQ": "the line's data-quality codes",
    "OUTCOME_HS6": "share of inspected lines of the subheading that were confirmed",
    "OUTCOME_IMPORTER": "share of the importer's inspected lines that were confirmed",
    "OUTCOME_EXPORTER": "share of the exporter's inspected lines that were confirmed",
    "OUTCOME_ORIGIN_CHAPTER": "share of inspected lines of the origin and HS chapter that were confirmed",
    "OUTCOME_X_{kind}": "share of inspected lines with the extra column's value that were confirmed",
}


@dataclass
class Ranker:
    """A fitted gradient-boosted ranker with what it needs to build its input matrix."""

    model: HistGradientBoostingClassifier
    feature_names: list[str]  # the detector's features, in the detector's order
    extra_numeric: list[str] = field(default_factory=list)
    extra_categorical: list[str] = field(default_factory=list)
    reference: np.ndarray | None = None  # per input column: training median (NaN for categories)
    calibration: Calibration | None = None  # percentile of the ranker's probability among training rows
    forest_calibration: Calibration | None = None  # percentile of the forest anomaly among training rows
    params: dict[str, Any] = field(default_factory=dict)
    encoder: LineEncoder | None = None  # the line's own inputs (models.encoding)
    outcomes: OutcomeCounts | None = None  # weekly counts of the training labels (features.outcomes)

    @property
    def input_names(self) -> list[str]:
        """Columns of the ranker's matrix, in order."""
        from features.outcomes import profile_columns

        line = self.encoder.names if self.encoder is not None else []
        profiles = profile_columns(self.outcomes.kinds) if self.outcomes is not None else []
        return [*self.feature_names, *self.extra_numeric, *line, *profiles, FOREST_INPUT]

    @property
    def forest_weight(self) -> float:
        """Weight of the forest's percentile in the blend (:func:`blend`)."""
        return float(self.params.get("forest_weight", FOREST_WEIGHT))

    @property
    def categorical_mask(self) -> np.ndarray:
        names = self.input_names
        cats = set(self.encoder.categorical) if self.encoder is not None else set()
        return np.array([n in cats for n in names], dtype=bool)

    def profile_matrix(self, frame: pl.DataFrame) -> np.ndarray:
        from features.outcomes import profiles

        if self.outcomes is None:
            return np.zeros((frame.height, 0))
        return profiles(frame, self.outcomes).cast(pl.Float64).fill_null(float("nan")).to_numpy()

    def matrix(self, frame: pl.DataFrame, anomaly: np.ndarray, line: np.ndarray | None = None) -> np.ndarray:
        """The ranker's input for ``frame``: raw features (NaN = unknown), numeric extras, the
        line's inputs (``line``: given at training, where encodings are out-of-fold), outcome
        profiles, forest anomaly."""
        parts = [raw_matrix(frame, self.feature_names)]
        if self.extra_numeric:
            parts.append(raw_matrix(frame, self.extra_numeric))
        if self.encoder is not None:
            parts.append(self.encoder.transform(frame) if line is None else line)
        parts.append(self.profile_matrix(frame))
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
        return self.group_contributions(X, [[j] for j in range(X.shape[1])])

    def group_contributions(self, X: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
        """(rows, groups) drop in log-odds when a group's inputs are set to their references together."""
        n, m = X.shape
        if n == 0 or not groups:
            return np.zeros((n, len(groups)))
        base = self.log_odds(X)
        occluded = np.repeat(X[None, :, :], len(groups), axis=0)  # (groups, rows, inputs)
        for g, idx in enumerate(groups):
            for j in idx:
                occluded[g, :, j] = self.reference[j]
        moved = self.log_odds(occluded.reshape(len(groups) * n, m)).reshape(len(groups), n)
        return (base[None, :] - moved).T

    # -- reasons of the line itself ------------------------------------------------------
    def reason_groups(self) -> list[tuple[str, list[int]]]:
        """``(name, input indexes)`` of each reason: the registry features one by one
        (their own names), then the line's reasons (:data:`LINE_REASONS`)."""
        names = self.input_names
        at = {n: i for i, n in enumerate(names)}
        groups: list[tuple[str, list[int]]] = [(n, [at[n]]) for n in self.feature_names]

        def add(name: str, members: Sequence[str]) -> None:
            idx = [at[m] for m in members if m in at]
            if idx:
                groups.append((name, idx))

        add("LINE_PRICE", ["line_log_usd_kg", "line_price_vs_norm", "line_log_value", "line_log_usd_unit"])
        add("LINE_UNIT_WEIGHT", ["line_log_kg_unit", "line_unit_weight_vs_norm", "line_log_weight", "line_log_quantity"])
        add("LINE_DUTY", ["line_duty_rate"])
        add("LINE_DQ", [n for n in names if n.startswith("dq_")])

        def outcome(kind: str, codes: Sequence[str]) -> list[str]:
            return [f"op_{kind}_inspected", f"op_{kind}_hits", f"op_{kind}_rate",
                    *(f"{p}_{c}" for c in codes for p in ("te", "n", "cat"))]

        add("OUTCOME_HS6", outcome("hs6", ["hs6", "hs_code", "heading", "chapter"]))
        add("OUTCOME_IMPORTER", outcome("importer", ["importer", "importer_hs6"]))
        add("OUTCOME_EXPORTER", outcome("exporter", ["exporter"]))
        add("OUTCOME_ORIGIN_CHAPTER", outcome("origin_chapter", ["origin", "origin_hs6"]))
        for extra in self.extra_categorical:
            add(f"OUTCOME_X_{extra.removeprefix(EXTRA_PREFIX).upper()}", outcome(extra, [extra]))
        return groups

    def reasons(self, rows: pl.DataFrame, anomaly: np.ndarray, suspicious: np.ndarray, k: int = 3
                ) -> tuple[list[str | None], list[str | None]]:
        """``(codes, sentences)`` of ``rows`` (flags the ranker drives), joined as the reasons
        module joins them: the ``k`` reasons whose occlusion lowers the log-odds most; a
        registry feature counts only on its suspicious side (``suspicious``: rows x features)."""
        from models.reasons import CODE_SEP, SENTENCE_SEP, reason_specs

        if rows.height == 0:
            return [], []
        groups = self.reason_groups()
        X = self.matrix(rows, anomaly)
        credit = self.group_contributions(X, [g for _, g in groups])
        n_feat = len(self.feature_names)
        allowed = np.ones_like(credit, dtype=bool)
        allowed[:, :n_feat] = suspicious
        credit = np.where(allowed & (credit > 0), credit, -np.inf)
        order = np.argsort(-credit, axis=1, kind="stable")[:, :k]
        chosen = np.take_along_axis(credit, order, axis=1)
        used = sorted({int(j) for j, c in zip(order.ravel(), chosen.ravel(), strict=True) if np.isfinite(c)})
        specs = reason_specs(self.feature_names)
        texts: dict[int, list] = {}
        codes: dict[int, list] = {}
        line = self._line_sentences(rows, X, [groups[j][0] for j in used if j >= n_feat])
        for j in used:
            name = groups[j][0]
            if j < n_feat:
                texts[j] = rows.select(specs[name].sentence.cast(pl.String)).to_series().to_list()
                codes[j] = [specs[name].code] * rows.height
            else:
                codes[j], texts[j] = line[name]
        out_codes, out_texts = [], []
        for i in range(rows.height):
            picked = [int(j) for j, c in zip(order[i], chosen[i], strict=True) if np.isfinite(c)]
            cs = [codes[j][i] for j in picked if texts[j][i] is not None]
            ts = [texts[j][i] for j in picked if texts[j][i] is not None]
            out_codes.append(CODE_SEP.join(cs) if cs else None)
            out_texts.append(SENTENCE_SEP.join(ts) if ts else None)
        return out_codes, out_texts

    def _line_sentences(self, rows: pl.DataFrame, X: np.ndarray, names: Sequence[str]) -> dict[str, tuple[list, list]]:
        """Code and sentence per row for each line reason in ``names``, with the row's own figures."""
        at = {n: i for i, n in enumerate(self.input_names)}
        out: dict[str, tuple[list, list]] = {}
        n = rows.height
        enc = self.encoder
        price = enc.usual_price(rows) if enc is not None else None
        for name in names:
            if name == "LINE_PRICE":
                codes, texts = [], []
                for r in price.iter_rows(named=True):
                    usd, usual = r["usd_kg"], r["usual_usd_kg"]
                    where = f"HS {r['_hs6']}" + (f" from {r['norm_origin']}" if r["norm_origin"] else "")
                    if usd is None or usual is None:
                        codes.append("LINE_PRICE_LOW")
                        texts.append(f"declared {_num(usd)} USD/kg ({where}: no usual price in training)")
                    elif usd < usual:
                        codes.append("LINE_PRICE_LOW")
                        texts.append(f"declared {_num(usd)} USD/kg, {_pct(usd / usual)} % of the usual price of {where}")
                    else:
                        codes.append("LINE_PRICE_HIGH")
                        texts.append(f"declared {_num(usd)} USD/kg, {usd / usual:.1f} times the usual price of {where}")
                out[name] = (codes, texts)
            elif name == "LINE_UNIT_WEIGHT":
                usual = enc.unit_norm(rows).to_list()
                texts = []
                for r, u in zip(price.iter_rows(named=True), usual, strict=True):
                    unit = r["_unit"] or "unit"
                    if r["kg_unit"] is None:
                        texts.append(f"declared {_num(rows['weight_kg'][len(texts)])} kg with no usable quantity")
                    elif u is None:
                        texts.append(f"declared {_num(r['kg_unit'])} kg per {unit} (HS {r['_hs6']}: no usual weight in training)")
                    else:
                        ratio = r["kg_unit"] / u
                        rel = f"{_pct(ratio)} % of" if ratio < 1 else f"{ratio:.1f} times"
                        texts.append(f"declared {_num(r['kg_unit'])} kg per {unit}, {rel} the usual for HS {r['_hs6']}")
                out[name] = (["LINE_UNIT_WEIGHT"] * n, texts)
            elif name == "LINE_DUTY":
                duty = X[:, at["line_duty_rate"]]
                out[name] = (["LINE_DUTY"] * n, [None if not np.isfinite(d) else f"declared duty rate {d * 100:.1f} %"
                                                 for d in duty])
            elif name == "LINE_DQ":
                from models.encoding import DQ

                values = rows[DQ].cast(pl.String).to_list() if DQ in rows.columns else [None] * n
                out[name] = (["LINE_DQ"] * n, [f"data-quality codes {v}" if v else "no data-quality code" for v in values])
            else:
                out[name] = self._outcome_sentences(rows, X, at, name)
        return out

    def _outcome_sentences(self, rows: pl.DataFrame, X: np.ndarray, at: dict, name: str) -> tuple[list, list]:
        kind, code, label = {
            "OUTCOME_HS6": ("hs6", "hs6", "HS {v}"),
            "OUTCOME_IMPORTER": ("importer", "importer", "importer {v}"),
            "OUTCOME_EXPORTER": ("exporter", "exporter", "exporter {v}"),
            "OUTCOME_ORIGIN_CHAPTER": ("origin_chapter", "origin_hs6", "origin {o}, HS chapter {c}"),
        }.get(name, (None, None, None))
        if kind is None:  # a categorical extra
            extra = next(e for e in self.extra_categorical if f"OUTCOME_X_{e.removeprefix(EXTRA_PREFIX).upper()}" == name)
            kind, code, label = extra, extra, extra.removeprefix(EXTRA_PREFIX).replace("_", " ") + " {v}"
        stats = self.encoder.code_stats(rows, code) if self.encoder is not None and code in self.encoder.tables else None
        col = f"op_{kind}_inspected"
        texts = []
        for i in range(rows.height):
            if kind == "origin_chapter":
                who = label.format(o=rows["origin_country"][i], c=str(rows["hs_code"][i])[:2])
            elif kind == "hs6":
                who = label.format(v=str(rows["hs_code"][i])[:6])
            else:
                who = label.format(v=rows[self._key_column(kind)][i])
            if col in at and X[i, at[col]] > 0:
                seen, hits = int(X[i, at[col]]), int(X[i, at[f"op_{kind}_hits"]])
                when = "of earlier weeks"
            elif stats is not None and stats["inspected"][i] > 0:
                seen, hits = int(stats["inspected"][i]), int(stats["hits"][i])
                when = "in training"
            else:
                texts.append(f"{who}: no inspected line in training")
                continue
            what = "of this subheading " if kind == "hs6" else ""
            texts.append(f"{who}: {_pct(hits / seen)} % of inspected lines {what}{when} were confirmed ({hits} of {seen})")
        return [name] * rows.height, texts

    def _key_column(self, kind: str) -> str:
        return {"importer": "importer_id", "exporter": "exporter_id"}.get(kind, kind)

    # -- saving the tables ---------------------------------------------------------------------
    def save_tables(self, path: Path) -> None:
        """Write the encoder's tables and the outcome counts under ``path`` (a new directory)."""
        path.mkdir(parents=True, exist_ok=True)
        if self.encoder is not None:
            self.encoder.to_dir(path / ENCODER_DIR)
        if self.outcomes is not None:
            self.outcomes.to_parquet(path / OUTCOMES_FILE)

    def load_tables(self, path: Path, outcome_keys: dict | None) -> None:
        """Read what :meth:`save_tables` wrote (``outcome_keys``: the kinds saved in the ranker's params)."""
        from features.outcomes import OutcomeCounts
        from models.encoding import LineEncoder

        if (path / ENCODER_DIR).is_dir():
            self.encoder = LineEncoder.from_dir(path / ENCODER_DIR)
        if (path / OUTCOMES_FILE).is_file():
            self.outcomes = OutcomeCounts.from_parquet(path / OUTCOMES_FILE, outcome_keys or {})


def _num(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "?"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _pct(x: float) -> str:
    v = 100.0 * x
    return f"{v:.0f}" if v >= 10 else f"{v:.1g}" if v >= 1 else f"{v:.2g}"


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


@dataclass(frozen=True)
class RankerParams:
    """The ranker's knobs. ``seed`` seeds the gradient boosting and the cross-fitting folds;
    ``forest_weight`` is the forest's share of the blend (:func:`blend`)."""

    seed: int = 0
    max_iter: int = 300
    learning_rate: float = 0.05
    forest_weight: float = FOREST_WEIGHT


def fit_ranker(
    frame: pl.DataFrame,
    feature_names: Sequence[str],
    anomaly: np.ndarray,
    labels: np.ndarray,
    *,
    extra_numeric: Sequence[str] = (),
    extra_categorical: Sequence[str] = (),
    params: RankerParams = RankerParams(),
) -> Ranker:
    """Fit the ranker on the labelled rows of ``frame`` (``labels`` NaN = unknown, left out).

    ``anomaly`` is the forest's anomaly score of every row of ``frame``; its percentiles
    among these rows become ``forest_score``. Call :func:`fallback_reason` first: this
    raises ``ModelError`` with too few labels. Deterministic: no early stopping (no random
    validation split), fixed ``random_state`` and cross-fitting folds.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    from features.outcomes import fit_counts, keys_for
    from models.encoding import LineEncoder
    from models.errors import ModelError

    reason = fallback_reason(labels)
    if reason is not None:
        raise ModelError(reason)
    y = np.asarray(labels, dtype=np.float64)
    known = np.isfinite(y)
    seed = params.seed
    encoder, line = LineEncoder.fit(frame, y, extras=extra_categorical, seed=seed)
    keys = keys_for(extra_categorical)
    ranker = Ranker(
        model=None,  # set below
        feature_names=list(feature_names),
        extra_numeric=list(extra_numeric),
        extra_categorical=list(extra_categorical),
        encoder=encoder,
        outcomes=fit_counts(frame.select("arrival_date", *_key_columns(keys)), pl.Series(y), keys),
        params={"max_iter": params.max_iter, "learning_rate": params.learning_rate, "seed": seed,
                "forest_weight": float(params.forest_weight)},
    )
    X = ranker.matrix(frame, anomaly, line=line)
    is_cat = ranker.categorical_mask
    # No class weights: they lowered the average precision on transshipment worlds (with a
    # scheme kept out of the labels); HGB's leaf values already follow the rare positives,
    # and reweighting mostly made the probabilities coarser.
    model = HistGradientBoostingClassifier(
        max_iter=params.max_iter,
        learning_rate=params.learning_rate,
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
    ranker.forest_calibration = Calibration.fit(anomaly)
    ranker.params.update({"positives": int((y == 1).sum()), "negatives": int((y == 0).sum()),
                          "extra_numeric": list(extra_numeric), "extra_categorical": list(extra_categorical),
                          "line_inputs": len(encoder.names), "outcome_keys": keys})
    return ranker


def _key_columns(keys: dict[str, list[str]]) -> list[str]:
    cols = {"hs_code"}
    for parts in keys.values():
        cols.update(p for p in parts if p not in ("hs6", "chapter"))
    return sorted(cols)


def blend(forest_score: np.ndarray, ranker_score: np.ndarray, weight: float = FOREST_WEIGHT) -> np.ndarray:
    """The combination rule (module docstring): weighted mean of the two percentiles."""
    return weight * np.asarray(forest_score) + (1.0 - weight) * np.asarray(ranker_score)


def ranker_driven(forest_score: np.ndarray, ranker_score: np.ndarray, weight: float = FOREST_WEIGHT) -> np.ndarray:
    """Rows whose blended score owes more to the ranker than to the forest."""
    return (1.0 - weight) * np.asarray(ranker_score) > weight * np.asarray(forest_score)


#: Forest weights :func:`pick_forest_weight` chooses among, the default first.
FOREST_WEIGHTS = (FOREST_WEIGHT, 0.2, 0.1, 0.05, 0.0)
#: A larger forest weight is kept while its held-out average precision is within this of the best.
WEIGHT_TOLERANCE = 0.005


def pick_forest_weight(forest_score: np.ndarray, ranker_score: np.ndarray, y: np.ndarray) -> float:
    """The largest forest weight of :data:`FOREST_WEIGHTS` whose blend ranks held-out labels
    (``y``) within :data:`WEIGHT_TOLERANCE` of the best average precision.

    The forest's share is what lets a scheme missing from the labels rise; it is given up
    only where it costs the labelled schemes: where outcomes are frequent, the ranker's
    percentiles of the positives crowd into the top band, and a forest weight of 0.3 would
    reorder them by how unusual they look instead of how likely they are.
    """
    from models.metrics import average_precision

    ap = {w: average_precision(blend(forest_score, ranker_score, w), y) for w in FOREST_WEIGHTS}
    best = max(ap.values())
    return max(w for w, v in ap.items() if v >= best - WEIGHT_TOLERANCE)


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
