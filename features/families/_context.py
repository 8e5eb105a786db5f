"""What a feature family may read besides the shipment rows: the combined history.

Built once per :func:`features.pipeline.build` from the reference state plus the rows it
lacks (see ``features/state.py``). A family asks the context for history lookups; the
context answers them for the build's rows, sharing key hashes and indexes between them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from features.families._history import History, Lookups, event_window_sums, first_days, window_sums

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
    """The histories of one build and the lookups over them.

    ``sums`` holds history rows per table name (key columns, a period, integer values;
    repeated keys allowed; as one frame or as parts whose sums add up, see
    ``_history.window_sums``); ``firsts`` the first-seen tables; ``event_weeks`` the week
    indexes of the tariff events; ``rows`` the build's shipment rows in memory, which
    every lookup takes its query keys and periods from.
    """

    sums: dict[str, History]
    firsts: dict[str, History]
    has_inputs: bool
    rows: pl.LazyFrame
    event_weeks: tuple[int, ...] = ()
    lookups: Lookups = field(default_factory=Lookups)
    parties: pl.DataFrame | None = None  # the known-party list (features.families.parties); None: no list

    def window_sums(self, lf: pl.LazyFrame, table: str, *, on: Sequence[str], table_on: Sequence[str],
                    end: pl.Expr | pl.Series, periods: int | None, values: Sequence[str], prefix: str,
                    period: str = "period") -> pl.LazyFrame:
        """``lf`` with ``{prefix}{value}``: the sums of ``table`` over the ``periods`` periods
        up to ``end`` (every period up to it when None) for each row's key ``on``."""
        return window_sums(lf, self.sums[table], by_left=on, by_right=table_on, end=end, length=periods, values=values,
                           prefix=prefix, period=period, queries=self.rows, lookups=self.lookups)

    def before_event(self, lf: pl.LazyFrame, table: str, *, on: Sequence[str], table_on: Sequence[str], weeks: int,
                     values: Sequence[str], prefix: str) -> pl.LazyFrame:
        """``lf`` with ``{prefix}{value}``: the sums of ``table`` over the ``weeks`` weeks before
        each row's tariff event (0 without one)."""
        return event_window_sums(lf, self.sums[table], by_left=on, by_right=table_on, event_week=EVENT_WEEK,
                                 event_weeks=self.event_weeks, length=weeks, values=values, prefix=prefix,
                                 queries=self.rows, lookups=self.lookups)

    def first_days(self, table: str, *, on: Sequence[str], table_on: Sequence[str] | None = None) -> pl.Series:
        """Each row's first-seen day of its key ``on`` in first-seen ``table`` (null: never seen)."""
        return first_days(self.rows, self.firsts[table], on=on, table_on=table_on, lookups=self.lookups)
