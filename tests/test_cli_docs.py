"""The CLI documents itself, and stays fast to start."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest
import typer.main

from detector.cli.main import app


def _commands(group: click.Group, prefix: str = ""):
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}".strip()
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path)


ROOT = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT))


def test_every_command_of_the_design_exists():
    top = {name for name, _ in COMMANDS if " " not in name}
    assert {"generate", "check", "features", "train", "models", "score", "evaluate", "review", "report", "demo"} <= top


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_has_help_text(path, cmd):
    assert (cmd.help or "").strip(), f"`waypoint {path}` has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"`waypoint {path}` option {param.opts} has no help text"


def test_help_imports_neither_mlflow_nor_sklearn():
    code = (
        "import sys; from typer.testing import CliRunner; from detector.cli.main import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "heavy = sorted(m for m in ('mlflow', 'sklearn', 'pandas', 'fastapi', 'numba') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"`waypoint --help` imported {out.stdout.strip()}"


def test_version_prints_the_package_version():
    from typer.testing import CliRunner

    from detector import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"waypoint {__version__}"
