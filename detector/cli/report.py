"""`waypoint report` (being built)."""
from __future__ import annotations

import typer


def report() -> None:
    """Not built yet."""
    raise typer.Exit(1)
