"""The route screen: which (product, tariffed origin, transit country) flows look like transshipment.

Pure Polars over small aggregate frames (no I/O). The unit is a **route**: an HS code at a
chosen level, an origin a tariff event of the destination (the importing country) targets,
and a transit country. Around each event, three flows are compared before and after it:

* ``D<-O``: the destination's imports of the product from the origin,
* ``D<-T``: the destination's imports of it from the transit country,
* ``T<-O``: the transit country's imports of it from the origin,

and the "China wash" criteria are checked (see ``docs/routes.md`` for the arithmetic and
a worked example):

(a) the origin's share of the destination's imports of the product falls while the transit
    country's share rises;
(b) the transit country's imports of the product from the origin rise;
(c) after the event, those imports cover at least ``cover`` (75 %) of the transit country's
    exports of the product to the destination. Honest relocation fails it: a factory that
    really moved imports *other* HS codes (parts, materials) and adds value, so the same
    code from the origin does not follow its exports.

The **excess flow** is the part of ``D<-T`` after the event that the ordinary growth of the
product does not explain (the growth of the destination's imports of it from every other
partner), capped by the rise of ``T<-O`` (goods cannot pass through that did not come in):
``excess = min(max(0, DT_after - DT_before * g), max(0, TO_after - TO_before)) * periods``.

Series are per (reporter, partner, flow, hs, period) sums in USD, from public statistics
(the trade-flows table, :func:`check_flows` + :func:`flows_series`) or, without them, from
the user's own shipments (:func:`shipment_series`: the destination's imports by declared
origin) and component imports (:func:`input_series`: the transit countries' imports).
Every series says where it came from (``source``), and so does the result.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

#: Criterion (c): the share of the transit country's exports to the destination that its
#: imports of the same product from the origin must reach after the event.
COVER = 0.75
#: Periods compared on each side of an event, and the fewest that make a side.
MONTHS_BEFORE, MONTHS_AFTER, MIN_MONTHS = 12, 12, 2
YEARS_BEFORE, YEARS_AFTER, MIN_YEARS = 2, 2, 1
IMPORT, EXPORT = "import", "export"
MONTHLY, ANNUAL = "M", "A"
#: Where a series comes from, as the result names it.
FROM_FLOWS, FROM_SHIPMENTS, FROM_INPUTS = "trade flows", "shipments", "component imports"

#: Columns of a series frame.
SERIES = pl.Schema({
    "reporter": pl.String, "partner": pl.String, "flow": pl.String, "hs": pl.String,
    "freq": pl.String, "period": pl.Int32, "value": pl.Float64, "source": pl.String,
})
#: Columns of a coverage frame: the periods each (reporter, flow, source) covers, zeros included.
COVERAGE = pl.Schema({
    "reporter": pl.String, "flow": pl.String, "source": pl.String, "freq": pl.String,
    "first": pl.Int32, "last": pl.Int32,
})

_FLOW_WORDS = {"import": IMPORT, "imports": IMPORT, "m": IMPORT, "export": EXPORT, "exports": EXPORT, "x": EXPORT}


@dataclass(frozen=True)
class Settings:
    """How the screen compares (one frozen object built at the edge)."""

    level: int = 6  # HS digits of a route's product
    cover: float = COVER
    #: Criterion (c) also passes when the *rise* of the transit's imports from the origin
    #: covers ``cover`` of the rise of its exports to the destination (see the module doc).
    rise_cover: bool = True
    months_before: int = MONTHS_BEFORE
    months_after: int = MONTHS_AFTER
    min_months: int = MIN_MONTHS
    years_before: int = YEARS_BEFORE
    years_after: int = YEARS_AFTER
    min_years: int = MIN_YEARS

    def __post_init__(self) -> None:
        if self.level not in (2, 4, 6, 8, 10):
            raise ValueError(f"HS level {self.level}: use 2, 4, 6, 8 or 10 digits")
        if not 0 < self.cover <= 1:
            raise ValueError(f"cover {self.cover}: a share above 0 and at most 1")

    def window(self, freq: str) -> tuple[int, int, int]:
        """(periods before, periods after, fewest periods per side) for a frequency."""
        if freq == MONTHLY:
            return self.months_before, self.months_after, self.min_months
        return self.years_before, self.years_after, self.min_years


# -- periods ------------------------------------------------------------------------------

def month_index(day: pl.Expr) -> pl.Expr:
    """Month index (Int32) of a date: year * 12 + month - 1."""
    return (day.dt.year().cast(pl.Int32) * 12 + day.dt.month().cast(pl.Int32) - 1).cast(pl.Int32)


def period_label(freq: str, period: int) -> str:
    """``2025-03`` for a month index, ``2025`` for a year."""
    return f"{period // 12}-{period % 12 + 1:02d}" if freq == MONTHLY else str(period)


def period_start(freq: str, period: int) -> date:
    return date(period // 12, period % 12 + 1, 1) if freq == MONTHLY else date(period, 1, 1)


def _event_period(freq: str, day: date) -> tuple[int, int]:
    """(last period wholly before ``day``, first period starting on or after it)."""
    if freq == MONTHLY:
        p = day.year * 12 + day.month - 1
        return p - 1, (p if day.day == 1 else p + 1)
    return day.year - 1, (day.year if (day.month, day.day) == (1, 1) else day.year + 1)


# -- reading trade statistics ----------------------------------------------------------------

def check_flows(valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split read trade-flow rows (``features.schema.FLOWS``, typed) into usable rows and the
    rows the screen cannot use, each of those with ``reason_codes`` and ``reasons``.

    Usable rows gain ``freq`` (``M``/``A``), ``period_index`` (month index or year) and the
    normalised ``flow`` (``import``/``export``). A period is ``YYYY`` (a year), ``YYYY-MM`` or
    ``YYYYMM`` (a month), or a date ``YYYY-MM-DD``/``YYYYMMDD`` (its month); a flow is
    ``import``/``export`` or Comtrade's ``M``/``X`` (any case). Re-exports and re-imports
    (``RX``, ``RM``) are not flows of the screen: they are listed as not used.
    """
    text = pl.col("period").str.strip_chars().str.replace_all(r"[/.]", "-")
    year = text.str.extract(r"^(\d{4})(?:-?\d{2}(?:-?\d{2})?)?$", 1).cast(pl.Int32, strict=False)
    month = text.str.extract(r"^\d{4}-?(\d{2})(?:-?\d{2})?$", 1).cast(pl.Int32, strict=False)
    day = text.str.extract(r"^\d{4}-?\d{2}-?(\d{2})$", 1).cast(pl.Int32, strict=False)
    flow = pl.col("flow").str.strip_chars().str.to_lowercase().replace_strict(_FLOW_WORDS, default=None)
    frame = valid.with_columns(
        pl.when(month.is_null()).then(pl.lit(ANNUAL)).otherwise(pl.lit(MONTHLY)).alias("freq"),
        pl.when(month.is_null()).then(year).otherwise(year * 12 + month - 1).cast(pl.Int32).alias("period_index"),
        flow.alias("_flow"),
        (year.is_null() | ~year.is_between(1900, 2100) | (month.is_not_null() & ~month.is_between(1, 12))
         | (day.is_not_null() & ~day.is_between(1, 31))).fill_null(True).alias("_bad_period"),
        flow.is_null().alias("_bad_flow"),
    )
    codes = pl.concat_list(
        pl.when(pl.col("_bad_period")).then(pl.lit("bad_period")),
        pl.when(pl.col("_bad_flow")).then(pl.lit("bad_flow")),
    ).list.drop_nulls()
    texts = pl.concat_list(
        pl.when(pl.col("_bad_period")).then(pl.format("period: not a year (YYYY) or a month (YYYY-MM, YYYYMM): '{}'", pl.col("period"))),
        pl.when(pl.col("_bad_flow")).then(pl.format(
            "flow: not import or export (M / X); re-exports and re-imports are not used: '{}'", pl.col("flow"))),
    ).list.drop_nulls()
    bad = pl.col("_bad_period") | pl.col("_bad_flow")
    rows = frame.filter(~bad).with_columns(pl.col("_flow").alias("flow")).drop("_flow", "_bad_period", "_bad_flow")
    rejected = frame.filter(bad).with_columns(
        codes.list.join(",").alias("reason_codes"), texts.list.join("; ").alias("reasons"),
    ).drop("freq", "period_index", "_flow", "_bad_period", "_bad_flow")
    return rows, rejected


@dataclass(frozen=True)
class Series:
    """Flow series and what they cover; ``unused`` counts the rows left out, by reason."""

    values: pl.DataFrame  # SERIES
    coverage: pl.DataFrame  # COVERAGE
    unused: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> "Series":
        return cls(pl.DataFrame(schema=SERIES), pl.DataFrame(schema=COVERAGE))


def flows_series(rows: pl.DataFrame, level: int) -> Series:
    """Series from checked trade-flow rows (:func:`check_flows`) at ``level`` HS digits.

    Per (reporter, flow) the codes of one length are used: the shortest length of at least
    ``level`` digits the rows have, cut to ``level``. Statistics often hold several levels of
    the same trade (HS2 totals beside HS6 detail): summing one length never counts a value
    twice. Rows of other lengths, and annual rows of a reporter that also gives months, are
    left out and counted. Coverage: the periods from each (reporter, flow)'s first to last.
    """
    if rows.height == 0:
        return Series.empty()
    rows = rows.with_columns(pl.col("hs_code").str.len_bytes().alias("_len"))
    # A reporter and flow giving months is read in months; its annual rows repeat them.
    monthly = rows.group_by("reporter", "flow").agg((pl.col("freq") == MONTHLY).any().alias("_has_m"))
    rows = rows.join(monthly, on=["reporter", "flow"])
    freq_ok = (pl.col("freq") == MONTHLY) | ~pl.col("_has_m")
    length = rows.filter(freq_ok & (pl.col("_len") >= level)).group_by("reporter", "flow").agg(pl.col("_len").min().alias("_use"))
    rows = rows.join(length, on=["reporter", "flow"], how="left")
    use = freq_ok & (pl.col("_len") == pl.col("_use")).fill_null(False)
    unused = {
        "coarser than the HS level": int(rows.filter(freq_ok & (pl.col("_len") < level)).height),
        "another HS length of the same reporter and flow": int(rows.filter(freq_ok & (pl.col("_len") > pl.col("_use")).fill_null(False)).height),
        "annual rows of a reporter that gives months": int(rows.filter(~freq_ok).height),
    }
    kept = rows.filter(use)
    values = kept.group_by("reporter", "partner", "flow", pl.col("hs_code").str.slice(0, level).alias("hs"), "freq",
                           pl.col("period_index").alias("period")).agg(pl.col("value_usd").sum().alias("value"))
    values = values.with_columns(pl.lit(FROM_FLOWS).alias("source")).select(SERIES.names()).cast(dict(SERIES))
    coverage = kept.group_by("reporter", "flow", "freq").agg(
        pl.col("period_index").min().alias("first"), pl.col("period_index").max().alias("last"),
    ).with_columns(pl.lit(FROM_FLOWS).alias("source")).select(COVERAGE.names()).cast(dict(COVERAGE))
    return Series(values, coverage, {k: v for k, v in unused.items() if v})


def _months_covered(days: pl.DataFrame, group: Sequence[str]) -> pl.DataFrame:
    """First and last month each group's days cover: from the month of the first day to the
    month of the last day, that month only when the last day is its last (an extract ending
    mid-month has not seen the whole month)."""
    last_day = pl.col("_last")
    whole = last_day.dt.month_end() == last_day
    return days.group_by(group).agg(pl.col("_day").min().alias("_first"), pl.col("_day").max().alias("_last")).with_columns(
        month_index(pl.col("_first")).alias("first"),
        (month_index(last_day) - pl.when(whole).then(0).otherwise(1)).cast(pl.Int32).alias("last"),
    )


def shipment_series(shipments: pl.DataFrame, level: int, destination: str) -> Series:
    """The destination's monthly imports by declared origin, from the user's shipment lines.

    Lines of another importing country than ``destination`` (when they state one), lines
    without an origin and lines whose HS code is shorter than ``level`` are left out.
    """
    if shipments.height == 0:
        return Series.empty()
    lines = shipments.filter(
        pl.col("importing_country").is_null() | (pl.col("importing_country") == destination),
        pl.col("origin_country").is_not_null(), pl.col("hs_code").str.len_bytes() >= level,
        pl.col("declared_value_usd").is_not_null(),
    )
    unused = {"lines without origin, value or an HS code of the level": shipments.height - lines.height}
    if lines.height == 0:
        return Series(Series.empty().values, Series.empty().coverage, unused)
    values = lines.group_by(
        pl.col("origin_country").alias("partner"), pl.col("hs_code").str.slice(0, level).alias("hs"),
        month_index(pl.col("arrival_date")).alias("period"),
    ).agg(pl.col("declared_value_usd").sum().alias("value")).with_columns(
        pl.lit(destination).alias("reporter"), pl.lit(IMPORT).alias("flow"), pl.lit(MONTHLY).alias("freq"),
        pl.lit(FROM_SHIPMENTS).alias("source"),
    ).select(SERIES.names()).cast(dict(SERIES))
    cov = _months_covered(lines.select(pl.col("arrival_date").alias("_day"), pl.lit(destination).alias("reporter")), ["reporter"])
    coverage = cov.with_columns(pl.lit(IMPORT).alias("flow"), pl.lit(FROM_SHIPMENTS).alias("source"),
                                pl.lit(MONTHLY).alias("freq")).select(COVERAGE.names()).cast(dict(COVERAGE))
    return Series(values, coverage, {k: v for k, v in unused.items() if v})


def firm_countries(shipments: pl.DataFrame) -> pl.DataFrame:
    """``exporter_id -> country``: the country each exporter ships from most (by lines; ties
    to the first code), the country whose imports its component imports are."""
    counts = shipments.filter(pl.col("export_country").is_not_null()).group_by("exporter_id", "export_country").len()
    return counts.sort(["exporter_id", "len", "export_country"], descending=[False, True, False]).group_by(
        "exporter_id", maintain_order=True).first().select("exporter_id", pl.col("export_country").alias("country"))


def input_series(inputs: pl.DataFrame, level: int, *, countries: pl.DataFrame | None = None,
                 country: str | None = None) -> Series:
    """The transit countries' monthly imports by supplier country, from component imports.

    The contract's component imports name no importing country: each is the country of its
    importer, given for all of them (``country``) or found from the shipments, where the
    importer is an exporter (``countries``, :func:`firm_countries`). Imports of firms never
    seen exporting are left out and counted.
    """
    if inputs.height == 0:
        return Series.empty()
    if country is not None:
        rows = inputs.with_columns(pl.lit(country).alias("reporter"))
    else:
        if countries is None:
            countries = pl.DataFrame(schema={"exporter_id": pl.String, "country": pl.String})
        rows = inputs.join(countries.rename({"exporter_id": "importer_id", "country": "reporter"}), on="importer_id", how="left")
    lost = rows.filter(pl.col("reporter").is_null()).height
    short = rows.filter(pl.col("reporter").is_not_null() & (pl.col("hs_code").str.len_bytes() < level)).height
    rows = rows.filter(pl.col("reporter").is_not_null(), pl.col("hs_code").str.len_bytes() >= level)
    unused = {"component imports of firms never seen exporting (country unknown)": lost,
              "component imports with an HS code shorter than the level": short}
    unused = {k: v for k, v in unused.items() if v}
    if rows.height == 0:
        return Series(Series.empty().values, Series.empty().coverage, unused)
    values = rows.group_by(
        "reporter", pl.col("supplier_country").alias("partner"), pl.col("hs_code").str.slice(0, level).alias("hs"),
        month_index(pl.col("arrival_date")).alias("period"),
    ).agg(pl.col("declared_value_usd").sum().alias("value")).with_columns(
        pl.lit(IMPORT).alias("flow"), pl.lit(MONTHLY).alias("freq"), pl.lit(FROM_INPUTS).alias("source"),
    ).select(SERIES.names()).cast(dict(SERIES))
    cov = _months_covered(rows.select("reporter", pl.col("arrival_date").alias("_day")), ["reporter"])
    coverage = cov.with_columns(pl.lit(IMPORT).alias("flow"), pl.lit(FROM_INPUTS).alias("source"),
                                pl.lit(MONTHLY).alias("freq")).select(COVERAGE.names()).cast(dict(COVERAGE))
    return Series(values, coverage, unused)


def combine(preferred: Series, *fallbacks: Series) -> Series:
    """The preferred series (public statistics) and, for every (reporter, flow) they lack,
    the fallbacks' (the user's own data), in order."""
    values, coverage, unused = [preferred.values], [preferred.coverage], dict(preferred.unused)
    have = preferred.coverage.select("reporter", "flow").unique()
    for fb in fallbacks:
        keep = fb.coverage.select("reporter", "flow").unique().join(have, on=["reporter", "flow"], how="anti")
        values.append(fb.values.join(keep, on=["reporter", "flow"], how="semi"))
        coverage.append(fb.coverage.join(keep, on=["reporter", "flow"], how="semi"))
        have = pl.concat([have, keep])
        for k, v in fb.unused.items():
            unused[k] = unused.get(k, 0) + v
    return Series(pl.concat(values), pl.concat(coverage), unused)


def _to_years(series: Series) -> Series:
    """Monthly series summed by year; a year is covered when all its months are."""
    v = series.values.with_columns(
        pl.when(pl.col("freq") == MONTHLY).then(pl.col("period") // 12).otherwise(pl.col("period")).cast(pl.Int32).alias("period"),
    ).group_by("reporter", "partner", "flow", "hs", "period", "source").agg(pl.col("value").sum()).with_columns(
        pl.lit(ANNUAL).alias("freq")).select(SERIES.names())
    m = pl.col("freq") == MONTHLY
    c = series.coverage.with_columns(
        pl.when(m).then((pl.col("first") + 11) // 12).otherwise(pl.col("first")).cast(pl.Int32).alias("first"),
        pl.when(m).then((pl.col("last") + 1) // 12 - 1).otherwise(pl.col("last")).cast(pl.Int32).alias("last"),
        pl.lit(ANNUAL).alias("freq"),
    ).select(COVERAGE.names())
    return Series(v, c, series.unused)


# -- the screen ------------------------------------------------------------------------------

#: The columns of the route table, in order (``docs/routes.md`` explains each).
ROUTE_COLUMNS = (
    "rank", "route", "hs", "origin", "transit", "destination", "event_name", "event_date", "added_duty_rate", "freq",
    "before_from", "before_to", "after_from", "after_to", "periods_before", "periods_after",
    "dest_from_origin_before", "dest_from_origin_after", "dest_from_transit_before", "dest_from_transit_after",
    "dest_total_before", "dest_total_after", "transit_from_origin_before", "transit_from_origin_after",
    "origin_share_before", "origin_share_after", "transit_share_before", "transit_share_after",
    "transit_growth", "transit_imports_growth", "cover", "rise_cover",
    "a_origin_share_falls_transit_rises", "b_transit_imports_rise", "c_imports_cover_exports", "c_rise_covers_rise",
    "flagged",
    "ordinary_growth", "excess_per_period", "excess_usd", "arithmetic",
    "dest_source", "transit_source", "other_events",
)


def _window_sums(values: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Per event and (reporter, partner, hs): the sums of the before and after windows."""
    parts = []
    for ev in events.iter_rows(named=True):
        prefix = ev["hs_prefix"] or ""
        sel = values.filter(pl.col("period").is_between(ev["b0"], ev["a1"]))
        if prefix:
            sel = sel.filter(pl.col("hs").str.starts_with(prefix) | pl.lit(prefix).str.starts_with(pl.col("hs")))
        side = pl.when(pl.col("period") <= ev["b1"]).then(pl.lit("b")).when(pl.col("period") >= ev["a0"]).then(pl.lit("a"))
        got = sel.with_columns(side.alias("side")).filter(pl.col("side").is_not_null()).group_by(
            "reporter", "partner", "hs", "source").agg(
            pl.col("value").filter(pl.col("side") == "b").sum().alias("sum_b"),
            pl.col("value").filter(pl.col("side") == "a").sum().alias("sum_a"),
        )
        parts.append(got.with_columns(pl.lit(ev["event"]).alias("event")))
    if not parts:
        return pl.DataFrame(schema={"reporter": pl.String, "partner": pl.String, "hs": pl.String, "source": pl.String,
                                    "sum_b": pl.Float64, "sum_a": pl.Float64, "event": pl.Int64})
    return pl.concat(parts)


def _periods(coverage: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Per event and (reporter, flow): the number of covered periods before and after."""
    cross = coverage.join(events.select("event", "b0", "b1", "a0", "a1"), how="cross")
    n = lambda lo, hi: (pl.min_horizontal(pl.col(hi), pl.col("last")) - pl.max_horizontal(pl.col(lo), pl.col("first")) + 1).clip(0)  # noqa: E731
    return cross.select("event", "reporter", "flow", "source", n("b0", "b1").alias("n_b"), n("a0", "a1").alias("n_a"))


def screen_events(events: pl.DataFrame, destination: str) -> pl.DataFrame:
    """The tariff events of the destination the screen looks around: its own (or naming no
    country) that add duty (a cut or a zero-rate record creates no incentive to re-route)."""
    keep = pl.col("added_duty_rate").fill_null(0.0) > 0
    if "importing_country" in events.columns:
        keep &= pl.col("importing_country").is_null() | (pl.col("importing_country") == destination)
    return events.filter(keep)


@dataclass(frozen=True)
class Screen:
    """The route table (``ROUTE_COLUMNS``, ranked) and how it was made."""

    routes: pl.DataFrame
    freq: str
    sources: dict[str, list[str]]
    events: int
    routes_evaluated: int
    unused: dict[str, int] = field(default_factory=dict)


def screen(series: Series, events: pl.DataFrame, destination: str, settings: Settings = Settings()) -> Screen:
    """Every route of the destination's imports around each of its tariff events, with the
    three criteria, the excess flow and its arithmetic; ranked by excess value (then
    flagged first). A route is kept under the event that gives it the largest excess (then
    the latest); the other events it was tested against are named in ``other_events``."""
    freq = ANNUAL if (series.coverage.get_column("freq") == ANNUAL).any() else MONTHLY
    if freq == ANNUAL and (series.coverage.get_column("freq") == MONTHLY).any():
        series = _to_years(series)
    before, after, fewest = settings.window(freq)
    evs = screen_events(events, destination).with_row_index("event").with_columns(pl.col("event").cast(pl.Int64))
    rows = []
    for ev in evs.iter_rows(named=True):
        b1, a0 = _event_period(freq, ev["effective_date"])
        rows.append({"event": ev["event"], "b0": b1 - before + 1, "b1": b1, "a0": a0, "a1": a0 + after - 1})
    windows = pl.DataFrame(rows, schema={"event": pl.Int64, "b0": pl.Int32, "b1": pl.Int32, "a0": pl.Int32, "a1": pl.Int32})
    evs = evs.join(windows, on="event")
    values = series.values
    used_sources = {"destination imports": sorted(series.coverage.filter(
        (pl.col("reporter") == destination) & (pl.col("flow") == IMPORT)).get_column("source").unique().to_list())}
    empty = Screen(pl.DataFrame(schema={c: pl.String for c in ROUTE_COLUMNS}), freq, used_sources, evs.height, 0, series.unused)
    if evs.height == 0 or values.height == 0:
        return empty
    imports = values.filter(pl.col("flow") == IMPORT)
    dest = imports.filter(pl.col("reporter") == destination)
    origins = evs.get_column("origin_country").unique().to_list()
    transit_rows = imports.filter(pl.col("reporter") != destination, pl.col("partner").is_in(origins))
    sums_d = _window_sums(dest, evs)
    sums_t = _window_sums(transit_rows, evs)
    periods = _periods(series.coverage.filter(pl.col("flow") == IMPORT), evs)
    n_dest = periods.filter(pl.col("reporter") == destination).group_by("event").agg(
        pl.col("n_b").max(), pl.col("n_a").max(), pl.col("source").first().alias("dest_source"))
    n_trans = periods.filter(pl.col("reporter") != destination).group_by("event", "reporter").agg(
        pl.col("n_b").max().alias("tn_b"), pl.col("n_a").max().alias("tn_a"), pl.col("source").first().alias("transit_source"))

    ev_cols = evs.select("event", pl.col("origin_country").alias("origin"), pl.col("name").alias("event_name"),
                         pl.col("effective_date").alias("event_date"), "added_duty_rate", "b0", "b1", "a0", "a1")
    total = sums_d.group_by("event", "hs").agg(pl.col("sum_b").sum().alias("tot_b"), pl.col("sum_a").sum().alias("tot_a"))
    cand = sums_d.join(ev_cols.select("event", "origin"), on="event").filter(
        pl.col("partner") != pl.col("origin"), pl.col("partner") != destination)
    cand = cand.select("event", "hs", pl.col("partner").alias("transit"), pl.col("sum_b").alias("dt_b"), pl.col("sum_a").alias("dt_a"))
    from_origin = sums_d.join(ev_cols.select("event", "origin"), on="event").filter(pl.col("partner") == pl.col("origin")).select(
        "event", "hs", pl.col("sum_b").alias("do_b"), pl.col("sum_a").alias("do_a"))
    t_o = sums_t.join(ev_cols.select("event", "origin"), on="event").filter(pl.col("partner") == pl.col("origin")).select(
        "event", "hs", pl.col("reporter").alias("transit"), pl.col("sum_b").alias("to_b"), pl.col("sum_a").alias("to_a"))
    r = (cand.join(ev_cols, on="event").join(total, on=["event", "hs"], how="left").join(from_origin, on=["event", "hs"], how="left")
         .join(t_o, on=["event", "hs", "transit"], how="left").join(n_dest, on="event", how="left")
         .join(n_trans.rename({"reporter": "transit"}), on=["event", "transit"], how="left"))
    r = r.filter(pl.col("n_b") >= fewest, pl.col("n_a") >= fewest)
    evaluated = r.height
    if evaluated == 0:
        return Screen(empty.routes, freq, used_sources, evs.height, 0, series.unused)
    f = pl.col
    mean = lambda s, n: pl.when(f(n) > 0).then(f(s).fill_null(0.0) / f(n))  # noqa: E731
    # The transit's imports are read over its own covered periods (none: unknown).
    has_t = f("tn_b").fill_null(0) >= fewest
    r = r.with_columns(
        mean("dt_b", "n_b").alias("dest_from_transit_before"), mean("dt_a", "n_a").alias("dest_from_transit_after"),
        mean("do_b", "n_b").alias("dest_from_origin_before"), mean("do_a", "n_a").alias("dest_from_origin_after"),
        mean("tot_b", "n_b").alias("dest_total_before"), mean("tot_a", "n_a").alias("dest_total_after"),
        pl.when(has_t & (f("tn_a").fill_null(0) >= fewest)).then(mean("to_b", "tn_b")).alias("transit_from_origin_before"),
        pl.when(has_t & (f("tn_a").fill_null(0) >= fewest)).then(mean("to_a", "tn_a")).alias("transit_from_origin_after"),
    )
    share = lambda s, t: pl.when(f(t) > 0).then(f(s) / f(t))  # noqa: E731
    growth = lambda a, b: pl.when(f(b) > 0).then(f(a) / f(b) - 1)  # noqa: E731
    r = r.with_columns(
        share("dest_from_origin_before", "dest_total_before").alias("origin_share_before"),
        share("dest_from_origin_after", "dest_total_after").alias("origin_share_after"),
        share("dest_from_transit_before", "dest_total_before").alias("transit_share_before"),
        share("dest_from_transit_after", "dest_total_after").alias("transit_share_after"),
        growth("dest_from_transit_after", "dest_from_transit_before").alias("transit_growth"),
        growth("transit_from_origin_after", "transit_from_origin_before").alias("transit_imports_growth"),
        share("transit_from_origin_after", "dest_from_transit_after").alias("cover"),
        pl.when(f("dest_from_transit_after") > f("dest_from_transit_before")).then(
            (f("transit_from_origin_after") - f("transit_from_origin_before"))
            / (f("dest_from_transit_after") - f("dest_from_transit_before").fill_null(0.0))).alias("rise_cover"),
    )
    # Ordinary growth: of the destination's imports of the product from every partner but
    # the origin and the transit (the origin's fall and the transit's rise are the signal).
    rest_b = f("dest_total_before") - f("dest_from_origin_before").fill_null(0) - f("dest_from_transit_before").fill_null(0)
    rest_a = f("dest_total_after") - f("dest_from_origin_after").fill_null(0) - f("dest_from_transit_after").fill_null(0)
    # Sums of floats may leave a rounding crumb where nothing else was imported: below a cent, none.
    g = pl.when(rest_b > 0.01).then(pl.max_horizontal(rest_a, 0.0) / rest_b).otherwise(1.0)
    r = r.with_columns(g.alias("ordinary_growth"))
    a = ((f("origin_share_after") < f("origin_share_before")) & (f("transit_share_after") > f("transit_share_before"))).fill_null(False)
    b = ((f("transit_from_origin_after") > f("transit_from_origin_before"))).fill_null(False)
    c = (f("cover") >= settings.cover).fill_null(False)
    # The rise must be material (a tenth of the exports before): a crumb of growth matched
    # by a crumb of imports says nothing.
    material = (f("dest_from_transit_after") >= 1.1 * f("dest_from_transit_before").fill_null(0.0)).fill_null(False)
    c_rise = (f("rise_cover") >= settings.cover).fill_null(False) & material & pl.lit(settings.rise_cover)
    over_growth = pl.max_horizontal(f("dest_from_transit_after") - f("dest_from_transit_before") * f("ordinary_growth"), 0.0)
    rise = pl.max_horizontal(f("transit_from_origin_after") - f("transit_from_origin_before"), 0.0)
    r = r.with_columns(
        a.alias("a_origin_share_falls_transit_rises"), b.alias("b_transit_imports_rise"), c.alias("c_imports_cover_exports"),
        c_rise.alias("c_rise_covers_rise"),
        pl.min_horizontal(over_growth, rise.fill_null(0.0)).alias("excess_per_period"),
        f("n_a").alias("periods_after"), f("n_b").alias("periods_before"),
    ).with_columns((f("excess_per_period") * f("periods_after")).alias("excess_usd"))
    # Flagged: the three criteria hold and something is left that ordinary growth does not explain.
    r = r.with_columns((a & b & (c | c_rise) & (f("excess_usd") > 0)).alias("flagged"))
    r = r.with_columns(
        pl.format("{}-{}-{}", f("hs"), f("origin"), f("transit")).alias("route"),
        pl.lit(destination).alias("destination"), pl.lit(freq).alias("freq"),
        pl.col("b0").map_elements(lambda p: period_label(freq, p), return_dtype=pl.String).alias("before_from"),
        pl.col("b1").map_elements(lambda p: period_label(freq, p), return_dtype=pl.String).alias("before_to"),
        pl.col("a0").map_elements(lambda p: period_label(freq, p), return_dtype=pl.String).alias("after_from"),
        pl.col("a1").map_elements(lambda p: period_label(freq, p), return_dtype=pl.String).alias("after_to"),
        f("transit_source").fill_null("none"),
    )
    r = r.with_columns(_arithmetic(freq).alias("arithmetic"))
    # One row per route: the event giving the largest excess (then the latest).
    r = r.sort(["excess_usd", "event_date"], descending=[True, True], nulls_last=True)
    others = r.group_by("route").agg(pl.col("event_name").alias("_names"))
    r = r.group_by("route", maintain_order=True).first().join(others, on="route")
    r = r.with_columns(pl.col("_names").list.slice(1).list.join("; ").alias("other_events"))
    r = r.sort(["excess_usd", "flagged", "route"], descending=[True, True, False], nulls_last=True).with_row_index("rank", offset=1)
    r = r.with_columns(pl.col("rank").cast(pl.Int64))
    sources = used_sources | {"transit imports": sorted(set(r.get_column("transit_source").unique().to_list()) - {"none"})}
    return Screen(r.select(ROUTE_COLUMNS), freq, sources, evs.height, evaluated, series.unused)


def _money(col: str) -> pl.Expr:
    """A USD amount as short text (1.2M, 35k, 840)."""
    v = pl.col(col).fill_null(0.0)
    return (pl.when(v.abs() >= 1e6).then(pl.format("{}M", (v / 1e6).round(2)))
            .when(v.abs() >= 1e3).then(pl.format("{}k", (v / 1e3).round(1)))
            .otherwise(pl.format("{}", v.round(0))))


def _arithmetic(freq: str) -> pl.Expr:
    """The excess-flow estimate written out with the route's own numbers."""
    unit = "month" if freq == MONTHLY else "year"
    return pl.format(
        "min(max(0, {} - {} x {}), max(0, {} - {})) = {} per " + unit + " x {} " + unit + "s = {} USD "
        "[D<-T after - D<-T before x ordinary growth; T<-O after - T<-O before]",
        _money("dest_from_transit_after"), _money("dest_from_transit_before"), pl.col("ordinary_growth").round(2),
        _money("transit_from_origin_after"), _money("transit_from_origin_before"), _money("excess_per_period"),
        pl.col("periods_after"), _money("excess_usd"),
    )


# -- routes meet lines ---------------------------------------------------------------------

def route_lines(shipments: pl.DataFrame, routes: pl.DataFrame, level: int) -> pl.DataFrame:
    """The user's lines on each route: same HS at ``level``, declared made in the transit
    country, arrived on or after the route's event (``route`` + the line's columns)."""
    keys = routes.select("route", "hs", "transit", "event_date")
    lines = shipments.with_columns(pl.col("hs_code").str.slice(0, level).alias("hs")).join(
        keys, left_on=["hs", "origin_country"], right_on=["hs", "transit"])
    return lines.filter(pl.col("arrival_date") >= pl.col("event_date")).drop("hs", "event_date")


def behind(shipments: pl.DataFrame, routes: pl.DataFrame, level: int, top: int = 5) -> pl.DataFrame:
    """Per route: the user's lines on it (count, value) and its top exporters by value."""
    lines = route_lines(shipments, routes, level)
    by_exp = lines.group_by("route", "exporter_id").agg(pl.len().alias("n"), pl.col("declared_value_usd").sum().alias("v"))
    tops = by_exp.sort(["route", "v", "exporter_id"], descending=[False, True, False]).group_by("route", maintain_order=True).head(top)
    tops = tops.group_by("route").agg(
        pl.format("{} ({} lines, {} USD)", pl.col("exporter_id"), pl.col("n"), pl.col("v").round(0).cast(pl.Int64)).alias("_t"),
        pl.col("exporter_id").alias("_ids"),
    )
    per = lines.group_by("route").agg(pl.len().alias("lines"), pl.col("declared_value_usd").sum().alias("lines_value_usd"),
                                      pl.col("exporter_id").n_unique().alias("exporters"))
    out = routes.select("route").join(per, on="route", how="left").join(tops, on="route", how="left")
    return out.select(
        "route", pl.col("lines").fill_null(0).cast(pl.Int64), pl.col("lines_value_usd").fill_null(0.0),
        pl.col("exporters").fill_null(0).cast(pl.Int64), pl.col("_t").list.join("; ").fill_null("").alias("top_exporters"),
    )


def route_history(series: Series, route: dict) -> pl.DataFrame:
    """The three flows of one route by period (for its picture): ``period``, ``label``,
    ``dest_from_origin``, ``dest_from_transit``, ``transit_from_origin`` (0 where none)."""
    v = series.values.filter(pl.col("hs") == route["hs"], pl.col("flow") == IMPORT)
    if route["freq"] == ANNUAL and (v.get_column("freq") == MONTHLY).any():
        v = _to_years(Series(v, series.coverage, {})).values
    v = v.filter(pl.col("freq") == route["freq"])
    pick = {
        "dest_from_origin": (route["destination"], route["origin"]),
        "dest_from_transit": (route["destination"], route["transit"]),
        "transit_from_origin": (route["transit"], route["origin"]),
    }
    parts = [v.filter(pl.col("reporter") == rep, pl.col("partner") == par).group_by("period").agg(pl.col("value").sum().alias(name))
             for name, (rep, par) in pick.items()]
    periods = pl.concat([p.select("period") for p in parts]).unique().sort("period")
    out = periods
    for p in parts:
        out = out.join(p, on="period", how="left")
    return out.with_columns(pl.col(n).fill_null(0.0) for n in pick).with_columns(
        pl.col("period").map_elements(lambda p: period_label(route["freq"], p), return_dtype=pl.String).alias("label"))


def as_frequency(series: Series, freq: str) -> Series:
    """``series`` read at the screen's frequency (monthly series summed by year for ``A``)."""
    if freq == ANNUAL and (series.values.get_column("freq") == MONTHLY).any():
        return _to_years(series)
    return series


def histories(series: Series, routes: pl.DataFrame) -> pl.DataFrame:
    """``route`` and ``history``: the route's three flows by period as JSON text
    (``[[period label, D<-O, D<-T, T<-O], ...]``), for pictures drawn without the inputs."""
    import json

    if not routes.height:
        return pl.DataFrame(schema={"route": pl.String, "history": pl.String})
    freq = routes.get_column("freq")[0]
    v = as_frequency(series, freq).values.filter(pl.col("flow") == IMPORT, pl.col("freq") == freq)
    keys = routes.select("route", "hs", "origin", "transit", "destination")
    parts = []
    for name, rep, par in (("do", "destination", "origin"), ("dt", "destination", "transit"), ("to", "transit", "origin")):
        got = keys.join(v, left_on=["hs", rep, par], right_on=["hs", "reporter", "partner"]).group_by("route", "period").agg(
            pl.col("value").sum().alias(name))
        parts.append(got)
    frame = pl.concat(parts, how="diagonal_relaxed").group_by("route", "period").agg(
        pl.col("do").sum(), pl.col("dt").sum(), pl.col("to").sum()).sort("route", "period")
    out = []
    for (route,), g in frame.group_by("route", maintain_order=True):
        out.append((route, json.dumps([[period_label(freq, p), round(a, 2), round(b, 2), round(c, 2)]
                                        for p, a, b, c in g.select("period", "do", "dt", "to").iter_rows()])))
    return routes.select("route").join(pl.DataFrame(out, schema={"route": pl.String, "history": pl.String}, orient="row"),
                                       on="route", how="left")
