"""The HTML report: one self-contained file (inline CSS, charts as data: images, no network, no script).

Score distribution, flags by origin / HS chapter / exporter, and the top suspects
with their reasons and the same pictures as the review page, drawn on the model's
history before the scored file (``detector.review.history``). Aggregates are computed
lazily over the scored files, so the report of a large file costs little memory.

The file carries its own content-security policy: nothing but its own stylesheet (by
hash) and ``data:`` images may load, so opening it fetches nothing and runs nothing.

Example::

    write_report(["scored.parquet"], "report.html", top=10)
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from detector.io.write import atomic_path
from detector.review import charts
from detector.review.history import ModelHistory, model_history
from detector.review.pictures import shipment_pictures
from detector.review.queue import ScoredSet, read_side_table
from detector.review.templating import STATIC, environment
from features.schema import EVENTS, INPUTS

BINS = 20
#: Width in inches of the breakdown charts, two of which sit side by side.
HALF = 6.2


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    rows: int
    flagged: int
    suspects: int


def _counts_by(lf: pl.LazyFrame, expr: pl.Expr, limit: int = 15) -> list[tuple[str, int]]:
    df = lf.group_by(expr.alias("k")).agg(pl.len().alias("n")).sort(["n", "k"], descending=[True, False]).head(limit).collect()
    return [(str(k), int(n)) for k, n in df.iter_rows()]


def _duty_by(lf: pl.LazyFrame, expr: pl.Expr, limit: int = 15) -> list[tuple[str, float]]:
    df = (lf.group_by(expr.alias("k")).agg(pl.col("duty_at_risk_usd").sum().alias("usd"))
          .sort(["usd", "k"], descending=[True, False]).head(limit).collect())
    return [(str(k), round(float(v))) for k, v in df.iter_rows()]


def _route_cards(path: str | Path | None, limit: int = 10) -> list[dict]:
    """The top routes of a route table with their pictures (none without a table)."""
    if path is None:
        return []
    from detector.review.route_pictures import read_routes, route_cards

    return route_cards(read_routes(path), limit=limit)


def write_report(
    scored_paths: list[str | Path],
    out: str | Path,
    *,
    inputs: str | Path | None = None,
    events: str | Path | None = None,
    top: int = 10,
    routes: str | Path | None = None,
    history: ModelHistory | None = None,
    settings=None,
) -> ReportSummary:
    """Write the report for the scored files to ``out`` atomically and return what it holds.

    ``routes``: a route table (`waypoint routes -o`) for the section of routes by excess value.
    ``history``: the model's history for the pictures (default: the model the scored files'
    lineage names, from the store of ``settings``; without it the pictures say so)."""
    scored = ScoredSet(list(scored_paths))
    inputs_df = read_side_table(inputs, INPUTS)
    events_df = read_side_table(events, EVENTS)
    lf = scored.lazy()
    stats = lf.select(
        pl.len().alias("rows"),
        pl.col("flagged").sum().alias("flagged"),
        pl.col("risk_score").filter(pl.col("flagged")).min().alias("threshold"),
    ).collect().row(0, named=True)
    bins = (
        lf.select((pl.col("risk_score") / (100 / BINS)).floor().clip(0, BINS - 1).cast(pl.Int32).alias("b"))
        .group_by("b").agg(pl.len().alias("n")).collect()
    )
    counts = [0] * BINS
    for b, n in bins.iter_rows():
        if b is not None:
            counts[b] = n
    flagged = lf.filter(pl.col("flagged"))
    cols = set(scored.columns)
    breakdowns = []
    for title, col, expr in (
        ("Flags by declared origin", "origin_country", pl.col("origin_country")),
        ("Flags by HS chapter", "hs_code", pl.col("hs_code").str.slice(0, 2)),
        ("Flags by exporter (top 15)", "exporter_id", pl.col("exporter_id")),
    ):
        if col in cols:
            breakdowns.append(charts.horizontal_bars(_counts_by(flagged, expr), title=title, width=HALF))
    if "duty_at_risk_usd" in cols:  # what the flags could recover (features/revenue.py)
        for title, col, expr in (("Duty at risk of the flags by declared origin (USD)", "origin_country", pl.col("origin_country")),
                                 ("Duty at risk of the flags by HS chapter (USD)", "hs_code", pl.col("hs_code").str.slice(0, 2))):
            if col in cols:
                breakdowns.append(charts.horizontal_bars(_duty_by(flagged, expr), title=title, unit="USD", width=HALF))
    suspects = []
    rows = scored.top(top)
    if rows and history is None:
        history = model_history(scored.paths, scored.first_day(), settings)
    for row in rows:
        suspects.append({"row": row, "pictures": shipment_pictures(scored, row, inputs=inputs_df, events=events_df,
                                                                    history=history)})
    models = (
        sorted({f"{a} {b}" for a, b in lf.select("model_name", "model_version").unique().collect().iter_rows()})
        if {"model_name", "model_version"} <= cols else []
    )
    css = (STATIC / "review.css").read_text(encoding="utf-8")
    html = environment().get_template("report.html").render(
        css=css,
        css_hash="sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii"),
        source=scored.label,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        stats=stats,
        models=models,
        histogram=charts.histogram_counts(counts, title="Risk score distribution (all shipments)", marker=stats["threshold"]),
        breakdowns=breakdowns,
        suspects=suspects,
        routes=_route_cards(routes),
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return ReportSummary(out, int(stats["rows"]), int(stats["flagged"] or 0), len(suspects))
