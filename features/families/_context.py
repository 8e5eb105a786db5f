"""What a feature family may read besides the shipment rows: the combined, cumulated history.

Built once per :func:`features.pipeline.build` from the reference state plus the file's
own rows after ``state.as_of``; every frame is lazy.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

#: Internal per-row columns the pipeline adds before the families run (dropped at the end).
ROW = "_row"
WEEK = "_week"
MONTH = "_month"
DAY = "_day"
HS6 = "_hs6"
CHAPTER = "_chapter"
EVENT_WEEK = "_event_week"


@dataclass(frozen=True)
class Context:
    """Cumulated history (see ``_history.cumulate``), raw weekly sums, first-seen tables,
    and the week indexes of the tariff events (for before-event windows)."""

    cum: dict[str, pl.LazyFrame]
    raw: dict[str, pl.LazyFrame]
    first: dict[str, pl.LazyFrame]
    has_inputs: bool
    event_weeks: tuple[int, ...] = ()
