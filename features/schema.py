"""The data contract: the one place that names the input columns and their types.

Mirrors ``DATA_CONTRACT.md`` (shipments, component imports, tariff events, labels).
Readers in ``detector.io`` validate files against these tables; feature code relies
on the typed columns described here (``dtype``) after validation.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import polars as pl

#: Bumped when a column is added, removed or changes meaning. A model records the
#: version it was trained on and refuses input of another major version.
CONTRACT_VERSION = "1.0"


class Kind(str, Enum):
    """How a raw value is parsed and which rule it must satisfy."""

    STRING = "string"  # non-empty text when required
    DATE = "date"  # YYYY-MM-DD
    POSITIVE = "positive"  # number > 0
    NON_NEGATIVE = "non_negative"  # number >= 0
    NUMBER = "number"  # any finite number
    HS = "hs"  # 6-10 digits after removing '.' and spaces; leading zeros kept
    COUNTRY = "country"  # ISO 3166-1 alpha-2, upper case
    HS_PREFIX = "hs_prefix"  # 0-10 digits (empty = every tariff line)
    LABEL = "label"  # 0 or 1


DTYPES: dict[Kind, pl.DataType] = {
    Kind.STRING: pl.String(),
    Kind.DATE: pl.Date(),
    Kind.POSITIVE: pl.Float64(),
    Kind.NON_NEGATIVE: pl.Float64(),
    Kind.NUMBER: pl.Float64(),
    Kind.HS: pl.String(),
    Kind.COUNTRY: pl.String(),
    Kind.HS_PREFIX: pl.String(),
    Kind.LABEL: pl.Int8(),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool
    meaning: str

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.kind]


@dataclass(frozen=True)
class Table:
    """One input file type of the contract."""

    name: str  # shown to users: "shipments", "component imports", ...
    columns: tuple[Column, ...]
    key: str | None = None  # unique within a run; duplicates are rejected

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def schema(self) -> pl.Schema:
        """Typed schema of a validated frame (every contract column, optional ones as null)."""
        return pl.Schema({c.name: c.dtype for c in self.columns})


SHIPMENTS = Table(
    name="shipments",
    key="shipment_id",
    columns=(
        Column("shipment_id", Kind.STRING, True, "unique within a file; the key every output row carries"),
        Column("arrival_date", Kind.DATE, True, "date the goods arrived / entry date"),
        Column("importer_id", Kind.STRING, True, "importer of record / consignee"),
        Column("exporter_id", Kind.STRING, True, "shipper / seller abroad"),
        Column("hs_code", Kind.HS, True, "tariff line, 6-10 digits, leading zeros kept"),
        Column("origin_country", Kind.COUNTRY, True, "declared country of origin"),
        Column("export_country", Kind.COUNTRY, True, "country the goods were shipped from"),
        Column("declared_value_usd", Kind.POSITIVE, True, "customs value of the line in USD"),
        Column("weight_kg", Kind.POSITIVE, True, "net weight"),
        Column("importing_country", Kind.COUNTRY, False,
               "the country whose customs receives the line; only its tariff measures apply to the line"),
        Column("quantity", Kind.NON_NEGATIVE, False, "declared quantity"),
        Column("quantity_unit", Kind.STRING, False, "unit of quantity (PCS, KG, M2, ...)"),
        Column("manufacturer_id", Kind.STRING, False, "manufacturer identification code of the producer"),
        Column("port_of_lading", Kind.STRING, False, "UN/LOCODE of the loading port, e.g. VNSGN"),
        Column("port_of_unlading", Kind.STRING, False, "UN/LOCODE of the arrival port"),
        Column("carrier_id", Kind.STRING, False, "carrier / vessel operator"),
        Column("goods_description", Kind.STRING, False, "free text"),
        Column("duty_rate", Kind.NON_NEGATIVE, False, "ad-valorem duty rate as a fraction"),
        Column("label", Kind.LABEL, False, "1 = confirmed transshipment, 0 = cleared"),
    ),
)

INPUTS = Table(
    name="component imports",
    key="input_id",
    columns=(
        Column("input_id", Kind.STRING, True, "unique within the file"),
        Column("arrival_date", Kind.DATE, True, "when the inputs reached the transit country"),
        Column("importer_id", Kind.STRING, True, "the transit-country firm; joins to exporter_id"),
        Column("supplier_country", Kind.COUNTRY, True, "where the inputs came from"),
        Column("hs_code", Kind.HS, True, "tariff line of the inputs"),
        Column("declared_value_usd", Kind.POSITIVE, True, "value of the inputs"),
        Column("weight_kg", Kind.POSITIVE, True, "net weight"),
    ),
)

EVENTS = Table(
    name="tariff events",
    columns=(
        Column("effective_date", Kind.DATE, True, "when the measure took effect"),
        Column("importing_country", Kind.COUNTRY, False,
               "the country that applies the measure (empty or absent: the run's importing country)"),
        Column("origin_country", Kind.COUNTRY, True, "the country the measure targets"),
        Column("hs_prefix", Kind.HS_PREFIX, False, "tariff lines it covers (empty = all)"),
        Column("added_duty_rate", Kind.NUMBER, True, "added ad-valorem rate as a fraction"),
        Column("name", Kind.STRING, True, "short name shown to analysts"),
        Column("source", Kind.STRING, False, "the public notice that set it (Federal Register citation, CBP notice)"),
    ),
)

#: Known outcomes: `waypoint generate` writes them, `waypoint review export` too.
LABELS = Table(
    name="labels",
    key="shipment_id",
    columns=(
        Column("shipment_id", Kind.STRING, True, "the shipment the outcome is about"),
        Column("label", Kind.LABEL, True, "1 = confirmed transshipment, 0 = cleared"),
        Column("scenario", Kind.STRING, False, "generator scenario or review status"),
    ),
)

#: Aggregate trade statistics (optional; the route screen): the shape of public trade
#: data such as UN Comtrade exports. ``period`` is text (a year or a month) and ``flow`` a
#: word or a Comtrade code: ``features.routes.check_flows`` parses both and lists the rows
#: it cannot use with their line. HS codes of 2-10 digits (a statistic is often at HS2/4/6).
FLOWS = Table(
    name="trade flows",
    columns=(
        Column("period", Kind.STRING, True, "YYYY (a year) or YYYY-MM / YYYYMM (a month)"),
        Column("reporter", Kind.COUNTRY, True, "the country whose statistics these are"),
        Column("partner", Kind.COUNTRY, True, "the other country: origin of imports, destination of exports"),
        Column("flow", Kind.STRING, True, "import or export (Comtrade's M / X accepted)"),
        Column("hs_code", Kind.HS_PREFIX, True, "HS code of 2-10 digits"),
        Column("value_usd", Kind.NON_NEGATIVE, True, "trade value in USD"),
    ),
)

#: Known parties (optional): firms named in circumvention or evasion findings, earlier
#: seizures or a watch list (``features.families.parties``). A row needs a party id or a
#: name (checked when the list is read: ``detector.io.parties``).
PARTIES = Table(
    name="party list",
    columns=(
        Column("party_id", Kind.STRING, False, "the party's id as the shipments carry it (matched exactly)"),
        Column("party_name", Kind.STRING, False, "the party's name (matched after normalisation)"),
        Column("role", Kind.STRING, True, "importer, exporter or manufacturer"),
        Column("list_name", Kind.STRING, True, "the list or finding that names the party"),
        Column("source", Kind.STRING, False, "the public notice or case behind the listing"),
        Column("date_listed", Kind.DATE, True, "the party counts from this day on"),
    ),
)

TABLES = {"shipments": SHIPMENTS, "inputs": INPUTS, "events": EVENTS, "labels": LABELS, "flows": FLOWS, "parties": PARTIES}
