"""The picture of a route: its three flows over time with the tariff event marked.

One :class:`detector.review.charts.Chart` drawn from a route's ``history`` column as
`waypoint routes` writes it, so the review page and the HTML report need neither the
statistics nor a script. Lines: the destination's imports from the origin (red), from
the transit country (blue), and the transit country's imports from the origin (green);
a dashed line marks the event.
"""
from __future__ import annotations

import datetime as dt
import json

from detector.review.charts import Chart, Event, month_range

#: (index in a history row, colour, legend) of the three flows.
FLOWS = ((1, "#e15759", "{d} from {o}"), (2, "#4e79a7", "{d} from {t}"), (3, "#59a14f", "{t} from {o}"))


def _periods(labels: list[str]) -> list[str]:
    """Every period from the first to the last (months with no trade drawn as zero)."""
    if labels and len(labels[0]) == 7:
        return month_range(labels[0], labels[-1])
    return [str(y) for y in range(int(labels[0]), int(labels[-1]) + 1)] if labels else []


def route_picture(route: dict, *, title: str | None = None) -> Chart:
    """The three flows of ``route`` (a row of the route table) with its event marked."""
    o, t, d = route.get("origin") or "?", route.get("transit") or "?", route.get("destination") or "?"
    title = title or f"HS {route.get('hs')}: imports of {d} and {t}"
    try:
        rows = json.loads(route.get("history") or "[]")
    except (TypeError, ValueError):
        rows = []
    by = {str(r[0]): r for r in rows if isinstance(r, (list, tuple)) and r}
    periods = _periods(sorted(by))
    lines = [(legend.format(d=d, o=o, t=t), {p: float(by[p][i] or 0) for p in periods if p in by}, colour)
             for i, colour, legend in FLOWS]
    event = route.get("event_date")
    if isinstance(event, str):
        try:
            event = dt.date.fromisoformat(event[:10])
        except ValueError:
            event = None
    events = [Event(event, o, str(route.get("event_name") or "event"))] if isinstance(event, dt.date) else []
    unit = "month" if periods and len(periods[0]) == 7 else "year"
    return Chart(
        "lines", title,
        {"periods": periods, "lines": lines, "events": events, "ylabel": f"imports per {unit}",
         "empty": "no flows recorded for this route"},
        alt=f"{title}: {', '.join(name for name, _, _ in lines)}" + (f", {periods[0]} to {periods[-1]}" if periods else ""),
        caption=(f"Lines: {d}'s imports from {o} (red) and from {t} (blue), and {t}'s imports from {o} (green), "
                 f"USD per {unit}" + (f"; the dashed red line is {events[0].label}, {events[0].day.isoformat()}." if events else ".")),
    )


def read_routes(path) -> list[dict]:
    """The rows of a route file (`waypoint routes -o`), ranked; text columns kept as text."""
    from pathlib import Path

    import polars as pl

    from detector.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--routes {path}: no such file", hint="write it with waypoint routes ... -o routes.parquet")
    try:
        frame = pl.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pl.read_csv(
            path, schema_overrides={"hs": pl.String, "route": pl.String, "history": pl.String}, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"--routes {path}: cannot read the file: {str(exc).splitlines()[0]}") from None
    needed = {"route", "hs", "origin", "transit", "excess_usd", "flagged"}
    if not needed <= set(frame.columns):
        raise InputError(f"--routes {path}: not a route table (missing {', '.join(sorted(needed - set(frame.columns)))})",
                         hint="pass the file waypoint routes -o wrote")
    return frame.sort("excess_usd", descending=True, nulls_last=True).to_dicts()


def route_cards(routes: list[dict], limit: int = 50) -> list[dict]:
    """The rows shown on the routes page and in the report: each with its ``picture`` and
    the ``queue_link`` to the flagged lines of its product declared made in its transit country."""
    from urllib.parse import urlencode

    out = []
    for r in routes[:limit]:
        card = dict(r)
        card["picture"] = route_picture(r)
        card["queue_link"] = "/?" + urlencode({"origin": r.get("transit") or "", "hs": r.get("hs") or ""})
        for key in ("lines", "lines_value_usd", "exporters", "top_exporters", "rise_cover", "arithmetic"):
            card.setdefault(key, None)
        out.append(card)
    return out
