"""`waypoint models ...`: list registered versions, promote one, show one."""
from __future__ import annotations

import typer

from detector.cli._console import json_text, results, safe

app = typer.Typer(
    help="List, promote and inspect registered detector versions (MLflow model registry).",
    no_args_is_help=True,
)

#: In the JSON of these commands ``version`` is the model version too: a string, as everywhere.
_VERSIONS = ("model_version", "version")


@app.command("list")
def list_(
    model_name: str = typer.Option("waypoint", "--model-name", help="Registered model to list."),
    json: bool = typer.Option(False, "--json", help="Print the versions as JSON on stdout."),
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
    version: int = typer.Argument(..., help="Model version to promote (see `waypoint models list`)."),
    alias: str = typer.Option("champion", "--alias", help="Alias to point at the version."),
    model_name: str = typer.Option("waypoint", "--model-name", help="Registered model the version belongs to."),
    json: bool = typer.Option(False, "--json", help="Print the promoted version as JSON on stdout."),
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
    ref: str = typer.Argument("waypoint@champion", help="NAME@ALIAS, NAME/VERSION, a run id, or a saved detector directory."),
    json: bool = typer.Option(False, "--json", help="Print the model description as JSON on stdout."),
) -> None:
    """Load a model (verifying every file) and describe it: features, threshold, span, parameters."""
    from detector.jobs.modelref import resolve

    loaded = resolve(ref)
    d = loaded.detector
    description = {
        "ref": ref,
        "name": loaded.name,
        "version": loaded.version,
        "run_id": loaded.run_id,
        "contract_version": d.contract_version,
        "trained_span": list(d.trained_span) if d.trained_span else None,
        "threshold": d.threshold,
        "features": list(d.feature_names),
        "params": d.params,
        "reference_state_as_of": str(d.state.as_of) if d.state is not None else None,
        "reference_state_digest": d.state.digest() if d.state is not None else None,
    }
    if json:
        typer.echo(json_text(description, version_keys=_VERSIONS))
        return
    console = results()
    for key, value in description.items():
        if isinstance(value, list) and key == "features":
            value = ", ".join(value)
        console.print(f"[bold]{key}:[/] {safe(value)}", highlight=False, soft_wrap=True)
