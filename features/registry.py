"""The feature registry: every feature the model sees, in order, with what it means.

One entry per feature column produced by :func:`features.pipeline.build`. ``direction``
says which side is suspicious ("higher": large values are suspicious), so a model can make
its anomaly score one-sided. ``reason`` is a sentence template in ``str.format`` syntax
over the row's own numbers: ``{value}`` is the feature value, any other field is a column
of the feature frame (``ev_*`` evidence or contract columns). :func:`reason_expr` renders
it for all rows at once as a Polars expression.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

import polars as pl

from features.params import EARLY_WEEKS, LONG_WEEKS, NEW_EXPORTER_DAYS, PRICE_MIN_LINES, PRICE_MONTHS, RECENT_WEEKS


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    description: str
    fields: tuple[str, ...]  # contract columns the feature reads
    direction: Literal["higher", "lower"]
    reason_code: str  # stable: analysts filter and count by it
    reason: str  # sentence template over the row's numbers
    why: str  # why it signals transshipment
    # A fact stated on every flag where it holds (value > 0, evidence known), whatever its
    # share of the score: an analyst must not miss it (``models.reasons.with_stated``).
    stated: bool = False


REGISTRY: tuple[Feature, ...] = (
    # -- value added (needs component imports) -------------------------------------------
    Feature(
        "va_pass_through_share", "value_added",
        "Value of component imports of the same HS6 from the tariffed origin bought by this exporter "
        f"in the {RECENT_WEEKS} completed weeks before the arrival week, divided by the exporter's declared exports of "
        "that HS6 in the same weeks plus this line. Null without component imports, without a tariffed "
        "origin, or when the exporter has no component imports before the arrival.",
        ("exporter_id", "hs_code", "declared_value_usd", "arrival_date"), "higher", "VA_PASS_THROUGH",
        "inputs of the same HS code from {ev_tariffed_origin} cover {value:.0%} of the exporter's recent declared exports",
        "An exporter that imports the finished product from the tariffed country and ships it out under its "
        "own origin adds no value: the goods are passing through.",
    ),
    Feature(
        "va_value_added_ratio", "value_added",
        f"1 - (all component imports of the exporter in the {LONG_WEEKS} completed weeks before the arrival week) / "
        "(its declared exports in those weeks plus this line). Null when not covered by component imports.",
        ("exporter_id", "declared_value_usd", "arrival_date"), "lower", "VA_LOW_VALUE_ADDED",
        f"the exporter's component imports over {LONG_WEEKS} weeks are worth {{ev_inputs_to_exports:.0%}} of what it exported: "
        "little or no value added",
        "Genuine manufacturing adds value to imported parts; a ratio near or below zero means the exporter "
        "re-exports what it buys.",
    ),
    Feature(
        "va_tariffed_content_share", "value_added",
        f"Share of the exporter's component imports ({LONG_WEEKS} completed weeks) supplied by the tariffed origin. "
        "Null when the exporter imported nothing in the window or there is no tariffed origin.",
        ("exporter_id", "arrival_date"), "higher", "VA_TARIFFED_CONTENT",
        "{value:.0%} of the exporter's imported inputs come from {ev_tariffed_origin}",
        "Substantial transformation rules look at where the content comes from; content mostly from the "
        "tariffed country weakens the declared origin.",
    ),
    # -- price ----------------------------------------------------------------------------
    Feature(
        "price_parity_tariffed", "price",
        "|log unit value - log norm of the declared origin| - |log unit value - log norm of the tariffed "
        f"origin|, norms being mean log USD/kg of the same HS6 over the {PRICE_MONTHS} months before the arrival month "
        f"(at least {PRICE_MIN_LINES} lines). Positive: priced like the tariffed origin's goods.",
        ("declared_value_usd", "weight_kg", "hs_code", "origin_country", "arrival_date"), "higher", "PRICE_PARITY",
        "{ev_unit_value_kg:.2f} USD/kg is closer to the {ev_tariffed_origin} norm ({ev_norm_uv_tariffed:.2f}) "
        "than to the {origin_country} norm ({ev_norm_uv_declared:.2f})",
        "Goods made in the declared country tend to price like its other goods; re-routed goods keep the "
        "price level of the country they were made in.",
    ),
    Feature(
        "price_z_declared", "price",
        f"z-score of log USD/kg against the same HS6 from the declared origin over the {PRICE_MONTHS} months before "
        f"the arrival month (at least {PRICE_MIN_LINES} lines).",
        ("declared_value_usd", "weight_kg", "hs_code", "origin_country", "arrival_date"), "lower", "PRICE_LOW",
        "{ev_unit_value_kg:.2f} USD/kg is {value:.1f} standard deviations from the usual price from {origin_country}",
        "Transshipped goods are typically cheaper than goods genuinely made in the declared country.",
    ),
    # -- origin switch --------------------------------------------------------------------
    Feature(
        "os_tariffed_share_drop", "origin_switch",
        f"The importer's share of this HS6 supplied from the tariffed origin in the {LONG_WEEKS} weeks before the "
        f"latest tariff event, minus its share in the {RECENT_WEEKS} completed weeks before arrival (this line included). "
        "Null when the importer bought no such goods before the event.",
        ("importer_id", "hs_code", "origin_country", "declared_value_usd", "arrival_date"), "higher", "OS_SHARE_DROP",
        "the importer's supply of this HS code from {ev_tariffed_origin} fell by {value:.0%} after {ev_event_name}",
        "When a tariff makes a supplier country expensive, a sudden switch of the same buyer to a "
        "neighbouring country is the pattern of re-routing.",
    ),
    Feature(
        "os_new_supplier_after_event", "origin_switch",
        "The importer's pre-event share of this HS6 from the tariffed origin when the exporter is a new "
        "supplier of this importer since the tariff event, else 0. Null when the importer bought no such "
        "goods before the event.",
        ("importer_id", "exporter_id", "hs_code", "arrival_date"), "higher", "OS_NEW_SUPPLIER",
        "a new supplier since {ev_event_name} replaces {ev_tariffed_origin} goods that were {value:.0%} of the importer's supply",
        "Abrupt replacement of a supplier from the tariffed country by a new one elsewhere within weeks of "
        "the tariff.",
    ),
    Feature(
        "os_exporter_origin_count", "origin_switch",
        "Number of distinct origins the exporter has declared before this arrival, including this line's.",
        ("exporter_id", "origin_country", "arrival_date"), "higher", "OS_MANY_ORIGINS",
        "the exporter has declared {value:.0f} different origins",
        "A producer makes goods in its own country; a shipper declaring several origins is a trader whose "
        "origin claims deserve a check.",
    ),
    Feature(
        "os_days_since_event", "origin_switch",
        "Days from the latest tariff event in force for the tariffed origin and this HS code to the arrival.",
        ("hs_code", "arrival_date"), "lower", "OS_RECENT_EVENT",
        "arrived {value:.0f} days after {ev_event_name}",
        "Re-routing starts right after a tariff takes effect.",
    ),
    # -- consistency ----------------------------------------------------------------------
    Feature(
        "cons_export_country_mismatch", "consistency",
        "1 when the country of export differs from the declared origin, else 0.",
        ("export_country", "origin_country"), "higher", "CONS_EXPORT_COUNTRY",
        "shipped from {export_country} while declared made in {origin_country}",
        "Goods declared as made in one country but shipped from another passed through a third place.",
    ),
    Feature(
        "cons_lading_country_mismatch", "consistency",
        "1 when the port of lading's country (first two letters of the UN/LOCODE) differs from the "
        "declared origin, else 0; null without a port.",
        ("port_of_lading", "origin_country"), "higher", "CONS_LADING_COUNTRY",
        "loaded at {port_of_lading} while declared made in {origin_country}",
        "The loading port tells where the goods really left from.",
    ),
    Feature(
        "cons_mid_country_mismatch", "consistency",
        "1 when the manufacturer ID's country (its first two letters) differs from the declared origin, "
        "else 0; null without a manufacturer ID.",
        ("manufacturer_id", "origin_country"), "higher", "CONS_MID_COUNTRY",
        "manufacturer {manufacturer_id} is registered outside {origin_country}",
        "The manufacturer ID names the producer's country; a mismatch contradicts the declared origin.",
    ),
    Feature(
        "cons_mid_is_tariffed_origin", "consistency",
        "1 when the manufacturer ID's country is the tariffed origin, else 0; null without a manufacturer ID.",
        ("manufacturer_id",), "higher", "CONS_MID_TARIFFED",
        "manufacturer {manufacturer_id} is registered in {ev_tariffed_origin}, the tariffed country",
        "A producer in the tariffed country on a line declared elsewhere is the plainest sign of re-routing.",
    ),
    Feature(
        "cons_exporter_foreign_marks", "consistency",
        "Share of the exporter's lines in earlier weeks, plus this line, whose manufacturer ID or port of "
        "lading names another country than the line's declared origin.",
        ("exporter_id", "manufacturer_id", "port_of_lading", "origin_country", "arrival_date"), "higher",
        "CONS_EXPORTER_MARKS",
        "{value:.0%} of this exporter's {ev_exporter_lines:.0f} lines so far carry a manufacturer ID or loading "
        "port outside the declared origin",
        "A trading shell re-labelling goods lets the real maker's ID or the real port slip on some of its lines; "
        "a genuine factory's documents agree with its origin line after line.",
    ),
    # -- entities -------------------------------------------------------------------------
    Feature(
        "ent_exporter_age_days", "entities",
        "Days since the exporter was first seen (0 for its first line).",
        ("exporter_id", "arrival_date"), "lower", "ENT_NEW_EXPORTER",
        "the exporter was first seen {value:.0f} days ago",
        "Re-routing schemes use fresh shell exporters that appear after a tariff.",
    ),
    Feature(
        "ent_exporter_early_volume", "entities",
        f"Lines shipped by the exporter in its first {EARLY_WEEKS} weeks (Monday weeks from its first line): while "
        "still inside them, the lines of the completed weeks so far plus this one; afterwards the full "
        f"{EARLY_WEEKS}-week count; 0 for exporters first seen more than {NEW_EXPORTER_DAYS} days before.",
        ("exporter_id", "arrival_date"), "higher", "ENT_NEW_EXPORTER_SURGE",
        "a new exporter shipped {value:.0f} lines in its first weeks",
        "A genuine new factory ramps up slowly; a shell starts at full volume.",
    ),
    Feature(
        "ent_importer_age_days", "entities",
        "Days since the importer was first seen (0 for its first line).",
        ("importer_id", "arrival_date"), "lower", "ENT_NEW_IMPORTER",
        "the importer was first seen {value:.0f} days ago",
        "New importers of record are used to front re-routed goods.",
    ),
    Feature(
        "ent_exporter_hs_chapters", "entities",
        "Distinct HS chapters the exporter has shipped before this arrival, including this line's.",
        ("exporter_id", "hs_code", "arrival_date"), "higher", "ENT_BROAD_EXPORTER",
        "the exporter ships goods of {value:.0f} different HS chapters",
        "A factory makes a narrow range of goods; a trading shell ships anything.",
    ),
    Feature(
        "ent_origin_share_jump", "entities",
        f"Declared origin's share of all imports of this HS6 in the {RECENT_WEEKS} completed weeks before arrival (this "
        f"line included) minus its share in the {LONG_WEEKS} weeks before the tariff event. Null without a tariffed origin.",
        ("hs_code", "origin_country", "declared_value_usd", "arrival_date"), "higher", "ENT_ORIGIN_SHARE_JUMP",
        "{origin_country}'s share of this HS code rose by {value:.0%} since {ev_event_name}",
        "A country's exports of a product do not jump within weeks unless someone else's goods are "
        "flowing through it.",
    ),
    # -- tariff differential --------------------------------------------------------------
    Feature(
        "tariff_differential_usd", "tariff",
        "(Added duty in force at arrival for the tariffed origin and this HS code - added duty for the "
        "declared origin) x declared value, in USD. The base duty_rate applies to both and cancels. "
        "Null without a tariffed origin.",
        ("hs_code", "origin_country", "declared_value_usd", "arrival_date"), "higher", "TARIFF_DIFFERENTIAL",
        "declaring {origin_country} instead of {ev_tariffed_origin} avoids {value:.0f} USD of duty",
        "The incentive to lie about origin is the duty saved; large savings are worth the fraud.",
    ),
    # -- routes (needs component imports) ---------------------------------------------------
    Feature(
        "route_transit_cover", "routes",
        "On the line's route (HS6, tariffed origin, declared origin as transit country T): T's imports of the HS6 "
        "from the tariffed origin (component imports of firms whose first declared origin is T, each counted from "
        "the later of its week and the week that firm was first seen) divided by the declared imports of the HS6 "
        f"from T, both as weekly rates over the {RECENT_WEEKS} completed weeks before the arrival week, when both "
        f"rates rose against the {LONG_WEEKS} weeks before the tariff event; 0 when either did not. Null without "
        "component imports or a tariffed origin, when T's exports of the HS6 in those weeks are nil, or when the "
        "history covers none of the weeks compared. The same for every line on the route.",
        ("hs_code", "origin_country", "declared_value_usd", "arrival_date"), "higher", "ROUTE_SUSPECT",
        "{origin_country}'s exports of this HS6 here rose from {ev_route_exports_before_usd:.0f} to "
        "{ev_route_exports_recent_usd:.0f} USD a week since {ev_event_name} while its imports of it from "
        "{ev_tariffed_origin} cover {value:.0%} of them (route {ev_route})",
        "A transit country whose imports of a product from the tariffed origin rise with its exports of the same "
        "product, and cover them, is passing the goods through (the route screen's criteria); an honest "
        "relocated factory imports parts and materials instead.",
    ),
)

REGISTRY += (
    # -- known parties (needs a party list: --parties) --------------------------------------
    Feature(
        "known_party", "parties",
        "Number of listings (role x list) of a known-party list that name the line's importer, exporter or "
        "manufacturer and were listed on or before the arrival day: ids matched exactly, names after "
        "normalisation (accents, case, punctuation, legal forms such as Co., Ltd, JSC, Sdn Bhd, PT, LLC, GmbH); "
        "0 for none. Null when no list is given.",
        ("importer_id", "exporter_id", "manufacturer_id", "arrival_date"), "higher", "KNOWN_PARTY",
        "the {ev_known_party_role} is named in {ev_known_party_list} since {ev_known_party_since}",
        "Enforcement has already found this party in a circumvention or evasion case, a seizure or a watch "
        "list: its other lines are the first to check.",
        stated=True,
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in REGISTRY)
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(f.family for f in REGISTRY))


def by_name() -> dict[str, Feature]:
    """Features keyed by name."""
    return {f.name: f for f in REGISTRY}


def _render_field(expr: pl.Expr, spec: str) -> pl.Expr:
    """Format one field for a sentence: ``.N%``, ``.Nf`` or plain, vectorised."""
    if spec.endswith("%"):
        decimals = int(spec[1:-1] or 0)
        expr, suffix = expr * 100, "%"
    elif spec.endswith("f"):
        decimals, suffix = int(spec[1:-1] or 0), ""
    else:
        return expr.cast(pl.String)
    rounded = expr.round(decimals)
    text = rounded.cast(pl.Int64).cast(pl.String) if decimals == 0 else rounded.cast(pl.String)
    return text + pl.lit(suffix) if suffix else text


def reason_expr(feature: Feature) -> pl.Expr:
    """The feature's reason sentence for every row (null where the feature is null).

    Fields are ``{value}`` (the feature) or column names of the feature frame; missing
    evidence renders as ``?`` rather than hiding the sentence.
    """
    pieces: list[str] = []
    exprs: list[pl.Expr] = []
    for literal, field, spec, _ in string.Formatter().parse(feature.reason):
        pieces.append(literal)
        if field is None:
            continue
        col = pl.col(feature.name if field == "value" else field)
        exprs.append(_render_field(col, spec or "").fill_null("?"))
        pieces.append("{}")
    sentence = pl.format("".join(pieces), *exprs) if exprs else pl.lit("".join(pieces))
    return pl.when(pl.col(feature.name).is_not_null()).then(sentence).otherwise(None).alias(f"reason_{feature.name}")


def reason_exprs(names: tuple[str, ...] | None = None) -> list[pl.Expr]:
    """:func:`reason_expr` for each named feature (all by default), named ``reason_<feature>``."""
    index = by_name()
    return [reason_expr(index[n]) for n in (names or FEATURE_NAMES)]
