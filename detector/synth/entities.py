"""The firms of a synthetic world: exporters, importers and their trading relationships.

All tables are column arrays (numpy), built with vectorised draws from one
``numpy.random.Generator``, so a world of a million shipments needs no per-row Python.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.synth import catalog as cat


@dataclass(frozen=True)
class Catalogue:
    """The catalogue as arrays: families ``f``, HTS-10 lines ``h = 3 f + suffix``, countries ``c``."""

    fam_price: np.ndarray
    fam_unit_kg: np.ndarray
    fam_duty: np.ndarray
    fam_chapter: np.ndarray  # chapter index per family
    chapters: tuple[str, ...]
    hs10: tuple[str, ...]
    h_fam: np.ndarray
    h_mult: np.ndarray
    country_codes: np.ndarray  # ISO codes (str array)
    price_factor: np.ndarray
    ports: np.ndarray  # every port of lading (str array)
    port_start: np.ndarray  # first port of each country in ``ports``
    port_count: np.ndarray
    spec_cum: np.ndarray  # (countries, families): cumulative family choice weights per country

    @classmethod
    def build(cls) -> "Catalogue":
        chapters = tuple(sorted({f.chapter for f in cat.FAMILIES}))
        fam_chapter = np.array([chapters.index(f.chapter) for f in cat.FAMILIES])
        hs10 = tuple(f.hs6 + s for f in cat.FAMILIES for s, _ in cat.HTS_SUFFIXES)
        n_suffix = len(cat.HTS_SUFFIXES)
        ports, starts, counts = [], [], []
        for c in cat.COUNTRIES:
            starts.append(len(ports))
            counts.append(len(c.ports))
            ports.extend(c.ports)
        # A country exports mostly the chapters it is strong in, a little of everything else.
        spec = np.array([[4.0 if f.chapter in c.chapters else 0.5 for f in cat.FAMILIES] for c in cat.COUNTRIES])
        spec_cum = spec.cumsum(axis=1) / spec.sum(axis=1, keepdims=True)
        return cls(
            fam_price=np.array([f.usd_per_kg for f in cat.FAMILIES]),
            fam_unit_kg=np.array([f.unit_kg for f in cat.FAMILIES]),
            fam_duty=np.array([f.duty for f in cat.FAMILIES]),
            fam_chapter=fam_chapter,
            chapters=chapters,
            hs10=hs10,
            h_fam=np.repeat(np.arange(len(cat.FAMILIES)), n_suffix),
            h_mult=np.tile(np.array([m for _, m in cat.HTS_SUFFIXES]), len(cat.FAMILIES)),
            country_codes=np.array([c.code for c in cat.COUNTRIES]),
            price_factor=np.array([c.price_factor for c in cat.COUNTRIES]),
            ports=np.array(ports),
            port_start=np.array(starts),
            port_count=np.array(counts),
            spec_cum=spec_cum,
        )

    @property
    def n_families(self) -> int:
        return len(self.fam_price)

    def family_for(self, rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
        """One family per entry, drawn with the given countries' specialisation weights."""
        u = rng.random(len(country))
        fam = (u[:, None] > self.spec_cum[country]).sum(axis=1)
        return np.minimum(fam, self.n_families - 1)

    def line(self, rng: np.random.Generator, fam: np.ndarray) -> np.ndarray:
        """An HTS-10 line index within each family."""
        n_suffix = len(cat.HTS_SUFFIXES)
        return fam * n_suffix + rng.integers(0, n_suffix, len(fam))

    def port_of(self, rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
        """A random port of lading (index into ``ports``) in each given country."""
        return self.port_start[country] + (rng.random(len(country)) * self.port_count[country]).astype(np.int64)

    def country(self, code: str) -> int:
        return cat.COUNTRY_INDEX[code]

    def countries(self, codes: tuple[str, ...]) -> np.ndarray:
        return np.array([cat.COUNTRY_INDEX[c] for c in codes])


@dataclass
class Exporters:
    """Exporter table, grown as scenarios add firms; ``kind`` is generator-internal only."""

    country: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    factor: np.ndarray = field(default_factory=lambda: np.empty(0))  # own price level around the country's
    size: np.ndarray = field(default_factory=lambda: np.empty(0))
    port: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    carrier: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    lines: np.ndarray = field(default_factory=lambda: np.empty((0, 3), np.int64))  # up to 3 HTS-10 lines
    n_lines: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.country)

    def add(self, rng: np.random.Generator, catalogue: Catalogue, country: np.ndarray, *, lines: np.ndarray | None = None,
            n_lines: np.ndarray | None = None, factor_sd: float = 0.12) -> np.ndarray:
        """Append firms located in ``country``; returns their indexes."""
        n = len(country)
        if lines is None:
            primary = catalogue.family_for(rng, country)
            other = catalogue.family_for(rng, country)
            # Most firms stay within one product family (several HTS-10 lines of it).
            fams = np.stack([primary, np.where(rng.random(n) < 0.6, primary, other),
                             np.where(rng.random(n) < 0.6, primary, catalogue.family_for(rng, country))], axis=1)
            lines = np.stack([catalogue.line(rng, fams[:, k]) for k in range(3)], axis=1)
            n_lines = rng.integers(1, 4, n)
        first = len(self)
        self.country = np.concatenate([self.country, country])
        self.factor = np.concatenate([self.factor, rng.lognormal(0.0, factor_sd, n)])
        self.size = np.concatenate([self.size, rng.pareto(1.5, n) + 1.0])
        self.port = np.concatenate([self.port, catalogue.port_of(rng, country)])
        self.carrier = np.concatenate([self.carrier, rng.integers(0, len(cat.OCEAN_CARRIERS), n)])
        self.lines = np.concatenate([self.lines, lines])
        self.n_lines = np.concatenate([self.n_lines, n_lines])
        return np.arange(first, first + n)


@dataclass(frozen=True)
class Importers:
    size: np.ndarray
    port: np.ndarray  # usual US port of unlading (index into catalog.US_SEA_PORTS)

    def __len__(self) -> int:
        return len(self.size)

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> "Importers":
        return cls(size=rng.pareto(1.3, n) + 1.0, port=rng.integers(0, len(cat.US_SEA_PORTS), n))


@dataclass(frozen=True)
class Relationships:
    """Honest (importer, exporter, HTS-10 line) trading pairs with their order intensity and lot size."""

    importer: np.ndarray
    exporter: np.ndarray
    line: np.ndarray
    weight: np.ndarray  # relative number of shipments
    lot: np.ndarray  # lot-size factor of this buyer for this line

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, exporters: Exporters, importers: Importers) -> "Relationships":
        exporter = rng.choice(len(exporters), n, p=exporters.size / exporters.size.sum())
        col = (rng.random(n) * exporters.n_lines[exporter]).astype(np.int64)
        importer = rng.choice(len(importers), n, p=importers.size / importers.size.sum())
        return cls(
            importer=importer,
            exporter=exporter,
            line=exporters.lines[exporter, col],
            weight=rng.lognormal(0.0, 1.0, n),
            lot=rng.lognormal(0.0, 0.7, n),
        )


@dataclass(frozen=True)
class BuyerLookup:
    """Importers that bought each family from Chinese exporters: who would switch after a tariff.

    Buyers are drawn in proportion to how much they bought, so the switchers are the
    importers that really had Chinese shipments of that family.
    """

    fam_sorted: np.ndarray
    importer_sorted: np.ndarray
    line_sorted: np.ndarray  # the HTS-10 line they bought
    cum_weight: np.ndarray  # running sum of relationship weights in ``fam_sorted`` order
    n_importers: int

    @classmethod
    def from_relationships(cls, rel: Relationships, exporters: Exporters, catalogue: Catalogue, cn: int,
                           n_importers: int) -> "BuyerLookup":
        mask = exporters.country[rel.exporter] == cn
        fam = catalogue.h_fam[rel.line[mask]]
        order = np.argsort(fam, kind="stable")
        return cls(fam[order], rel.importer[mask][order], rel.line[mask][order], np.cumsum(rel.weight[mask][order]), n_importers)

    def pick(self, rng: np.random.Generator, fam: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A former Chinese-sourcing buyer of each family and the HTS-10 line it bought.

        Where nobody bought the family from China: any importer, and the given ``line``.
        """
        fallback = rng.integers(0, self.n_importers, len(fam))
        if len(self.fam_sorted) == 0:
            return fallback, line
        lo = np.searchsorted(self.fam_sorted, fam, "left")
        hi = np.searchsorted(self.fam_sorted, fam, "right")
        cum = np.r_[0.0, self.cum_weight]
        target = cum[lo] + rng.random(len(fam)) * (cum[hi] - cum[lo])
        idx = np.clip(np.searchsorted(self.cum_weight, target, "right"), lo, np.maximum(hi - 1, lo))
        idx = np.minimum(idx, len(self.fam_sorted) - 1)
        found = hi > lo
        return np.where(found, self.importer_sorted[idx], fallback), np.where(found, self.line_sorted[idx], line)
