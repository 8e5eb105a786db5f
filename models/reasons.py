"""Reasons an analyst can defend: the top features behind a row's score, in words.

A reason must be *faithful* (the feature really drove the isolation: ranked by the
forest's own path attributions, :meth:`models.fast_forest.FlatForest.attributions`)
and must *argue for suspicion* (only features whose value lies on the suspicious
side of the training median count; a strikingly honest value is never a reason).

Codes and sentences come from the feature registry (``Feature.reason_code`` and
``features.registry.reason_expr(feature)``, a Polars expression rendering the
sentence with the row's own numbers). A feature the registry does not know (or
before the registry exists) is rendered as ``"<description or name>: <value>"`` with
its name in upper case as code, so reasons never silently disappear.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

#: Output columns.
REASON_CODES, REASONS = "reason_codes", "reasons"
CODE_SEP, SENTENCE_SEP = ",", " | "
TOP_K = 3


@dataclass(frozen=True)
class ReasonSpec:
    """How one feature is stated as a reason."""

    code: str
    sentence: pl.Expr  # evaluated on rows holding the raw feature and ev_ columns


def _registry_features() -> dict:
    try:
        from features import registry
    except ImportError:  # the registry is optional for the model core
        return {}
    return {f.name: f for f in getattr(registry, "REGISTRY", ())}


def reason_specs(feature_names: Sequence[str]) -> dict[str, ReasonSpec]:
    """Code and sentence expression per feature, from the registry where it knows the feature."""
    known = _registry_features()
    render = None
    if known:
        from features import registry

        render = getattr(registry, "reason_expr", None)
    specs = {}
    for name in feature_names:
        feature = known.get(name)
        if feature is not None and render is not None:
            specs[name] = ReasonSpec(str(feature.reason_code), render(feature))
            continue
        label = getattr(feature, "description", None) or name
        code = str(getattr(feature, "reason_code", None) or name.upper())
        value = pl.col(name).cast(pl.Float64).round_sig_figs(4).cast(pl.String)
        specs[name] = ReasonSpec(code, pl.format("{}: {}", pl.lit(label), value))
    return specs


def evidence_known(rows: pl.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
    """Bool (rows, features): every value the feature's sentence names besides the feature
    itself (the tariffed origin, the event, a norm, a port) is known for the row.

    A reason is only stated with its evidence: a sentence with a gap ("after ?") cannot be
    defended, and a line to which no tariff measure applies (another importing country)
    must never be told it arrived after one. A named column the rows lack counts as unknown.
    """
    import string

    known = _registry_features()
    out = np.ones((rows.height, len(feature_names)), dtype=bool)
    for j, name in enumerate(feature_names):
        feature = known.get(name)
        template = getattr(feature, "reason", None)
        if not isinstance(template, str):
            continue
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f and f != "value"}
        for field in sorted(fields):
            if field not in rows.columns:
                out[:, j] = False
                break
            out[:, j] &= rows.get_column(field).is_not_null().to_numpy()
    return out


def pick_reasons(attributions: np.ndarray, suspicious: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Feature indices (rows, k), best first, -1 where fewer than k features qualify.

    A feature qualifies when its value is on the suspicious side and it received
    credit for isolating the row; ties in credit keep the registry's feature order.
    """
    credit = np.where(suspicious & (attributions > 0), attributions, -np.inf)
    order = np.argsort(-credit, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(credit, order, axis=1)
    picks = np.where(np.isfinite(chosen), order, -1)
    if picks.shape[1] < k:  # fewer features than k
        picks = np.hstack([picks, np.full((picks.shape[0], k - picks.shape[1]), -1)])
    return picks


def render_reasons(rows: pl.DataFrame, picks: np.ndarray, feature_names: Sequence[str]) -> pl.DataFrame:
    """``reason_codes`` and ``reasons`` for ``rows`` (one per row of ``picks``), in row order.

    Vectorised: each of the k reason slots picks its code and sentence by feature index,
    then the slots are joined, skipping empty ones.
    """
    if rows.height != picks.shape[0]:
        raise ValueError(f"{rows.height} rows but {picks.shape[0]} reason picks")
    specs = reason_specs(feature_names)
    used = sorted({int(j) for j in np.unique(picks) if j >= 0})
    sentences = rows.select(specs[feature_names[j]].sentence.cast(pl.String).alias(f"s{j}") for j in used)
    slots = pl.DataFrame({f"p{k}": picks[:, k] for k in range(picks.shape[1])}, schema={
        f"p{k}": pl.Int64 for k in range(picks.shape[1])})
    frame = pl.concat([sentences, slots], how="horizontal") if used else slots

    def chosen(k: int, value) -> pl.Expr:
        expr = pl.lit(None, dtype=pl.String)
        for j in used:
            expr = pl.when(pl.col(f"p{k}") == j).then(value(j)).otherwise(expr)
        return expr

    k_slots = range(picks.shape[1])
    codes = [chosen(k, lambda j: pl.lit(specs[feature_names[j]].code)) for k in k_slots]
    texts = [chosen(k, lambda j: pl.col(f"s{j}")) for k in k_slots]
    return frame.select(
        pl.concat_str(codes, separator=CODE_SEP, ignore_nulls=True).alias(REASON_CODES),
        pl.concat_str(texts, separator=SENTENCE_SEP, ignore_nulls=True).alias(REASONS),
    )


def with_stated(rows: pl.DataFrame, rendered: pl.DataFrame) -> pl.DataFrame:
    """``rendered`` (:func:`render_reasons` of ``rows``) with every registry fact marked
    ``stated`` that holds on a row (value above 0, its sentence's evidence known) appended
    where the row's reasons lack its code.

    Such a fact (a party named on an enforcement list) is stated on every flag it holds for,
    whatever its part in the score: the attribution ranks why the model isolated the line,
    and an analyst must never miss that a listed firm is on it. It is read from the row's own
    column, so a model that does not use the feature still states it.
    """
    facts = [f for f in _registry_features().values() if getattr(f, "stated", False) and f.name in rows.columns]
    if not facts or rows.height == 0:
        return rendered
    from features.registry import reason_expr

    codes, texts = pl.col(REASON_CODES), pl.col(REASONS)
    frame = rendered.select(REASON_CODES, REASONS)
    for f in facts:
        evidence = pl.Series(evidence_known(rows, [f.name])[:, 0])
        holds = rows.select((pl.col(f.name).cast(pl.Float64) > 0).fill_null(False)).to_series() & evidence
        said = rows.select(reason_expr(f).cast(pl.String)).to_series()
        code = str(f.reason_code)
        lacks = holds & ~frame[REASON_CODES].fill_null("").str.split(CODE_SEP).list.contains(code)
        frame = frame.with_columns(lacks.alias("_add"), said.alias("_said")).select(
            pl.when("_add").then(pl.concat_str([codes, pl.lit(code)], separator=CODE_SEP, ignore_nulls=True))
            .otherwise(codes).alias(REASON_CODES),
            pl.when("_add").then(pl.concat_str([texts, pl.col("_said")], separator=SENTENCE_SEP, ignore_nulls=True))
            .otherwise(texts).alias(REASONS),
        )
    return frame
