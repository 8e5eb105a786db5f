"""Errors a user can fix. The CLI prints them as one line and exits with their code.

Library code raises these; only ``detector.cli`` turns them into messages and exit codes.
Anything else escaping to the CLI is a bug and shows a traceback. The base class and
the model errors live in ``models.errors`` so the model layer need not import this one.
"""
from __future__ import annotations

from models.errors import ModelError, ModelInputError, WaypointError

__all__ = ["WaypointError", "InputError", "MappingError", "ModelError", "ModelInputError"]


class InputError(ModelInputError):
    """A file cannot be used as given: unreadable, unknown format, missing or mistyped columns, empty."""


class MappingError(InputError):
    """A mapping file is malformed or does not fit the file it is applied to."""
