"""`waypoint report`: one self-contained HTML report of a scored file."""
from __future__ import annotations

from pathlib import Path

import typer

from detector.cli._console import err_console


def report(
    scored: list[Path] = typer.Argument(..., help="Scored file(s) written by `waypoint score` (Parquet or CSV)."),
    output: Path = typer.Option(..., "-o", "--output", help="HTML file to write (atomically)."),
    inputs: Path | None = typer.Option(None, "--inputs", help="Component imports of the transit country (for the inputs picture)."),
    events: Path | None = typer.Option(None, "--events", help="Tariff events to mark on the pictures."),
    top: int = typer.Option(10, "--top", min=0, help="How many top suspects to show with their pictures."),
) -> None:
    """Write an HTML report: score distribution, where the flags are, top suspects with pictures."""
    from detector.report import write_report

    summary = write_report(scored, output, inputs=inputs, events=events, top=top)
    err_console.print(
        f"wrote {summary.path}: {summary.rows:,} shipments, {summary.flagged:,} flagged, {summary.suspects} suspects shown",
        highlight=False,
    )
