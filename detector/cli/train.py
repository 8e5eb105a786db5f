"""`waypoint train` (being built)."""
from __future__ import annotations

import typer


def train() -> None:
    """Not built yet."""
    raise typer.Exit(1)
