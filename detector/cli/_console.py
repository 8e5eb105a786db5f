"""Where people-facing output goes, and how untrusted text is made inert there.

Results (tables, summaries) go to stdout (``out_console``); progress, warnings and errors
go to stderr (``err_console``). With ``--json`` the JSON is the result on stdout, so the
human rendering of a command moves to stderr (:func:`results`).

Every piece of text that comes from data (ids, notes, analyst names, file names and
headers, mapping names, reasons built from values) is passed through :func:`safe`
before it is printed: Rich would otherwise read ``[red]`` or ``[/b]`` in a note as
markup (restyling the output, or failing the whole print on an unbalanced tag), and a
file could send ANSI escape sequences straight to the analyst's terminal.
"""
from __future__ import annotations

import os
import re
import sys

from rich.console import Console
from rich.markup import escape

#: Width of results written to a pipe or a file (no terminal, no COLUMNS): wide enough that a
#: table row stays on one line for ``grep``, where Rich would otherwise wrap at 80 columns.
PIPE_WIDTH = 200


def _out_width() -> int | None:
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None  # Rich measures the terminal (or reads COLUMNS)
    return PIPE_WIDTH


# emoji=False: ``:warning:`` in a note is text, not a picture.
err_console = Console(stderr=True, emoji=False)
out_console = Console(emoji=False, width=_out_width())

#: C0 controls (but tab and newline), DEL, C1 controls, and the Unicode controls that
#: reorder or hide text on screen (bidirectional overrides and isolates, zero-width
#: joiners and marks, the byte order mark, line and paragraph separators).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NEWLINE = re.compile("[\t\n]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, *, newlines: bool = False) -> str:
    """``value`` as text that prints literally through Rich, whatever it holds.

    Control characters are shown visibly (``\\x1b``, ``\\u202e``) instead of acting on
    the terminal, and Rich markup is escaped so ``[red]`` prints as ``[red]``. Tabs and
    newlines are shown as ``\\t`` and ``\\n`` too (a value cannot fake a line of its own)
    unless ``newlines`` is true, for multi-line messages of our own making.
    """
    text = "" if value is None else str(value)
    text = _CONTROL.sub(_visible, text)
    if not newlines:
        text = _NEWLINE.sub(lambda m: "\\t" if m.group() == "\t" else "\\n", text)
    return escape(text)


#: JSON fields that name a model version: always a string ("3"), in every command's JSON,
#: as the scored files and the decision store hold it.
VERSION_KEYS = ("model_version",)


def _versions_as_text(value, keys: tuple[str, ...]):
    if isinstance(value, dict):
        return {k: (str(v) if k in keys and v is not None and not isinstance(v, (dict, list)) else _versions_as_text(v, keys))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_versions_as_text(v, keys) for v in value]
    return value


def json_text(data, *, version_keys: tuple[str, ...] = VERSION_KEYS) -> str:
    """``data`` as the indented JSON a command prints, model versions as strings."""
    import json

    return json.dumps(_versions_as_text(data, version_keys), indent=2, default=str)


def results(as_json: bool = False) -> Console:
    """The console for a command's human-readable result: stdout, or stderr under ``--json``."""
    return err_console if as_json else out_console


__all__ = ["err_console", "json_text", "out_console", "results", "safe"]
