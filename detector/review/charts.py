"""Inline SVG pictures shared by the review page and the HTML report.

Each function returns a ``markupsafe.Markup`` string of one ``<svg>`` element with
every text escaped, so templates can embed it as is and the report needs no network
or JavaScript. Colours are fixed per origin so a picture reads the same everywhere.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

_PALETTE = ("#4e79a7", "#59a14f", "#edc948", "#b07aa1", "#76b7b2", "#ff9da7", "#9c755f", "#bab0ac")
#: Tariffed origins are drawn in warm colours so they stand out.
_FIXED = {"CN": "#e15759", "HK": "#f28e2b"}

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 240, 64, 16, 28, 48


def colour(origin: str, order: Sequence[str]) -> str:
    if origin in _FIXED:
        return _FIXED[origin]
    others = [o for o in order if o not in _FIXED]
    return _PALETTE[others.index(origin) % len(_PALETTE)] if origin in others else _PALETTE[-1]


def _fmt(v: float) -> str:
    """Short human number: 1.2M, 35k, 4.2."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e3:
        return f"{v / 1e3:.0f}k"
    if a >= 10 or isinstance(v, int):
        return f"{v:.0f}"
    return f"{v:.2f}"


def _svg(body: list[str], title: str, width: int = W, height: int = H) -> Markup:
    t = escape(title)
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{t}"><title>{t}</title>'
        f'<text x="{PAD_L}" y="16" class="ct">{t}</text>' + "".join(body) + "</svg>"
    )


def _empty(title: str, message: str) -> Markup:
    return _svg([f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="muted">{escape(message)}</text>'], title, W, 80)


def _y_axis(vmax: float, height: int = H, *, counts: bool = False) -> list[str]:
    out = []
    plot_h = height - PAD_T - PAD_B
    for i in range(5):
        v = round(vmax * i / 4) if counts else vmax * i / 4
        y = height - PAD_B - plot_h * i / 4
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{escape(_fmt(v))}</text>')
    return out


def _month_key(d) -> str:
    return d.strftime("%Y-%m") if isinstance(d, (dt.date, dt.datetime)) else str(d)[:7]


def stacked_monthly_bars(
    rows: Sequence[tuple], events: Sequence[tuple] = (), *, title: str, highlight_month: str | None = None
) -> Markup:
    """Stacked monthly bars of ``(month, origin, value)`` with tariff events marked.

    ``events`` are ``(date, origin, name)``; each is a dashed vertical line labelled
    with its name at the month it took effect (if inside the range).
    """
    if not rows:
        return _empty(title, "no shipments to draw")
    months = sorted({_month_key(m) for m, _, _ in rows} | ({highlight_month} if highlight_month else set()))
    first, last = months[0], months[-1]
    months = _month_range(first, last)
    origins = sorted({o or "?" for _, o, _ in rows}, key=lambda o: (o not in _FIXED, o))
    stacks: dict[str, dict[str, float]] = {m: {} for m in months}
    for m, o, v in rows:
        stacks[_month_key(m)][o or "?"] = stacks[_month_key(m)].get(o or "?", 0.0) + float(v or 0)
    vmax = max(sum(s.values()) for s in stacks.values()) or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    step = plot_w / len(months)
    bw = max(1.0, step * 0.8)
    body = _y_axis(vmax)
    for i, m in enumerate(months):
        x = PAD_L + i * step + (step - bw) / 2
        y = H - PAD_B
        if m == highlight_month:
            body.append(f'<rect x="{PAD_L + i * step:.1f}" y="{PAD_T}" width="{step:.1f}" height="{plot_h}" class="hl"/>')
        for o in origins:
            v = stacks[m].get(o, 0.0)
            if v <= 0:
                continue
            h = plot_h * v / vmax
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{colour(o, origins)}">'
                f"<title>{escape(m)} {escape(o)}: {escape(_fmt(v))} USD</title></rect>"
            )
        if len(months) <= 14 or i % max(1, len(months) // 12) == 0:
            body.append(f'<text x="{PAD_L + (i + 0.5) * step:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" class="tick">{escape(m[2:])}</text>')
    for date, origin, name in events:
        key = _month_key(date)
        if key in months:
            i = months.index(key)
            x = PAD_L + i * step
            body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="event"/>')
            body.append(f'<text x="{x + 3:.1f}" y="{PAD_T + 10}" class="event-label">{escape(f"{name} ({origin})")}</text>')
    for j, o in enumerate(origins):
        lx = PAD_L + j * 70
        body.append(f'<rect x="{lx}" y="{H - 18}" width="10" height="10" fill="{colour(o, origins)}"/>')
        body.append(f'<text x="{lx + 14}" y="{H - 9}" class="tick">{escape(o)}</text>')
    return _svg(body, title)


def _month_range(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last and len(out) < 240:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def horizontal_bars(items: Sequence[tuple[str, float | int]], *, title: str, unit: str = "", highlight: str | None = None) -> Markup:
    """One labelled bar per ``(label, value)``; ``highlight`` picks the bar drawn in red."""
    items = [(label, v) for label, v in items if v is not None]
    if not items:
        return _empty(title, "nothing to draw")
    row_h = 24
    height = PAD_T + row_h * len(items) + 12
    label_w = 190
    vmax = max(v for _, v in items) or 1.0
    plot_w = W - label_w - PAD_R - 70
    body = []
    for i, (label, v) in enumerate(items):
        y = PAD_T + i * row_h
        w = max(1.0, plot_w * v / vmax)
        cls = "bar hlbar" if label == highlight else "bar"
        body.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="tick">{escape(str(label))}</text>')
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" class="{cls}"/>')
        body.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" class="tick">{escape(_fmt(v) + unit)}</text>')
    return _svg(body, title, W, height)


def two_series(months_a: Sequence[tuple], months_b: Sequence[tuple], *, title: str, names: tuple[str, str]) -> Markup:
    """Grouped monthly bars of two series ``(month, value)``: e.g. inputs vs exports."""
    if not months_a and not months_b:
        return _empty(title, "no data to draw")
    a = {_month_key(m): float(v or 0) for m, v in months_a}
    b = {_month_key(m): float(v or 0) for m, v in months_b}
    keys = sorted(a | b)
    months = _month_range(keys[0], keys[-1])
    vmax = max([*a.values(), *b.values(), 1.0])
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    step = plot_w / len(months)
    bw = max(1.0, step * 0.4)
    body = _y_axis(vmax)
    for i, m in enumerate(months):
        for k, (series, cls) in enumerate(((a, "s1"), (b, "s2"))):
            v = series.get(m, 0.0)
            h = plot_h * v / vmax
            x = PAD_L + i * step + step * 0.1 + k * bw
            body.append(f'<rect x="{x:.1f}" y="{H - PAD_B - h:.1f}" width="{bw:.1f}" height="{h:.1f}" class="{cls}"><title>{escape(m)} {escape(names[k])}: {escape(_fmt(v))} USD</title></rect>')
        if len(months) <= 14 or i % max(1, len(months) // 12) == 0:
            body.append(f'<text x="{PAD_L + (i + 0.5) * step:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" class="tick">{escape(m[2:])}</text>')
    for k, (name, cls) in enumerate(zip(names, ("s1", "s2"))):
        lx = PAD_L + k * 170
        body.append(f'<rect x="{lx}" y="{H - 18}" width="10" height="10" class="{cls}"/><text x="{lx + 14}" y="{H - 9}" class="tick">{escape(name)}</text>')
    return _svg(body, title)


def histogram(values: Sequence[float], *, title: str, bins: int = 20, lo: float = 0.0, hi: float = 100.0, marker: float | None = None) -> Markup:
    """Counts of ``values`` in equal bins over [lo, hi]; ``marker`` draws a line (e.g. the flag threshold)."""
    counts = [0] * bins
    for v in values:
        if v is None:
            continue
        i = min(bins - 1, max(0, int((float(v) - lo) / (hi - lo) * bins)))
        counts[i] += 1
    return histogram_counts(counts, title=title, lo=lo, hi=hi, marker=marker)


def histogram_counts(counts: Sequence[int], *, title: str, lo: float = 0.0, hi: float = 100.0, marker: float | None = None) -> Markup:
    """Draw pre-computed bin counts (large files are binned lazily by the caller)."""
    if not any(counts):
        return _empty(title, "no scores")
    bins = len(counts)
    vmax = max(counts)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    step = plot_w / bins
    body = _y_axis(vmax, counts=True)
    for i, c in enumerate(counts):
        h = plot_h * c / vmax
        a, b = lo + (hi - lo) * i / bins, lo + (hi - lo) * (i + 1) / bins
        body.append(f'<rect x="{PAD_L + i * step + 1:.1f}" y="{H - PAD_B - h:.1f}" width="{step - 2:.1f}" height="{h:.1f}" class="bar"><title>{a:.0f}-{b:.0f}: {c}</title></rect>')
        if i % max(1, bins // 10) == 0:
            body.append(f'<text x="{PAD_L + i * step:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" class="tick">{a:.0f}</text>')
    if marker is not None:
        x = PAD_L + plot_w * (marker - lo) / (hi - lo)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="event"/><text x="{x + 3:.1f}" y="{PAD_T + 10}" class="event-label">flag threshold {marker:.1f}</text>')
    return _svg(body, title)
