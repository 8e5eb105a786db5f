"""`waypoint features ...`: build the feature frame, measure signals, render the dictionary."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, results, safe

app = typer.Typer(help="Build transshipment features, measure their signal, document them.", no_args_is_help=True)

# What `build` and `report` both read, declared once.
_Shipments = Annotated[list[Path], typer.Argument(help="Shipment files (CSV or Parquet; several or globs).")]
_Inputs = Annotated[
    list[Path] | None,
    typer.Option("--inputs", help="Component-import files of the transit country (enables value-added features)."),
]
_Events = Annotated[
    list[Path] | None,
    typer.Option("--events", help="Tariff events CSV/Parquet, several files or globs (default: the table shipped with waypoint)."),
]
_Mapping = Annotated[
    Path | None, typer.Option("--mapping", help="Column mapping (TOML) for shipment files with foreign column names.")
]


def _one_events_file(events: list[Path] | None) -> Path | None:
    """The feature commands read one events table: several files are refused with a message."""
    if not events:
        return None
    if len(events) > 1:
        from detector.errors import InputError

        raise InputError("--events: the feature commands read one tariff-event table",
                         hint="join the tables into one file, or pass --events once")
    return events[0]


@app.command("build")
def build_cmd(
    shipments: _Shipments,
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Output file (.parquet or .csv).")] = None,
    out_old: Annotated[Path | None, typer.Option("--out", hidden=True, help="Old spelling of --output.")] = None,
    inputs: _Inputs = None,
    events: _Events = None,
    mapping: _Mapping = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Build every feature for the shipments and write the feature frame."""
    from detector.errors import InputError
    from detector.io.read import rejects_path
    from detector.io.write import check_output, output_format
    from detector.signal_report import build_files, write_features

    if out is not None and out_old is not None:
        raise InputError("give --output once (--out is its old spelling)")
    out = out or out_old
    if out is None:
        raise InputError("missing --output FILE", hint="e.g. -o features.parquet")
    check_output(out, [*shipments, *(inputs or []), *(events or []), mapping], beside=[rejects_path(out)])
    output_format(out)  # an unknown extension is refused before the features are built
    built = build_files(shipments, inputs=inputs or None, events=_one_events_file(events), mapping=mapping)
    path, rejects = write_features(built, out)
    summary = {
        "output": str(path), "rows_read": built.shipments.rows_read, "rows_written": built.features.height,
        "rows_rejected": built.shipments.rejects.height, "rejects_file": str(rejects) if rejects else None,
        "events_file": str(built.events_file), "inputs": built.inputs is not None,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    results().print(f"wrote {summary['rows_written']} rows with features to {safe(path)}", highlight=False)
    if rejects and summary["rows_rejected"]:
        err_console.print(f"[yellow]{summary['rows_rejected']} rows rejected[/] (see {safe(rejects)})", highlight=False)


@app.command("report")
def report_cmd(
    shipments: _Shipments,
    labels: Annotated[Path, typer.Option("--labels", help="Label file: shipment_id,label[,scenario].")],
    inputs: _Inputs = None,
    events: _Events = None,
    mapping: _Mapping = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON on stdout.")] = False,
) -> None:
    """Each feature's ROC-AUC against the labels (oriented by its direction) and coverage."""
    from detector.signal_report import report_files

    table = report_files(shipments, labels, inputs=inputs or None, events=_one_events_file(events), mapping=mapping)
    if as_json:
        typer.echo(json.dumps(table.to_dicts()))
        return
    from rich.table import Table

    out = Table(title="Feature signal (ROC-AUC oriented by direction; 0.5 = none)")
    for col in ("feature", "family", "direction", "auc", "coverage"):
        out.add_column(col, justify="right" if col in ("auc", "coverage") else "left")
    for r in table.iter_rows(named=True):
        auc = "-" if r["auc"] is None else f"{r['auc']:.3f}"
        out.add_row(r["feature"], r["family"], r["direction"], auc, f"{r['coverage']:.0%}")
    results().print(out)


@app.command("docs")
def docs_cmd(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if docs/features.md is not current instead of writing it.")] = False,
    path: Annotated[Path, typer.Option("--path", help="Where the feature dictionary lives.")] = Path("docs/features.md"),
) -> None:
    """Write the feature dictionary (docs/features.md) from the registry."""
    from detector.io.write import atomic_path
    from features.docs import render

    text = render()
    if check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            err_console.print(f"[red]{safe(path)} is out of date[/]: run `waypoint features docs`", highlight=False)
            raise typer.Exit(1)
        results().print(f"{safe(path)} is current", highlight=False)
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    results().print(f"wrote {safe(path)}", highlight=False)

