"""`waypoint routes`: which origin -> transit -> destination routes of a product look like transshipment."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, json_text, results, safe
from detector.cli._options import InputsOption, ShippedEventsOption


def _money(v: float | None) -> str:
    if v is None:
        return "-"
    a = abs(v)
    return f"{v / 1e6:.2f}M" if a >= 1e6 else f"{v / 1e3:.1f}k" if a >= 1e3 else f"{v:.0f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def routes(
    shipments: Annotated[list[str] | None, typer.Argument(help="Shipment files or globs (CSV or Parquet): the destination's imports and the lines behind each route.")] = None,
    inputs: InputsOption = None,
    flows: Annotated[list[str] | None, typer.Option("--flows", help="Aggregate trade statistics (period, reporter, partner, flow, hs_code, value_usd; e.g. a UN Comtrade export).")] = None,
    flows_mapping: Annotated[Path | None, typer.Option("--flows-mapping", help="TOML mapping for the --flows files (e.g. examples/mappings/comtrade.toml).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML column mapping for the shipment files.")] = None,
    events: ShippedEventsOption = None,
    destination: Annotated[str | None, typer.Option("--destination", help="The importing country screened (default: the one the shipments or the events name).")] = None,
    level: Annotated[int, typer.Option("--level", help="HS digits of a route's product: 2, 4, 6, 8 or 10.")] = 6,
    cover: Annotated[float, typer.Option("--cover", help="Criterion (c): the share of the transit's exports its imports from the origin must cover.")] = 0.75,
    published_only: Annotated[bool, typer.Option("--published-only", help="Criterion (c) as published only (levels), not also on the rise.")] = False,
    inputs_country: Annotated[str | None, typer.Option("--inputs-country", help="The country all --inputs are imports of (default: each importer's country from the shipments).")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Routes shown in the table and the JSON.")] = 20,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write every route to this file (.parquet or .csv), rows not used beside it.")] = None,
    lines: Annotated[Path | None, typer.Option("--lines", help="Also write the lines on flagged routes (with their route) to this file.")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the summary and the top routes as JSON on stdout.")] = False,
) -> None:
    """Screen routes (HS, tariffed origin, transit) around the destination's tariff events: the three "China wash" criteria, the excess flow, and the lines behind it.

    Ranked by the estimated excess value. Exit 2 for unreadable input; exit 0 otherwise, even with rows not used (the summary counts them).
    """
    from detector.errors import InputError
    from detector.io.read import rejects_path
    from detector.io.write import check_output, output_format
    from detector.jobs import routes as job
    from features.routes import Settings

    try:
        settings = Settings(level=level, cover=cover, rise_cover=not published_only)
    except ValueError as exc:
        raise InputError(f"--level/--cover: {exc}") from None
    everything = [*(shipments or []), *(inputs or []), *(flows or []), *(events or []), mapping, flows_mapping]
    for target, option in ((output, "--output"), (lines, "--lines")):
        if target is not None:
            beside = [rejects_path(target)] if option == "--output" else []
            check_output(target, everything, beside=beside, option=option)
            output_format(target)
    if lines is not None and output is not None and Path(lines).absolute() == Path(output).absolute():
        raise InputError("--lines and --output name the same file", hint="give the lines their own file")
    result = job.run(shipments or [], inputs=inputs or None, flows=flows or None, events=events or None, mapping=mapping,
                     flows_mapping=flows_mapping, destination=destination, inputs_country=inputs_country, settings=settings)
    summary = result.summary(top=top)
    if output is not None:
        summary["written"] = job.write(result, output, lines)
    elif lines is not None:
        from detector.io.write import write_table

        summary["written"] = {"lines": str(write_table(job.lines_on_flagged(result), lines))}
    if json:
        typer.echo(json_text(summary))
        return
    _render(summary)


def _render(summary: dict) -> None:
    from rich.table import Table

    out = results()
    src = "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in summary["sources"].items())
    out.print(
        f"destination {safe(summary['destination'])}, HS{summary['hs_level']}, by {summary['frequency']}; "
        f"{summary['events']} tariff events, {summary['routes_evaluated']:,} route-event pairs evaluated, "
        f"[bold]{summary['routes_flagged']}[/] routes flagged ({_money(summary['excess_usd_flagged'])} USD excess)",
        highlight=False,
    )
    out.print(f"sources: {safe(src)}", highlight=False)
    table = Table(title="routes by estimated excess value (a, b, c: the criteria; flag: all three)", title_justify="left")
    with_lines = "shipments" in summary["read"]
    for name, just in (("#", "right"), ("route", "left"), ("event", "left"), ("a", "center"), ("b", "center"), ("c", "center"),
                       ("flag", "center"), ("T->D", "right"), ("cover", "right"), ("excess", "right"),
                       *((("lines", "right"), ("top exporter", "left")) if with_lines else ())):
        table.add_column(name, justify=just, no_wrap=name in ("route", "event"))
    yes = lambda v: "yes" if v else "[dim]no[/]"  # noqa: E731
    for r in summary["routes"]:
        c = r["c_imports_cover_exports"] or r["c_rise_covers_rise"]
        growth = "new" if r["transit_growth"] is None and (r["dest_from_transit_after"] or 0) > 0 else _pct(r["transit_growth"])
        top_exp = r["top_exporters"].split(" (")[0] if r["top_exporters"] else ""
        table.add_row(
            f"{r['rank']}", safe(r["route"]), safe(r["event_date"]), yes(r["a_origin_share_falls_transit_rises"]),
            yes(r["b_transit_imports_rise"]), yes(c), "[bold red]FLAG[/]" if r["flagged"] else "", growth, _pct(r["cover"]),
            _money(r["excess_usd"]), *((f"{r['lines']:,}", safe(top_exp)) if with_lines else ()),
        )
    out.print(table)
    if summary["routes"]:
        first = summary["routes"][0]
        out.print(f"[dim]#1 arithmetic:[/] {safe(first['arithmetic'])}", highlight=False)
    unused = {**summary["rows_not_used"]}
    for table_name, acc in summary["read"].items():
        if acc["rows_rejected"]:
            unused[f"{table_name} rows rejected"] = acc["rows_rejected"]
    if unused:
        err_console.print("[yellow]not used:[/] " + safe("; ".join(f"{k}: {v:,}" for k, v in unused.items())), highlight=False)
    for key, path in summary.get("written", {}).items():
        err_console.print(f"wrote {safe(key)}: {safe(path)}", highlight=False)
