"""The scenarios of the synthetic world: honest trade, transshipment, and honest look-alikes.

Each function draws ``n`` shipments of one scenario (vectorised) and returns them with the
component imports they imply. Entity-based scenarios (shells, product lines, relocations,
new factories) also return *switches*: buyers that stop ordering a family from China
at a given day because they now buy it from the new source.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.synth import catalog as cat
from detector.synth.parts import (
    Context, Inputs, Rows, make_rows, quantity, same_line_inputs, spread, upstream_inputs,
)


@dataclass(frozen=True)
class Switches:
    """Buyer ``importer`` stops buying family ``fam`` from China from ``day`` on."""

    importer: np.ndarray
    fam: np.ndarray
    day: np.ndarray

    @classmethod
    def concat(cls, parts: list["Switches"]) -> "Switches":
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("importer", "fam", "day")))


@dataclass(frozen=True)
class Outcome:
    rows: Rows
    inputs: Inputs
    switches: Switches | None = None
    firms: int = 0  # new or converted exporters the scenario created


def honest(ctx: Context, n: int, scenario: str = "honest") -> Rows:
    """Shipments on established relationships, any time in the span."""
    rng, c = ctx.rng, ctx.catalogue
    rel = ctx.relationships
    r = rng.choice(len(rel.importer), n, p=rel.weight / rel.weight.sum())
    exporter = rel.exporter[r]
    day = np.floor(rng.random(n) * ctx.span_days).astype(np.int64)
    rows = make_rows(ctx, scenario, day=day, importer=rel.importer[r], exporter=exporter, line=rel.line[r], lot=rel.lot[r])
    # Some Chinese goods leave from a regional hub, declared honestly as of Chinese origin.
    cn = c.country("CN")
    hub = (rows.origin == cn) & (rng.random(n) < 0.03)
    hubs = c.countries(cat.HUB_CODES)
    rows.export_country = np.where(hub, hubs[rng.integers(0, len(hubs), n)], rows.export_country)
    return rows


def divert(ctx: Context, rows: Rows, switches: Switches) -> Rows:
    """Move Chinese-origin orders placed after the tariff to before it (front-loading, diversion).

    Every buyer cuts some Chinese orders after the main event; a buyer that switched a family
    to a new source cuts nearly all of them. Rows are moved, not dropped, to keep the count.
    """
    rng, c = ctx.rng, ctx.catalogue
    main = ctx.event_days["main"]
    n_fam = c.n_families
    fam = c.h_fam[rows.line]
    cn = rows.origin == c.country("CN")
    cut = cn & (rows.day >= main) & (rng.random(len(rows)) < 0.3)
    limit = np.full(len(rows), main)
    if len(switches.importer):
        key = switches.importer * n_fam + switches.fam
        order = np.lexsort((switches.day, key))
        key, sday = key[order], switches.day[order]
        first = np.r_[True, key[1:] != key[:-1]]
        key, sday = key[first], sday[first]  # earliest switch per (buyer, family)
        row_key = rows.importer * n_fam + fam
        pos = np.minimum(np.searchsorted(key, row_key), len(key) - 1)
        switched = (key[pos] == row_key) & (rows.day >= sday[pos])
        moved = cn & switched & (rng.random(len(rows)) < 0.85)
        # A buyer that switched early (after the furniture measure) stopped before the main event.
        limit = np.where(moved, np.minimum(sday[pos], main), main)
        cut |= moved
    rows.day = np.where(cut, np.floor(rng.random(len(rows)) * np.maximum(limit, 1)).astype(np.int64), rows.day)
    return rows


def transit_inputs(ctx: Context, rows: Rows) -> Inputs:
    """Component imports of honest transit-country factories, plus a few small same-HS top-ups."""
    c = ctx.catalogue
    transit = np.isin(rows.export_country, c.countries(cat.TRANSIT_CODES)) & (rows.origin == rows.export_country)
    made = rows.take(np.flatnonzero(transit))
    upstream = upstream_inputs(ctx, made, ratio=(0.3, 0.6), coverage=0.9)
    # Factories sometimes buy a few finished units of what they make to complete an order.
    topup = same_line_inputs(ctx, made, ratio=(0.05, 0.2), lag=(10, 60), share=0.08)
    return Inputs.concat([upstream, topup])


def _chapter_families(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where Chinese trade is: chapter weights and, per chapter, cumulative family weights.

    Returns ``(chapter_weight, members, member_cum)``: ``members[ch, j]`` is a family of
    chapter ``ch`` and ``member_cum[ch, j]`` the running share of its Chinese trade (1 at the end).
    """
    c = ctx.catalogue
    rel = ctx.relationships
    cn = ctx.exporters.country[rel.exporter] == c.country("CN")
    fam_weight = np.bincount(c.h_fam[rel.line[cn]], weights=rel.weight[cn], minlength=c.n_families) + 1e-3
    n_ch = len(c.chapters)
    counts = np.bincount(c.fam_chapter, minlength=n_ch)
    members = np.zeros((n_ch, counts.max()), np.int64)
    member_cum = np.ones((n_ch, counts.max()))
    for ch in range(n_ch):  # a dozen chapters, not rows
        fams = np.flatnonzero(c.fam_chapter == ch)
        members[ch, : len(fams)] = fams
        member_cum[ch, : len(fams)] = np.cumsum(fam_weight[fams]) / fam_weight[fams].sum()
    chapter_weight = np.bincount(c.fam_chapter, weights=fam_weight, minlength=n_ch)
    return chapter_weight, members, member_cum


def _window_start(ctx: Context, event: np.ndarray, lo: int, hi: int, n: int) -> np.ndarray:
    """Days ``lo..hi`` after each event, kept early enough to leave a few months of trade."""
    room = np.maximum(ctx.span_days - event - 30, 1)
    delay = ctx.rng.integers(lo, hi + 1, n)
    return event + np.minimum(delay, np.maximum(room // 2, 1))


def transship_shell(ctx: Context, n: int) -> Outcome:
    """New trading shells in transit countries passing Chinese goods through after a tariff."""
    rng, c = ctx.rng, ctx.catalogue
    k = max(3, round(n / 30))
    # Most shells answer the all-lines tariff; some the earlier furniture/lighting measure.
    on_prefix = rng.random(k) < 0.25
    event = np.where(on_prefix, ctx.event_days["prefix"], ctx.event_days["main"])
    first = _window_start(ctx, event, 7, 120, k)
    late = first >= ctx.event_days["transit"]  # after Vietnam's duty, shells set up elsewhere
    transit = c.countries(cat.TRANSIT_CODES)
    country = np.where(late, transit[rng.choice([1, 2, 3], k)], transit[rng.choice(4, k, p=[0.5, 0.2, 0.15, 0.15])])
    # A trading shell ships several unrelated chapters, where Chinese trade is: chapters
    # (without repeats) and their families are drawn by Chinese volume.
    chapter_weight, members, member_cum = _chapter_families(ctx)
    n_fam = rng.integers(2, 5, k)
    perm = np.argsort(-rng.random((k, len(c.chapters))) ** (1.0 / chapter_weight), axis=1)
    # A shell answering the furniture measure leads with furniture: swap chapter 94 to the front.
    pos = np.argmax(perm == c.chapters.index("94"), axis=1)
    led = np.flatnonzero(on_prefix)
    perm[led, pos[led]], perm[led, 0] = perm[led, 0], perm[led, pos[led]]
    chapters = perm[:, :4]
    slot = (rng.random((k, 4))[:, :, None] > member_cum[chapters]).sum(axis=2)
    fams = np.take_along_axis(members[chapters], slot[:, :, None], axis=2)[:, :, 0]
    lines = np.stack([c.line(rng, fams[:, j]) for j in range(4)], axis=1)
    exporters = ctx.exporters.add(rng, c, country, lines=lines[:, :3], n_lines=np.minimum(n_fam, 3))
    # Lines: each (shell, family) sells to one to three buyers who used to buy it from China.
    ent_fam = np.repeat(np.arange(k), n_fam)
    fam_col = np.arange(len(ent_fam)) - np.repeat(np.cumsum(n_fam) - n_fam, n_fam)
    n_buyers = rng.integers(1, 4, len(ent_fam))
    line_entity = np.repeat(ent_fam, n_buyers)
    line_hs = np.repeat(lines[ent_fam, fam_col], n_buyers)
    line_importer, line_hs = ctx.buyers.pick(rng, c.h_fam[line_hs], line_hs)
    weight = ctx.exporters.size[exporters][line_entity] * rng.lognormal(0, 0.5, len(line_entity))
    pick = rng.choice(len(line_entity), n, p=weight / weight.sum())
    ent = line_entity[pick]
    day = spread(rng, first[ent], np.full(n, ctx.span_days), "front")
    rows = make_rows(
        ctx, "transship_shell", day=day, importer=line_importer[pick], exporter=exporters[ent], line=line_hs[pick],
        price_country=np.full(n, c.country("CN")), price_factor=rng.lognormal(0.02, 0.08, k)[ent],
        cn_mid=rng.random(n) < 0.2, cn_port=rng.random(n) < 0.15,
    )
    inputs = same_line_inputs(ctx, rows, ratio=(0.85, 1.05))
    switches = Switches(line_importer, c.h_fam[line_hs], first[line_entity] + rng.integers(0, 22, len(line_entity)))
    return Outcome(rows, inputs, switches, k)


def transship_product_line(ctx: Context, n: int) -> Outcome:
    """Established transit exporters passing Chinese goods through on one line for months."""
    rng, c = ctx.rng, ctx.catalogue
    k = max(3, round(n / 40))
    candidates = np.flatnonzero(np.isin(ctx.exporters.country[: ctx.n_honest_exporters], c.countries(cat.TRANSIT_CODES)))
    firms = rng.choice(candidates, k, replace=len(candidates) < k)
    own = c.h_fam[ctx.exporters.lines[firms, 0]]
    fam = np.where(rng.random(k) < 0.5, own, rng.integers(0, c.n_families, k))
    line = c.line(rng, fam)
    begin = _window_start(ctx, np.full(k, ctx.event_days["main"]), 14, 90, k)
    end = np.minimum(begin + rng.integers(180, 421, k), ctx.span_days)
    n_buyers = rng.integers(1, 4, k)
    line_entity = np.repeat(np.arange(k), n_buyers)
    line_importer, line_hs = ctx.buyers.pick(rng, fam[line_entity], line[line_entity])
    weight = rng.lognormal(0, 0.5, len(line_entity))
    pick = rng.choice(len(line_entity), n, p=weight / weight.sum())
    ent = line_entity[pick]
    rows = make_rows(
        ctx, "transship_product_line", day=spread(rng, begin[ent], end[ent], "flat"), importer=line_importer[pick],
        exporter=firms[ent], line=line_hs[pick], price_country=np.full(n, c.country("CN")),
        price_factor=rng.lognormal(0.02, 0.08, k)[ent], cn_mid=rng.random(n) < 0.1,
    )
    inputs = same_line_inputs(ctx, rows, ratio=(0.85, 1.05))
    switches = Switches(line_importer, fam[line_entity], begin[line_entity] + rng.integers(0, 30, len(line_entity)))
    return Outcome(rows, inputs, switches, k)


def relocation(ctx: Context, n: int) -> Outcome:
    """Chinese firms that genuinely move production to a transit country after the tariff."""
    rng, c = ctx.rng, ctx.catalogue
    rel = ctx.relationships
    cn_sellers = np.unique(rel.exporter[ctx.exporters.country[rel.exporter] == c.country("CN")])
    sources = np.unique(rng.choice(cn_sellers, min(max(3, round(n / 40)), len(cn_sellers)), replace=False))
    k = len(sources)
    transit = c.countries(cat.TRANSIT_CODES)
    country = transit[rng.choice(4, k, p=[0.6, 0.15, 0.15, 0.1])]
    exporters = ctx.exporters.add(rng, c, country, lines=ctx.exporters.lines[sources],
                                  n_lines=ctx.exporters.n_lines[sources], factor_sd=0.1)
    first = _window_start(ctx, np.full(k, ctx.event_days["main"]), 30, 180, k)
    # The relocated firm keeps its customers: the source's relationships move with it.
    mask = np.isin(rel.exporter, sources)
    line_entity = np.searchsorted(sources, rel.exporter[mask])
    line_hs, line_importer, weight = rel.line[mask], rel.importer[mask], rel.weight[mask]
    pick = rng.choice(len(line_entity), n, p=weight / weight.sum())
    ent = line_entity[pick]
    rows = make_rows(ctx, "relocation", day=spread(rng, first[ent], np.full(n, ctx.span_days), "ramp"),
                     importer=line_importer[pick], exporter=exporters[ent], line=line_hs[pick])
    inputs = upstream_inputs(ctx, rows, ratio=(0.35, 0.5), coverage=0.95,
                             suppliers=(("CN", 0.7), ("KR", 0.1), ("TW", 0.1), ("JP", 0.1)))
    switches = Switches(line_importer, c.h_fam[line_hs], first[line_entity] + rng.integers(0, 31, len(line_entity)))
    return Outcome(rows, inputs, switches, k)


def new_factory(ctx: Context, n: int) -> Outcome:
    """Genuinely new exporters without Chinese ties, appearing any time in the span."""
    rng, c = ctx.rng, ctx.catalogue
    k = max(3, round(n / 30))
    pool = c.countries(("VN", "TH", "MY", "KH", "IN", "MX", "ID", "BD", "TR"))
    country = pool[rng.choice(len(pool), k, p=[0.25, 0.1, 0.1, 0.05, 0.15, 0.15, 0.1, 0.05, 0.05])]
    exporters = ctx.exporters.add(rng, c, country, factor_sd=0.12)
    first = rng.integers(0, max(ctx.span_days - 60, 1), k)
    n_buyers = rng.integers(1, 4, k)
    line_entity = np.repeat(np.arange(k), n_buyers)
    col = (rng.random(len(line_entity)) * ctx.exporters.n_lines[exporters][line_entity]).astype(np.int64)
    line_hs = ctx.exporters.lines[exporters[line_entity], col]
    line_importer = rng.integers(0, len(ctx.importers), len(line_entity))
    weight = rng.lognormal(0, 0.5, len(line_entity))
    pick = rng.choice(len(line_entity), n, p=weight / weight.sum())
    ent = line_entity[pick]
    rows = make_rows(ctx, "new_factory", day=spread(rng, first[ent], np.full(n, ctx.span_days), "ramp"),
                     importer=line_importer[pick], exporter=exporters[ent], line=line_hs[pick])
    made = rows.take(np.flatnonzero(np.isin(rows.export_country, c.countries(cat.TRANSIT_CODES))))
    inputs = upstream_inputs(ctx, made, ratio=(0.3, 0.6), coverage=0.9,
                             suppliers=(("KR", 0.3), ("TW", 0.25), ("JP", 0.25), ("US", 0.2)))
    return Outcome(rows, inputs, None, k)


def bulk_lot(ctx: Context, n: int) -> Outcome:
    """Very large consignments at a low unit value (seconds, overstock, raw bulk)."""
    rng = ctx.rng
    rows = honest(ctx, n, "bulk_lot")
    usd_kg = rows.value / rows.weight * rng.uniform(0.3, 0.6, n)
    rows.weight = np.round(rows.weight * rng.uniform(15, 80, n), 1)
    rows.value = np.round(rows.weight * usd_kg, 2)
    rows.quantity = quantity(ctx, rows.line, rows.weight)
    return Outcome(rows, transit_inputs(ctx, rows))


def sample(ctx: Context, n: int) -> Outcome:
    """Trade samples sent by courier: a few pieces, a few kilograms, tens of dollars."""
    rng = ctx.rng
    rows = honest(ctx, n, "sample")
    rows.weight = np.round(rng.uniform(0.2, 5.0, n), 1)
    rows.value = np.round(rng.uniform(5.0, 200.0, n), 2)
    rows.quantity = rng.integers(1, 13, n).astype(np.float64)
    rows.courier = np.ones(n, bool)
    return Outcome(rows, Inputs.empty())


def data_entry_error(ctx: Context, n: int) -> Outcome:
    """Honest lines keyed in wrong: weight or value off by x1000, or a decimal point misplaced."""
    rng = ctx.rng
    rows = honest(ctx, n, "data_entry_error")
    inputs = transit_inputs(ctx, rows)  # the factory's real inputs follow the real values
    kind = rng.integers(0, 6, n)
    factor = np.array([1000.0, 0.001, 1000.0, 0.001, 10.0, 0.1])[kind]
    on_weight = np.isin(kind, (0, 1, 5))
    rows.weight = np.where(on_weight, np.maximum(np.round(rows.weight * factor, 1), 0.1), rows.weight)
    rows.value = np.where(on_weight, rows.value, np.maximum(np.round(rows.value * factor, 2), 0.01))
    return Outcome(rows, inputs)
