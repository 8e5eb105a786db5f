"""The ``waypoint`` command: one sub-app or command per area, joined here.

Command modules import polars, scikit-learn and mlflow inside their functions, so
``waypoint --help`` and ``waypoint --version`` stay fast.
"""
from __future__ import annotations

import typer
from typer.core import TyperGroup

from detector import __version__
from detector.cli import check, demo, evaluate, features, generate, models, report, review, routes, score, train
from detector.cli._console import err_console, safe
from detector.errors import WaypointError
from detector.runtime import SIGTERM_EXIT, batch_process

__all__ = ["SIGTERM_EXIT", "app", "run"]

#: What help shows for a value of each type, instead of Typer's ``<list[str]>``.
_METAVARS = {"bool": "", "str": "TEXT", "path": "PATH", "int": "N", "int range": "N", "float": "NUMBER",
             "float range": "NUMBER"}


def _value_metavar(param, ctx) -> str:
    label = param.display_type(ctx).strip("<>")
    many = label.startswith("list[")
    label = label[5:-1].lower() if many else label
    if many and label in ("str", "path"):  # several files or globs
        return "PATH"
    if label in _METAVARS:
        return _METAVARS[label]
    if "|" in label:  # a choice: its values
        return "[" + label + "]"
    return label.upper()


def _readable_metavar(param, ctx) -> None:
    """Give ``param`` a metavar people read (PATH, TEXT, N) when it has none.

    Typer shows the Python annotation (``<list[str]>``, ``<bool>``); a flag needs none, and
    an argument shows its name with the kind of value it takes (``SHIPMENTS  PATH...``).
    """
    if param.metavar is not None:
        return
    if param.param_type_name == "argument":
        shown = _value_metavar(param, ctx) + ("..." if param.nargs != 1 else "")
        param.metavar = param.name.upper()
        param.display_type_rich = lambda ctx: shown  # Typer shows an argument's annotation here
        return
    param.metavar = "" if getattr(param, "is_flag", False) else _value_metavar(param, ctx)


def _tidy(command) -> None:
    """Readable metavars on every parameter of ``command`` and its sub-commands, including
    the ones Typer adds when help is shown (``--help``, the completion options)."""
    original = command.get_params

    def get_params(ctx):
        params = original(ctx)
        for param in params:
            _readable_metavar(param, ctx)
        return params

    command.get_params = get_params
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


class _Group(TyperGroup):
    """Turns the library's user-facing errors into one line and an exit code (one edge)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except WaypointError as exc:
            # A message names files, columns and values from the data: printed inert.
            err_console.print(f"[bold red]error:[/] {safe(exc, newlines=True)}", highlight=False, soft_wrap=True)
            if exc.hint:
                err_console.print(f"[dim]hint:[/] {safe(exc.hint, newlines=True)}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="waypoint",
    cls=_Group,
    help="Find transshipment and origin fraud among customs entry lines.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"waypoint {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Find transshipment and origin fraud among customs entry lines."""


app.command("generate")(generate.generate)
app.command("check")(check.check)
app.add_typer(features.app, name="features")
app.command("train")(train.train)
app.add_typer(models.app, name="models")
app.command("score")(score.score)
app.command("evaluate")(evaluate.evaluate)
app.add_typer(review.app, name="review")
app.command("report")(report.report)
app.command("demo")(demo.demo)
app.command("routes")(routes.routes)


def run() -> None:
    """The ``waypoint`` command: the app, run as a batch process (``detector/runtime.py``)."""
    with batch_process():
        app()
