"""The pictures of one shipment, drawn from the scored files and side tables.

Shared by the review page and the HTML report, so both show the same evidence.
"""
from __future__ import annotations

import polars as pl
from markupsafe import Markup

from detector.review import charts
from detector.review.queue import ScoredSet, events_for, inputs_by_month


def shipment_pictures(
    scored: ScoredSet, row: dict, *, inputs: pl.DataFrame | None = None, events: pl.DataFrame | None = None
) -> dict[str, Markup]:
    """``supply``, ``unit_value`` and (when inputs are given) ``inputs`` SVGs for ``row``."""
    hs = str(row.get("hs_code") or "")
    hs6 = hs[:6]
    importer, exporter = row.get("importer_id"), row.get("exporter_id")
    month = row["arrival_date"].strftime("%Y-%m") if row.get("arrival_date") else None
    out: dict[str, Markup] = {}
    supply = scored.supply_by_origin(importer, hs6) if importer and hs6 else pl.DataFrame()
    ev = events_for(events, hs) if events is not None else []
    if not ev and row.get("ev_event_date") and row.get("ev_event_name"):
        ev = [(row["ev_event_date"], row.get("ev_tariffed_origin") or "", row["ev_event_name"])]
    out["supply"] = charts.stacked_monthly_bars(
        list(supply.iter_rows()) if supply.height else [],
        ev,
        title=f"Importer {importer}: HS {hs6} supply by origin, USD per month",
        highlight_month=month,
    )
    uv = scored.unit_value_norms(row)
    origin = row.get("origin_country") or "?"
    out["unit_value"] = charts.horizontal_bars(
        [
            ("this shipment", uv["shipment"]),
            (f"norm for origin {origin}", uv["declared"]),
            (f"norm for origin {uv['tariffed_origin']}", uv["tariffed"]),
        ],
        title=f"Unit value, USD per kg (HS {hs6})",
        highlight="this shipment",
    )
    if inputs is not None and exporter:
        ins = inputs_by_month(inputs, exporter)
        exp = scored.exports_by_month(exporter)
        out["inputs"] = charts.two_series(
            list(ins.iter_rows()), list(exp.iter_rows()),
            title=f"Exporter {exporter}: component imports vs exports, USD per month",
            names=("component imports", "exports"),
        )
    return out
