"""Charts shared by the review page and the HTML report, drawn with matplotlib as SVG.

A :class:`Chart` is the data of one picture (plain Python values, so tests read what a
chart shows without comparing images) and its title, alt text and caption. ``svg()``
draws it with matplotlib's SVG backend on a ``matplotlib.figure.Figure`` (no pyplot, no
display); the page serves that as an image (``<img src="/chart/...svg">``) and the report
embeds it as a ``data:image/svg+xml;base64,`` image, so neither needs a script, a
network request or an inline style the pages' content-security policies would block.

Drawing rules, the same in every chart:

* text stays text (``svg.fonttype`` ``none``), ids are salted (``svg.hashsalt``) and
  the date left out, so one chart always gives the same bytes;
* text from the data file is never read as mathtext (``text.parse_math`` off: an exporter
  named ``$x$`` is drawn as ``$x$``); matplotlib escapes every text it writes into the SVG;
* one colour per origin everywhere (tariffed origins CN and HK warm);
* history from the model's reference state is drawn lighter than the scored file's
  months, with a line where the scored file starts; tariff events are labelled lines;
* ticks are nice numbers with their unit (``1.5 M USD``), months read ``Mar 2025``.

matplotlib is imported on the first drawing, never at import (``waypoint --help`` stays
fast). Drawing is serialised by a lock: matplotlib's settings are read from a shared
``rcParams`` that :func:`_render` sets for the duration of one drawing only.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from markupsafe import Markup

#: Cool, clearly visible colours for the other origins (no red, orange or yellow: those read as CN/HK).
_PALETTE = ("#4e79a7", "#59a14f", "#b07aa1", "#17becf", "#9c755f", "#637939", "#393b79", "#7b4173", "#76b7b2", "#8c6d31")
#: Tariffed origins are drawn in warm colours so they stand out, the same in every chart.
_FIXED = {"CN": "#e15759", "HK": "#f28e2b"}
_OTHER = "#bab0ac"
_EVENT = "#b2182b"
_INK = "#1d2430"
_MUTED = "#5b6370"
#: matplotlib settings of every drawing (fonts in points: 9 pt is 12 px on screen).
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "waypoint",
    "text.parse_math": False,
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 10,
    "axes.labelsize": 9.5,
    "axes.labelcolor": _MUTED,
    "axes.edgecolor": "#9aa3ae",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.color": "#e6e9ee",
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "xtick.color": _MUTED,
    "ytick.color": _MUTED,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}
#: Width of a chart in inches (SVG points / 72): 7.6 in draws 730 px wide on screen.
WIDTH = 7.6
_LOCK = threading.Lock()
#: The last charts drawn, by their data (oldest first).
_DRAWN: dict[tuple, bytes] = {}
_KEEP_DRAWN = 64
#: (left, right, top, bottom) margins in inches by kind: room for the y ticks, the legend
#: right of the plot, the title and the month ticks.
_MARGINS = {
    "default": (1.05, 2.05, 0.62, 0.52),
    "histogram": (0.8, 0.25, 0.45, 0.55),
}
MAX_LABEL = 32


def colour(origin: str, taken: dict[str, str] | None = None) -> str:
    """The colour of an origin: fixed for tariffed ones, else picked by the code's hash so
    an origin keeps its colour from chart to chart (``taken``: the colours of one chart's
    other origins, to avoid two origins of one chart sharing a colour)."""
    if origin in _FIXED:
        return _FIXED[origin]
    if origin in ("", "?", None):
        return _OTHER
    used = set((taken or {}).values())
    start = zlib.crc32(origin.encode()) % len(_PALETTE)
    for k in range(len(_PALETTE)):
        pick = _PALETTE[(start + k) % len(_PALETTE)]
        if pick not in used:
            return pick
    return _PALETTE[start]


def colours(origins: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for o in sorted(origins, key=lambda o: (o not in _FIXED, o)):
        out[o] = colour(o, out)
    return out


def short(text: Any, limit: int = MAX_LABEL) -> str:
    """A label cut to ``limit`` characters (an ellipsis says it was cut)."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def money(v: float, unit: str = "USD") -> str:
    """A tick of an amount: 0, 250 USD, 35 k USD, 1.2 M USD, 3 bn USD."""
    a = abs(v)
    if a < 1e-9:
        return "0"
    for size, name in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if a >= size:
            return f"{v / size:.3g}{name} {unit}".rstrip()
    return f"{v:.3g} {unit}".rstrip()


def count(v: float) -> str:
    return f"{v:,.0f}"


def month_key(d) -> str:
    return d.strftime("%Y-%m") if isinstance(d, (dt.date, dt.datetime)) else str(d)[:7]


def month_start(key: str) -> dt.date:
    return dt.date(int(key[:4]), int(key[5:7]), 1)


def month_range(first: str, last: str, limit: int = 240) -> list[str]:
    """Every month key from ``first`` to ``last`` (at most ``limit``)."""
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last and len(out) < limit:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@dataclass(frozen=True)
class Event:
    """A tariff event marked on a timeline."""

    day: dt.date
    origin: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.origin})" if self.origin and self.origin not in self.name else self.name


@dataclass
class Chart:
    """One picture: ``kind`` picks the drawing, ``data`` holds what it draws.

    ``alt`` is the text of the image for screen readers and when images are off;
    ``caption`` says how to read it (and what it could not draw).
    """

    kind: str
    title: str
    data: dict[str, Any]
    alt: str = ""
    caption: str = ""
    _svg: bytes | None = field(default=None, repr=False, compare=False)

    def svg(self) -> bytes:
        """The chart as SVG bytes (drawn once; a chart of the same data drawn lately is reused,
        as the report's suspects of one exporter share its inputs picture)."""
        if self._svg is None:
            key = (self.kind, self.title, repr(self.data))
            with _LOCK:
                found = _DRAWN.get(key)
            if found is None:
                found = _render(DRAW[self.kind], self)
                with _LOCK:
                    _DRAWN[key] = found
                    while len(_DRAWN) > _KEEP_DRAWN:
                        _DRAWN.pop(next(iter(_DRAWN)))
            self._svg = found
        return self._svg

    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg()).decode("ascii")

    def img(self, src: str | None = None) -> Markup:
        """An ``<img>`` of the chart: ``src`` (the page's chart URL) or, by default, the SVG inline
        as a data URI (the self-contained report)."""
        src = src if src is not None else self.data_uri()
        return Markup(f'<img class="chart" src="{escape(src)}" alt="{escape(self.alt or self.title)}">')

    def __html__(self) -> str:  # a chart put in a template as is: the self-contained image
        return str(self.img())


# --- drawing -------------------------------------------------------------------------------


def _render(draw: Callable, chart: Chart) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    height = chart.data.get("height", 3.4)
    width = chart.data.get("width", WIDTH)
    left, right, top, bottom = chart.data.get("margins", _MARGINS.get(chart.kind, _MARGINS["default"]))
    with _LOCK, matplotlib.rc_context(RC):
        # Fixed margins in inches, not a layout engine: constrained layout measures every text
        # again and doubles the drawing time, and these charts have known labels.
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)
        draw(fig, chart)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "waypoint", "Title": chart.title})
    return buf.getvalue()


def _empty(ax, message: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", color=_MUTED, fontsize=10, transform=ax.transAxes)


def _money_axis(ax, unit: str = "USD", axis: str = "y") -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], min_n_ticks=3))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: money(v, unit)))


def _month_axis(ax, months: list[str]) -> None:
    from matplotlib.dates import DateFormatter, MonthLocator

    # Two-line labels ("Mar" over "2025") take four characters of width: at most ten fit.
    n = len(months)
    step = next((k for k, most in ((1, 10), (2, 20), (3, 30), (4, 40), (6, 60)) if n <= most), 12)
    ax.xaxis.set_major_locator(MonthLocator(bymonth=range(1, 13, step), bymonthday=1))
    ax.xaxis.set_major_formatter(DateFormatter("%b\n%Y"))
    first, last = month_start(months[0]), month_start(months[-1])
    ax.set_xlim(first - dt.timedelta(days=6), last + dt.timedelta(days=37))


def _mark_scored_start(ax, start: str | None, months: list[str]) -> bool:
    """The line where the scored file's months begin, the model's history to its left;
    labelled just above the plot (the title sits above those labels)."""
    if not start or start <= months[0]:
        return False
    from matplotlib.transforms import blended_transform_factory

    x = month_start(start)
    ax.axvline(x, color=_INK, lw=1.2, ls=(0, (2, 2)), zorder=4)
    t = blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(x, 1.01, "model history ◀\u00a0", transform=t, ha="right", va="bottom", fontsize=9, color=_MUTED)
    ax.text(x, 1.01, "\u00a0▶ scored file", transform=t, ha="left", va="bottom", fontsize=9, color=_INK)
    return True


def _mark_events(ax, events: Sequence[Event], months: list[str]) -> list[Event]:
    """Dashed red lines at the events inside the drawn months, each labelled near the top.

    A label runs right of its line (left of it in the last third of the chart); labels
    that would overlap go one row lower, so every name stays readable.
    """
    from matplotlib.transforms import blended_transform_factory

    lo, hi = month_start(months[0]), month_start(months[-1]) + dt.timedelta(days=31)
    shown = sorted((e for e in events if lo <= e.day < hi), key=lambda e: e.day)
    t = blended_transform_factory(ax.transData, ax.transAxes)
    span = max(1, (hi - lo).days)
    width_in = ax.get_position().width * ax.figure.get_figwidth()
    per_char = 9 * 0.58 / 72 / width_in  # axes fraction of one 9 pt character
    rows: list[list[tuple[float, float]]] = []
    for e in shown:
        ax.axvline(e.day, color=_EVENT, lw=1.4, ls=(0, (5, 3)), zorder=5)
        label = short(e.label, 44)
        x = (e.day - lo).days / span
        w = (len(label) + 1) * per_char
        right = x + w > 1.0
        box = (x - w, x) if right else (x, x + w)
        level = next((i for i, row in enumerate(rows) if all(box[1] < a or box[0] > b for a, b in row)), len(rows))
        if level == len(rows):
            rows.append([])
        rows[level].append(box)
        ax.text(e.day, 0.975 - 0.085 * level, (label + " ") if right else (" " + label), transform=t,
                ha="right" if right else "left", va="top", fontsize=9, color=_EVENT, zorder=6,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    return shown


def _legend(ax, handles=None, labels=None) -> None:
    kw = {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0), "borderaxespad": 0.3, "handlelength": 1.4}
    if handles is not None:
        ax.legend(handles, labels, **kw)
    else:
        ax.legend(**kw)


def _history_patch(ax):
    from matplotlib.patches import Patch

    return Patch(facecolor="#9aa3ae", alpha=0.4, edgecolor="none", label="lighter: model history")


def draw_stacked_months(fig, chart: Chart) -> None:
    """Stacked monthly bars per series (origin); the months before ``scored_from`` are the
    model's history, drawn lighter."""
    d = chart.data
    ax = fig.add_subplot()
    ax.set_title(chart.title, pad=18)
    months: list[str] = d["months"]
    if not months:
        return _empty(ax, d.get("empty") or "no shipments to draw")
    series: dict[str, dict[str, float]] = d["series"]
    cmap = colours(list(series))
    order = sorted(series, key=lambda o: (o not in _FIXED, -sum(series[o].values()), o))
    scored_from = d.get("scored_from")
    x = [month_start(m) + dt.timedelta(days=15) for m in months]
    bottom = [0.0] * len(months)
    alpha = [0.4 if scored_from and m < scored_from else 1.0 for m in months]
    for o in order:
        values = [series[o].get(m, 0.0) for m in months]
        bars = ax.bar(x, values, width=24, bottom=bottom, color=cmap[o], label=short(o, 16), zorder=3, linewidth=0)
        for bar, a in zip(bars, alpha):
            bar.set_alpha(a)
        bottom = [b + v for b, v in zip(bottom, values)]
    top = max(bottom) or 1.0
    ax.set_ylim(0, top * 1.3)
    highlight = d.get("highlight")
    if highlight in months:
        ax.axvspan(month_start(highlight), month_start(highlight) + dt.timedelta(days=30), color="#fff2b3", zorder=1,
                   label="this shipment's month")
    _money_axis(ax, d.get("unit", "USD"))
    ax.set_ylabel(d.get("ylabel", "declared value per month"))
    _finish_months(ax, d, months, _history_patch, "lighter: model history")


def draw_grouped_months(fig, chart: Chart) -> None:
    """Two monthly series side by side (component imports against exports)."""
    d = chart.data
    ax = fig.add_subplot()
    ax.set_title(chart.title, pad=18)
    months: list[str] = d["months"]
    if not months:
        return _empty(ax, d.get("empty") or "no data to draw")
    scored_from = d.get("scored_from")
    colors = d.get("colours", ("#f28e2b", "#4e79a7"))
    tallest = 1.0
    for k, (name, values) in enumerate(d["series"].items()):
        xs = [month_start(m) + dt.timedelta(days=4 + 11 * k) for m in months]
        ys = [values.get(m, 0.0) for m in months]
        tallest = max(tallest, *ys)
        bars = ax.bar(xs, ys, width=10.5, align="edge", color=colors[k % len(colors)], label=short(name, 30), zorder=3,
                      linewidth=0)
        for bar, m in zip(bars, months):
            bar.set_alpha(0.4 if scored_from and m < scored_from else 1.0)
    ax.set_ylim(0, tallest * 1.3)
    _money_axis(ax, d.get("unit", "USD"))
    ax.set_ylabel(d.get("ylabel", "declared value per month"))
    _finish_months(ax, d, months, _history_patch, "lighter: model history")


def draw_price(fig, chart: Chart) -> None:
    """Monthly unit-value norms (geometric means) of the declared and the tariffed origin,
    with this shipment's unit value as a point."""
    d = chart.data
    ax = fig.add_subplot()
    ax.set_title(chart.title, pad=18)
    months: list[str] = d["months"]
    if not months:
        return _empty(ax, d.get("empty") or "no unit values to draw")
    scored_from = d.get("scored_from")
    cmap = colours(list(d["series"]))
    top = 0.0
    for o, values in d["series"].items():
        label = f"norm for origin {short(o, 12)}"
        for part, style in ((lambda m: not scored_from or m >= scored_from, {"alpha": 1.0, "ls": "-"}),
                            (lambda m: bool(scored_from) and m < scored_from, {"alpha": 0.45, "ls": (0, (3, 2))})):
            pts = [(month_start(m) + dt.timedelta(days=15), values[m]) for m in months if m in values and part(m)]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3.5, lw=2, color=cmap[o], zorder=3,
                        label=label, **style)
                label = None
                top = max(top, *(p[1] for p in pts))
    point = d.get("shipment")
    if point and point.get("value") is not None:
        day = point["day"]
        ax.plot([day], [point["value"]], marker="*", ms=15, color=_INK, mec="white", mew=0.8, ls="none", zorder=7,
                label=f"this shipment: {point['value']:.2f}")
        top = max(top, point["value"])
    for o, v in (d.get("model_norms") or {}).items():
        if v is not None and point:
            ax.plot([point["day"]], [v], marker="D", ms=6, mfc="white", mec=cmap.get(o, _OTHER), mew=2, ls="none",
                    zorder=6, label=f"model's norm, {short(o, 12)}: {v:.2f}")
            top = max(top, v)
    ax.set_ylim(0, (top or 1.0) * 1.3)
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: "0" if v == 0 else f"{v:.3g} USD/kg"))
    ax.set_ylabel("unit value (geometric mean)")
    _finish_months(ax, d, months, _dashed_line, "dashed: model history")


def _dashed_line(ax):
    from matplotlib.lines import Line2D

    return Line2D([], [], color="#9aa3ae", lw=2, ls=(0, (3, 2)))


def _finish_months(ax, d: dict, months: list[str], history_key, history_label: str) -> None:
    """What every monthly chart ends with: the month axis, where the scored file starts, the
    tariff events, and the legend (with a key for the model's history when it is drawn)."""
    scored_from = d.get("scored_from")
    _month_axis(ax, months)
    _mark_scored_start(ax, scored_from, months)
    _mark_events(ax, d.get("events", ()), months)
    handles, labels = ax.get_legend_handles_labels()
    if scored_from and months[0] < scored_from:
        handles.append(history_key(ax))
        labels.append(history_label)
    _legend(ax, handles, labels)


def draw_lines(fig, chart: Chart) -> None:
    """Lines over periods (months ``YYYY-MM`` or years ``YYYY``): a route's three flows."""
    d = chart.data
    ax = fig.add_subplot()
    ax.set_title(chart.title)
    periods: list[str] = d["periods"]
    if not periods:
        return _empty(ax, d.get("empty") or "no flows recorded")
    monthly = len(periods[0]) == 7
    x = [month_start(p) + dt.timedelta(days=15) if monthly else dt.date(int(p), 7, 1) for p in periods]
    top = 1.0
    for name, values, col in d["lines"]:
        ys = [values.get(p, 0.0) for p in periods]
        top = max(top, *ys)
        ax.plot(x, ys, marker="o", ms=3.5, lw=2, color=col, label=short(name, 34), zorder=3)
    ax.set_ylim(0, top * 1.3)
    _money_axis(ax, d.get("unit", "USD"))
    ax.set_ylabel(d.get("ylabel", "imports per period"))
    if monthly:
        _month_axis(ax, periods)
        _mark_events(ax, d.get("events", ()), periods)
    else:
        from matplotlib.dates import DateFormatter, YearLocator

        ax.xaxis.set_major_locator(YearLocator())
        ax.xaxis.set_major_formatter(DateFormatter("%Y"))
        ax.set_xlim(dt.date(int(periods[0]), 1, 1), dt.date(int(periods[-1]), 12, 31))
        _mark_events(ax, d.get("events", ()), [f"{periods[0]}-01", f"{periods[-1]}-12"])
    _legend(ax)


def draw_hbars(fig, chart: Chart) -> None:
    """One labelled horizontal bar per item, largest on top."""
    d = chart.data
    items = d["items"]
    ax = fig.add_subplot()
    ax.set_title(chart.title)
    if not items:
        return _empty(ax, d.get("empty") or "nothing to draw")
    unit = d.get("unit", "")
    labels = [short(label, 28) for label, _ in items][::-1]
    values = [float(v) for _, v in items][::-1]
    highlight = d.get("highlight")
    cols = ["#e15759" if highlight is not None and lab == highlight else "#4e79a7" for lab, _ in items][::-1]
    ax.barh(range(len(values)), values, color=cols, height=0.7, zorder=3)
    ax.set_yticks(range(len(values)), labels)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", visible=True)
    top = max(values) or 1.0
    ax.set_xlim(0, top * 1.22)
    fmt = (lambda v: money(v, unit)) if unit else count
    if unit:
        _money_axis(ax, unit, axis="x")
    else:
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: count(v)))
    for i, v in enumerate(values):
        ax.text(v + top * 0.01, i, fmt(v), va="center", ha="left", fontsize=9, color=_INK)
    if d.get("xlabel"):
        ax.set_xlabel(d["xlabel"])


def draw_histogram(fig, chart: Chart) -> None:
    """Counts per equal band of [lo, hi]; ``marker`` is a labelled line (the flag threshold)."""
    d = chart.data
    counts, lo, hi = d["counts"], d["lo"], d["hi"]
    ax = fig.add_subplot()
    ax.set_title(chart.title)
    if not any(counts):
        return _empty(ax, "no scores")
    width = (hi - lo) / len(counts)
    ax.bar([lo + i * width for i in range(len(counts))], counts, width=width * 0.92, align="edge", color="#4e79a7", zorder=3)
    from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

    ax.xaxis.set_major_locator(MultipleLocator(10 if hi - lo >= 50 else 5))
    ax.set_xlim(lo, hi)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: count(v)))
    ax.set_ylim(0, max(counts) * 1.2)
    ax.set_xlabel(d.get("xlabel", "risk score"))
    ax.set_ylabel(d.get("ylabel", "shipments"))
    marker = d.get("marker")
    if marker is not None:
        ax.axvline(marker, color=_EVENT, lw=1.5, ls=(0, (5, 3)), zorder=5)
        ax.text(marker, max(counts) * 1.15, f"flag threshold {marker:.1f} ", ha="right", va="top", color=_EVENT, fontsize=9,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})


DRAW: dict[str, Callable] = {
    "stacked_months": draw_stacked_months,
    "grouped_months": draw_grouped_months,
    "price": draw_price,
    "lines": draw_lines,
    "hbars": draw_hbars,
    "histogram": draw_histogram,
}


# --- chart builders (the data of a chart, no drawing) ---------------------------------------


def horizontal_bars(items: Sequence[tuple[str, float | int]], *, title: str, unit: str = "", highlight: str | None = None,
                    xlabel: str = "", width: float = WIDTH) -> Chart:
    """One labelled bar per ``(label, value)``, largest first (``unit``: of the values, e.g. USD;
    none: counts of flagged shipments)."""
    items = [(str(label), v) for label, v in items if v is not None]
    height = 0.95 + 0.26 * max(3, len(items))
    label_in = min(2.3, 0.35 + 0.075 * max((len(short(label, 28)) for label, _ in items), default=4))
    what = ", ".join(f"{label} {money(v, unit) if unit else count(v)}" for label, v in items[:10])
    return Chart("hbars", title, {"items": items, "unit": unit, "highlight": highlight, "height": height, "width": width,
                                  "margins": (label_in, 0.3, 0.42, 0.55),
                                  "xlabel": xlabel or ("duty at risk" if unit else "flagged shipments")},
                 alt=f"{title}: {what}" if items else f"{title}: nothing to draw")


def histogram_counts(counts: Sequence[int], *, title: str, lo: float = 0.0, hi: float = 100.0,
                     marker: float | None = None) -> Chart:
    """Pre-computed bin counts over [lo, hi] (large files are binned lazily by the caller)."""
    return Chart("histogram", title, {"counts": list(counts), "lo": lo, "hi": hi, "marker": marker, "height": 3.0},
                 alt=f"{title}: {sum(counts):,} shipments in {len(counts)} bands of risk score"
                     + (f"; flag threshold {marker:.1f}" if marker is not None else ""))


def histogram(values: Sequence[float], *, title: str, bins: int = 20, lo: float = 0.0, hi: float = 100.0,
              marker: float | None = None) -> Chart:
    """Counts of ``values`` in equal bins over [lo, hi]."""
    counts = [0] * bins
    for v in values:
        if v is not None:
            counts[min(bins - 1, max(0, int((float(v) - lo) / (hi - lo) * bins)))] += 1
    return histogram_counts(counts, title=title, lo=lo, hi=hi, marker=marker)


__all__ = ["Chart", "Event", "colour", "colours", "histogram", "histogram_counts", "horizontal_bars", "money",
           "month_key", "month_range", "month_start"]
