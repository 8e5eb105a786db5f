"""`waypoint check`: show how input files map to the contract before training or scoring."""
from __future__ import annotations

import json as json_lib
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from detector.cli._console import err_console, results, safe


class TableKind(str, Enum):
    shipments = "shipments"
    inputs = "inputs"
    events = "events"
    labels = "labels"
    flows = "flows"


def check(
    files: Annotated[list[Path], typer.Argument(help="CSV or Parquet files, or quoted globs like 'data/*.csv'.", show_default=False)],
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m", help="TOML mapping for files with foreign column names (see docs/mappings.md).")] = None,
    kind: Annotated[TableKind, typer.Option("--kind", "-k", help="Which contract table the files hold.")] = TableKind.shipments,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Also write the rejected rows (with line and reason) to this CSV/Parquet file.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Reject every line that breaks a rule, instead of scoring it with data-quality codes.")] = False,
    max_reject_share: Annotated[str | None, typer.Option("--max-reject-share", help="Exit 2 when more than this share of the rows is rejected, e.g. 5%.")] = None,
) -> None:
    """Read, map and validate files; report columns found, rows valid, rows rejected and rows scored with data-quality codes.

    Exit 2 when a required column is missing, a file cannot be read, every row is rejected or more than --max-reject-share of them; exit 0 otherwise (the summary says how many rows are rejected and why).
    """
    from detector.io.mapping import Mapping
    from detector.io.read import check_rejects, load, parse_share
    from detector.io.write import write_table
    from features.schema import TABLES

    if rejects is not None:  # before reading: the rejects file must not replace an input
        from detector.io.write import check_output

        check_output(rejects, [*files, mapping], option="--rejects")
    table = TABLES[kind.value]
    share = parse_share(max_reject_share)
    mapped = Mapping.from_toml(mapping) if mapping else None
    loaded = load(files, table, mapping=mapped, strict=strict)
    if kind is TableKind.flows:
        loaded = _screened_flows(loaded)
    summary = loaded.summary(examples=3)
    if rejects is not None:
        summary["rejects_file"] = str(write_table(loaded.rejects, rejects))
    if json:
        typer.echo(json_lib.dumps(summary, indent=2, default=str))
    else:
        _render(summary, table, mapped)
    check_rejects(loaded, share, what="would be scored")


def _screened_flows(loaded):
    """Trade-flow rows as `waypoint routes` reads them: a row whose period or flow the route
    screen cannot read (or a re-export) is counted and listed as rejected, with its line."""
    from dataclasses import replace

    import polars as pl

    from features.routes import check_flows

    rows, bad = check_flows(loaded.valid)
    if not bad.height:
        return loaded
    counts, examples = dict(loaded.reject_counts), {k: list(v) for k, v in loaded.reject_examples.items()}
    for rec in bad.select("_source", "_line", "reason_codes", "reasons").iter_rows(named=True):
        for code in rec["reason_codes"].split(","):
            counts[code] = counts.get(code, 0) + 1
            if len(found := examples.setdefault(code, [])) < 3:
                found.append({"file": rec["_source"], "line": rec["_line"], "reason": rec["reasons"]})
    rejects = pl.concat([loaded.rejects, bad.select(pl.all().cast(pl.String))], how="diagonal_relaxed")
    return replace(loaded, valid=rows.drop("freq", "period_index"), rejects=rejects, reject_counts=counts,
                   reject_examples=examples)


def _source_of(name: str, mapping) -> str:
    """How a mapping fills a contract column: its source column and conversions."""
    if mapping is None:
        return name
    parts = [repr(mapping.columns.get(name, name))]
    if name in mapping.alpha3:
        parts.append("alpha-3 → alpha-2")
    if name in mapping.multiply:
        parts.append(f"× {mapping.multiply[name]:g}")
    if name == "hs_code" and mapping.hs_digits:
        parts.append(f"{mapping.hs_digits}-digit codes, leading zero restored")
    return ", ".join(parts)


def _render(summary: dict, table, mapping=None) -> None:
    """The summary on stdout; file headers, mapping names and example values print literally."""
    from rich.table import Table as RichTable

    out = results()

    cols = RichTable(title=f"{summary['table']}: columns", title_justify="left")
    cols.add_column("column")
    cols.add_column("required")
    cols.add_column("status")
    cols.add_column("read from")
    found = set(summary["columns_found"])
    for c in table.columns:
        status = "[green]found[/]" if c.name in found else ("[red]missing[/]" if c.required else "[dim]absent (null)[/]")
        cols.add_row(c.name, "yes" if c.required else "no", status, safe(_source_of(c.name, mapping)) if c.name in found else "")
    out.print(cols)
    if summary["unused_source_columns"]:
        out.print(f"unused source columns: {safe(', '.join(map(str, summary['unused_source_columns'])))}", highlight=False)
    out.print(
        f"files: {len(summary['files'])}   rows read: {summary['rows_read']:,}   "
        f"valid: {summary['rows_valid']:,}   rejected: {summary['rows_rejected']:,}",
        highlight=False,
    )
    if summary["rejected_by_reason"]:
        out.print(_by_code("rejected rows by reason (3 examples each)", "reason", summary["rejected_by_reason"], "reason"))
        err_console.print(
            f"[yellow]{summary['rows_rejected']:,} row(s) would be rejected[/]; scoring continues without them"
            + (f" (written to {safe(summary['rejects_file'])})" if summary.get("rejects_file") else ""),
            highlight=False,
        )
    else:
        out.print("[green]no row is rejected[/]")
    if summary.get("dq_by_code"):
        title = f"{summary['rows_with_dq_codes']:,} row(s) scored with data-quality codes (3 examples each)"
        out.print(_by_code(title, "code", summary["dq_by_code"], "note"))
    for hint in summary.get("hints", []):
        err_console.print(f"[dim]hint:[/] {safe(hint)}", highlight=False, soft_wrap=True)


def _by_code(title: str, first: str, by_code: dict, said: str):
    """A table of rows per code with the examples' file, line and ``said`` text (data: escaped)."""
    from rich.table import Table as RichTable

    table = RichTable(title=title, title_justify="left")
    table.add_column(first)
    table.add_column("rows", justify="right")
    table.add_column(f"examples (file:line {said})")
    for code, info in by_code.items():
        examples = "\n".join(safe(f"{e['file']}:{e['line']} {e[said]}") for e in info["examples"])
        table.add_row(safe(code), f"{info['rows']:,}", examples)
    return table
