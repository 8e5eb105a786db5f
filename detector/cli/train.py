"""`waypoint train`: fit a detector on shipment files and register it in MLflow."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, json_text, results, safe
from detector.cli._options import InputsOption, MappingOption, MasterOption, MaxRejectShareOption, ShippedEventsOption


def train(
    shipments: Annotated[list[str], typer.Argument(help="Training shipment files or globs (CSV or Parquet).")],
    inputs: InputsOption = None,
    events: ShippedEventsOption = None,
    mapping: MappingOption = None,
    parties: Annotated[list[str] | None, typer.Option(
        "--parties",
        help="Known-party list (CSV or Parquet: party_id and/or party_name, role, list_name, source, date_listed): "
             "lines of a listed importer, exporter or manufacturer from its listing date on get the KNOWN_PARTY "
             "feature and reason; the model keeps the list and scores with it.",
    )] = None,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Known outcomes (shipment_id,label): train the supervised ranker beside the forest (needs 50 positives and 50 negatives) and report precision/recall.",
    )] = None,
    experiment: Annotated[str, typer.Option("--experiment", help="MLflow experiment to record the run in.")] = "waypoint",
    model_name: Annotated[str, typer.Option("--model-name", help="Registered model to add a version to.")] = "waypoint",
    n_estimators: Annotated[int, typer.Option("--n-estimators", min=1, help="Trees in the isolation forest.")] = 200,
    contamination: Annotated[float, typer.Option(
        "--contamination", min=0.0001, max=0.5, help="Share of training rows above the flag threshold.",
    )] = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the forest (same files + seed = same model).")] = 0,
    budget: Annotated[str, typer.Option(
        "--budget", help="Inspection budget the model flags by default when it scores, e.g. 1% of the lines "
                         "(a run's --budget, --top or --threshold model replaces it).",
    )] = "1%",
    importing_country: Annotated[str | None, typer.Option(
        "--importing-country",
        help="Country whose imports these are, for lines that do not say (default: the one country the tariff events "
             "name, US for the shipped table); only its measures apply, and the model records it.",
    )] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Train even on fewer valid lines than the forest draws per tree (256).",
    )] = False,
    baseline: Annotated[bool, typer.Option(
        "--baseline", help="With --labels: also fit the plain gradient-boosted baseline on the same held-out split and report both.",
    )] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Reject every line that breaks a rule instead of training on it with data-quality codes, "
                         "and fail when a side table (--inputs, --events, --labels) rejects rows.",
    )] = False,
    max_reject_share: MaxRejectShareOption = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="`spark`: read the files, build the features and fit the reference state on Apache Spark "
                         "(paths Spark reads; the forest is fitted on the driver; needs the spark extra: pip install 'waypoint\\[spark]').",
    )] = "local",
    master: MasterOption = None,
) -> None:
    """Train a detector on SHIPMENTS, record the run in MLflow and register a new model version.

    The first version of a model becomes its [bold]champion[/]; later versions are
    promoted with [bold]waypoint models promote VERSION[/].
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from detector.cli.score import _engine, parse_budget, parse_country
    from detector.config import Settings
    from detector.io.read import parse_share
    from detector.jobs.requests import Registration, TrainFiles, TrainRequest
    from models.params import ForestParams

    # The whole run as one value, before any file is read; paths stay as typed (Spark reads
    # ``s3a://...``, which is no local path).
    request = TrainRequest(
        TrainFiles(tuple(shipments), inputs=tuple(inputs) if inputs else None, events=tuple(events) if events else None,
                   parties=tuple(parties) if parties else None, labels=labels, mapping=mapping),
        forest=ForestParams(n_estimators=n_estimators, contamination=contamination, seed=seed),
        registration=Registration(experiment=experiment, model_name=model_name),
        budget=parse_budget(budget), baseline=baseline, force=force, importing_country=parse_country(importing_country),
        strict=strict, max_reject_share=parse_share(max_reject_share), engine=_engine(engine), master=master,
    )
    from detector.jobs.train import train as run_train

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as bar:
        task = bar.add_task("starting", total=None)
        result = run_train(request, settings=Settings.from_env(), say=lambda msg: bar.update(task, description=safe(msg)))
    if json:
        typer.echo(json_text(result.to_dict()))
    _summary(result, results(json))


def _summary(result, console=None) -> None:
    alias = f" (alias: {', '.join(result.aliases)})" if result.aliases else " (not promoted: `waypoint models promote " + str(result.model_version) + "`)"
    say = (console or results()).print
    say(f"[bold green]trained[/] {safe(result.model_name)} version {result.model_version}{safe(alias)} in {result.seconds:.1f} s", highlight=False)
    say(f"  run id:        {safe(result.run_id)} (experiment {safe(result.experiment)})", highlight=False)
    span = " .. ".join(result.trained_span) if result.trained_span else "-"
    say(f"  rows:          {result.rows_used:,} used, {result.rows_rejected:,} rejected of {result.rows_read:,} read; arrivals {span}", highlight=False)
    for code, count in sorted(result.reject_counts.items(), key=lambda kv: -kv[1])[:8]:
        say(f"                 {count:,} x {safe(code)}", highlight=False)
    if getattr(result, "dq_counts", None):
        say("  data quality:  " + safe(", ".join(f"{code} {n:,}" for code, n in result.dq_counts.items()))
            + " (lines trained on with these codes; column dq_codes)", highlight=False)
    m = result.metrics
    say(f"  threshold:     {m.get('threshold', float('nan')):.4f} (flags {m.get('flagged_share', 0) * 100:.2f} % of training rows)", highlight=False)
    if "average_precision" in m:
        say(
            f"  labels:        {result.labelled_rows:,} rows; in-sample precision@1% {m.get('precision_at_1pct', float('nan')):.3f}, "
            f"recall@1% {m.get('recall_at_1pct', float('nan')):.3f}, AP {m['average_precision']:.3f}",
            highlight=False,
        )
    if "heldout_roc_auc" in m:
        import datetime as dt

        since = dt.date(1970, 1, 1) + dt.timedelta(days=int(m["heldout_cutoff_days"]))
        say(f"  held out:      labelled lines from {since} ({m['heldout_rows']:,.0f}, {m['heldout_positives']:,.0f} positive), "
            f"scored by a model fitted on the lines before; the registered model is fitted on all", highlight=False)
        systems = [("waypoint", "heldout_"), ("ranker alone", "heldout_ranker_"), ("forest alone", "heldout_forest_"),
                   ("baseline GBM", "heldout_baseline_")]
        for name, prefix in systems:
            if f"{prefix}roc_auc" in m:
                say(f"    {name:<13}precision@1% {m[f'{prefix}precision_at_1pct']:.3f}, @5% {m[f'{prefix}precision_at_5pct']:.3f}, "
                    f"AP {m[f'{prefix}average_precision']:.3f}, ROC-AUC {m[f'{prefix}roc_auc']:.3f}", highlight=False)
    if getattr(result, "ranker", False):
        say(
            f"  ranker:        trained on the labels; scores blend forest and ranker "
            f"(in-sample AP forest {m.get('forest_average_precision', float('nan')):.3f}, "
            f"ranker {m.get('ranker_average_precision', float('nan')):.3f})",
            highlight=False,
        )
    for warning in result.warnings:
        err_console.print(f"  [yellow]warning:[/] {safe(warning)}", highlight=False)
    say(f"  store:         {safe(result.store)}", highlight=False)
    say(f"  browse runs:   {safe(result.ui_command)}", highlight=False, soft_wrap=True)
