"""`waypoint demo`: generate, train, score, evaluate and report on a sample world."""
from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, results, safe


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Fresh directory for the demo (a previous demo's is replaced).")] = Path("waypoint-demo"),
    shipments: Annotated[int, typer.Option("--shipments", "-n", help="Shipments in the generated world.")] = 30_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated world and of the forest.")] = 7,
    n_estimators: Annotated[int, typer.Option("--n-estimators", help="Trees in the isolation forest.")] = 200,
) -> None:
    """Run the whole loop on a generated world: train on 18 months, score the last 6, evaluate, report."""
    from detector.cli.evaluate import render as render_evaluation
    from detector.cli.score import render_summary
    from detector.jobs.demo import run_demo

    with err_console.status("starting") as status:
        result = run_demo(directory, shipments=shipments, seed=seed, n_estimators=n_estimators,
                          progress=lambda msg: status.update(safe(msg)))
    out = results()
    t = result.train
    out.rule("[bold]trained")
    out.print(
        f"model [bold]{safe(t.model_name)}[/] version [bold]{t.model_version}[/] ({safe(', '.join(t.aliases)) or 'no alias'}) "
        f"on {t.rows_used:,} shipments before {result.cutoff}; run {safe(t.run_id)}"
    )
    out.rule("[bold]scored the held-out months")
    render_summary(result.score, console=out)
    out.rule("[bold]evaluated against the generator's labels")
    render_evaluation(result.evaluation, console=out)
    r = result.retrained
    out.rule("[bold]version 2, trained with past outcomes")
    out.print(
        f"model {safe(r.model_name)} version {r.model_version} trained with {r.labelled_rows:,} known outcomes "
        f"({'forest + ranker' if r.ranker else 'forest alone'}); registered, not promoted"
    )
    for note in r.warnings:
        out.print(f"[yellow]note:[/] {safe(note)}")
    render_evaluation(result.reevaluation, components_only=True, console=out)
    d = result.directory
    q = lambda p: shlex.quote(str(p))  # noqa: E731
    home = result.settings.home
    # after `python3 dev.py demo` the commands live in .venv/bin, which may not be on PATH
    exe, mlflow = (name if shutil.which(name) else q(Path(sys.executable).with_name(name)) for name in ("waypoint", "mlflow"))
    out.rule("[bold]where everything is")
    out.print(f"world (shipments, inputs, events, labels): {safe(d / 'world')}", highlight=False)
    out.print(f"scored file: {safe(result.score.output)}", highlight=False)
    out.print(f"HTML report: {safe(result.report)}", highlight=False)
    out.print(f"MLflow store and registry: {safe(result.settings.tracking_uri)}", highlight=False)
    out.rule("[bold]try next")
    out.print(safe(
        f"  {exe} review serve {q(result.score.output)} --inputs {q(result.world['inputs'])} "
        f"--events {q(result.world['events'])} --db {q(home / 'decisions.db')}\n"
        f"  WAYPOINT_HOME={q(home)} {exe} models list\n"
        f"  {mlflow} ui --backend-store-uri {result.settings.tracking_uri}\n"
        f"  {exe} features report {q(result.train_file)} --labels {q(result.world['labels'])} "
        f"--inputs {q(result.world['inputs'])} --events {q(result.world['events'])}", newlines=True),
        highlight=False, soft_wrap=True,
    )
