"""`--engine spark` gives the single-machine numbers: features to 1e-9, the same scores,
ranks, flags and reasons, line for line, on a generated world in Spark's local mode.

One Spark session (``local[2]``) serves every test. Its Arrow batches are small (400
lines) so a file is split across many batches and partitions, as a large file is on a
cluster: the reader's cross-batch rules (a repeated id, line numbers) are exercised.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow

#: The scored months start mid-month, just after the model's reference state ends, so the
#: first weeks after its ``as_of`` and histories spanning months are both in the file.
CUTOFF = dt.date(2025, 2, 12)


@pytest.fixture(scope="session")
def spark():
    import os
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("waypoint-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "400")
               .config("spark.sql.files.maxPartitionBytes", "64k")  # several blocks per file
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    from detector.io.write import write_table
    from detector.synth import generate_world, write_world

    out = tmp_path_factory.mktemp("spark-world")
    w = generate_world(2_500, seed=5, start=dt.date(2024, 1, 1), months=16)
    files = write_world(w, out)
    files["train"] = write_table(w.shipments.filter(pl.col("arrival_date") < CUTOFF), out / "train.csv")
    later = w.shipments.filter(pl.col("arrival_date") >= CUTOFF)
    files["later"] = write_table(later, out / "later.csv")
    # Messy lines appended: a repeat of the first line's id far from it (another batch),
    # and a line with no usable date; both must be rejected with their line numbers.
    text = files["later"].read_text().rstrip("\n").split("\n")
    header, first = text[0], text[1]
    cols = header.split(",")
    bad = first.split(",")
    bad[cols.index("arrival_date")] = "31/02/2025"
    bad[cols.index("shipment_id")] = "BAD-DATE-1"
    messy = out / "later_messy.csv"
    messy.write_text("\n".join([*text, first, ",".join(bad)]) + "\n")
    files["messy"] = messy
    files["messy_lines"] = (len(text) + 1, len(text) + 2)  # 1-based line numbers of the two additions
    return files


@pytest.fixture(scope="session")
def model_dir(world, tmp_path_factory):
    from detector.config import Settings
    from detector.jobs.modelref import load_model_ref
    from detector.jobs.train import train
    from models import artifact

    result = train([world["train"]], inputs=[world["inputs"]], events=[world["events"]], model_name="spark-tests",
                   n_estimators=40, seed=2, settings=Settings.from_env())
    loaded = load_model_ref(f"spark-tests/{result.model_version}", Settings.from_env())
    return artifact.save(loaded.detector, tmp_path_factory.mktemp("spark-model") / "detector"), result


def _local(world, model_dir, out: Path, shipments):
    from detector.jobs.modelref import load_model_ref
    from detector.jobs.score import score

    return score([shipments], out, model=load_model_ref(str(model_dir)), inputs=[world["inputs"]])


def _spark(spark, world, model_dir, out: Path, shipments):
    from detector.config import Settings
    from detector.spark.score import score

    return score([str(shipments)], str(out), model=str(model_dir), settings=Settings.from_env(),
                 inputs=[str(world["inputs"])], spark=spark)


def _dataset(path: Path) -> pl.DataFrame:
    return pl.read_parquet(str(path / "**" / "*.parquet"), hive_partitioning=True)


def _differences(a: pl.DataFrame, b: pl.DataFrame) -> dict[str, int]:
    """Columns of ``a`` whose values differ in ``b`` (rows matched by shipment_id): floats beyond 1e-9."""
    a, b = a.sort("shipment_id"), b.select(a.columns).sort("shipment_id")
    assert a["shipment_id"].to_list() == b["shipment_id"].to_list()
    out = {}
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.is_float():
            y = y.cast(x.dtype)
            same = ((x - y).abs() <= 1e-9) | (x.is_null() & y.is_null()) | (x.is_nan() & y.is_nan())
        else:
            same = x.cast(pl.String).fill_null("\0") == y.cast(pl.String).fill_null("\0")
        bad = int((~same.fill_null(False)).sum())
        if bad:
            out[c] = bad
    return out


@pytest.fixture(scope="session")
def scored(spark, world, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("spark-scored")
    local = _local(world, model_dir[0], out / "local.parquet", world["messy"])
    remote = _spark(spark, world, model_dir[0], out / "spark", world["messy"])
    return out, local, remote


def test_spark_score_matches_single_machine_line_for_line(world, model_dir, scored):
    out, local, remote = scored
    a = pl.read_parquet(out / "local.parquet")
    b = _dataset(out / "spark")
    assert b.height == a.height == local.rows_scored == remote.rows_scored
    # The file covers what the equivalence is about: lines in the weeks just after the
    # state's as_of, and several arrival months (partitions) whose histories chain.
    from detector.jobs.modelref import load_model_ref

    as_of = load_model_ref(str(model_dir[0])).detector.state.as_of
    days = a.select((pl.col("arrival_date") - pl.lit(as_of)).dt.total_days()).to_series()
    assert (days <= 14).sum() > 20
    assert b["arrival_month"].n_unique() >= 3
    assert a["flagged"].sum() > 0
    assert _differences(a, b) == {}
    # ... and the flagged file is the flagged lines in rank order.
    flagged = pl.read_parquet(str(out / "spark.flagged.parquet"))
    assert flagged["shipment_id"].to_list() == a.filter(pl.col("flagged")).sort("risk_rank")["shipment_id"].to_list()
    assert remote.flagged == local.flagged and remote.top_reason_codes == local.top_reason_codes


def test_spark_score_rejects_what_the_single_machine_rejects_with_its_lines(world, scored):
    out, local, remote = scored
    a = pl.read_csv(out / "local.rejects.csv", infer_schema=False)
    b = pl.read_parquet(str(out / "spark.rejects.parquet" / "*.parquet"))
    assert remote.rows_read == local.rows_read == remote.rows_scored + remote.rows_rejected
    assert remote.reject_counts == local.reject_counts
    key = ["_line", "reason_codes", "shipment_id"]
    assert sorted(b.select(pl.col(k).cast(pl.String) for k in key).rows()) == sorted(a.select(key).rows())
    assert sorted(int(x) for x in b["_line"]) == list(world["messy_lines"])


def test_spark_score_leaves_no_temporary_folder_and_replaces_an_earlier_output(spark, world, model_dir, scored):
    out, _local_result, _remote = scored
    leftovers = [p.name for p in out.iterdir() if ".waypoint-spark-" in p.name]
    assert leftovers == []
    # A later run on the same output replaces it whole: no partition of the earlier run survives.
    again = out / "again"
    shutil.copytree(out / "spark", again)
    (again / "arrival_month=1999-01").mkdir()
    _spark(spark, world, model_dir[0], again, world["later"])
    assert not (again / "arrival_month=1999-01").exists()
    assert _dataset(again).height == pl.read_csv(world["later"], infer_schema=False).height


def test_spark_train_fits_the_single_machine_model(spark, world, model_dir):
    from detector.config import Settings
    from detector.jobs.modelref import load_model_ref
    from detector.jobs.train import train

    local_result = model_dir[1]
    result = train([str(world["train"])], inputs=[str(world["inputs"])], events=[world["events"]],
                   model_name="spark-tests-engine", n_estimators=40, seed=2, settings=Settings.from_env(),
                   engine="spark")
    assert result.rows_used == local_result.rows_used and result.rows_read == local_result.rows_read
    local = load_model_ref(str(model_dir[0])).detector
    remote = load_model_ref(f"spark-tests-engine/{result.model_version}", Settings.from_env()).detector
    assert remote.state.digest() == local.state.digest()
    assert remote.state.spans == local.state.spans
    assert remote.threshold == local.threshold
    assert remote.feature_names == local.feature_names
    assert result.metrics["score_q99"] == pytest.approx(local_result.metrics["score_q99"], abs=1e-12)
