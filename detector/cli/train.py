"""`waypoint train`: fit a detector on shipment files and register it in MLflow."""
from __future__ import annotations

from pathlib import Path

import typer

from detector.cli._console import err_console, json_text, results, safe


def train(
    shipments: list[str] = typer.Argument(..., help="Training shipment files or globs (CSV or Parquet)."),
    inputs: list[str] = typer.Option(None, "--inputs", help="Component imports of the transit countries (files or globs)."),
    events: list[str] = typer.Option(None, "--events", help="Tariff events (default: the table shipped with waypoint)."),
    mapping: Path = typer.Option(None, "--mapping", help="TOML column mapping for foreign files."),
    parties: list[str] = typer.Option(
        None, "--parties",
        help="Known-party list (CSV or Parquet: party_id and/or party_name, role, list_name, source, date_listed): "
             "lines of a listed importer, exporter or manufacturer from its listing date on get the KNOWN_PARTY "
             "feature and reason; the model keeps the list and scores with it.",
    ),
    labels: Path = typer.Option(None, "--labels", help="Known outcomes (shipment_id,label): train the supervised ranker beside the forest (needs 50 positives and 50 negatives) and report precision/recall."),
    experiment: str = typer.Option("waypoint", "--experiment", help="MLflow experiment to record the run in."),
    model_name: str = typer.Option("waypoint", "--model-name", help="Registered model to add a version to."),
    n_estimators: int = typer.Option(200, "--n-estimators", min=1, help="Trees in the isolation forest."),
    contamination: float = typer.Option(0.01, "--contamination", min=0.0001, max=0.5, help="Share of training rows above the flag threshold."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the forest (same files + seed = same model)."),
    budget: str = typer.Option(
        "1%", "--budget", help="Inspection budget the model flags by default when it scores, e.g. 1% of the lines "
                               "(a run's --budget, --top or --threshold model replaces it).",
    ),
    importing_country: str = typer.Option(
        None, "--importing-country",
        help="Country whose imports these are, for lines that do not say (default: the one country the tariff events "
             "name, US for the shipped table); only its measures apply, and the model records it.",
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    force: bool = typer.Option(False, "--force", help="Train even on fewer valid lines than the forest draws per tree (256)."),
    baseline: bool = typer.Option(False, "--baseline", help="With --labels: also fit the plain gradient-boosted baseline on the same held-out split and report both."),
    strict: bool = typer.Option(
        False, "--strict", help="Reject every line that breaks a rule instead of training on it with data-quality codes, "
                                "and fail when a side table (--inputs, --events, --labels) rejects rows.",
    ),
    max_reject_share: str = typer.Option(None, "--max-reject-share", help="Fail (exit 2) when more than this share of the lines is rejected, e.g. 5%."),
    engine: str = typer.Option(
        "local", "--engine", help="`spark`: read the files, build the features and fit the reference state on Apache Spark "
                                  "(paths Spark reads; the forest is fitted on the driver; needs the spark extra: pip install 'waypoint\\[spark]').",
    ),
    master: str = typer.Option(None, "--master", help="With --engine spark: the Spark master URL (default: the active session, else local[*])."),
) -> None:
    """Train a detector on SHIPMENTS, record the run in MLflow and register a new model version.

    The first version of a model becomes its [bold]champion[/]; later versions are
    promoted with [bold]waypoint models promote VERSION[/].
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from detector.cli.score import parse_budget, parse_country
    from detector.io.read import parse_share
    from detector.jobs.train import train as run_train

    share = parse_share(max_reject_share)
    from detector.cli.score import _engine

    spark = _engine(engine) == "spark"  # Spark paths stay as typed (s3a://... is no local Path)

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as bar:
        task = bar.add_task("starting", total=None)
        result = run_train(
            list(shipments) if spark else [Path(s) for s in shipments],
            inputs=(list(inputs) if spark else [Path(p) for p in inputs]) if inputs else None,
            events=[Path(p) for p in events] if events else None,
            mapping=mapping,
            parties=[Path(p) for p in parties] if parties else None,
            labels=labels,
            experiment=experiment,
            model_name=model_name,
            n_estimators=n_estimators,
            contamination=contamination,
            seed=seed,
            budget=parse_budget(budget),
            importing_country=parse_country(importing_country),
            progress=lambda msg: bar.update(task, description=safe(msg)),
            force=force,
            baseline=baseline,
            strict=strict,
            max_reject_share=share,
            engine="spark" if spark else "local",
            master=master,
        )
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
