"""What a feature family may read besides the shipment rows: the combined history.

Built once per :func:`features.pipeline.build` from the reference state plus the rows it
lacks (see ``features/state.py``). A family asks the context for history lookups; the
context answers them for the build's rows, from the same :class:`~features.families._history.Table`
objects every time, so the key hashes and indexes worked out for one lookup serve the others.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from features.families._history import History, Table, Window, first_days, window_sums

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
    repeated keys allowed; as one table or as parts whose sums add up, see
    ``_history.window_sums``); ``firsts`` the first-seen tables; ``event_weeks`` the week
    indexes of the tariff events; ``rows`` the build's shipment rows in memory, which
    every lookup takes its keys and periods from, and which the families' frames hold in
    the same order.
    """

    sums: dict[str, History]
    firsts: dict[str, History]
    has_inputs: bool
    rows: Table
    event_weeks: tuple[int, ...] = ()
    parties: pl.DataFrame | None = None  # the known-party list (features.families.parties); None: no list

    def window_sums(self, lf: pl.LazyFrame, table: str, *, on: Sequence[str], table_on: Sequence[str], window: Window,
                    values: Sequence[str], prefix: str) -> pl.LazyFrame:
        """``lf`` with ``{prefix}{value}``: the sums of ``table`` over each row's ``window``
        for its key ``on`` (``table_on`` in the table)."""
        return lf.with_columns(window_sums(self.rows, self.sums[table], on=on, table_on=table_on, window=window,
                                           values=values, prefix=prefix))

    def before_event(self, lf: pl.LazyFrame, table: str, *, on: Sequence[str], table_on: Sequence[str], weeks: int,
                     values: Sequence[str], prefix: str) -> pl.LazyFrame:
        """``lf`` with ``{prefix}{value}``: the sums of ``table`` over the ``weeks`` weeks before
        each row's tariff event (0 without one)."""
        if not self.event_weeks:  # no event: no row has a window, and nothing is read
            return lf.with_columns([pl.lit(0, dtype=pl.Int64).alias(f"{prefix}{v}") for v in values])
        return self.window_sums(lf, table, on=on, table_on=table_on, window=Window(before=EVENT_WEEK, length=weeks),
                                values=values, prefix=prefix)

    def first_days(self, table: str, *, on: Sequence[str], table_on: Sequence[str] | None = None) -> pl.Series:
        """Each row's first-seen day of its key ``on`` in first-seen ``table`` (null: never seen)."""
        return first_days(self.rows, self.firsts[table], on=on, table_on=table_on)
