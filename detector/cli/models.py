"""`waypoint models ...`: list registered versions, promote one, show one, compare two."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, json_text, results, safe

app = typer.Typer(
    help="List, promote and inspect registered detector versions (MLflow model registry).",
    no_args_is_help=True,
)

#: In the JSON of these commands ``version`` is the model version too: a string, as everywhere.
_VERSIONS = ("model_version", "version")


@app.command("list")
def list_(
    model_name: Annotated[str, typer.Option("--model-name", help="Registered model to list.")] = "waypoint",
    json: Annotated[bool, typer.Option("--json", help="Print the versions as JSON on stdout.")] = False,
) -> None:
    """List every version of a model, newest first, with aliases, training span and metrics."""
    from rich.table import Table

    from detector.jobs.modelref import model_errors, store
    from models.tracking import list_versions

    with model_errors():
        versions = list_versions(store(), model_name)
    if json:
        typer.echo(json_text([v.to_dict() for v in versions], version_keys=_VERSIONS))
        return
    table = Table(title=f"{safe(model_name)} versions", title_justify="left")
    for column in ("version", "aliases", "created (UTC)", "trained on", "threshold", "AP", "run id"):
        table.add_column(column)
    for v in versions:
        ap = v.metrics.get("average_precision")
        threshold = v.metrics.get("threshold")
        table.add_row(
            str(v.version),
            safe(", ".join(v.aliases)) or "-",
            safe(v.created),
            safe(v.trained_span) or "-",
            f"{threshold:.4f}" if threshold is not None else "-",
            f"{ap:.3f}" if ap is not None else "-",
            safe(v.run_id) or "-",
        )
    results().print(table)


@app.command("promote")
def promote(
    version: Annotated[int, typer.Argument(help="Model version to promote (see `waypoint models list`).")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to point at the version.")] = "champion",
    model_name: Annotated[str, typer.Option("--model-name", help="Registered model the version belongs to.")] = "waypoint",
    json: Annotated[bool, typer.Option("--json", help="Print the promoted version as JSON on stdout.")] = False,
) -> None:
    """Point an alias (default: champion, what `waypoint score` uses) at VERSION."""
    from detector.jobs.modelref import model_errors, store
    from models.tracking import promote as run_promote

    with model_errors():
        info = run_promote(store(), model_name, version, alias)
    if json:
        typer.echo(json_text(info.to_dict(), version_keys=_VERSIONS))
    results(json).print(f"[bold green]promoted[/] {safe(model_name)} version {info.version} to @{safe(alias)}", highlight=False)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS, NAME/VERSION, a run id, or a saved detector directory.")] = "waypoint@champion",
    json: Annotated[bool, typer.Option("--json", help="Print the model description as JSON on stdout.")] = False,
) -> None:
    """Load a model (verifying every file) and describe it: features, threshold, span, parameters,
    the files it was trained on with their SHA-256, and its run's metrics."""
    from detector.jobs.models import describe

    description = describe(ref)
    if json:
        typer.echo(json_text(description, version_keys=_VERSIONS))
        return
    console = results()
    for key, value in description.items():
        if key == "training_files":
            console.print(f"[bold]{key}:[/]" + ("" if value else " -"), highlight=False)
            for f in value:
                console.print(f"  {safe(f['role'])}: {safe(f['path'])}  sha256 {safe(f['sha256'])}", highlight=False, soft_wrap=True)
            continue
        if key == "metrics":
            value = ", ".join(f"{k} {v:.4g}" for k, v in sorted(value.items())) or "-"
        elif isinstance(value, list) and key == "features":
            value = ", ".join(value)
        console.print(f"[bold]{key}:[/] {safe(value)}", highlight=False, soft_wrap=True)


@app.command("compare")
def compare(
    a: Annotated[str, typer.Argument(help="First model: NAME@ALIAS, NAME/VERSION, a run id, or a saved detector directory.")],
    b: Annotated[str, typer.Argument(help="Second model, the same way.")],
    file: Annotated[list[str] | None, typer.Option("--file", help="Shipment files or globs to score with both models (the score shift).")] = None,
    inputs: Annotated[list[str] | None, typer.Option("--inputs", help="Component imports for scoring --file (files or globs).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML column mapping for --file.")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
) -> None:
    """Compare two models: parameters, features, every metric of their runs (held-out `eval_*` ones
    from `waypoint evaluate --log`) and, with --file, how the scores of that file move between them."""
    from detector.jobs.models import compare as run_compare

    with err_console.status("comparing") as status:
        result = run_compare(a, b, file=[Path(f) for f in file] if file else None,
                             inputs=[Path(p) for p in inputs] if inputs else None, mapping=mapping,
                             progress=lambda msg: status.update(safe(msg)))
    if json:
        typer.echo(json_text(result.to_dict(), version_keys=_VERSIONS))
        return
    _render_comparison(result, results())


def _num(value) -> str:
    return "-" if value is None else (f"{value:.4g}" if isinstance(value, float) else safe(value))


def _render_comparison(result, console) -> None:
    from rich.table import Table

    label = {side: f"{safe(h['name'])} v{safe(h['version'])}" for side, h in (("a", result.a), ("b", result.b))}
    for side, head in (("A", result.a), ("B", result.b)):
        span = " .. ".join(head["trained_span"]) if head["trained_span"] else "-"
        console.print(f"[bold]{side}[/] {label[side.lower()]} · run {safe(head['run_id']) or '-'} · trained on {safe(span)}",
                      highlight=False)
    differ = [p for p in result.params if not p["same"]]
    console.print(f"[bold]parameters:[/] {len(result.params) - len(differ)} the same, {len(differ)} differ", highlight=False)
    table = Table()
    for column in ("parameter", "A", "B"):
        table.add_column(column, overflow="fold")
    for p in differ:
        table.add_row(safe(p["name"]), safe(p["a"]) if p["a"] is not None else "-", safe(p["b"]) if p["b"] is not None else "-")
    if differ:
        console.print(table)
    console.print(f"[bold]features:[/] {len(result.features_both)} in both", highlight=False)
    for side, only in (("A", result.features_only_a), ("B", result.features_only_b)):
        if only:
            console.print(f"  only in {side}: {safe(', '.join(only))}", highlight=False, soft_wrap=True)
    if result.metrics:
        console.print("[bold]metrics[/] of the runs (eval_*: held-out figures recorded by `waypoint evaluate --log`)",
                      highlight=False)
        table = Table()
        for column in ("metric", "A", "B", "B - A"):
            table.add_column(column, justify="right" if column != "metric" else "left")
        for m in result.metrics:
            table.add_row(safe(m["name"]), _num(m["a"]), _num(m["b"]), _num(m["change"]))
        console.print(table)
    shift = result.shift
    if shift is None:
        return
    console.print(
        f"[bold]score shift[/] on {safe(', '.join(shift.file))}: {shift.rows:,} lines · Spearman rank correlation "
        f"{shift.spearman:.3f} · top {shift.top_share:.0%}: {shift.top_overlap:,} of {shift.top_a:,} in both · "
        f"flagged A {shift.flagged_a:,}, B {shift.flagged_b:,}, both {shift.flagged_both:,}",
        highlight=False, soft_wrap=True,
    )
    if shift.moves:
        console.print("[bold]largest moves[/] of risk_score", highlight=False)
        table = Table()
        for column in ("shipment", "score A", "score B", "change", "rank A", "rank B"):
            table.add_column(column, justify="left" if column == "shipment" else "right")
        for m in shift.moves:
            table.add_row(safe(m["shipment_id"]), f"{m['risk_score_a']:.1f}", f"{m['risk_score_b']:.1f}",
                          f"{m['change']:+.1f}", f"{m['risk_rank_a']:,}", f"{m['risk_rank_b']:,}")
        console.print(table)
