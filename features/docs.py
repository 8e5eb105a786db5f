"""Render the feature dictionary (``docs/features.md``) from the registry.

The registry is the single source: a test fails when the committed file differs from
:func:`render`, and ``waypoint features docs`` rewrites it.
"""
from __future__ import annotations

from features.registry import FAMILIES, REGISTRY

_FAMILY_TITLES = {
    "value_added": "Value added (needs component imports)",
    "price": "Price",
    "origin_switch": "Origin switch",
    "consistency": "Consistency",
    "parties": "Known parties (needs a party list: --parties)",
    "entities": "Entities",
    "tariff": "Tariff differential",
    "routes": "Routes (needs component imports)",
}

_INTRO = """\
# Feature dictionary

Generated from `features/registry.py` by `waypoint features docs`; do not edit by hand.

Every feature is a Float64 column of the feature frame (`features.pipeline.build`); null
means unknown (missing evidence), never "fine". **Direction** says which side is
suspicious. **Reason** is the sentence shown to analysts, filled with the line's numbers.

Rules shared by all history features:

- **Point-in-time.** History is bucketed by Monday-based week (month for price norms). A
  line sees only *completed* weeks (months) before the one it arrived in: rows of the same
  day or week never feed each other, and appending later rows changes nothing earlier.
  First-seen dates (ages, new relationships, distinct counts) compare days strictly.
- **Fit / apply.** The reference state holds integer sums (US cents, counts, log unit
  values x 1e6) per key and week/month plus first-seen days, for each source of history
  (shipments, component imports) up to the last training shipment's day, `as_of`, and
  nothing after it. Scoring adds what the state lacks: the file's own rows and the
  component imports dated *after* `as_of`; rows on or before it are scored but not added
  again. Integer sums make fit-then-apply equal to one run over the whole span.
- **Tariffed origin.** The country other than the declared origin whose tariff events in
  force at arrival (matching HS prefix) add the most duty; null when none. Features that
  compare with it are then null.
"""


def render() -> str:
    """The whole Markdown document."""
    pieces = [_INTRO]
    for family in FAMILIES:
        pieces.append(f"\n## {_FAMILY_TITLES.get(family, family)}\n")
        for f in (x for x in REGISTRY if x.family == family):
            pieces.append(
                f"\n### `{f.name}`\n\n{f.description}\n\n"
                f"- Direction: **{f.direction}** values are suspicious\n"
                f"- Reason code: `{f.reason_code}`\n"
                f"- Reason: \"{f.reason}\"\n"
                f"- Fields: {', '.join(f'`{c}`' for c in f.fields)}\n"
                f"- Why: {f.why}\n"
            )
    return "".join(pieces)
