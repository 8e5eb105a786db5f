"""Options several commands share, written once: same spelling, type and help in each.

An option whose help says something particular to its command (``score``'s ``--events``,
every ``--json``) stays written in that command; only identical ones live here. Each is a
``typing.Annotated`` alias, used as ``inputs: InputsOption = None``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Paths stay strings where the command may hand them to Spark (``s3a://...`` is no local Path).
InputsOption = Annotated[
    list[str] | None, typer.Option("--inputs", help="Component imports of the transit countries (files or globs).")
]
ShippedEventsOption = Annotated[
    list[str] | None, typer.Option("--events", help="Tariff events (default: the table shipped with waypoint).")
]
MappingOption = Annotated[Path | None, typer.Option("--mapping", help="TOML column mapping for foreign files.")]
MaxRejectShareOption = Annotated[
    str | None,
    typer.Option("--max-reject-share", help="Fail (exit 2) when more than this share of the lines is rejected, e.g. 5%."),
]
MasterOption = Annotated[
    str | None,
    typer.Option("--master", help="With --engine spark: the Spark master URL (default: the active session, else local[*])."),
]

# The review pictures (`waypoint report`, `waypoint review serve`) read local files.
PictureInputsOption = Annotated[
    list[Path] | None,
    typer.Option("--inputs", help="Component imports of the transit country (for the inputs picture; several files or globs)."),
]
PictureEventsOption = Annotated[
    list[Path] | None, typer.Option("--events", help="Tariff events to mark on the pictures (several files or globs)."),
]

__all__ = ["InputsOption", "MappingOption", "MasterOption", "MaxRejectShareOption", "PictureEventsOption",
           "PictureInputsOption", "ShippedEventsOption"]
