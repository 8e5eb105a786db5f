"""`waypoint review ...`: the review page, decisions from the terminal, label export."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from detector.cli._console import err_console

app = typer.Typer(help="Review flagged shipments: web page, decisions, label export.", no_args_is_help=True)

_DB_HELP = "Decision store (SQLite). Default: $WAYPOINT_HOME/decisions.db."


def _db(db: Path | None) -> Path:
    if db is not None:
        return db
    from detector.config import Settings

    return Settings.from_env().decisions_db


@app.command("serve")
def serve(
    scored: list[Path] = typer.Argument(..., help="Scored file(s) written by `waypoint score` (Parquet or CSV)."),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    port: int = typer.Option(8765, "--port", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything beyond loopback needs --allow-remote."),
    inputs: Path | None = typer.Option(None, "--inputs", help="Component imports of the transit country (for the inputs picture)."),
    events: Path | None = typer.Option(None, "--events", help="Tariff events to mark on the pictures."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow binding beyond loopback (requires --token)."),
    token: str | None = typer.Option(None, "--token", help="Access token every request must carry (open the page once with ?token=...)."),
) -> None:
    """Open the review page: queue of flagged shipments, shipment detail, decisions."""
    from detector.review.app import build_app, serve as run
    from detector.review.security import SecurityConfig

    security = SecurityConfig(host=host, allow_remote=allow_remote, token=token)
    web = build_app(scored, _db(db), security=security, inputs=inputs, events=events)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + ("?token=…" if token else "")
    err_console.print(f"review page on [bold]{url}[/] (Ctrl+C to stop)", highlight=False)
    run(web, host, port)


@app.command("list")
def list_(
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    status: str | None = typer.Option(None, "--status", help="Only shipments whose current status is this (confirmed, cleared, needs-info)."),
    as_json: bool = typer.Option(False, "--json", help="Print the decisions as JSON on stdout."),
) -> None:
    """List each decided shipment with its current (latest) decision."""
    from detector.review.store import DecisionStore

    decisions = DecisionStore(_db(db)).current(status)
    if as_json:
        typer.echo(json.dumps([d.as_dict() for d in decisions], indent=2))
        return
    from rich.table import Table

    table = Table("shipment", "status", "analyst", "decided (UTC)", "note", title=f"{len(decisions)} decided shipment(s)")
    for d in decisions:
        table.add_row(d.shipment_id, d.status, d.analyst, d.decided_at, d.note)
    err_console.print(table)


@app.command("decide")
def decide(
    shipment_id: str = typer.Argument(..., help="The shipment to decide on."),
    status: str = typer.Option(..., "--status", help="confirmed, cleared or needs-info."),
    note: str = typer.Option(..., "--note", help="What you checked; kept with the decision."),
    analyst: str | None = typer.Option(None, "--analyst", help="Your name (default: the login name)."),
    scored: Path | None = typer.Option(None, "--scored", help="Scored file the shipment is in: records its model and score, and checks the id."),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the stored decision as JSON on stdout."),
) -> None:
    """Record one decision (appended; earlier decisions are kept)."""
    from detector.review.store import DecisionStore, check_status

    check_status(status)
    if analyst is None:
        import getpass

        analyst = getpass.getuser()
    context = None
    if scored is not None:
        from detector.review.queue import ScoredSet

        context = ScoredSet([scored]).context(shipment_id)
    d = DecisionStore(_db(db)).decide(shipment_id, status, note=note, analyst=analyst, context=context)
    if as_json:
        typer.echo(json.dumps(d.as_dict(), indent=2))
    else:
        err_console.print(f"{d.shipment_id}: {d.status} (decision {d.id}, by {d.analyst or 'unknown'})", highlight=False)


@app.command("export")
def export(
    output: Path = typer.Option(..., "-o", "--output", help="Labels file to write (.csv or .parquet): shipment_id,label,scenario."),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Write confirmed (1) and cleared (0) shipments as labels for `waypoint evaluate/train --labels`."""
    from detector.review.store import DecisionStore

    n = DecisionStore(_db(db)).export_labels(output)
    err_console.print(f"wrote {n} label(s) to {output}", highlight=False)
