"""The scoring job's chunked passes give exactly what `Detector.score` gives on the whole frame."""
from __future__ import annotations

import polars as pl
import pytest

from detector.io.read import load, load_side_tables
from detector.jobs.score import score
from features.schema import SHIPMENTS

pytestmark = pytest.mark.slow


def _run(small_world, fitted_model, out, **kwargs):
    return score([small_world["holdout"]], out, model=fitted_model, inputs=[small_world["inputs"]],
                 events=[small_world["events"]], explore=0.1, **kwargs)


@pytest.fixture(scope="module")
def whole(small_world, fitted_model, tmp_path_factory):
    """The job's output with one chunk (the file fits), and its summary."""
    out = tmp_path_factory.mktemp("whole") / "scored.parquet"
    result = _run(small_world, fitted_model, out)
    return pl.read_parquet(out), result


def test_job_output_equals_detector_score_row_for_row(small_world, fitted_model, whole):
    from features.pipeline import build

    loaded = load([small_world["holdout"]], SHIPMENTS)
    inputs, events = load_side_tables([small_world["inputs"]], [small_world["events"]])
    detector = fitted_model.detector
    frame = build(loaded.valid.drop("_source", "_line").lazy(), inputs=inputs.valid.lazy(), events=events.valid,
                  state=detector.state)
    expected = detector.score(frame, explore=0.1, model_name=fitted_model.name,
                              model_version=str(fitted_model.version))
    scored, _ = whole
    assert scored.columns == expected.columns
    assert scored.equals(expected)


def test_chunks_smaller_than_the_file_give_the_same_file_and_summary(small_world, fitted_model, whole, tmp_path):
    scored, result = whole
    out = tmp_path / "scored.parquet"
    chunked = _run(small_world, fitted_model, out, chunk_rows=97)
    assert scored.height > 5 * 97, "the file must span several chunks"
    assert pl.read_parquet(out).equals(scored)
    same = ("rows_read", "rows_scored", "flagged", "explored", "top_reason_codes", "top", "warnings")
    assert {k: getattr(chunked, k) for k in same} == {k: getattr(result, k) for k in same}


def test_chunked_budget_flags_the_top_ranks_across_chunks(small_world, fitted_model, tmp_path):
    out = tmp_path / "scored.parquet"
    result = _run(small_world, fitted_model, out, chunk_rows=101, top=25)
    scored = pl.read_parquet(out)
    assert result.flagged == 25 == scored["flagged"].sum()
    assert scored["risk_rank"].to_list() == list(range(1, scored.height + 1))
    assert scored.filter("flagged")["reasons"].is_not_null().all()
    assert scored.filter(~pl.col("flagged"))["reasons"].is_null().all()


def test_chunked_csv_output_neutralises_formulas(small_world, fitted_model, tmp_path):
    frame = pl.read_csv(small_world["holdout"], infer_schema=False).head(400)
    src = tmp_path / "formula.csv"
    frame.with_columns(goods_description=pl.lit("=cmd|' /C calc'!A0")).write_csv(src)
    out = tmp_path / "scored.csv"
    score([src], out, model=fitted_model, inputs=[small_world["inputs"]], events=[small_world["events"]],
          chunk_rows=150)
    text = out.read_text()
    assert "'=cmd" in text and ",=cmd" not in text
    assert pl.read_csv(out).height == 400


def test_scoring_leaves_only_the_output_beside_it(small_world, fitted_model, tmp_path):
    out = tmp_path / "scored.parquet"
    _run(small_world, fitted_model, out, chunk_rows=200)
    assert [p.name for p in tmp_path.iterdir()] == ["scored.parquet"]


def test_spilled_load_gives_the_rows_and_rejects_of_the_in_memory_load(small_world, tmp_path):
    from detector.io.read import load_spilled

    frame = pl.read_csv(small_world["holdout"], infer_schema=False)
    ids = frame["shipment_id"].to_list()
    broken = frame.with_columns(
        declared_value_usd=pl.when(pl.col("shipment_id") == ids[1]).then(pl.lit("-10")).otherwise("declared_value_usd"),
        hs_code=pl.when(pl.col("shipment_id") == ids[2]).then(pl.lit("85X4")).otherwise("hs_code"),
    )
    src = tmp_path / "broken.csv"
    pl.concat([broken, broken.filter(pl.col("shipment_id") == ids[5])]).write_csv(src)
    expected = load([src], SHIPMENTS)
    loaded, valid = load_spilled([src], SHIPMENTS, tmp_path)
    assert valid.collect().equals(expected.valid)
    # the value and HS defects are scored with data-quality codes; the repeated key is rejected
    assert loaded.rejects.equals(expected.rejects) and loaded.rejects.height == 1
    assert loaded.dq_counts == expected.dq_counts == {"bad_hs_code": 1, "non_positive_value": 1}
    assert loaded.rows_read == expected.rows_read == frame.height + 1
    assert loaded.reject_counts == expected.reject_counts
