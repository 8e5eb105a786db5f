"""The Jinja2 environment shared by the review page and the HTML report (autoescaped)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def show(value) -> str:
    """A cell value as people read it: thousands separators, short floats, ISO dates."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "—"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def reason_pairs(row: dict) -> list[tuple[str, str]]:
    """(code, sentence) pairs of a scored row (codes joined by ',', sentences by ' | ')."""
    codes = [c for c in str(row.get("reason_codes") or "").split(",") if c]
    texts = [t for t in str(row.get("reasons") or "").split(" | ") if t]
    n = max(len(codes), len(texts))
    return [(codes[i] if i < len(codes) else "", texts[i] if i < len(texts) else "") for i in range(n)]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["show"] = show
    env.globals["reason_pairs"] = reason_pairs
    return env
