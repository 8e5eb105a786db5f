"""Score or reject, end to end: damaged lines are trained on and scored with data-quality
codes; only lines that cannot be keyed or placed in time are rejected.

A small generated world gets lines damaged the ways real extracts are (blank sellers,
zero values, ``ZZ`` countries, short HS codes, absurd magnitudes, ...), then goes through
``waypoint train`` and ``waypoint score`` (the CLI), ``waypoint check``, the MLflow pyfunc's
row rules, and side tables with bad rows.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.io.read import rejects_path

pytestmark = pytest.mark.slow

runner = CliRunner()

#: row position -> (column overrides, the data-quality code the line is scored with, or None: clean)
SCORED = {
    0: ({"exporter_id": ""}, "missing_exporter_id"),
    1: ({"exporter_id": ""}, "missing_exporter_id"),
    2: ({"importer_id": "   "}, "missing_importer_id"),
    3: ({"declared_value_usd": "0"}, "non_positive_value"),
    4: ({"weight_kg": ""}, "missing_weight_kg"),
    5: ({"origin_country": "ZZ"}, "bad_origin_country"),
    6: ({"export_country": "EU"}, "bad_export_country"),
    7: ({"hs_code": "85"}, "short_hs_code"),
    8: ({"hs_code": "85X4"}, "bad_hs_code"),
    9: ({"hs_code": "８５０４４０"}, None),  # full-width digits: the same code
    10: ({"quantity": "-5"}, "negative_quantity"),
    11: ({"duty_rate": "NaN"}, "bad_duty_rate"),
    12: ({"declared_value_usd": "1e17"}, "absurd_value"),
    13: ({"weight_kg": "1e15"}, "absurd_weight"),
    14: ({"declared_value_usd": "999000000", "weight_kg": "0.000001"}, None),  # extreme but allowed
}
#: row position -> (column overrides, the reason the line is rejected)
REJECTED = {
    20: ({"arrival_date": "0001-01-01"}, "bad_date"),
    21: ({"arrival_date": "2999-12-31"}, "bad_date"),
    22: ({"shipment_id": ""}, "missing_shipment_id"),
    23: ({"shipment_id": "BAD\x00ID"}, "bad_shipment_id"),
}
DUPLICATE_OF = 30  # the last line repeats this line's id: duplicate_shipment_id


def damage(src: Path, out: Path) -> tuple[Path, pl.DataFrame]:
    """``src`` with the lines of SCORED and REJECTED damaged and a duplicate appended."""
    frame = pl.read_csv(src, infer_schema=False)
    rows = frame.to_dicts()
    for at, (changes, _) in {**SCORED, **REJECTED}.items():
        rows[at] = {**rows[at], **changes}
    rows.append({**rows[DUPLICATE_OF + 1], "shipment_id": rows[DUPLICATE_OF]["shipment_id"]})
    damaged = pl.DataFrame(rows, schema=frame.schema)
    damaged.write_csv(out)
    return out, damaged


def expected_dq(frame: pl.DataFrame) -> dict[str, str | None]:
    return {frame["shipment_id"][at]: code for at, (_, code) in SCORED.items()}


@pytest.fixture(scope="module")
def damaged(small_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("damaged")
    train, train_frame = damage(small_world["train"], out / "train.csv")
    holdout, holdout_frame = damage(small_world["holdout"], out / "holdout.csv")
    return {"train": train, "holdout": holdout, "train_frame": train_frame, "holdout_frame": holdout_frame, "dir": out}


@pytest.fixture(scope="module")
def dq_model(small_world, damaged):
    """A model trained through the CLI on the damaged training lines."""
    result = runner.invoke(app, ["train", str(damaged["train"]), "--inputs", str(small_world["inputs"]),
                                 "--events", str(small_world["events"]), "--n-estimators", "30",
                                 "--model-name", "dq-tests", "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _score(small_world, dq_model, shipments, out, *extra):
    return runner.invoke(app, ["score", str(shipments), "-o", str(out), "--model", f"dq-tests/{dq_model['model_version']}",
                               "--inputs", str(small_world["inputs"]), *extra])


def test_train_uses_damaged_lines_and_counts_them_by_code(dq_model, damaged):
    rows = damaged["train_frame"].height
    assert dq_model["rows_read"] == rows == dq_model["rows_used"] + dq_model["rows_rejected"]
    assert dq_model["rows_rejected"] == len(REJECTED) + 1
    codes = [c for _, c in SCORED.values() if c]
    assert dq_model["dq_counts"] == {c: codes.count(c) for c in set(codes)}


def test_score_scores_every_damaged_line_with_its_codes_and_rejects_only_unkeyed_undated_ones(small_world, dq_model, damaged, tmp_path):
    out = tmp_path / "scored.parquet"
    result = _score(small_world, dq_model, damaged["holdout"], out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    frame = damaged["holdout_frame"]
    assert summary["rows_read"] == frame.height == summary["rows_scored"] + summary["rows_rejected"]
    assert summary["rows_rejected"] == len(REJECTED) + 1
    scored = pl.read_parquet(out)
    assert scored.height == summary["rows_scored"]
    by_id = {r["shipment_id"]: r for r in scored.select("shipment_id", "dq_codes", "dq_notes", "exporter_id").iter_rows(named=True)}
    for shipment, code in expected_dq(frame).items():
        assert by_id[shipment]["dq_codes"] == code, shipment
    # each blank seller is its own unknown party, named after its line
    blanks = [frame["shipment_id"][at] for at in (0, 1)]
    assert [by_id[s]["exporter_id"] for s in blanks] == [f"unknown-exporter:{s}" for s in blanks]
    codes = [c for _, c in SCORED.values() if c]
    assert summary["dq_counts"] == {c: codes.count(c) for c in set(codes)}
    # features are null (unknown) where a value is unknown, never inf or NaN
    for name, dtype in scored.schema.items():
        if name.startswith("f_") and dtype.is_float():
            assert scored[name].is_nan().sum() == 0 and scored[name].is_infinite().sum() == 0, name
    rejects = pl.read_csv(rejects_path(out), infer_schema=False)
    assert sorted(rejects["reason_codes"].to_list()) == sorted([r for _, r in REJECTED.values()] + ["duplicate_shipment_id"])


def test_score_summary_names_the_data_quality_codes(small_world, dq_model, damaged, tmp_path):
    result = _score(small_world, dq_model, damaged["holdout"], tmp_path / "s.parquet")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "scored with data-quality codes (column dq_codes): missing_exporter_id 2" in text


def test_strict_score_rejects_every_damaged_line(small_world, dq_model, damaged, tmp_path):
    out = tmp_path / "strict.parquet"
    result = _score(small_world, dq_model, damaged["holdout"], out, "--json", "--strict")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    clean = sum(1 for _, c in SCORED.values() if c is None)
    assert summary["rows_rejected"] == len(SCORED) - clean + len(REJECTED) + 1
    assert summary["rows_read"] == summary["rows_scored"] + summary["rows_rejected"]
    assert pl.read_parquet(out)["dq_codes"].null_count() == summary["rows_scored"]


def test_score_where_every_line_is_rejected_exits_2_with_one_message_and_writes_nothing(small_world, dq_model, damaged, tmp_path):
    frame = pl.read_csv(small_world["holdout"], infer_schema=False).head(40)
    src = tmp_path / "dmy.csv"
    frame.with_columns(pl.col("arrival_date").str.replace(r"^(\d{4})-(\d{2})-(\d{2})$", "$3/$2/$1")).write_csv(src)
    out = tmp_path / "none.parquet"
    result = _score(small_world, dq_model, src, out)
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "all 40 shipments row(s) were rejected (bad_date 40)" in err and 'date_format = "%d/%m/%Y"' in err
    assert "Traceback" not in result.output and not out.exists() and not rejects_path(out).exists()


def test_max_reject_share_fails_a_run_over_it(small_world, dq_model, damaged, tmp_path):
    out = tmp_path / "share.parquet"
    result = _score(small_world, dq_model, damaged["holdout"], out, "--max-reject-share", "0.01%")
    assert result.exit_code == 2 and "more than --max-reject-share 0.0%" in " ".join(result.stderr.split())
    assert not out.exists()
    assert _score(small_world, dq_model, damaged["holdout"], out, "--max-reject-share", "5%").exit_code == 0


def test_side_table_with_bad_rows_is_said_loudly_and_fails_under_strict(small_world, dq_model, damaged, tmp_path):
    events = pl.read_csv(small_world["events"], infer_schema=False)
    bad = events.with_columns(effective_date=pl.when(pl.int_range(pl.len()) < 3)
                              .then(pl.col("effective_date").str.replace_all("-", "/")).otherwise("effective_date"))
    path = tmp_path / "events.csv"
    bad.write_csv(path)
    out = tmp_path / "side.parquet"
    result = _score(small_world, dq_model, small_world["holdout"], out, "--events", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    side = summary["side_rejects"]
    assert [(s["role"], s["rows_rejected"]) for s in side] == [("events", 3)]
    assert any("3 of" in w and "tariff events rows were rejected" in w and "events.csv:2" in w for w in summary["warnings"])
    written = pl.read_csv(rejects_path(out, "events"), infer_schema=False)
    assert written["_line"].to_list() == ["2", "3", "4"] and written["reason_codes"].to_list() == ["bad_date"] * 3
    strict = _score(small_world, dq_model, small_world["holdout"], tmp_path / "strict.parquet", "--events", str(path), "--strict")
    assert strict.exit_code == 2 and "--strict" in strict.stderr and "tariff events" in strict.stderr
    assert not (tmp_path / "strict.parquet").exists()


def test_extreme_values_go_through_check_and_score_without_overflow(small_world, dq_model, tmp_path):
    """Random magnitudes from 1e-320 to 1e308, signs, infinities and NaN in value, weight and
    quantity: every line is accounted for, no traceback, no infinite or NaN feature."""
    rng = random.Random(16)
    frame = pl.read_csv(small_world["holdout"], infer_schema=False).head(600)
    specials = ["inf", "-inf", "NaN", "1e308", "-1e308", "1e-320", "0", "-0", "9e18", "1.7976931348623157e308"]

    def extreme() -> str:
        if rng.random() < 0.3:
            return rng.choice(specials)
        return f"{rng.choice([-1, 1]) * 10 ** rng.uniform(-320, 308):.6g}"

    changed = frame.with_columns(
        declared_value_usd=pl.Series([extreme() if rng.random() < 0.5 else v for v in frame["declared_value_usd"]]),
        weight_kg=pl.Series([extreme() if rng.random() < 0.5 else v for v in frame["weight_kg"]]),
        quantity=pl.Series([extreme() if rng.random() < 0.3 else v for v in frame["quantity"]]),
    )
    src = tmp_path / "extreme.csv"
    changed.write_csv(src)
    check = runner.invoke(app, ["check", str(src), "--json"])
    assert check.exit_code == 0, check.stderr
    summary = json.loads(check.stdout)
    assert summary["rows_valid"] == 600 and summary["rows_rejected"] == 0
    out = tmp_path / "extreme.parquet"
    result = _score(small_world, dq_model, src, out, "--json")
    assert result.exit_code == 0, result.output
    scored = pl.read_parquet(out)
    assert scored.height == 600 and json.loads(result.stdout)["rows_scored"] == 600
    values = scored["declared_value_usd"].drop_nulls()
    assert values.is_between(0.01, 1e9).all() and scored["weight_kg"].drop_nulls().is_between(1e-6, 1e9).all()
    for name, dtype in scored.schema.items():
        if name.startswith("f_") and dtype.is_float():
            assert not scored[name].is_nan().any() and not scored[name].is_infinite().any(), name
    assert not any(math.isnan(s) for s in scored["risk_score"].to_list())


def test_pyfunc_row_rules_score_damaged_rows_like_the_reader(dq_model, damaged):
    from detector.config import Settings
    from detector.jobs.modelref import load_model_ref
    from models.mlflow_model import OUTPUT_COLUMNS, InvalidRowsError, score_rows

    frame = damaged["holdout_frame"]
    scored_positions = sorted(SCORED)
    rows = frame[scored_positions + list(range(40, 140))]
    typed = rows.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in ("quantity", "duty_rate"))
    detector = load_model_ref(f"dq-tests/{dq_model['model_version']}", Settings.from_env()).detector
    out = score_rows(detector, typed)
    assert out.height == rows.height and "dq_codes" in OUTPUT_COLUMNS
    got = dict(out.select("shipment_id", "dq_codes").iter_rows())
    expected = expected_dq(frame)
    for shipment, code in expected.items():
        assert got[shipment] == code, shipment
    with pytest.raises(InvalidRowsError, match="arrival_date: not a YYYY-MM-DD date .*0001-01-01"):
        score_rows(detector, frame[[20, 40, 41]])


def test_train_where_every_line_is_rejected_exits_2_before_any_work(small_world, tmp_path):
    frame = pl.read_csv(small_world["train"], infer_schema=False).head(300)
    src = tmp_path / "undated.csv"
    frame.with_columns(arrival_date=pl.lit("soon")).write_csv(src)
    result = runner.invoke(app, ["train", str(src), "--model-name", "dq-none"])
    assert result.exit_code == 2
    assert "all 300 shipments row(s) were rejected (bad_date 300)" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
