"""Building blocks shared by the scenarios: row batches, component-import batches, prices, lots.

A scenario returns a :class:`Rows` batch (shipments as column arrays, still with integer
codes) and an :class:`Inputs` batch (component imports of transit-country firms); the
world concatenates the batches and turns codes into contract strings once, at the end.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from detector.synth import catalog as cat
from detector.synth.entities import BuyerLookup, Catalogue, Exporters, Importers, Relationships

#: Scenario names in code order; the code is what ``Rows.scenario`` holds.
SCENARIOS: tuple[str, ...] = (
    "honest", "transship_shell", "transship_product_line",
    "relocation", "new_factory", "bulk_lot", "sample", "data_entry_error",
    # general customs fraud (detector.synth.fraud), present only with a fraud mix
    "undervaluation", "misclassification", "misdeclared_quantity",
)
#: Scenarios whose shipments are transshipment (label 1).
TRANSSHIPMENT: frozenset[str] = frozenset({"transship_shell", "transship_product_line"})
#: Scenarios whose shipments are fraud (label 1): transshipment and general customs fraud.
FRAUD: frozenset[str] = TRANSSHIPMENT | {"undervaluation", "misclassification", "misdeclared_quantity"}
#: Yearly drift of unit values, so that prices are not frozen across a two-year world.
INFLATION = 0.02


def code(name: str) -> int:
    return SCENARIOS.index(name)


@dataclass
class Context:
    """Everything a scenario draws from: the RNG, the catalogue, the firms, the event days."""

    rng: np.random.Generator
    catalogue: Catalogue
    span_days: int
    event_days: dict[str, int]
    exporters: Exporters
    importers: Importers
    relationships: Relationships
    buyers: BuyerLookup
    n_honest_exporters: int


@dataclass
class Rows:
    """A batch of shipments as arrays (codes, not strings)."""

    day: np.ndarray
    importer: np.ndarray
    exporter: np.ndarray
    line: np.ndarray
    origin: np.ndarray  # country index
    export_country: np.ndarray
    weight: np.ndarray
    value: np.ndarray
    quantity: np.ndarray
    cn_mid: np.ndarray  # declares a Chinese producer's manufacturer ID
    cn_port: np.ndarray  # loaded in a Chinese port
    courier: np.ndarray  # express courier (samples): air carrier and air gateway
    scenario: np.ndarray

    def __len__(self) -> int:
        return len(self.day)

    def take(self, idx: np.ndarray) -> "Rows":
        return Rows(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list["Rows"]) -> "Rows":
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


@dataclass
class Inputs:
    """A batch of component imports into transit countries."""

    day: np.ndarray
    importer: np.ndarray  # the transit-country firm (an exporter index)
    supplier: np.ndarray  # ISO code (str array)
    hs6: np.ndarray  # str array
    value: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.day)

    @classmethod
    def empty(cls) -> "Inputs":
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, "<U2"), np.empty(0, "<U6"),
                   np.empty(0), np.empty(0))

    @classmethod
    def concat(cls, parts: list["Inputs"]) -> "Inputs":
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


def make_rows(ctx: Context, scenario: str, *, day, importer, exporter, line, origin=None, export_country=None,
              price_country=None, price_factor=None, lot=None, cn_mid=None, cn_port=None) -> Rows:
    """Rows with a realistic lot weight and unit value; origin and price level default to the exporter's."""
    rng, c = ctx.rng, ctx.catalogue
    n = len(day)
    home = ctx.exporters.country[exporter]
    origin = home if origin is None else origin
    export_country = home if export_country is None else export_country
    price_country = home if price_country is None else price_country
    price_factor = ctx.exporters.factor[exporter] if price_factor is None else price_factor
    lot = np.ones(n) if lot is None else lot
    fam = c.h_fam[line]
    # Lots: heavier goods ship in heavier lots, buyers differ, each lot varies.
    weight = 2000.0 * c.fam_unit_kg[fam] ** 0.3 * lot * rng.lognormal(0.0, 0.5, n)
    usd_kg = (c.fam_price[fam] * c.h_mult[line] * c.price_factor[price_country] * price_factor
              * rng.lognormal(0.0, 0.12, n) * (1.0 + INFLATION) ** (day / 365.0))
    weight = np.maximum(np.round(weight, 1), 0.1)
    false = np.zeros(n, bool)
    return Rows(
        day=day.astype(np.int64), importer=importer, exporter=exporter, line=line,
        origin=origin, export_country=export_country,
        weight=weight, value=np.round(weight * usd_kg, 2), quantity=quantity(ctx, line, weight),
        cn_mid=false if cn_mid is None else cn_mid, cn_port=false.copy() if cn_port is None else cn_port,
        courier=false.copy(), scenario=np.full(n, code(scenario), np.int8),
    )


def quantity(ctx: Context, line: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Declared quantity: pieces or pairs from the unit weight, kilograms for bulk lines."""
    fam = ctx.catalogue.h_fam[line]
    unit_kg = ctx.catalogue.fam_unit_kg[fam]
    pieces = np.maximum(1.0, np.round(weight / unit_kg * ctx.rng.lognormal(0.0, 0.05, len(line))))
    by_kg = np.array([f.unit == "KG" for f in cat.FAMILIES])[fam]
    return np.where(by_kg, np.round(weight, 1), pieces)


def spread(rng: np.random.Generator, begin: np.ndarray, end: np.ndarray, shape: str) -> np.ndarray:
    """Days in ``[begin, end)``: ``front`` front-loads volume, ``ramp`` grows it, ``flat`` is uniform."""
    u = rng.random(len(begin))
    u = u**2 if shape == "front" else np.sqrt(u) if shape == "ramp" else u
    return np.minimum(begin + np.floor((end - begin) * u), end - 1).astype(np.int64)


_UPSTREAM = np.array([(f.upstream + ("",))[:2] for f in cat.FAMILIES])  # (families, 2), "" = none
_HS6 = np.array([f.hs6 for f in cat.FAMILIES])


def upstream_inputs(ctx: Context, rows: Rows, *, ratio: tuple[float, float], coverage: float,
                    suppliers: tuple[tuple[str, float], ...] = cat.COMPONENT_SUPPLIERS,
                    lag: tuple[int, int] = (14, 90)) -> Inputs:
    """Components of *other* HS codes (fabric for shirts, parts for converters) bought before export.

    Their value is ``ratio`` of the export value (split over one or two upstream codes),
    which is the value a genuine factory adds to the goods.
    """
    rng = ctx.rng
    keep = np.flatnonzero(rng.random(len(rows)) < coverage)
    fam = ctx.catalogue.h_fam[rows.line[keep]]
    share = rng.uniform(*ratio, len(keep))
    # Split across two upstream codes when the family has two and the factory buys both.
    second = (_UPSTREAM[fam, 1] != "") & (rng.random(len(keep)) < 0.6)
    first_part = np.where(second, rng.uniform(0.4, 0.8, len(keep)), 1.0)
    src = np.concatenate([keep, keep[second]])
    hs6 = np.concatenate([_UPSTREAM[fam, 0], _UPSTREAM[fam[second], 1]])
    frac = np.concatenate([share * first_part, (share * (1.0 - first_part))[second]])
    codes = np.array([s for s, _ in suppliers])
    p = np.array([w for _, w in suppliers])
    supplier = codes[rng.choice(len(codes), len(src), p=p / p.sum())]
    home = ctx.catalogue.country_codes[rows.export_country[src]]
    supplier = np.where(supplier == home, codes[0], supplier)  # imports come from abroad
    # Materials weigh about what the product weighs (plus waste), whatever they cost.
    part = np.concatenate([first_part, (1.0 - first_part)[second]])
    return _inputs(ctx, rows, src, supplier, hs6, frac, lag, weight_frac=part * rng.uniform(0.9, 1.3, len(src)))


def same_line_inputs(ctx: Context, rows: Rows, *, ratio: tuple[float, float], lag: tuple[int, int] = (7, 42),
                     share: float = 1.0) -> Inputs:
    """Imports of the *same* HS6 from China: the goods themselves arriving before they leave again."""
    rng = ctx.rng
    src = np.flatnonzero(rng.random(len(rows)) < share)
    hs6 = _HS6[ctx.catalogue.h_fam[rows.line[src]]]
    frac = rng.uniform(*ratio, len(src))
    supplier = np.full(len(src), "CN")
    # The finished goods weigh what is exported (a little repacking aside).
    return _inputs(ctx, rows, src, supplier, hs6, frac, lag, weight_frac=rng.uniform(0.97, 1.03, len(src)))


def _inputs(ctx: Context, rows: Rows, src: np.ndarray, supplier: np.ndarray, hs6: np.ndarray, frac: np.ndarray,
            lag: tuple[int, int], *, weight_frac: np.ndarray) -> Inputs:
    rng = ctx.rng
    value = np.round(rows.value[src] * frac, 2)
    weight = np.maximum(np.round(rows.weight[src] * weight_frac, 1), 0.1)
    return Inputs(
        day=rows.day[src] - rng.integers(lag[0], lag[1] + 1, len(src)),
        importer=rows.exporter[src], supplier=supplier.astype("<U2"), hs6=hs6.astype("<U6"),
        value=np.maximum(value, 0.01), weight=weight,
    )
