"""Errors a user can fix. The CLI prints them as one line and exits with their code.

Library code raises these; only ``detector.cli`` turns them into messages and exit codes.
Anything else escaping to the CLI is a bug and shows a traceback.
"""
from __future__ import annotations


class WaypointError(Exception):
    """Base class: ``str(err)`` is the whole message; ``hint`` suggests the fix."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InputError(WaypointError):
    """A file cannot be used as given: unreadable, unknown format, missing or mistyped columns, empty."""

    exit_code = 2


class MappingError(InputError):
    """A mapping file is malformed or does not fit the file it is applied to."""


class ModelError(WaypointError):
    """A model cannot be found, loaded, verified, or does not fit the input."""

    exit_code = 3
