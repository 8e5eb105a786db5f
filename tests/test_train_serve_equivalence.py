"""No train/serve skew, through the real commands.

`waypoint train` on the first months of a world, then `waypoint score` on the rest (in
memory and chunked), must give every history feature and evidence column that one
`waypoint features build` over the whole span gives on the scored lines. Nothing is
frozen at training: the price norms too are the state's months plus the file's own.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app

NAME = "skew-test-model"
SPLIT = dt.date(2025, 3, 1)
#: Features meant to be frozen at training, with the reason. None are: every history
#: (price norms included) is the reference state plus the scored file's earlier lines.
FROZEN: dict[str, str] = {}
runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    from detector.synth.world import generate_world, write_world

    root = tmp_path_factory.mktemp("skew")
    files = write_world(generate_world(6000, seed=4, start=dt.date(2024, 1, 1), months=18), root / "world")
    ships = pl.read_csv(files["shipments"], infer_schema=False)
    ships.filter(pl.col("arrival_date") < SPLIT.isoformat()).write_csv(root / "train.csv")
    ships.filter(pl.col("arrival_date") >= SPLIT.isoformat()).write_csv(root / "score.csv")
    # Component imports that start before the shipments and end well after them: the usual
    # single inputs file for a whole period.
    ins = pl.read_csv(files["inputs"], infer_schema=False)
    later = ins.filter(pl.col("arrival_date") >= "2025-03-01").with_columns(
        (pl.col("arrival_date").str.to_date() + pl.duration(days=150)).dt.to_string("%Y-%m-%d").alias("arrival_date"),
        ("LATE" + pl.col("input_id")).alias("input_id"),
    )
    pl.concat([ins, later]).write_csv(root / "inputs_wide.csv")
    return {**files, "train": root / "train.csv", "score": root / "score.csv", "inputs_wide": root / "inputs_wide.csv",
            "root": root}


def _history_columns(scored: pl.DataFrame) -> list[str]:
    return [c for c in scored.columns if c.startswith(("f_", "ev_"))]


def _differences(scored: pl.DataFrame, whole: pl.DataFrame) -> dict[str, int]:
    """Scored lines whose feature or evidence differs from the one-pass build, per column."""
    joined = scored.join(whole, on="shipment_id", how="left", suffix="__whole")
    assert joined.height == scored.height
    out = {}
    for column in _history_columns(scored):
        name = column[2:] if column.startswith("f_") else column
        other = f"{name}__whole" if name in scored.columns else name
        a, b = joined[column], joined[other]
        if a.dtype.is_numeric():
            a, b = a.cast(pl.Float64), b.cast(pl.Float64)
            same = ((a - b).abs() <= 1e-9 * (1 + b.abs())) | (a.is_null() & b.is_null())
        else:
            same = (a == b) | (a.is_null() & b.is_null())
        n = int((~same.fill_null(False)).sum())
        if n and column not in FROZEN:
            out[column] = n
    return out


def _train_score_and_build(world, inputs: Path, tag: str) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    root = world["root"]
    name = f"{NAME}-{tag}"
    _invoke("train", world["train"], "--inputs", inputs, "--events", world["events"], "--n-estimators", "30",
            "--model-name", name, "--experiment", "skew-test", "--json")
    scored = {}
    for how, extra in (("memory", ()), ("chunked", ("--chunk-rows", "400"))):
        out = root / f"scored-{tag}-{how}.parquet"
        _invoke("score", world["score"], "--inputs", inputs, "--events", world["events"], "--model", f"{name}@champion",
                "-o", out, "--json", *extra)
        scored[how] = pl.read_parquet(out)
    whole = root / f"whole-{tag}.parquet"
    _invoke("features", "build", world["train"], world["score"], "--inputs", inputs, "--events", world["events"],
            "-o", whole, "--json")
    return scored, pl.read_parquet(whole)


@pytest.mark.slow
@pytest.mark.parametrize("inputs_key", ["inputs", "inputs_wide"])
def test_train_then_score_gives_the_features_of_one_pass_over_the_whole_span(world, inputs_key):
    scored, whole = _train_score_and_build(world, world[inputs_key], inputs_key.replace("_", "-"))
    for how, frame in scored.items():
        assert frame.height == pl.read_csv(world["score"], infer_schema=False).height, how
        columns = _history_columns(frame)
        assert len(columns) > 30, columns  # the comparison covers the features and the evidence
        # The histories are not empty: the comparison would pass trivially on all-null columns.
        assert frame["ev_exports_recent_usd"].drop_nulls().len() > frame.height // 5
        assert _differences(frame, whole) == {}, how


@pytest.mark.slow
def test_the_comparison_sees_a_history_that_misses_the_scored_files_own_lines(world):
    """The check can fail: a file scored month by month, each month alone against the
    model, lacks the file's earlier lines and must differ from the one-pass build."""
    scored, whole = _train_score_and_build(world, world["inputs"], "guard")
    root = world["root"]
    late = pl.read_csv(world["score"], infer_schema=False).filter(pl.col("arrival_date") >= "2025-05-01")
    late.write_csv(root / "late.csv")
    out = root / "late.parquet"
    _invoke("score", root / "late.csv", "--inputs", world["inputs"], "--events", world["events"],
            "--model", f"{NAME}-guard@champion", "-o", out, "--json")
    assert _differences(pl.read_parquet(out), whole)
    assert _differences(scored["memory"], whole) == {}


def test_model_state_is_complete_to_the_last_training_line_for_every_source(world):
    from detector.io.read import load
    from features.schema import INPUTS, SHIPMENTS
    from features.state import ReferenceState, fit_state

    ships = load([world["train"]], SHIPMENTS).valid.drop("_source", "_line")
    ins = load([world["inputs_wide"]], INPUTS).valid.drop("_source", "_line")
    state = fit_state(ships.lazy(), ins.lazy(), None)
    last = ships["arrival_date"].max()
    assert state.as_of == last
    assert state.spans["inputs"].complete_to == last
    assert state.spans["inputs"].first == ins["arrival_date"].min()
    assert state.spans["inputs"].last <= last < ins["arrival_date"].max()
    held = state.tables["first_input_importer"]["first_day"].max()
    assert held <= (last - dt.date(1970, 1, 1)).days  # no component import after the span
    without = fit_state(ships.lazy(), None, None)
    assert without.spans["inputs"].complete_to < ships["arrival_date"].min()  # scoring adds every input
    back = ReferenceState.from_dir(state.to_dir(world["root"] / "state"))
    assert back.spans == state.spans and back.digest() == state.digest()
    meta = json.loads((world["root"] / "state" / "state.json").read_text())
    assert meta["spans"]["inputs"]["complete_to"] == last.isoformat()
