"""`waypoint evaluate`: precision and recall of a scored file against known outcomes."""
from __future__ import annotations

import json as jsonlib
import math
from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, results, safe


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def evaluate(
    scored: Annotated[Path, typer.Argument(help="A file written by `waypoint score`.")],
    labels: Annotated[Path, typer.Option("--labels", help="shipment_id,label[,scenario] (from `generate` or `review export`).")],
    json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Also write the figures as JSON to this file (- for stdout, like --json).")] = None,
    log: Annotated[bool, typer.Option("--log", help="Also record the figures (eval_* metrics, the files' SHA-256, the JSON) on the MLflow run of the model that scored the file.")] = False,
) -> None:
    """Precision and recall at inspection budgets and at the flags, average precision, recall per scenario."""
    from detector.evaluate import evaluate as run_evaluate
    from detector.io.write import check_output, is_stdout, write_text_output

    if output is not None:
        check_output(output, [scored, labels], stdout=True)
    result = run_evaluate(scored, labels)
    if log:
        from detector.jobs.models import record_evaluation

        logged = record_evaluation(result, scored, labels)
        err_console.print(f"recorded {len(logged['metrics'])} figures on run {safe(logged['run_id'])} "
                          f"(artifact {safe(logged['artifact'])})", highlight=False)
    text = jsonlib.dumps(result.to_dict(), indent=2, default=str)
    if output is not None and not is_stdout(output):
        write_text_output(text, output)
    if json or is_stdout(output):
        typer.echo(text)
        return
    render(result)
    if output is not None:
        results().print(f"figures written to {safe(output)}", highlight=False)


def render(result, *, components_only: bool = False, console=None) -> None:
    """The evaluation as tables on stdout, or on ``console`` (also used by `waypoint demo`)."""
    from rich.table import Table

    console = console or results()
    if components_only and result.components:
        _render_components(result.components, console)
        return

    console.print(
        f"{result.rows_labelled:,} of {result.rows_scored:,} scored shipments have a label; "
        f"{result.positives:,} are confirmed cases"
    )
    table = Table(title="If analysts inspect …")
    revenue = any(row.get("revenue_recall") is not None for row in result.at_budget)
    for col in ("inspect", "lines", "precision", "recall", *(["revenue recall"] if revenue else [])):
        table.add_column(col, justify="right")
    for row in result.at_budget:
        table.add_row(f"top {100 * row['budget']:g}%", f"{row['inspected']:,}", _pct(row["precision"]), _pct(row["recall"]),
                      *([_pct(row.get("revenue_recall"))] if revenue else []))
    flags = result.at_flags
    table.add_row("the flags", f"{flags['flagged']:,}", _pct(flags["precision"]), _pct(flags["recall"]), *([""] if revenue else []))
    console.print(table)
    console.print(f"average precision {result.average_precision:.3f} · ROC-AUC {result.roc_auc:.3f}")
    if result.per_scenario:
        per = Table(title="By scenario")
        for col in ("scenario", "rows", "positives", "flagged", "recall at flags", "recall at 1%"):
            per.add_column(col, justify="right")
        for row in result.per_scenario:  # scenario names come from the label file
            per.add_row(safe(row["scenario"]), f"{row['rows']:,}", f"{row['positives']:,}", f"{row['flagged']:,}",
                        _pct(row["recall_at_flags"]), _pct(row["recall_at_1pct"]))
        console.print(per)
    if result.components:
        _render_components(result.components, console)


def _render_components(components: list[dict], console) -> None:
    from rich.table import Table

    comp = Table(title="What each part of the model buys (P@k: precision when the top k % are inspected)")
    keys = [k for k in components[0] if k not in {"component", "column"} and not k.startswith("recall@")]
    comp.add_column("ranking by")
    for k in keys:
        comp.add_column(k.replace("precision@", "P@").replace("average_precision", "AP").replace("roc_auc", "ROC-AUC"),
                        justify="right")
    for row in components:
        comp.add_row(safe(row["component"]), *[(_pct(row[k]) if "@" in k else f"{row[k]:.3f}") for k in keys])
    console.print(comp)
