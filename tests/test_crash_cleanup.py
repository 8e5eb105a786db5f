"""A killed run leaves nothing the next run does not clean; SIGTERM cleans like Ctrl+C; tiny training is refused."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import SIGTERM_EXIT, app
from detector.io.write import atomic_path, leftover_prefix, remove_leftovers

WAYPOINT = [sys.executable, "-c", "from detector.cli.main import run; run()"]


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_remove_leftovers_takes_only_our_files_of_dead_runs(tmp_path):
    target = tmp_path / "out.parquet"
    dead, live = _dead_pid(), os.getpid()
    ours = [f".out.parquet.{dead}.0123456789ab.partial", ".out.parquet.0123456789ab.partial"]
    spills = [f".out.parquet.{dead}.abc_1234.spill", ".out.parquet.k2j4_9zz.spill"]
    kept = [f".out.parquet.{live}.0123456789ab.partial", f".out.parquet.{live}.abcd1234.spill",
            "out.parquet", ".out.parquet.notes", "out.parquet.partial", f".out.parquet.{dead}.0123.partial",
            f".other.parquet.{dead}.0123456789ab.partial", f".out.parquet.{dead}.0123456789AB.partial",
            f".out.parquet.{dead}.abc.spill"]
    for name in ours + kept[:2] + kept[2:]:
        (tmp_path / name).write_text("x")
    for name in spills:
        (tmp_path / name).mkdir()
        (tmp_path / name / "features.parquet").write_text("x")
    (tmp_path / kept[1]).unlink()
    (tmp_path / kept[1]).mkdir()
    removed = remove_leftovers(target)
    assert sorted(p.name for p in removed) == sorted(ours + spills)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_symlink_named_like_a_leftover_is_left_alone(tmp_path):
    victim = tmp_path / "keep"
    victim.mkdir()
    (victim / "data.csv").write_text("x")
    link = tmp_path / f".out.parquet.{_dead_pid()}.abcd1234.spill"
    link.symlink_to(victim)
    assert remove_leftovers(tmp_path / "out.parquet") == []
    assert (victim / "data.csv").exists()


def test_a_write_killed_midway_leaves_a_partial_the_next_write_removes(tmp_path):
    target = tmp_path / "labels.csv"
    code = textwrap.dedent(f"""
        import sys, time
        from detector.io.write import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_text("half")
            print(tmp, flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    partial = Path(proc.stdout.readline().strip())
    proc.kill()
    proc.wait(timeout=10)
    assert partial.exists() and partial.name.startswith(f".labels.csv.{proc.pid}.")
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert not partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]
    assert target.read_text() == "whole"


def _big_holdout(world: dict, tmp_path: Path) -> Path:
    """The holdout three times over (new ids): enough lines to spill with a small --chunk-rows."""
    holdout = pl.read_csv(world["holdout"], infer_schema=False)
    copies = [holdout.with_columns(pl.concat_str(pl.lit(f"C{i}-"), pl.col("shipment_id")).alias("shipment_id")) for i in range(3)]
    path = tmp_path / "big.csv"
    pl.concat(copies).write_csv(path)
    return path


def _start_score(path: Path, output: Path, model, world: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [*WAYPOINT, "score", str(path), "-o", str(output), "--model", model.ref,
         "--inputs", str(world["inputs"]), "--events", str(world["events"]), "--chunk-rows", "400"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )


def _wait_for_spill(proc: subprocess.Popen, output: Path, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    prefix = leftover_prefix(output).replace(str(os.getpid()), str(proc.pid))
    while time.monotonic() < deadline:
        found = [p for p in output.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".spill")]
        if found and any(found[0].iterdir()):  # the run has started writing into its spill
            return found[0]
        if proc.poll() is not None:
            pytest.fail(f"score ended before it spilled: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("score never spilled")


@pytest.mark.slow
def test_score_killed_midway_leaves_a_spill_the_next_run_removes(small_world, fitted_model, tmp_path):
    big = _big_holdout(small_world, tmp_path)
    output = tmp_path / "out" / "scored.parquet"
    output.parent.mkdir()
    proc = _start_score(big, output, fitted_model, small_world)
    spill = _wait_for_spill(proc, output)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert spill.exists(), "a killed run cannot clean up: its spill stays"
    user_file = output.parent / ".scored.parquet.my-notes.txt"
    user_file.write_text("mine")

    again = _start_score(big, output, fitted_model, small_world)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert not spill.exists()
    assert sorted(p.name for p in output.parent.iterdir()) == sorted([output.name, user_file.name])
    assert pl.read_parquet(output).height == pl.read_csv(big, infer_schema=False).height


@pytest.mark.slow
def test_sigterm_cleans_up_like_ctrl_c(small_world, fitted_model, tmp_path):
    big = _big_holdout(small_world, tmp_path)
    output = tmp_path / "out" / "scored.parquet"
    output.parent.mkdir()
    proc = _start_score(big, output, fitted_model, small_world)
    spill = _wait_for_spill(proc, output)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode == SIGTERM_EXIT
    assert not spill.exists()
    assert list(output.parent.iterdir()) == [], "no spill, no partial file, no output"


def test_training_on_fewer_lines_than_a_tree_draws_is_refused_unless_forced(small_world, tmp_path):
    few = tmp_path / "few.csv"
    pl.read_csv(small_world["train"], infer_schema=False).head(100).write_csv(few)
    result = CliRunner().invoke(app, ["train", str(few), "--model-name", "tiny", "--n-estimators", "5"])
    assert result.exit_code == 2, result.output
    assert "100 valid shipment line(s)" in result.stderr and "256" in result.stderr and "--force" in result.stderr
    result = CliRunner().invoke(app, ["models", "list", "--model-name", "tiny", "--json"])
    assert result.exit_code != 0 or result.stdout.strip() in ("", "[]"), "nothing was registered"


@pytest.mark.slow
def test_training_on_few_lines_with_force_registers_a_version(small_world, tmp_path):
    few = tmp_path / "few.csv"
    pl.read_csv(small_world["train"], infer_schema=False).head(100).write_csv(few)
    result = CliRunner().invoke(app, ["train", str(few), "--model-name", "tiny-forced", "--n-estimators", "5", "--force",
                                      "--json", "--events", str(small_world["events"])])
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(result.stdout)["model_version"] == "1"
