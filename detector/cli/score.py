"""`waypoint score` (being built)."""
from __future__ import annotations

import typer


def score() -> None:
    """Not built yet."""
    raise typer.Exit(1)
