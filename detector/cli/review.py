"""`waypoint review ...`: the review page, decisions from the terminal, label export."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, results, safe
from detector.cli._options import PictureEventsOption, PictureInputsOption

app = typer.Typer(help="Review flagged shipments: web page, decisions, label export.", no_args_is_help=True)

_Db = Annotated[Path | None, typer.Option("--db", help="Decision store (SQLite). Default: $WAYPOINT_HOME/decisions.db.")]


def _db(db: Path | None) -> Path:
    if db is not None:
        return db
    from detector.config import Settings

    return Settings.from_env().decisions_db


@app.command("serve")
def serve(
    scored: Annotated[list[Path], typer.Argument(help="Scored file(s) written by `waypoint score` (Parquet or CSV).")],
    db: _Db = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port, shown at start).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything beyond loopback needs --allow-remote.")] = "127.0.0.1",
    inputs: PictureInputsOption = None,
    events: PictureEventsOption = None,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow binding beyond loopback (requires --token).")] = False,
    token: Annotated[str | None, typer.Option("--token", help="Access token every request must carry (open the page once with ?token=...).")] = None,
    log_file: Annotated[Path | None, typer.Option("--log-file", help="Append one line per request (time, client, method, path, status) to this file.")] = None,
    routes: Annotated[Path | None, typer.Option("--routes", help="Route table written by `waypoint routes -o` (the /routes page).")] = None,
) -> None:
    """Open the review page: queue of flagged shipments, shipment detail, decisions."""
    from detector.review.app import bind, build_app, serve as run
    from detector.review.security import SecurityConfig

    security = SecurityConfig(host=host, allow_remote=allow_remote, token=token)
    web = build_app(scored, _db(db), security=security, inputs=inputs or None, events=events or None, access_log=log_file,
                    routes=routes)
    sock = bind(host, port)  # a busy port is an error here, before any URL is announced
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/" + ("?token=…" if token else "")
    err_console.print(f"review page on [bold]{safe(url)}[/] (Ctrl+C to stop)", highlight=False)
    if log_file is not None:
        err_console.print(f"access log: {safe(log_file)}", highlight=False)
    run(web, sock=sock)


@app.command("list")
def list_(
    db: _Db = None,
    status: Annotated[str | None, typer.Option("--status", help="Only shipments whose current status is this (confirmed, cleared, needs-info).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decisions as JSON on stdout.")] = False,
) -> None:
    """List each decided shipment with its current (latest) decision."""
    from detector.review.store import DecisionStore

    decisions = DecisionStore(_db(db)).current(status)
    if as_json:
        typer.echo(json.dumps([d.as_dict() for d in decisions], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(decisions)} decided shipment(s)")
    for column in ("shipment", "status", "analyst", "decided (UTC)", "note"):
        table.add_column(column, overflow="fold")  # a long id or note is wrapped, never cut
    for d in decisions:  # every cell is data someone typed: printed literally
        table.add_row(safe(d.shipment_id), safe(d.status), safe(d.analyst), safe(d.decided_at), safe(d.note))
    results().print(table)


@app.command("decide")
def decide(
    shipment_id: Annotated[str, typer.Argument(help="The shipment to decide on.")],
    status: Annotated[str, typer.Option("--status", help="confirmed, cleared or needs-info.")],
    note: Annotated[str, typer.Option("--note", help="What you checked; kept with the decision.")],
    analyst: Annotated[str | None, typer.Option("--analyst", help="Your name (default: the login name).")] = None,
    scored: Annotated[list[Path] | None, typer.Option("--scored", help="Scored file(s) the shipment is in: the id is checked against them, and the decision records its model and score.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Record the decision even when the id is in no scored file given (or none is given).")] = False,
    db: _Db = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored decision as JSON on stdout.")] = False,
) -> None:
    """Record one decision (appended; earlier decisions are kept)."""
    from detector.errors import InputError
    from detector.review.store import DecisionStore, check_decision

    if analyst is None:
        import getpass

        analyst = getpass.getuser()
    check_decision(status, note=note, analyst=analyst)
    context = None
    if scored:
        from detector.review.queue import ScoredSet

        files = ScoredSet(list(scored))
        row = files.shipment(shipment_id)
        if row is not None:
            context = files.context(shipment_id, row)
        elif not force:
            raise InputError(f"shipment {shipment_id!r} is not in {files.label}",
                             hint="check the id, or pass --force to record it anyway")
    elif not force:
        raise InputError(f"cannot check that {shipment_id!r} was scored: no --scored file given",
                         hint="pass --scored FILE (the file the shipment is in), or --force to record it unchecked")
    d = DecisionStore(_db(db)).decide(shipment_id, status, note=note.strip(), analyst=analyst.strip(), context=context)
    if as_json:
        typer.echo(json.dumps(d.as_dict(), indent=2))
    else:
        results().print(f"{safe(d.shipment_id)}: {safe(d.status)} (decision {d.id}, by {safe(d.analyst) or 'unknown'})",
                        highlight=False)


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="Labels file to write (.csv or .parquet), or - for CSV on stdout: shipment_id,label,scenario.")],
    db: _Db = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary (file, labels, confirmed, cleared) as JSON on stdout.")] = False,
) -> None:
    """Write confirmed (1) and cleared (0) shipments as labels for `waypoint evaluate/train --labels`."""
    from detector.errors import InputError
    from detector.io.write import check_output, is_stdout, neutralise_formulas, output_format, write_table
    from detector.review.store import DecisionStore

    path = _db(db)
    if is_stdout(output) and as_json:
        raise InputError("-o - and --json both write to stdout", hint="write the labels to a file with -o FILE, or leave out --json")
    check_output(output, [path], stdout=True)
    if not is_stdout(output):
        output_format(output)  # an unknown extension is refused before the store is opened
    labels = DecisionStore(path).labels()
    if is_stdout(output):
        typer.echo(neutralise_formulas(labels).write_csv(), nl=False)
        return
    write_table(labels, output)
    summary = {"output": str(output), "labels": labels.height, "confirmed": int((labels["label"] == 1).sum()),
               "cleared": int((labels["label"] == 0).sum())}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    results().print(f"wrote {summary['labels']} label(s) to {safe(output)} "
                    f"({summary['confirmed']} confirmed, {summary['cleared']} cleared)", highlight=False)
