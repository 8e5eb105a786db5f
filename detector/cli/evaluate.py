"""`waypoint evaluate`: precision and recall of a scored file against known outcomes."""
from __future__ import annotations

import json as jsonlib
import math
from pathlib import Path

import typer

from detector.cli._console import err_console


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def evaluate(
    scored: Path = typer.Argument(..., help="A file written by `waypoint score`."),
    labels: Path = typer.Option(..., "--labels", help="shipment_id,label[,scenario] (from `generate` or `review export`)."),
    json: bool = typer.Option(False, "--json", help="Print the figures as JSON on stdout."),
) -> None:
    """Precision and recall at inspection budgets and at the flags, average precision, recall per scenario."""
    from detector.evaluate import evaluate as run_evaluate

    result = run_evaluate(scored, labels)
    if json:
        typer.echo(jsonlib.dumps(result.to_dict(), indent=2, default=str))
        return
    render(result)


def render(result, *, components_only: bool = False) -> None:
    """The evaluation as tables on stderr (also used by `waypoint demo`)."""
    from rich.table import Table

    if components_only and result.components:
        _render_components(result.components)
        return

    err_console.print(
        f"{result.rows_labelled:,} of {result.rows_scored:,} scored shipments have a label; "
        f"{result.positives:,} are confirmed cases"
    )
    table = Table(title="If analysts inspect …")
    for col in ("inspect", "lines", "precision", "recall"):
        table.add_column(col, justify="right")
    for row in result.at_budget:
        table.add_row(f"top {100 * row['budget']:g}%", f"{row['inspected']:,}", _pct(row["precision"]), _pct(row["recall"]))
    flags = result.at_flags
    table.add_row("the flags", f"{flags['flagged']:,}", _pct(flags["precision"]), _pct(flags["recall"]))
    err_console.print(table)
    err_console.print(f"average precision {result.average_precision:.3f} · ROC-AUC {result.roc_auc:.3f}")
    if result.per_scenario:
        per = Table(title="By scenario")
        for col in ("scenario", "rows", "positives", "flagged", "recall at flags", "recall at 1%"):
            per.add_column(col, justify="right")
        for row in result.per_scenario:
            per.add_row(str(row["scenario"]), f"{row['rows']:,}", f"{row['positives']:,}", f"{row['flagged']:,}",
                        _pct(row["recall_at_flags"]), _pct(row["recall_at_1pct"]))
        err_console.print(per)
    if result.components:
        _render_components(result.components)


def _render_components(components: list[dict]) -> None:
    from rich.table import Table

    comp = Table(title="What each part of the model buys (P@k: precision when the top k % are inspected)")
    keys = [k for k in components[0] if k not in {"component", "column"} and not k.startswith("recall@")]
    comp.add_column("ranking by")
    for k in keys:
        comp.add_column(k.replace("precision@", "P@").replace("average_precision", "AP").replace("roc_auc", "ROC-AUC"),
                        justify="right")
    for row in components:
        comp.add_row(row["component"], *[(_pct(row[k]) if "@" in k else f"{row[k]:.3f}") for k in keys])
    err_console.print(comp)
