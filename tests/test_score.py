"""`waypoint score` end to end on a generated world, through the CLI."""
from __future__ import annotations

import json
import math

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.io.read import rejects_path

pytestmark = pytest.mark.slow

runner = CliRunner()


def _score(small_world, fitted_model, out, *extra, shipments=None):
    args = ["score", str(shipments or small_world["holdout"]), "-o", str(out),
            "--model", fitted_model.ref,
            "--inputs", str(small_world["inputs"]), "--events", str(small_world["events"]), *extra]
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def broken_file(small_world, tmp_path_factory):
    """The held-out shipments with five rows broken in five different ways."""
    frame = pl.read_csv(small_world["holdout"], infer_schema=False)
    ids = frame["shipment_id"].to_list()
    broken = frame.with_columns(
        arrival_date=pl.when(pl.col("shipment_id") == ids[0]).then(pl.lit("2025-13-45")).otherwise("arrival_date"),
        declared_value_usd=pl.when(pl.col("shipment_id") == ids[1]).then(pl.lit("-10")).otherwise("declared_value_usd"),
        hs_code=pl.when(pl.col("shipment_id") == ids[2]).then(pl.lit("85X4")).otherwise("hs_code"),
        origin_country=pl.when(pl.col("shipment_id") == ids[3]).then(pl.lit("Vietnam")).otherwise("origin_country"),
    )
    duplicate = broken.filter(pl.col("shipment_id") == ids[10])
    path = tmp_path_factory.mktemp("broken") / "holdout-broken.csv"
    pl.concat([broken, duplicate]).write_csv(path)
    return path, frame.height + 1


def test_score_writes_ranked_file_with_reasons_and_model_version(small_world, fitted_model, tmp_path):
    out = tmp_path / "scored.parquet"
    result = _score(small_world, fitted_model, out)
    assert result.exit_code == 0, result.output
    scored = pl.read_parquet(out)
    for column in ("shipment_id", "risk_score", "risk_rank", "flagged", "reasons", "reason_codes",
                   "model_name", "model_version"):
        assert column in scored.columns
    assert scored["risk_rank"].to_list() == list(range(1, scored.height + 1))
    assert scored["risk_score"].is_between(0, 100).all()
    assert scored["risk_score"].is_sorted(descending=True)
    assert (scored["model_version"] == str(fitted_model.version)).all()
    flagged = scored.filter("flagged")
    assert flagged.height > 0
    assert flagged["reasons"].is_not_null().all() and (flagged["reason_codes"].str.len_chars() > 0).all()
    assert any(c.startswith("f_") for c in scored.columns), "feature values an analyst needs are kept"
    assert not rejects_path(out).exists()


def test_score_sends_broken_rows_to_rejects_and_loses_nothing(small_world, fitted_model, broken_file, tmp_path):
    path, rows_in_file = broken_file
    out = tmp_path / "scored.parquet"
    result = _score(small_world, fitted_model, out, "--json", shipments=path)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == rows_in_file
    # only the lines that cannot be keyed or placed in time are rejected; the others are scored with codes
    assert summary["rows_rejected"] == 2
    assert summary["rows_scored"] + summary["rows_rejected"] == summary["rows_read"]
    scored = pl.read_parquet(out)
    assert scored.height == rows_in_file - 2
    assert summary["dq_counts"] == {"bad_hs_code": 1, "bad_origin_country": 1, "non_positive_value": 1}
    assert sorted(scored["dq_codes"].drop_nulls().to_list()) == ["bad_hs_code", "bad_origin_country", "non_positive_value"]
    rejects = pl.read_csv(rejects_path(out), infer_schema=False)
    assert rejects.height == 2
    codes = ",".join(rejects["reason_codes"].to_list())
    for code in ("bad_date", "duplicate_shipment_id"):
        assert code in codes
    assert rejects["_line"].is_not_null().all()


def test_score_with_budget_flags_exactly_that_share(small_world, fitted_model, tmp_path):
    out = tmp_path / "scored.parquet"
    assert _score(small_world, fitted_model, out, "--budget", "2%").exit_code == 0
    scored = pl.read_parquet(out)
    assert scored["flagged"].sum() == math.ceil(0.02 * scored.height)
    assert scored.filter("flagged")["risk_rank"].max() == scored["flagged"].sum()


def test_score_with_top_flags_exactly_n(small_world, fitted_model, tmp_path):
    out = tmp_path / "scored.csv"
    assert _score(small_world, fitted_model, out, "--top", "7").exit_code == 0
    assert pl.read_csv(out)["flagged"].sum() == 7


def test_csv_output_neutralises_formulas_typed_by_declarants(small_world, fitted_model, tmp_path):
    frame = pl.read_csv(small_world["holdout"], infer_schema=False).head(300)
    frame = frame.with_columns(goods_description=pl.lit("=HYPERLINK(\"http://x\",\"click\")"))
    src = tmp_path / "formula.csv"
    frame.write_csv(src)
    out = tmp_path / "scored.csv"
    assert _score(small_world, fitted_model, out, shipments=src).exit_code == 0
    text = out.read_text()
    assert "'=HYPERLINK" in text
    assert ",=HYPERLINK" not in text


def test_score_without_hs_code_column_exits_2_naming_it_and_writes_nothing(small_world, fitted_model, tmp_path):
    src = tmp_path / "no-hs.csv"
    pl.read_csv(small_world["holdout"], infer_schema=False).drop("hs_code").write_csv(src)
    out = tmp_path / "scored.parquet"
    result = _score(small_world, fitted_model, out, shipments=src)
    assert result.exit_code == 2
    assert "hs_code" in result.output and "no-hs.csv" in result.output
    assert not out.exists() and not rejects_path(out).exists()
    assert list(tmp_path.glob(".*partial")) == []


@pytest.mark.tuning
def test_bad_input_fails_at_once_without_waiting_for_the_model_to_load(small_world, tmp_path):
    """Reading fails first: the error is raised while the model is still loading."""
    import threading

    from detector.errors import InputError
    from detector.jobs.score import score

    src = tmp_path / "no-hs.csv"
    pl.read_csv(small_world["holdout"], infer_schema=False).drop("hs_code").write_csv(src)
    release, finished = threading.Event(), threading.Event()

    def slow_model():
        release.wait(timeout=30)  # a model that takes a long time to load
        finished.set()

    try:
        with pytest.raises(InputError, match="hs_code"):
            score([src], tmp_path / "scored.parquet", model=slow_model)
        assert not finished.is_set()  # the error did not wait for the model
    finally:
        release.set()


def test_failed_run_keeps_the_previous_output_intact(small_world, fitted_model, tmp_path):
    out = tmp_path / "scored.parquet"
    assert _score(small_world, fitted_model, out).exit_code == 0
    before = out.read_bytes()
    result = _score(small_world, fitted_model, out, "--model", "no-such-model@champion")
    assert result.exit_code == 3
    assert out.read_bytes() == before


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    from detector.io.write import write_table

    target = tmp_path / "scored.parquet"
    target.write_bytes(b"previous run")

    class Interrupted(Exception):
        pass

    class Exploding(pl.DataFrame):
        def write_parquet(self, file, *args, **kwargs):  # a crash mid-write: half the bytes are out
            with open(file, "wb") as fh:
                fh.write(b"PAR1 half a file")
            raise Interrupted

    with pytest.raises(Interrupted):
        write_table(Exploding({"a": [1, 2]}), target)
    assert target.read_bytes() == b"previous run"
    assert [p.name for p in tmp_path.iterdir()] == ["scored.parquet"]


def test_unknown_output_extension_is_refused_before_any_work(small_world, fitted_model, tmp_path):
    result = _score(small_world, fitted_model, tmp_path / "scored.xlsx")
    assert result.exit_code == 2
    assert "xlsx" in result.output
