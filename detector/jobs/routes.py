"""The job behind `waypoint routes`: files in, the ranked route table (and the lines behind it) out.

read + map + validate the shipments, component imports, trade flows and tariff events ->
series (public statistics where given, the user's own data for what they lack) ->
``features.routes.screen`` -> the lines and exporters behind each route -> atomic writes.
Rows the screen cannot use are never dropped silently: the reader's rejects and the flow
rows whose period or flow cannot be read are counted in the summary and, with an output
file, written beside it with their file, line and reason.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.io.mapping import Mapping
from detector.io.read import Loaded, load, load_side_tables, rejects_path
from detector.io.write import write_table
from features import routes as R
from features.schema import FLOWS, SHIPMENTS


@dataclass
class RoutesRun:
    """What a run found: the route table (ranked, with the lines behind each route), the
    screen's account, the series it read (for pictures) and the rows it could not use."""

    routes: pl.DataFrame
    screen: R.Screen
    series: R.Series
    destination: str
    settings: R.Settings
    shipments: pl.DataFrame | None
    rejected: dict[str, pl.DataFrame] = field(default_factory=dict)  # table -> rows with reasons
    read: dict[str, dict] = field(default_factory=dict)  # table -> rows read / valid / rejected

    def summary(self, top: int = 20) -> dict:
        flagged = self.routes.filter(pl.col("flagged")) if self.routes.height else self.routes
        show = self.routes.head(top)
        return {
            "destination": self.destination,
            "hs_level": self.settings.level,
            "cover": self.settings.cover,
            "frequency": "month" if self.screen.freq == R.MONTHLY else "year",
            "sources": self.screen.sources,
            "events": self.screen.events,
            "routes_evaluated": self.screen.routes_evaluated,
            "routes_flagged": int(flagged.height),
            "excess_usd_flagged": float(flagged.get_column("excess_usd").sum()) if flagged.height else 0.0,
            "rows_not_used": self.screen.unused,
            "read": self.read,
            "routes": [_jsonable(r) for r in show.drop("history", strict=False).iter_rows(named=True)],
        }


def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def _destination(given: str | None, shipments: pl.DataFrame | None, events: pl.DataFrame) -> str:
    """The importing country: as given, else the one the shipments state most, else the
    one country the events name."""
    from features.families.tariff import default_country

    if given:
        code = given.strip().upper()
        if len(code) != 2 or not code.isalpha():
            raise InputError(f"--destination {given!r}: not an ISO 3166-1 alpha-2 country code", hint="e.g. --destination US")
        return code
    if shipments is not None and shipments.height:
        stated = shipments.get_column("importing_country").drop_nulls()
        if stated.len():
            return Counter(stated.to_list()).most_common(1)[0][0]
    found = default_country(events)
    if found is None:
        raise InputError("the importing country is not known: the shipments state none and the events name none or several",
                         hint="pass --destination US (the country whose imports are screened)")
    return found


def _read_account(loaded: Loaded) -> dict:
    return {"files": [str(f) for f in loaded.files], "rows_read": loaded.rows_read, "rows_valid": loaded.valid.height,
            "rows_rejected": loaded.rejects.height, "rejected_by_reason": loaded.reject_counts}


def run(
    shipments: Sequence[str | Path] = (),
    *,
    inputs: Sequence[str | Path] | None = None,
    flows: Sequence[str | Path] | None = None,
    events: Sequence[str | Path] | None = None,
    mapping: str | Path | None = None,
    flows_mapping: str | Path | None = None,
    destination: str | None = None,
    inputs_country: str | None = None,
    settings: R.Settings = R.Settings(),
) -> RoutesRun:
    """Read the files and screen every route (see ``features.routes``)."""
    if not shipments and not flows:
        raise InputError("nothing to screen: give shipment files, --flows trade statistics, or both",
                         hint="e.g. waypoint routes shipments.csv --inputs vn_imports.csv")
    read: dict[str, dict] = {}
    rejected: dict[str, pl.DataFrame] = {}
    ships = None
    if shipments:
        loaded = load(shipments, SHIPMENTS, mapping=Mapping.from_toml(mapping) if mapping else None)
        ships = loaded.valid
        read["shipments"] = _read_account(loaded)
        rejected["shipments"] = loaded.rejects
    loaded_inputs, loaded_events = load_side_tables(inputs, events)
    ev = loaded_events.valid
    read["events"] = _read_account(loaded_events)
    dest = _destination(destination, ships, ev)
    series = [R.Series.empty()]
    if flows:
        loaded_flows = load(flows, FLOWS, mapping=Mapping.from_toml(flows_mapping) if flows_mapping else None)
        rows, bad = R.check_flows(loaded_flows.valid)
        account = _read_account(loaded_flows)
        for code in (c for codes in bad.get_column("reason_codes").to_list() for c in codes.split(",")):
            account["rejected_by_reason"][code] = account["rejected_by_reason"].get(code, 0) + 1
        account["rows_rejected"] += bad.height
        account["rows_valid"] -= bad.height
        read["flows"] = account
        rejected["flows"] = pl.concat([loaded_flows.rejects, bad.select(pl.all().cast(pl.String))], how="diagonal_relaxed")
        series = [R.flows_series(rows, settings.level)]
    if ships is not None:
        series.append(R.shipment_series(ships, settings.level, dest))
    if loaded_inputs is not None:
        read["inputs"] = _read_account(loaded_inputs)
        rejected["inputs"] = loaded_inputs.rejects
        countries = R.firm_countries(ships) if ships is not None else None
        series.append(R.input_series(loaded_inputs.valid, settings.level, countries=countries,
                                     country=inputs_country.upper() if inputs_country else None))
    combined = R.combine(series[0], *series[1:])
    screened = R.screen(combined, ev, dest, settings)
    routes = screened.routes
    if ships is not None and routes.height:
        routes = routes.join(R.behind(ships, routes, settings.level), on="route", how="left")
    else:
        routes = routes.with_columns(pl.lit(0, dtype=pl.Int64).alias("lines"), pl.lit(0.0).alias("lines_value_usd"),
                                     pl.lit(0, dtype=pl.Int64).alias("exporters"), pl.lit("").alias("top_exporters"))
    if routes.height:
        routes = routes.join(R.histories(combined, routes), on="route", how="left")
    return RoutesRun(routes, screened, combined, dest, settings, ships, rejected, read)


def lines_on_flagged(result: RoutesRun) -> pl.DataFrame:
    """The user's lines on the flagged routes: ``route`` and the line's contract columns."""
    if result.shipments is None or not result.routes.height:
        return pl.DataFrame(schema={"route": pl.String, **dict(SHIPMENTS.schema)})
    flagged = result.routes.filter(pl.col("flagged"))
    lines = R.route_lines(result.shipments, flagged, result.settings.level)
    return lines.select("route", *SHIPMENTS.names).sort("route", "arrival_date", "shipment_id")


def write(result: RoutesRun, output: str | Path, lines: str | Path | None = None) -> dict[str, str]:
    """Write the route table (and the lines on flagged routes), each atomically, with the
    rows that were not used beside the output (``OUT.rejects.csv``, ``OUT.flows.rejects.csv``, ...)."""
    written = {"output": str(write_table(result.routes, output))}
    for table, frame in result.rejected.items():
        if frame.height:
            base = rejects_path(output)
            path = base if table == "shipments" else base.with_name(base.name.replace(".rejects.csv", f".{table}.rejects.csv"))
            written[f"{table}_rejects"] = str(write_table(frame, path))
    if lines is not None:
        written["lines"] = str(write_table(lines_on_flagged(result), lines))
    return written
