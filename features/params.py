"""The windows and thresholds of the feature families, in one place.

The families compute with these numbers and the registry's descriptions are written
from them, so the text an analyst reads cannot drift from what is computed.
"""
from __future__ import annotations

#: Completed weeks before the arrival week that make "now": recent exports, recent shares.
RECENT_WEEKS = 8
#: Completed weeks of the longer windows: component imports against exports, and the
#: weeks before a tariff event that make "before".
LONG_WEEKS = 26
#: Months before the arrival month that a price norm is made of, and the lines it needs.
PRICE_MONTHS = 12
PRICE_MIN_LINES = 5
#: A floor on a price norm's spread (log units): a norm of identical prices would make
#: every small difference look enormous.
PRICE_MIN_SD = 0.01
#: An exporter's first weeks (Monday weeks from its first line), and the age up to which
#: it counts as new.
EARLY_WEEKS = 13
NEW_EXPORTER_DAYS = 365
