"""The pictures of one shipment: the model's history before the scored file, then the file's months.

Shared by the review page and the HTML report, so both show the same evidence. Each
picture is a :class:`detector.review.charts.Chart` (its data, title, alt text and
caption); the page serves it as an SVG image, the report embeds it.

* ``supply``: the importer's declared value of the line's HS6 per month, stacked by origin;
* ``unit_value``: the monthly unit-value norm (geometric mean, USD/kg) of the declared and
  of the tariffed origin, with this line's unit value as a point;
* ``inputs`` (when component imports are known, given or in the model's history): what the
  exporter brought in against what it shipped out, per month.

History comes from the model's reference state (:mod:`detector.review.history`) for the
months before the scored files' first month; tariff events are the model's and those
given with ``--events``, marked where they fall.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from detector.review import charts
from detector.review.charts import Chart, Event, month_key, month_range
from detector.review.history import ModelHistory
from detector.review.queue import ScoredSet, events_for, inputs_by_month

NAMES = ("supply", "unit_value", "inputs")


def shipment_events(row: dict, history: ModelHistory | None, events: pl.DataFrame | None) -> list[Event]:
    """The tariff events covering the line's HS code: the model's and the given ones, once each."""
    hs = str(row.get("hs_code") or "")
    country = row.get("importing_country")
    found = []
    for table in (history.events() if history is not None else None, events):
        found += events_for(table, hs, country)
    if not found and row.get("ev_event_date") and row.get("ev_event_name"):
        found = [(row["ev_event_date"], row.get("ev_tariffed_origin") or "", row["ev_event_name"])]
    out = {(d, o or "", str(n)): None for d, o, n in found if isinstance(d, dt.date)}
    return [Event(d, o, n) for d, o, n in sorted(out)]


def _months(keys, highlight: str | None = None) -> list[str]:
    keys = sorted({k for k in keys if k} | ({highlight} if highlight else set()))
    return month_range(keys[0], keys[-1]) if keys else []


def _events_caption(events: list[Event], months: list[str]) -> str:
    if not months:
        return ""
    inside = [e for e in events if months[0] <= month_key(e.day) <= months[-1]]
    before = [e for e in events if month_key(e.day) < months[0]]
    text = ("Dashed red lines: tariff events (" + "; ".join(f"{e.label}, {e.day.isoformat()}" for e in inside) + ")."
            if inside else "No tariff event covering this HS code falls in these months.")
    if before:
        last = before[-1]
        text += f" In force since before the chart: {last.label} ({last.day.isoformat()})" + (
            f" and {len(before) - 1} earlier" if len(before) > 1 else "") + "."
    return text


def shipment_pictures(
    scored: ScoredSet, row: dict, *, inputs: pl.DataFrame | None = None, events: pl.DataFrame | None = None,
    history: ModelHistory | None = None,
) -> dict[str, Chart]:
    """``supply``, ``unit_value`` and (when component imports are known) ``inputs`` of ``row``."""
    history = history or ModelHistory(note="not looked up")
    hs = str(row.get("hs_code") or "")
    hs6 = hs[:6]
    importer, exporter = row.get("importer_id"), row.get("exporter_id")
    day = row.get("arrival_date")
    month = month_key(day) if day else None
    cut = month_key(history.before) if history.before else None
    scored_from = cut if history.available else None
    evs = shipment_events(row, history, events)
    note = history.caption()
    out: dict[str, Chart] = {}

    # supply by origin
    rows = [(month_key(m), o, v) for m, o, v in history.supply(importer, hs6)] if importer and hs6 else []
    supply = scored.supply_by_origin(importer, hs6) if importer and hs6 else pl.DataFrame()
    rows += [(month_key(m), o or "?", float(v or 0)) for m, o, v in (supply.iter_rows() if supply.height else [])
             if not cut or month_key(m) >= cut]
    series: dict[str, dict[str, float]] = {}
    for m, o, v in rows:
        series.setdefault(o, {})[m] = series.get(o, {}).get(m, 0.0) + v
    months = _months((m for m, _, _ in rows), month if rows else None)
    title = f"Importer {charts.short(importer, 24)}: HS {hs6} supply by origin"
    out["supply"] = Chart(
        "stacked_months", title,
        {"months": months, "series": series, "scored_from": scored_from, "events": evs, "highlight": month,
         "history_months": sorted({m for m, _, _ in rows if scored_from and m < scored_from}),
         "ylabel": "declared value per month", "empty": "no shipments of this importer and HS code to draw"},
        alt=f"{title}, USD per month" + (f", {months[0]} to {months[-1]}" if months else ": no shipments"),
        caption=(f"Stacked bars: this importer's declared value of HS {hs6} per month by origin; the shaded month is "
                 f"this shipment. {note} {_events_caption(evs, months)}").strip(),
    )

    # unit value against the norms
    uv = scored.unit_value_norms(row)
    origin = row.get("origin_country") or "?"
    tariffed = uv["tariffed_origin"]
    wanted = list(dict.fromkeys(o for o in (origin, tariffed) if o))
    price = history.price(hs6, wanted) if hs6 else {}
    for m, o, v in scored.price_by_month(hs6, wanted).iter_rows():
        if v is not None and (not cut or month_key(m) >= cut):
            price.setdefault(o, {})[month_key(m)] = float(v)
    price = {o: price[o] for o in wanted if o in price}
    pmonths = _months([m for s in price.values() for m in s], month if price or uv["shipment"] is not None else None)
    title = f"HS {hs6}: unit value against the norms, USD per kg"
    out["unit_value"] = Chart(
        "price", title,
        {"months": pmonths, "series": price, "scored_from": scored_from, "events": evs,
         "history_months": sorted({m for s in price.values() for m in s if scored_from and m < scored_from}),
         "shipment": {"day": day, "value": uv["shipment"]} if day and uv["shipment"] is not None else None,
         "model_norms": {o: v for o, v in ((origin, row.get("ev_norm_uv_declared")), (tariffed, row.get("ev_norm_uv_tariffed")))
                         if v is not None},
         "empty": "no unit values of this HS code to draw"},
        alt=f"{title}: this shipment {uv['shipment']:.2f} USD/kg" if uv["shipment"] is not None else title,
        caption=(f"Lines: the monthly norm (geometric mean of USD per kg) of HS {hs6} declared made in {origin} and in "
                 f"{tariffed}; the star is this shipment" + (", the diamonds the norms the model compared it with"
                                                            if row.get("ev_norm_uv_declared") is not None else "")
                 + f". {note} {_events_caption(evs, pmonths)}").strip(),
    )

    # component imports against exports
    if exporter and (inputs is not None or (history.available and history.state.has_inputs)):
        ins = {month_key(m): v for m, v in history.inputs(exporter)}
        exp = {month_key(m): v for m, v in history.exports(exporter)}
        for m, v in inputs_by_month(inputs, exporter).iter_rows():
            if not cut or month_key(m) >= cut:
                ins[month_key(m)] = ins.get(month_key(m), 0.0) + float(v or 0)
        for m, v in scored.exports_by_month(exporter).iter_rows():
            if not cut or month_key(m) >= cut:
                exp[month_key(m)] = exp.get(month_key(m), 0.0) + float(v or 0)
        imonths = _months([*ins, *exp])
        title = f"Exporter {charts.short(exporter, 24)}: component imports against exports"
        out["inputs"] = Chart(
            "grouped_months", title,
            {"months": imonths, "series": {"component imports": ins, "exports": exp}, "scored_from": scored_from,
             "events": evs, "history_months": sorted({m for m in [*ins, *exp] if scored_from and m < scored_from}),
             "ylabel": "declared value per month", "empty": "no component imports or exports of this exporter"},
            alt=f"{title}, USD per month" + (f", {imonths[0]} to {imonths[-1]}" if imonths else ""),
            caption=(f"What the exporter brought in (component imports, every supplier) against what it shipped out "
                     f"(every HS code), per month. {note} {_events_caption(evs, imonths)}").strip(),
        )
    return out
