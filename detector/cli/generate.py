"""`waypoint generate`: write a synthetic world of shipments, component imports, events and labels."""
from __future__ import annotations

import datetime as dt
import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, results, safe
from detector.errors import InputError


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--start {text!r} is not a date", hint="write it as YYYY-MM-DD, e.g. 2024-01-01") from None


def generate(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the world into (created if missing).")],
    shipments: Annotated[int, typer.Option("--shipments", "-n", help="Number of shipment lines to generate.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives byte-identical files.")] = 7,
    start: Annotated[str, typer.Option("--start", help="First arrival date, YYYY-MM-DD.")] = "2024-01-01",
    months: Annotated[int, typer.Option("--months", help="Length of the span in months (at least 6).")] = 24,
    fmt: Annotated[str, typer.Option("--format", help="File format of shipments and inputs: csv or parquet.")] = "csv",
    fraud_mix: Annotated[float, typer.Option("--fraud-mix", help="Share of shipments turned into general customs fraud (undervaluation, misclassification, misdeclared quantity; label 1), e.g. 0.08. 0 = transshipment only.")] = 0.0,
    json: Annotated[bool, typer.Option("--json", help="Print the written files and world parameters as JSON on stdout.")] = False,
) -> None:
    """Generate a synthetic world into OUT_DIR: shipments, inputs, events, labels and world.json.

    The shipments hold honest trade, transshipment through shell exporters and on product lines after tariff events, honest look-alikes (relocations, new factories, bulk lots, samples, keying errors) and, with --fraud-mix, general customs fraud; labels.csv says which is which. See docs/generator.md.
    """
    from detector.synth import generate_world, write_world

    if fmt not in ("csv", "parquet"):
        raise InputError(f"--format {fmt!r}: unknown format", hint="use --format csv or --format parquet")
    first = _parse_date(start)
    from detector.io.write import is_stdout

    if is_stdout(out_dir):
        raise InputError("generate writes a folder of files, not a stream", hint="give OUT_DIR a folder name")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder", hint="give OUT_DIR a folder name")
    with err_console.status(f"generating {shipments:,} shipments"):
        world = generate_world(shipments, seed=seed, start=first, months=months, fraud_mix=fraud_mix)
        paths = write_world(world, out_dir, fmt)
    if json:
        typer.echo(jsonlib.dumps({"files": {k: str(p) for k, p in paths.items()}, **world.params}, indent=2))
        return
    _render(world.params, paths, world.inputs.height)


def _render(params: dict, paths: dict[str, Path], n_inputs: int) -> None:
    from rich.table import Table

    table = Table(title="scenarios", title_justify="left", show_edge=False)
    table.add_column("scenario")
    table.add_column("label", justify="right")
    table.add_column("shipments", justify="right")
    transship = set(params.get("fraud_scenarios", params["transshipment_scenarios"]))
    for name, count in params["scenario_counts"].items():
        table.add_row(safe(name), "1" if name in transship else "0", f"{count:,}")
    console = results()
    console.print(
        f"[bold]world[/] seed {params['seed']}, {params['start']} to {params['end']}: "
        f"{params['n_shipments']:,} shipments, {n_inputs:,} component imports"
    )
    events = ", ".join(f"{k} {d}" for k, d in params["events"].items())
    console.print(f"tariff events in the span: {safe(events)}")
    console.print(table)
    out = Path(next(iter(paths.values()))).parent
    console.print(f"wrote {safe(', '.join(p.name for p in paths.values()))} to {safe(out)}", highlight=False)
