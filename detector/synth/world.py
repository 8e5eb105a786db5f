"""A whole synthetic world: generate it from a seed, write it as contract files.

>>> import datetime as dt
>>> world = generate_world(2000, seed=1, start=dt.date(2024, 1, 1), months=12)
>>> world.shipments.height
2000

The same arguments give the same world, byte for byte once written: all randomness
comes from one ``numpy.random.Generator`` seeded with ``seed`` and drawn in a fixed order.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from detector.errors import InputError
from detector.io.write import atomic_path, write_table
from detector.synth import catalog as cat
from detector.synth import scenarios as sc
from detector.synth.entities import BuyerLookup, Catalogue, Exporters, Importers, Relationships
from detector.synth.events import IMPORTING_COUNTRY, duty_rates, world_events
from detector.synth.fraud import GENERAL_FRAUD, general_fraud
from detector.synth.parts import FRAUD, SCENARIOS, TRANSSHIPMENT, Context, Inputs, Rows
from features.schema import EVENTS, INPUTS, LABELS, SHIPMENTS

#: Bumped when the same seed starts giving a different world.
GENERATOR_VERSION = "1"
#: Share of shipments per non-honest scenario; honest trade takes the rest.
SHARES: dict[str, float] = {
    "transship_shell": 0.012,
    "transship_product_line": 0.008,
    "relocation": 0.012,
    "new_factory": 0.012,
    "bulk_lot": 0.006,
    "sample": 0.006,
    "data_entry_error": 0.004,
}
#: Share of shipments a fraud mix may turn into general customs fraud, at most.
MAX_FRAUD_MIX = 0.3
MIN_SHIPMENTS = 500
MIN_MONTHS = 6
FORMATS = ("csv", "parquet")
_COURIERS = ("FDXE", "DHLX", "UPSN")
_AIR_GATEWAYS = ("USLAX", "USNYC", "USMEM", "USSDF")
_INPUT_SUFFIXES = ("00", "10", "90")  # transit countries declare 8-digit national lines


@dataclass(frozen=True)
class World:
    """Contract frames of one world (``labels`` kept apart from ``shipments``) and its parameters."""

    shipments: pl.DataFrame
    inputs: pl.DataFrame
    events: pl.DataFrame
    labels: pl.DataFrame
    params: dict = field(default_factory=dict)


def add_months(start: dt.date, months: int) -> dt.date:
    y, m = divmod(start.month - 1 + months, 12)
    return dt.date(start.year + y, m + 1, 1) if start.day > 28 else dt.date(start.year + y, m + 1, start.day)


def generate_world(n_shipments: int, *, seed: int, start: dt.date, months: int, fraud_mix: float = 0.0) -> World:
    """Draw a world of ``n_shipments`` US import lines over ``months`` months from ``start``.

    ``fraud_mix`` (0 to :data:`MAX_FRAUD_MIX`) is the share of shipments turned from honest
    trade into general customs fraud (``detector.synth.fraud``); 0 gives the transshipment
    world alone, and any mix leaves that world's transshipment and look-alikes unchanged.
    """
    if n_shipments < MIN_SHIPMENTS:
        raise InputError(f"--shipments {n_shipments}: a world needs at least {MIN_SHIPMENTS} shipments",
                         hint=f"use --shipments {MIN_SHIPMENTS} or more")
    if months < MIN_MONTHS:
        raise InputError(f"--months {months}: a world needs at least {MIN_MONTHS} months for the tariff scenarios",
                         hint=f"use --months {MIN_MONTHS} or more")
    if seed < 0:
        raise InputError(f"--seed {seed}: the seed must be 0 or more", hint="use e.g. --seed 7")
    if not 0.0 <= fraud_mix <= MAX_FRAUD_MIX:
        raise InputError(f"--fraud-mix {fraud_mix}: the share of general fraud must be between 0 and {MAX_FRAUD_MIX}",
                         hint="e.g. --fraud-mix 0.08")
    rng = np.random.default_rng(seed)
    end = add_months(start, months)
    span = (end - start).days
    events, event_days = world_events(start, span)
    c = Catalogue.build()

    counts = {name: max(3, round(n_shipments * share)) for name, share in SHARES.items()}
    counts = {"honest": n_shipments - sum(counts.values()), **counts}

    exporters = Exporters()
    shares = np.array([x.share for x in cat.COUNTRIES])
    n_honest_exp = int(np.clip(n_shipments // 40, 60, 30_000))
    exporters.add(rng, c, rng.choice(len(shares), n_honest_exp, p=shares / shares.sum()))
    importers = Importers.draw(rng, int(np.clip(n_shipments // 30, 80, 40_000)))
    rel = Relationships.draw(rng, int(np.clip(n_shipments // 12, 200, 200_000)), exporters, importers)
    buyers = BuyerLookup.from_relationships(rel, exporters, c, c.country("CN"), len(importers))
    ctx = Context(rng, c, span, event_days, exporters, importers, rel, buyers, n_honest_exp)

    firms = [sc.transship_shell(ctx, counts["transship_shell"]),
             sc.transship_product_line(ctx, counts["transship_product_line"]),
             sc.relocation(ctx, counts["relocation"]),
             sc.new_factory(ctx, counts["new_factory"])]
    honest = sc.divert(ctx, sc.honest(ctx, counts["honest"]), sc.Switches.concat([o.switches for o in firms if o.switches]))
    others = [sc.bulk_lot(ctx, counts["bulk_lot"]), sc.sample(ctx, counts["sample"]),
              sc.data_entry_error(ctx, counts["data_entry_error"])]
    rows = Rows.concat([honest] + [o.rows for o in firms + others])
    inputs = Inputs.concat([sc.transit_inputs(ctx, honest)] + [o.inputs for o in firms + others])
    # After every draw of the world itself (its own generator): the inputs above follow the
    # true goods, and the world's other draws are the same with or without a fraud mix.
    rows = general_fraud(rows, c, len(importers), len(exporters), fraud_mix, seed)

    ids = _Ids.draw(rng, exporters, len(importers))
    shipments, labels = _shipments_frame(ctx, rows, ids, start, events)
    params = {
        "generator_version": GENERATOR_VERSION,
        "n_shipments": n_shipments,
        "seed": seed,
        "start": start.isoformat(),
        "months": months,
        "end": end.isoformat(),
        "shares": SHARES,
        "events": {k: (start + dt.timedelta(days=d)).isoformat() for k, d in event_days.items()},
        "scenario_counts": {name: int((rows.scenario == i).sum()) for i, name in enumerate(SCENARIOS)},
        "transshipment_scenarios": sorted(TRANSSHIPMENT),
        "fraud_mix": fraud_mix,
        "fraud_scenarios": sorted(FRAUD),
        "general_fraud_scenarios": list(GENERAL_FRAUD),
        "firms": {"honest_exporters": n_honest_exp, "importers": len(importers), "relationships": len(rel.importer),
                  "shells": firms[0].firms, "product_line_exporters": firms[1].firms,
                  "relocated_firms": firms[2].firms, "new_factories": firms[3].firms},
        "n_inputs": len(inputs),
    }
    return World(shipments, _inputs_frame(ctx, inputs, ids, start), events, labels, params)


@dataclass(frozen=True)
class _Ids:
    """Random-looking identifiers: nothing in an id tells which scenario a firm belongs to."""

    exporter: pl.Series
    importer: pl.Series
    mid: pl.Series

    @classmethod
    def draw(cls, rng: np.random.Generator, exporters: Exporters, n_importers: int) -> "_Ids":
        return cls(_numbered(rng, "EX", len(exporters), 8), _numbered(rng, "US", n_importers, 9),
                   _mids(rng, exporters.country))


def _numbered(rng: np.random.Generator, prefix: str, n: int, digits: int) -> pl.Series:
    low = 10 ** (digits - 1)
    nums = rng.choice(9 * low, n, replace=False) + low
    return pl.select(pl.lit(prefix) + pl.Series(nums).cast(pl.String)).to_series()


def _mids(rng: np.random.Generator, country: np.ndarray) -> pl.Series:
    """CBP-style manufacturer IDs: ISO2 + 3+3 name letters + street number + 3-letter city."""
    n = len(country)
    letters = rng.integers(65, 91, (n, 6)).astype(np.uint8)
    name = np.frombuffer(letters.tobytes(), dtype="S6").astype(str)
    number = rng.integers(1, 10_000, n).astype(str)
    city_count = np.array([len(x.cities) for x in cat.COUNTRIES])
    cities = np.array([(x.cities + ("",) * 8)[:8] for x in cat.COUNTRIES])
    city = cities[country, (rng.random(n) * city_count[country]).astype(np.int64)]
    codes = np.array([x.code for x in cat.COUNTRIES])[country]
    return pl.Series(np.char.add(np.char.add(np.char.add(codes, name), number), city))


def _shipments_frame(ctx: Context, rows: Rows, ids: _Ids, start: dt.date, events: pl.DataFrame):
    rng, c = ctx.rng, ctx.catalogue
    n = len(rows)
    order = np.lexsort((rng.random(n), rows.day))  # by arrival, random within a day
    rows = rows.take(order)
    exp = ctx.exporters
    fam = c.h_fam[rows.line]
    country_codes = c.country_codes
    mx = rows.export_country == c.country("MX")
    # Port of lading: the firm's usual port when shipping from home, else a port of the country shipped from.
    usual = (rows.export_country == exp.country[rows.exporter]) & (rng.random(n) < 0.8)
    port = np.where(usual, exp.port[rows.exporter], c.port_of(rng, rows.export_country))
    port = np.where(rows.cn_port, c.port_of(rng, np.full(n, c.country("CN"))), port)
    # A declared Chinese MID is the real producer's: one of the Chinese exporters' MIDs.
    cn_firms = np.flatnonzero(exp.country[: ctx.n_honest_exporters] == c.country("CN"))
    mid_of = np.where(rows.cn_mid, cn_firms[rng.integers(0, len(cn_firms), n)], rows.exporter)
    carrier_names = cat.OCEAN_CARRIERS + cat.ROAD_CARRIERS + _COURIERS
    n_ocean, n_road = len(cat.OCEAN_CARRIERS), len(cat.ROAD_CARRIERS)
    carrier = np.where(rng.random(n) < 0.8, exp.carrier[rows.exporter], rng.integers(0, n_ocean, n))
    carrier = np.where(mx, n_ocean + rng.integers(0, n_road, n), carrier)
    carrier = np.where(rows.courier, n_ocean + n_road + rng.integers(0, len(_COURIERS), n), carrier)
    unlading_names = cat.US_SEA_PORTS + cat.US_LAND_PORTS + _AIR_GATEWAYS
    n_sea, n_land = len(cat.US_SEA_PORTS), len(cat.US_LAND_PORTS)
    unlading = np.where(rng.random(n) < 0.75, ctx.importers.port[rows.importer], rng.integers(0, n_sea, n))
    unlading = np.where(mx, n_sea + rng.integers(0, n_land, n), unlading)
    unlading = np.where(rows.courier, n_sea + n_land + rng.integers(0, len(_AIR_GATEWAYS), n), unlading)
    # Strings are built by gathering from small tables (polars), not per row.
    prefix = pl.Series(cat.DESCRIPTION_PREFIXES).gather(rng.integers(0, len(cat.DESCRIPTION_PREFIXES), n))
    description = prefix + pl.Series([f.description for f in cat.FAMILIES]).gather(fam)
    unit_names = sorted({f.unit for f in cat.FAMILIES} | {"PCS"})
    unit_of = np.array([unit_names.index(f.unit) for f in cat.FAMILIES])
    unit = pl.Series(unit_names).gather(np.where(rows.courier, unit_names.index("PCS"), unit_of[fam]))
    duty = duty_rates(events, start, day=rows.day, origin=rows.origin, country_codes=tuple(country_codes), hs_codes=c.hs10,
                      hs_index=rows.line, base=c.fam_duty[fam])
    shipment_id = _numbered(rng, "E", n, 12)
    shipments = pl.DataFrame(
        {
            "shipment_id": shipment_id,
            "arrival_date": np.datetime64(start, "D") + rows.day,
            "importer_id": ids.importer.gather(rows.importer),
            "exporter_id": ids.exporter.gather(rows.exporter),
            "hs_code": pl.Series(c.hs10).gather(rows.line),
            "origin_country": pl.Series(country_codes).gather(rows.origin),
            "export_country": pl.Series(country_codes).gather(rows.export_country),
            "declared_value_usd": rows.value,
            "weight_kg": rows.weight,
            "importing_country": pl.repeat(IMPORTING_COUNTRY, n, dtype=pl.String, eager=True),
            "quantity": rows.quantity,
            "quantity_unit": unit,
            "manufacturer_id": ids.mid.gather(mid_of),
            "port_of_lading": pl.Series(c.ports).gather(port),
            "port_of_unlading": pl.Series(unlading_names).gather(unlading),
            "carrier_id": pl.Series(carrier_names).gather(carrier),
            "goods_description": description,
            "duty_rate": np.round(duty, 4),
        }
    )
    shipments = shipments.with_columns(pl.col("arrival_date").cast(pl.Date)).cast(
        {k: v for k, v in SHIPMENTS.schema.items() if k != "label"}
    )
    fraud = [SCENARIOS.index(name) for name in sorted(FRAUD)]
    labels = pl.DataFrame(
        {"shipment_id": shipment_id, "label": np.isin(rows.scenario, fraud).astype(np.int8),
         "scenario": pl.Series(SCENARIOS).gather(rows.scenario)},
        schema=LABELS.schema,
    )
    return shipments, labels


def _inputs_frame(ctx: Context, inputs: Inputs, ids: _Ids, start: dt.date) -> pl.DataFrame:
    rng = ctx.rng
    n = len(inputs)
    order = np.lexsort((rng.random(n), inputs.day))
    suffix = np.array(_INPUT_SUFFIXES)[rng.integers(0, len(_INPUT_SUFFIXES), n)]
    frame = pl.DataFrame(
        {
            "input_id": _numbered(rng, "IN", n, 10),
            "arrival_date": (np.datetime64(start, "D") + inputs.day)[order],
            "importer_id": ids.exporter.gather(inputs.importer[order]),
            "supplier_country": inputs.supplier[order],
            "hs_code": np.char.add(inputs.hs6[order], suffix),
            "declared_value_usd": inputs.value[order],
            "weight_kg": inputs.weight[order],
        }
    )
    return frame.with_columns(pl.col("arrival_date").cast(pl.Date)).cast(dict(INPUTS.schema))


def write_world(world: World, out_dir: str | Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the world's files into ``out_dir`` (each atomically); returns them by name.

    ``shipments`` and ``inputs`` use ``fmt`` (csv or parquet); events and labels are always
    CSV, and ``world.json`` records the parameters, seed and scenario counts.
    """
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: unknown format", hint="use --format csv or --format parquet")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "shipments": write_table(world.shipments, out / f"shipments.{fmt}"),
        "inputs": write_table(world.inputs, out / f"inputs.{fmt}"),
        "events": write_table(world.events.select(EVENTS.names), out / "events.csv"),
        "labels": write_table(world.labels, out / "labels.csv"),
    }
    # The world's aggregate trade statistics and its routes' truth (``waypoint routes``).
    from detector.synth.flows import route_truth, world_flows

    paths["flows"] = write_table(world_flows(world.shipments, world.inputs), out / "flows.csv")
    paths["routes_truth"] = write_table(route_truth(world.shipments, world.labels, world.events), out / "routes_truth.csv")
    # A known-party list naming some of its shells (``waypoint train/score --parties``).
    from detector.synth.parties import shell_parties

    paths["parties"] = write_table(shell_parties(world.shipments, world.labels), out / "parties.csv")
    with atomic_path(out / "world.json") as tmp:
        tmp.write_text(json.dumps(world.params, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    paths["world"] = out / "world.json"
    return paths
