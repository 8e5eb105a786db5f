"""`waypoint report`: one self-contained HTML report of a scored file."""
from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import results, safe
from detector.cli._options import PictureEventsOption, PictureInputsOption


def report(
    scored: Annotated[list[Path], typer.Argument(help="Scored file(s) written by `waypoint score` (Parquet or CSV).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write (atomically), or - for stdout.")],
    inputs: PictureInputsOption = None,
    events: PictureEventsOption = None,
    top: Annotated[int, typer.Option("--top", min=0, help="How many top suspects to show with their pictures.")] = 10,
    routes: Annotated[Path | None, typer.Option("--routes", help="Route table written by `waypoint routes -o`: adds the section of routes ranked by excess value.")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print a summary (file, shipments, flagged, suspects) as JSON on stdout.")] = False,
) -> None:
    """Write an HTML report: score distribution, where the flags are, top suspects with pictures."""
    from detector.errors import InputError
    from detector.io.write import check_output, is_stdout
    from detector.report import write_report

    if is_stdout(output) and json:
        raise InputError("-o - and --json both write to stdout", hint="write the report to a file with -o FILE, or leave out --json")
    check_output(output, [*scored, *(inputs or []), *(events or []), *([routes] if routes else [])], stdout=True)
    if is_stdout(output):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="waypoint-report-") as tmp:
            summary = write_report(scored, Path(tmp) / "report.html", inputs=inputs or None, events=events or None, top=top,
                                   routes=routes)
            typer.echo(summary.path.read_text(encoding="utf-8"), nl=False)
        return
    summary = write_report(scored, output, inputs=inputs or None, events=events or None, top=top, routes=routes)
    facts = {"output": str(summary.path), "shipments": summary.rows, "flagged": summary.flagged, "suspects": summary.suspects}
    if json:
        typer.echo(jsonlib.dumps(facts, indent=2))
        return
    results().print(
        f"wrote {safe(summary.path)}: {summary.rows:,} shipments, {summary.flagged:,} flagged, {summary.suspects} suspects shown",
        highlight=False,
    )
