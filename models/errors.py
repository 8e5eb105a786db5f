"""Errors a user can fix, shared by the model layer and the application.

Defined in ``models`` (the lower layer) so that ``models`` never imports ``detector``;
``detector.errors`` builds its input errors on the same base, and the CLI turns any
``WaypointError`` into one line and its exit code.
"""
from __future__ import annotations


class WaypointError(Exception):
    """Base class: ``str(err)`` is the whole message; ``hint`` suggests the fix."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ModelError(WaypointError):
    """A model cannot be found, loaded, verified, or does not fit the input."""

    exit_code = 3


class ModelInputError(WaypointError):
    """Arguments or data given to the model layer are unusable (same exit code as bad input)."""

    exit_code = 2
