"""Which tariff measures a training run's lines get: the importing country of the lines.

Measures belong to the importing country (``features.families.tariff``). A training run
says which country its lines are imports of (``--importing-country``, a mapping constant or
the lines' own ``importing_country`` column), records it in the model (scoring takes a line
stating none as that country) and says so when no measure of its events applies: the
tariff-event features are then off (unknown), and no reason can cite an event.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from features.families.tariff import IMPORTING, applicable, conform_events, default_country, events_digest, stated_countries


@dataclass
class ImportingContext:
    """The importing country of a training run's lines and the measures that apply to them."""

    country: str | None  # what a line stating no importing country is taken as (recorded in the model)
    stated: dict[str, int]  # lines per importing country they state
    unstated: int  # lines stating none
    measures: int  # events that add a duty (the others are records)
    applying: int  # of those, the ones that apply to the lines' importing countries
    events_countries: list[str]  # importing countries the events name
    digest: str  # of the events table
    warnings: list[str] = field(default_factory=list)

    def tags(self) -> dict[str, str]:
        """MLflow tags: the importing country, how many measures apply, the events' digest."""
        if self.applying == 0 and self.measures:
            measures = f"none apply: the tariff-event features are off ({self._whose()})"
        else:
            measures = f"{self.applying} of {self.measures} apply ({self._whose()})"
        return {
            "waypoint.importing_country": self.country or "",
            "waypoint.tariff_measures": measures,
            "waypoint.events_digest": self.digest,
        }

    def _whose(self) -> str:
        lines = ", ".join(sorted(self.stated)) or self.country or "not stated"
        events = ", ".join(self.events_countries) or "no country named"
        return f"imports into {lines}; events of {events}"


def importing_context(shipments: pl.DataFrame, events: pl.DataFrame, country: str | None = None
                      ) -> tuple[pl.DataFrame, ImportingContext]:
    """The training lines with their importing country (``country`` fills the lines stating
    none) and what it means for the tariff measures of ``events``."""
    stated_col = shipments.get_column(IMPORTING) if IMPORTING in shipments.columns else pl.Series(IMPORTING, [None] * shipments.height, dtype=pl.String)
    counts = stated_col.drop_nulls().value_counts()
    stated = {str(r[0]): int(r[1]) for r in counts.iter_rows()}
    unstated = int(stated_col.null_count())
    if country is not None and unstated:
        shipments = shipments.with_columns(pl.col(IMPORTING).fill_null(pl.lit(country, dtype=pl.String)))
    fallback = country or default_country(events)  # what a line stating none is an import of
    lines = set(stated) | ({fallback} if unstated else set())
    measures = events.filter(pl.col("added_duty_rate").fill_null(0.0) != 0.0)
    applying = pl.concat([applicable(measures, c) for c in lines]).unique() if lines else measures.head(0)
    named = stated_countries(events)
    warnings = []
    if unstated and country is None:
        if fallback is not None:
            warnings.append(
                f"{unstated:,} line(s) state no importing country: they are taken as imports into {fallback}, the "
                f"country the tariff events name; if they are not, give --importing-country (or importing_country in "
                "the mapping's [constants]), or only the wrong country's measures apply"
            )
        elif named:
            warnings.append(
                f"{unstated:,} line(s) state no importing country and the events are measures of several countries "
                f"({', '.join(named)}): only the measures naming no country apply to them (give --importing-country)"
            )
    if measures.height and applying.height == 0:
        into = ", ".join(sorted(c for c in lines if c)) or "an unstated country"
        warnings.append(
            f"no tariff measure of the events applies to imports into {into} (the events are measures of "
            f"{', '.join(named) or 'no stated country'}): the tariff-event features are off (unknown) and no reason "
            "will cite a tariff event; give --events with this country's measures to use them"
        )
    model_country = country or (next(iter(stated)) if len(stated) == 1 and not unstated else None) or (fallback if unstated else None)
    context = ImportingContext(
        country=model_country, stated=stated, unstated=unstated, measures=measures.height,
        applying=applying.height, events_countries=named, digest=events_digest(conform_events(events)), warnings=warnings,
    )
    return shipments, context
