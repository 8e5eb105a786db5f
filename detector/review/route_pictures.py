"""The picture of a route: its three flows over time with the tariff event marked.

One inline ``<svg>`` (``markupsafe.Markup``, every text escaped) drawn from a route's
``history`` column as `waypoint routes` writes it, so the review page and the HTML report
need neither the statistics nor a script. Lines: the destination's imports from the origin
(red), from the transit country (blue), and the transit country's imports from the origin
(green); a dashed line marks the event.
"""
from __future__ import annotations

import datetime as dt
import json
from html import escape

from markupsafe import Markup

from detector.review.charts import H, PAD_B, PAD_L, PAD_R, PAD_T, W, _empty, _fmt, _month_range, _svg, _y_axis

#: (index in a history row, colour, legend) of the three flows.
FLOWS = ((1, "#e15759", "{d} from {o}"), (2, "#4e79a7", "{d} from {t}"), (3, "#59a14f", "{t} from {o}"))


def _periods(labels: list[str]) -> list[str]:
    """Every period from the first to the last (months with no trade drawn as zero)."""
    if labels and len(labels[0]) == 7:
        return _month_range(labels[0], labels[-1])
    return [str(y) for y in range(int(labels[0]), int(labels[-1]) + 1)] if labels else []


def route_picture(route: dict, *, title: str | None = None) -> Markup:
    """The three flows of ``route`` (a row of the route table) with its event marked."""
    o, t, d = route.get("origin") or "?", route.get("transit") or "?", route.get("destination") or "?"
    title = title or f"HS {route.get('hs')}: {d} imports from {o} and {t}, {t} imports from {o}"
    try:
        rows = json.loads(route.get("history") or "[]")
    except (TypeError, ValueError):
        rows = []
    if not rows:
        return _empty(title, "no flows recorded for this route")
    by = {str(r[0]): r for r in rows}
    periods = _periods(sorted(by))
    vmax = max((float(r[i] or 0) for r in rows for i, _, _ in FLOWS), default=0.0) or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    step = plot_w / max(1, len(periods) - 1)
    x_of = lambda i: PAD_L + i * step if len(periods) > 1 else PAD_L + plot_w / 2  # noqa: E731
    y_of = lambda v: H - PAD_B - plot_h * float(v or 0) / vmax  # noqa: E731
    body = _y_axis(vmax)
    for i, p in enumerate(periods):
        if len(periods) <= 14 or i % max(1, len(periods) // 12) == 0:
            body.append(f'<text x="{x_of(i):.1f}" y="{H - PAD_B + 14}" text-anchor="middle" class="tick">{escape(p[2:])}</text>')
    event = route.get("event_date")
    if isinstance(event, str):
        try:
            event = dt.date.fromisoformat(event[:10])
        except ValueError:
            event = None
    if isinstance(event, dt.date) and periods:
        key = event.strftime("%Y-%m") if len(periods[0]) == 7 else str(event.year)
        if periods[0] <= key <= periods[-1]:
            i = periods.index(key) if key in periods else 0
            x = x_of(i)
            body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="event"/>')
            body.append(f'<text x="{x + 3:.1f}" y="{PAD_T + 10}" class="event-label">{escape(str(route.get("event_name") or "event"))}</text>')
    for j, (idx, colour, legend) in enumerate(FLOWS):
        points = " ".join(f"{x_of(i):.1f},{y_of(by[p][idx] if p in by else 0):.1f}" for i, p in enumerate(periods))
        name = legend.format(d=d, o=o, t=t)
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"><title>{escape(name)}</title></polyline>')
        for i, p in enumerate(periods):
            v = by[p][idx] if p in by else 0
            body.append(f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="2.5" fill="{colour}">'
                        f"<title>{escape(p)} {escape(name)}: {escape(_fmt(float(v or 0)))} USD</title></circle>")
        lx = PAD_L + j * 150
        body.append(f'<rect x="{lx}" y="{H - 18}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{lx + 14}" y="{H - 9}" class="tick">{escape(name)}</text>')
    return _svg(body, title)


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
