"""The CLI documents itself, and stays fast to start."""
from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

from detector.cli.main import app


def _is_group(cmd) -> bool:
    # Typer builds its commands on its own copy of click: tell a group by its sub-commands
    return hasattr(cmd, "commands")


def _is_option(param) -> bool:
    return getattr(param, "param_type_name", "") == "option"


def _commands(group, prefix: str = ""):
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}".strip()
        yield path, cmd
        if _is_group(cmd):
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
        if _is_option(param):
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


def _help(path: str) -> str:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[p for p, _ in COMMANDS])
def test_help_shows_readable_metavars(path):
    shown = _help(path)
    for python_type in ("<bool>", "<str>", "<path>", "<int", "<float", "list[", "<list"):
        assert python_type not in shown, f"`waypoint {path} --help` shows {python_type}"


def test_the_walk_sees_sub_commands_and_their_options():
    paths = dict(COMMANDS)
    assert {"review serve", "models list", "features build"} <= set(paths)
    assert any("--db" in o.opts for o in _options(paths["review serve"]))


def _options(cmd):
    return [p for p in cmd.params if _is_option(p)]


def test_one_spelling_per_option_across_commands():
    for path, cmd in COMMANDS:
        for opt in _options(cmd):
            if opt.hidden:
                continue
            names = set(opt.opts)
            assert "--out" not in names, f"`waypoint {path}` spells --output as --out"
            if "-o" in names:
                assert "--output" in names, f"`waypoint {path}`: -o is not --output"
            if names & {"--events", "--inputs"}:
                assert opt.multiple, f"`waypoint {path}` {opt.opts} takes one file where other commands take several"


def test_every_command_that_reports_has_json():
    without = {path for path, cmd in COMMANDS if not _is_group(cmd)
               and not any("--json" in o.opts for o in _options(cmd))}
    assert without <= {"demo", "review serve", "features docs"}, without


def test_shell_completion_is_on():
    from typer.testing import CliRunner

    shown = _help("")
    assert "--install-completion" in shown and "--show-completion" in shown
    result = CliRunner().invoke(app, ["--show-completion", "bash"])
    assert result.exit_code == 0 and "complete" in result.stdout
