"""`waypoint evaluate` (being built)."""
from __future__ import annotations

import typer


def evaluate() -> None:
    """Not built yet."""
    raise typer.Exit(1)
