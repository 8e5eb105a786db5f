"""`waypoint evaluate`: how good is a scored file against known outcomes?

Joins a scored file with a labels file (``shipment_id,label[,scenario]``, as written by
``waypoint generate`` or ``waypoint review export``) and reports, for an inspection
budget, precision and recall, and revenue recall (the share of the confirmed lines' duty at
risk that the inspected lines hold); at the model's own flag threshold too; average precision;
recall per scenario when the labels carry one; and, when the scored file carries the
separate component scores (``forest_score`` / ``ranker_score``), the same figures for
each component so a user sees what the labels bought.

Shipments without a label are left out of the figures and counted: review exports
label only what analysts looked at.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.io.read import load_labels
from models import metrics

#: Component score columns a scored file may carry (higher = more suspicious).
COMPONENTS = {"combined": "risk_score", "forest": "forest_score", "ranker": "ranker_score"}


@dataclass
class Evaluation:
    scored_file: str
    labels_file: str
    rows_scored: int
    rows_labelled: int
    positives: int
    flagged: int
    # budget, inspected, precision, recall, revenue_recall (None: the scored file has no duty_at_risk_usd)
    at_budget: list[dict] = field(default_factory=list)
    at_flags: dict = field(default_factory=dict)
    average_precision: float = float("nan")
    roc_auc: float = float("nan")
    per_scenario: list[dict] = field(default_factory=list)  # scenario, rows, positives, caught_at_flags, recall_at_1pct
    components: list[dict] = field(default_factory=list)  # component, precision_at_1pct, average_precision, ...

    def to_dict(self) -> dict:
        return asdict(self)


def _read_scored(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise InputError(f"{path}: no such scored file", hint="run `waypoint score ... -o FILE` first")
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        frame = pl.read_parquet(path)
    elif suffix == ".csv":
        frame = pl.read_csv(path, infer_schema_length=10_000)
    else:
        raise InputError(f"{path}: unknown format {suffix!r}", hint="a scored file is .parquet or .csv")
    missing = [c for c in ("shipment_id", "risk_score", "risk_rank", "flagged") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a scored file, missing column(s) {', '.join(missing)}")
    return frame.with_columns(pl.col("shipment_id").cast(pl.String))


def evaluate(scored: Path, labels: Path, budgets=metrics.BUDGETS) -> Evaluation:
    """Compare a scored file with known outcomes; see the module docstring."""
    scored, labels = Path(scored), Path(labels)
    frame = _read_scored(scored)
    outcome = load_labels(labels).valid
    # the scored file may carry the contract's own (optional) label column: the labels file wins
    frame = frame.drop([c for c in ("label", "scenario") if c in frame.columns])
    joined = frame.join(outcome.select("shipment_id", "label", *(["scenario"] if "scenario" in outcome.columns else [])),
                        on="shipment_id", how="inner")
    if joined.height == 0:
        raise InputError(f"{labels}: no label matches a shipment_id of {scored}",
                         hint="labels and scored file must come from the same shipments")
    # rank is unique and deterministic: rank 1 first
    joined = joined.sort("risk_rank")
    y = joined["label"].cast(pl.Float64).to_numpy()
    order_score = -joined["risk_rank"].cast(pl.Float64).to_numpy()
    result = Evaluation(
        scored_file=str(scored),
        labels_file=str(labels),
        rows_scored=frame.height,
        rows_labelled=joined.height,
        positives=int(y.sum()),
        flagged=int(joined["flagged"].sum()),
    )
    # Revenue recall: of the duty at risk on the confirmed lines, the share the inspected lines hold.
    at_risk = joined["duty_at_risk_usd"].cast(pl.Float64).to_numpy() if "duty_at_risk_usd" in joined.columns else None
    for b in budgets:
        p, r = metrics.precision_recall_at(order_score, y, b)
        result.at_budget.append({"budget": b, "inspected": metrics.inspected(len(y), b), "precision": p, "recall": r,
                                 "revenue_recall": metrics.revenue_recall_at(order_score, y, at_risk, b)
                                 if at_risk is not None else None})
    p, r = metrics.precision_recall_of_flags(joined["flagged"].to_numpy(), y)
    result.at_flags = {"flagged": result.flagged, "precision": p, "recall": r}
    result.average_precision = metrics.average_precision(order_score, y)
    result.roc_auc = metrics.roc_auc(order_score, y)

    if "scenario" in joined.columns:
        top_k = metrics.inspected(len(y), 0.01)
        per = (
            joined.with_row_index("_pos")
            .group_by("scenario")
            .agg(
                rows=pl.len(),
                positives=pl.col("label").sum(),
                caught_at_flags=(pl.col("flagged") & (pl.col("label") == 1)).sum(),
                caught_at_1pct=((pl.col("_pos") < top_k) & (pl.col("label") == 1)).sum(),
                flagged=pl.col("flagged").sum(),
            )
            .sort("scenario")
        )
        for row in per.iter_rows(named=True):
            pos = row["positives"]
            row["recall_at_flags"] = row["caught_at_flags"] / pos if pos else None
            row["recall_at_1pct"] = row["caught_at_1pct"] / pos if pos else None
            result.per_scenario.append(row)

    for name, column in COMPONENTS.items():
        if column not in joined.columns or (name == "combined" and len(
                [c for c in COMPONENTS.values() if c in joined.columns]) < 2):
            continue
        s = joined[column].cast(pl.Float64).fill_null(float("-inf")).to_numpy()
        entry = {"component": name, "column": column}
        for b in budgets:
            p, r = metrics.precision_recall_at(s, y, b)
            tag = f"{b * 100:g}%"
            entry[f"precision@{tag}"] = p
            entry[f"recall@{tag}"] = r
        entry["average_precision"] = metrics.average_precision(s, y)
        entry["roc_auc"] = metrics.roc_auc(s, y)
        result.components.append(entry)
    return result

