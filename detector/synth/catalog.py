"""The fixed reference data of the synthetic world: countries, tariff lines, ports, carriers.

Everything here is immutable (tuples and frozen dataclasses), so the catalogue can be
shared between worlds without one generation leaking into the next. Figures are
plausible orders of magnitude, not statistics: they make the world look like US import
data (CBP-style manufacturer IDs, UN/LOCODE ports, HTS-10 lines) without claiming to be it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """An exporting country as the generator sees it."""

    code: str  # ISO 3166-1 alpha-2
    price_factor: float  # unit-value level relative to China (CN = 1.0)
    share: float  # relative number of exporters located there
    ports: tuple[str, ...]  # UN/LOCODEs of its ports of lading
    cities: tuple[str, ...]  # 3-letter city codes used in manufacturer IDs
    chapters: tuple[str, ...] = ()  # HS chapters it is strong in (more exporters there)
    transit: bool = False  # a country whose component imports the product can see


COUNTRIES: tuple[Country, ...] = (
    Country("CN", 1.00, 30.0, ("CNSHA", "CNNGB", "CNSZX", "CNYTN", "CNTAO", "CNXMN"), ("SHA", "NIN", "SHE", "DON", "QIN", "XIA", "GUA"), ("84", "85", "94", "95", "39", "73")),
    Country("VN", 1.30, 11.0, ("VNSGN", "VNHPH", "VNCMT", "VNDAD"), ("HOC", "HAI", "BIN", "DAN", "HAN"), ("61", "62", "64", "94", "85"), True),
    Country("TH", 1.35, 5.0, ("THLCH", "THBKK"), ("BAN", "CHO", "RAY"), ("84", "85", "87", "40"), True),
    Country("MY", 1.40, 4.0, ("MYPKG", "MYTPP", "MYPEN"), ("KUA", "PEN", "JOH"), ("85", "84", "39"), True),
    Country("KH", 1.25, 2.5, ("KHKOS", "KHPNH"), ("PHN", "SIH"), ("61", "62", "42", "64"), True),
    Country("ID", 1.25, 3.0, ("IDTPP", "IDSUB"), ("JAK", "SUR", "BAN"), ("64", "94", "61")),
    Country("IN", 1.15, 5.0, ("INNSA", "INMAA", "INMUN"), ("MUM", "CHE", "TIR", "DEL"), ("62", "61", "73", "87")),
    Country("BD", 1.10, 2.5, ("BDCGP",), ("DHA", "CHI"), ("61", "62")),
    Country("MX", 1.40, 6.0, ("MXNLD", "MXZLO", "MXVER"), ("MON", "TIJ", "GUA", "JUA"), ("87", "85", "84", "94")),
    Country("TW", 1.50, 3.5, ("TWKHH", "TWKEL"), ("TAI", "TAO", "KAO"), ("85", "84", "87")),
    Country("KR", 1.60, 3.0, ("KRPUS", "KRINC"), ("SEO", "BUS", "INC"), ("85", "87", "84")),
    Country("JP", 2.00, 3.0, ("JPTYO", "JPYOK", "JPUKB", "JPNGO"), ("TOK", "OSA", "NAG"), ("84", "85", "87")),
    Country("DE", 2.20, 3.0, ("DEHAM", "DEBRV"), ("MUN", "STU", "HAM", "COL"), ("84", "87", "85")),
    Country("IT", 2.30, 2.5, ("ITGOA", "ITSPE"), ("MIL", "TUR", "FLO", "VEN"), ("42", "64", "94", "84")),
    Country("TR", 1.35, 2.0, ("TRMER", "TRAMB"), ("IST", "IZM", "BUR"), ("61", "62", "73", "76")),
    Country("SG", 1.60, 0.0, ("SGSIN",), ("SIN",)),  # hub only: honest re-exports of declared-CN goods
)

COUNTRY_INDEX: dict[str, int] = {c.code: i for i, c in enumerate(COUNTRIES)}
#: Where transshipment shells and product-line circumvention happen.
TRANSIT_CODES: tuple[str, ...] = ("VN", "TH", "MY", "KH")
#: Hubs from which some honest Chinese goods are shipped, declared with origin CN.
HUB_CODES: tuple[str, ...] = ("SG", "MY", "KR")
#: Countries supplying upstream components (fabric, parts, resins) to transit-country factories.
COMPONENT_SUPPLIERS: tuple[tuple[str, float], ...] = (
    ("CN", 0.55), ("KR", 0.10), ("TW", 0.08), ("JP", 0.07), ("TH", 0.05), ("IN", 0.05), ("ID", 0.05), ("US", 0.05),
)


@dataclass(frozen=True)
class Family:
    """An HS6 product family: exported as a few HTS-10 lines, made from upstream HS6 inputs."""

    hs6: str
    description: str
    unit: str  # quantity unit: PCS, PRS (pairs) or KG
    unit_kg: float  # net weight of one unit
    usd_per_kg: float  # Chinese unit value; other origins scale by Country.price_factor
    duty: float  # column-1 general duty rate (MFN), fraction
    upstream: tuple[str, ...]  # HS6 of the components a real factory imports

    @property
    def chapter(self) -> str:
        return self.hs6[:2]


FAMILIES: tuple[Family, ...] = (
    Family("392410", "PLASTIC TABLEWARE AND KITCHENWARE", "PCS", 0.2, 4.0, 0.034, ("390110", "390210")),
    Family("392690", "ARTICLES OF PLASTICS NESOI", "PCS", 0.1, 6.0, 0.053, ("390110", "390760")),
    Family("392321", "POLYETHYLENE SACKS AND BAGS", "KG", 1.0, 2.5, 0.030, ("390110",)),
    Family("420292", "TRAVEL AND SPORTS BAGS, TEXTILE OUTER", "PCS", 0.8, 12.0, 0.176, ("540752", "960719")),
    Family("420221", "HANDBAGS, LEATHER OUTER SURFACE", "PCS", 0.7, 40.0, 0.090, ("410792", "960719")),
    Family("420212", "SUITCASES, PLASTIC OR TEXTILE OUTER", "PCS", 3.5, 9.0, 0.200, ("392690", "540752")),
    Family("610910", "T-SHIRTS OF COTTON, KNITTED", "PCS", 0.2, 18.0, 0.165, ("600622", "520522")),
    Family("611020", "SWEATERS AND PULLOVERS OF COTTON, KNITTED", "PCS", 0.45, 20.0, 0.165, ("520522", "600622")),
    Family("610462", "WOMENS TROUSERS OF COTTON, KNITTED", "PCS", 0.35, 19.0, 0.149, ("600622",)),
    Family("620520", "MENS SHIRTS OF COTTON, WOVEN", "PCS", 0.25, 24.0, 0.197, ("520852", "960621")),
    Family("620462", "WOMENS TROUSERS OF COTTON, WOVEN", "PCS", 0.45, 20.0, 0.166, ("520942", "960719")),
    Family("620343", "MENS TROUSERS OF SYNTHETIC FIBRES", "PCS", 0.4, 18.0, 0.279, ("540752", "960719")),
    Family("640299", "FOOTWEAR, RUBBER OR PLASTIC OUTER SOLE", "PRS", 0.8, 12.0, 0.200, ("640690", "400219")),
    Family("640399", "FOOTWEAR WITH LEATHER UPPERS", "PRS", 1.0, 25.0, 0.085, ("640610", "410792")),
    Family("640411", "SPORTS FOOTWEAR, TEXTILE UPPERS", "PRS", 0.7, 20.0, 0.200, ("640690", "540752")),
    Family("732393", "STAINLESS STEEL KITCHENWARE", "PCS", 0.6, 8.0, 0.020, ("721934",)),
    Family("731815", "STEEL SCREWS AND BOLTS", "KG", 1.0, 3.5, 0.085, ("721391",)),
    Family("732690", "ARTICLES OF IRON OR STEEL NESOI", "PCS", 1.5, 4.0, 0.029, ("720851",)),
    Family("730890", "STEEL STRUCTURES AND PARTS", "KG", 1.0, 2.2, 0.000, ("721650", "720851")),
    Family("761699", "ARTICLES OF ALUMINIUM NESOI", "PCS", 0.8, 9.0, 0.025, ("760120",)),
    Family("760612", "ALUMINIUM ALLOY PLATES AND SHEETS", "KG", 1.0, 3.8, 0.030, ("760120",)),
    Family("761010", "ALUMINIUM DOORS, WINDOWS AND FRAMES", "KG", 1.0, 7.0, 0.057, ("760421",)),
    Family("841510", "WINDOW OR WALL AIR CONDITIONERS", "PCS", 35.0, 9.0, 0.000, ("841430", "741110")),
    Family("847130", "PORTABLE COMPUTERS", "PCS", 2.0, 180.0, 0.000, ("847330", "854232")),
    Family("847150", "PROCESSING UNITS FOR COMPUTERS", "PCS", 8.0, 80.0, 0.000, ("847330", "854231")),
    Family("843149", "PARTS OF CRANES AND EARTHMOVING MACHINERY", "KG", 1.0, 6.0, 0.000, ("720851",)),
    Family("848180", "TAPS, COCKS AND VALVES", "PCS", 0.8, 15.0, 0.020, ("740321",)),
    Family("841810", "COMBINED REFRIGERATOR-FREEZERS", "PCS", 65.0, 6.0, 0.000, ("841430", "392690")),
    Family("850440", "STATIC CONVERTERS (POWER SUPPLIES)", "PCS", 0.4, 40.0, 0.015, ("850490", "854239")),
    Family("850760", "LITHIUM-ION ACCUMULATORS", "PCS", 0.5, 28.0, 0.034, ("850790",)),
    Family("851762", "ROUTERS AND DATA TRANSMISSION APPARATUS", "PCS", 0.5, 90.0, 0.000, ("851779", "854231")),
    Family("853710", "ELECTRIC CONTROL BOARDS AND PANELS", "PCS", 4.0, 30.0, 0.027, ("853890", "853650")),
    Family("854442", "INSULATED CONDUCTORS WITH CONNECTORS", "KG", 1.0, 14.0, 0.026, ("740811", "390410")),
    Family("854143", "PHOTOVOLTAIC MODULES", "PCS", 20.0, 12.0, 0.000, ("381800", "700719")),
    Family("851660", "OVENS, COOKERS AND COOKING PLATES", "PCS", 6.0, 10.0, 0.027, ("851680", "732690")),
    Family("850140", "AC MOTORS, SINGLE-PHASE", "PCS", 3.0, 12.0, 0.042, ("850300", "740811")),
    Family("852872", "TELEVISION RECEIVERS, COLOUR", "PCS", 12.0, 25.0, 0.039, ("852990", "901380")),
    Family("870899", "PARTS OF MOTOR VEHICLES NESOI", "KG", 1.0, 8.0, 0.025, ("720851", "760120")),
    Family("870830", "BRAKES AND PARTS THEREOF", "KG", 1.0, 6.0, 0.025, ("720851",)),
    Family("871200", "BICYCLES, NOT MOTORISED", "PCS", 14.0, 12.0, 0.110, ("871491", "871499")),
    Family("871160", "ELECTRIC BICYCLES AND MOTORCYCLES", "PCS", 25.0, 20.0, 0.000, ("850760", "871491")),
    Family("940360", "WOODEN FURNITURE NESOI", "PCS", 25.0, 4.5, 0.000, ("440799", "441112")),
    Family("940171", "UPHOLSTERED SEATS WITH METAL FRAMES", "PCS", 20.0, 6.0, 0.000, ("940199", "540752")),
    Family("940542", "LED LAMPS AND LIGHTING FITTINGS", "PCS", 1.5, 11.0, 0.039, ("853950", "761699")),
    Family("940490", "QUILTS, PILLOWS AND CUSHIONS", "PCS", 1.2, 8.0, 0.060, ("550320", "540752")),
    Family("950300", "TOYS, PUZZLES AND SCALE MODELS", "PCS", 0.5, 9.0, 0.000, ("392690", "540752")),
    Family("950691", "GYMNASIUM AND EXERCISE EQUIPMENT", "PCS", 20.0, 5.0, 0.046, ("720851", "400219")),
    Family("950510", "CHRISTMAS FESTIVE ARTICLES", "PCS", 0.3, 6.0, 0.000, ("392690",)),
)

#: Statistical suffixes that turn an HS6 family into HTS-10 lines, and their unit-value multipliers.
HTS_SUFFIXES: tuple[tuple[str, float], ...] = (("1010", 0.85), ("2050", 1.0), ("9000", 1.2))
#: Qualifiers that vary the free-text goods description of the same line.
DESCRIPTION_PREFIXES: tuple[str, ...] = ("", "NEW ", "ASSORTED ", "")

#: Arrival ports in the US (UN/LOCODE) for ocean freight, and land ports for goods from Mexico.
US_SEA_PORTS: tuple[str, ...] = ("USLAX", "USLGB", "USNYC", "USSAV", "USHOU", "USSEA", "USOAK", "USCHS", "USORF", "USTIW")
US_LAND_PORTS: tuple[str, ...] = ("USLRD", "USELP", "USOTM")
#: Ocean carriers (SCAC) and the road carriers used across the Mexican border.
OCEAN_CARRIERS: tuple[str, ...] = ("MAEU", "MSCU", "CMDU", "COSU", "EGLV", "ONEY", "HLCU", "YMLU", "ZIMU", "HDMU", "OOLU", "WHLC")
ROAD_CARRIERS: tuple[str, ...] = ("SWFT", "SCNN", "JBHT", "CRST")
