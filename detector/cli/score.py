"""`waypoint score`: rank shipment files with a registered model."""
from __future__ import annotations

from pathlib import Path

import typer

from detector.cli._console import err_console, json_text, results, safe
from detector.errors import InputError


def parse_budget(text: str | None) -> float | None:
    """'1%' -> 0.01, '0.02' -> 0.02; None stays None."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise InputError(f"--budget {text!r} is not a share", hint="write it as 1% or 0.01") from None
    if not 0 < value <= 1:
        raise InputError(f"--budget {text!r} must be above 0 and at most 100%")
    return value


def score(
    shipments: list[str] = typer.Argument(..., help="Shipment files or globs (CSV or Parquet)."),
    output: Path = typer.Option(..., "-o", "--output", help="Scored file to write (.parquet or .csv)."),
    model: str = typer.Option(None, "--model", help="NAME@ALIAS, NAME/VERSION or a run id (default: waypoint@champion)."),
    inputs: list[str] = typer.Option(None, "--inputs", help="Component imports of the transit countries (files or globs)."),
    events: list[str] = typer.Option(None, "--events", help="Tariff events (default: the table shipped with waypoint)."),
    mapping: Path = typer.Option(None, "--mapping", help="TOML column mapping for foreign files."),
    budget: str = typer.Option(None, "--budget", help="Flag this share of the file instead of the model's threshold, e.g. 1%."),
    top: int = typer.Option(None, "--top", min=1, help="Flag exactly the N most suspicious shipments."),
    explore: float = typer.Option(
        0.1, "--explore", min=0.0, max=0.9,
        help="Share of the flags reserved for shipments the forest finds unusual but the ranker does not rank high "
             "(marked in the `explore` column); no effect on a model without a ranker.",
    ),
    json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    chunk_rows: int = typer.Option(
        None, "--chunk-rows", min=1,
        help="Memory bound: a file of more lines is built a few arrival months and scored this many lines at a time "
             "(same scores; default 1,000,000).",
    ),
) -> None:
    """Score SHIPMENTS: write a ranked file with risk scores, flags and reasons (rejects beside it)."""
    from detector.config import Settings
    from detector.jobs.modelref import resolve
    from detector.jobs.score import score as run_score

    if budget is not None and top is not None:
        raise InputError("give --budget or --top, not both")
    from detector.io.read import rejects_path
    from detector.io.write import check_output

    # Before any work: the scored file and its rejects must not land on an input, nor on a folder.
    check_output(output, [*shipments, *(inputs or []), *(events or []), mapping], beside=[rejects_path(output)])
    settings = Settings.from_env()
    with err_console.status("reading shipments and loading the model") as status:
        result = run_score(
            [Path(s) for s in shipments], output, model=lambda: resolve(model, settings),
            inputs=[Path(p) for p in inputs] if inputs else None,
            events=[Path(p) for p in events] if events else None,
            mapping=mapping, budget=parse_budget(budget), top=top, explore=explore,
            progress=lambda msg: status.update(safe(msg)),
            **({"chunk_rows": chunk_rows} if chunk_rows else {}),
        )
    if json:
        typer.echo(json_text(result.to_dict()))
        return
    render_summary(result)


def render_summary(result, console=None) -> None:
    """The run's summary on stdout (or ``console``); ids, reasons and names from the data print literally."""
    say = (console or results()).print
    say(
        f"[bold]{result.rows_read:,}[/] rows read = [bold]{result.rows_scored:,}[/] scored + "
        f"[bold]{result.rows_rejected:,}[/] rejected · [bold red]{result.flagged:,}[/] flagged · "
        f"model {safe(result.model)} v{safe(result.model_version)} · {result.seconds:.1f}s"
    )
    if getattr(result, "explored", 0):
        say(f"{result.explored:,} of the flags explore: unusual to the forest, not ranked high by the ranker (column `explore`)")
    if result.reject_counts:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(result.reject_counts.items(), key=lambda kv: -kv[1]))
        say(f"rejected rows by reason: {safe(reasons)} → {safe(result.rejects)}", highlight=False)
    if result.top:
        say(f"[bold]Top {len(result.top)} suspects[/] (rank · score · shipment · exporter · origin · HS):")
        for row in result.top:
            say(
                f"  [bold]{row['risk_rank']:>3}[/] · {row['risk_score']:5.1f} · {safe(row['shipment_id'])} · "
                f"{safe(row['exporter_id'])} · {safe(row['origin_country'])} · {safe(row['hs_code'])}",
                highlight=False,
            )
            for reason in (row["reasons"] or "").split(" | "):
                if reason:
                    say(f"        – {safe(reason)}", highlight=False, soft_wrap=True)
    if result.top_reason_codes:
        say("top reason codes among flags: " + safe(", ".join(f"{c} ({n})" for c, n in result.top_reason_codes)))
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False)
    say(f"scored file: [bold]{safe(result.output)}[/]", highlight=False)
