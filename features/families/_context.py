"""What a feature family may read besides the shipment rows: the combined history.

Built once per :func:`features.pipeline.build` from the reference state plus the file's
own rows after ``state.as_of``; every frame is lazy over memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from features.families._history import History, Lookups

#: Internal per-row columns the pipeline adds before the families run (dropped at the end).
WEEK = "_week"
MONTH = "_month"
DAY = "_day"
HS6 = "_hs6"
CHAPTER = "_chapter"
EVENT_WEEK = "_event_week"
#: What each line adds to the history sums that the families also read: its declared value
#: in US cents and whether its manufacturer ID or port names another country (0/1).
VALUE_CENTS = "_line_value"
FOREIGN_MARK = "_line_foreign"
#: Countries named by the manufacturer ID and the port of lading (evidence columns, computed
#: once with the rows: the consistency family and the history both read them).
MID_COUNTRY = "ev_mid_country"
LADING_COUNTRY = "ev_lading_country"


@dataclass(frozen=True)
class Context:
    """History rows per lookup name (``cum`` and ``raw`` name the same histories: key
    columns, ``period`` and integer values, repeated keys allowed, as one frame or as parts
    - see ``_history.window_sums``), first-seen tables, and the week indexes of the tariff
    events."""

    cum: dict[str, History]
    raw: dict[str, History]
    first: dict[str, History]
    has_inputs: bool
    event_weeks: tuple[int, ...] = ()
    #: The shipment rows the families start from (in memory): lookups take their query
    #: points from here rather than from the frame they are adding columns to.
    rows: pl.LazyFrame | None = None
    #: Key hashes and history indexes shared by the lookups of this build.
    lookups: Lookups = field(default_factory=Lookups)
