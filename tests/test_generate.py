"""The synthetic world: determinism, contract validity, scenarios and their defining properties."""
from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.errors import InputError
from detector.io.read import load
from detector.synth import generate_world, write_world
from detector.synth.fraud import GENERAL_FRAUD
from detector.synth.parts import SCENARIOS, TRANSSHIPMENT
from features.schema import EVENTS, INPUTS, LABELS, SHIPMENTS

START = dt.date(2024, 1, 1)


@pytest.fixture(scope="module")
def world():
    return generate_world(20_000, seed=11, start=START, months=24)


@pytest.fixture(scope="module")
def rows(world):
    """Shipments joined with their labels, plus hs6 and log unit value."""
    return world.shipments.join(world.labels, on="shipment_id").with_columns(
        pl.col("hs_code").str.slice(0, 6).alias("hs6"),
        (pl.col("declared_value_usd") / pl.col("weight_kg")).log().alias("log_usd_kg"),
    )


def _event_date(world, key: str) -> dt.date:
    return dt.date.fromisoformat(world.params["events"][key])


def test_same_seed_writes_byte_identical_files(tmp_path: Path):
    for out in ("a", "b"):
        write_world(generate_world(1500, seed=5, start=START, months=12), tmp_path / out, "csv")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["events.csv", "flows.csv", "inputs.csv", "labels.csv", "parties.csv", "routes_truth.csv", "shipments.csv", "world.json"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_same_seed_writes_byte_identical_parquet(tmp_path: Path):
    for out in ("a", "b"):
        write_world(generate_world(1500, seed=5, start=START, months=12), tmp_path / out, "parquet")
    for name in ("shipments.parquet", "inputs.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_different_seed_gives_different_world():
    a = generate_world(1500, seed=5, start=START, months=12)
    b = generate_world(1500, seed=6, start=START, months=12)
    assert not a.shipments.equals(b.shipments)
    assert a.shipments.height == b.shipments.height == 1500


def test_written_files_pass_the_contract_reader_without_rejects(world, tmp_path: Path):
    paths = write_world(world, tmp_path, "csv")
    for key, table, frame in (("shipments", SHIPMENTS, world.shipments), ("inputs", INPUTS, world.inputs),
                              ("events", EVENTS, world.events), ("labels", LABELS, world.labels)):
        loaded = load([paths[key]], table)
        assert loaded.rejects.height == 0, (key, loaded.rejects.head(3))
        assert loaded.valid.height == frame.height


def test_shipments_fill_every_optional_column_but_carry_no_label(world):
    ship = world.shipments
    assert ship.columns == [c for c in SHIPMENTS.names if c != "label"]
    assert ship.schema == pl.Schema({k: v for k, v in SHIPMENTS.schema.items() if k != "label"})
    assert ship.null_count().sum_horizontal().item() == 0
    assert ship["shipment_id"].n_unique() == ship.height
    assert ship["declared_value_usd"].min() > 0 and ship["weight_kg"].min() > 0
    assert ship["duty_rate"].min() >= 0
    assert ship["hs_code"].str.contains(r"^\d{10}$").all()
    assert world.inputs["hs_code"].str.contains(r"^\d{6,10}$").all()
    assert world.inputs["input_id"].n_unique() == world.inputs.height


def test_arrivals_stay_inside_the_requested_span(world):
    assert world.shipments["arrival_date"].min() >= START
    assert world.shipments["arrival_date"].max() < dt.date(2026, 1, 1)


def test_every_scenario_is_present_with_its_label(rows):
    got = dict(rows.group_by("scenario").agg(pl.col("label").unique()).iter_rows())
    assert set(got) == set(SCENARIOS) - set(GENERAL_FRAUD)  # general fraud only with a fraud mix
    for name, labels in got.items():
        assert labels == ([1] if name in TRANSSHIPMENT else [0]), name


def test_transshipment_is_one_to_three_percent_of_shipments(rows):
    share = rows["label"].mean()
    assert 0.01 <= share <= 0.03


def test_ids_look_alike_whatever_the_scenario(rows):
    assert rows["exporter_id"].str.contains(r"^EX\d{8}$").all()
    assert rows["importer_id"].str.contains(r"^US\d{9}$").all()
    assert rows["shipment_id"].str.contains(r"^E\d{12}$").all()
    assert rows["manufacturer_id"].str.contains(r"^[A-Z]{8}\d{1,4}[A-Z]{3}$").all()


def test_shell_exporters_first_ship_after_a_chinese_tariff_event(world, rows):
    first = rows.filter(pl.col("scenario") == "transship_shell").group_by("exporter_id").agg(
        pl.col("arrival_date").min(), pl.col("export_country").first()
    )
    assert first.height >= 3
    assert first["arrival_date"].min() > _event_date(world, "prefix")
    assert (first["arrival_date"] > _event_date(world, "main")).mean() >= 0.5
    assert first["export_country"].is_in(["VN", "TH", "MY", "KH"]).all()
    # A shell is new: it never shipped anything, honestly or not, before its first pass-through.
    shell_ids = first["exporter_id"]
    assert rows.filter(pl.col("exporter_id").is_in(shell_ids.implode()))["scenario"].unique().to_list() == ["transship_shell"]


def test_shells_ship_several_unrelated_chapters(rows):
    chapters = rows.filter(pl.col("scenario") == "transship_shell").group_by("exporter_id").agg(
        pl.col("hs_code").str.slice(0, 2).n_unique().alias("n")
    )
    assert (chapters["n"] >= 2).mean() >= 0.7


def test_transshipped_exports_are_preceded_by_same_hs_chinese_inputs(world, rows):
    exports = rows.filter(pl.col("label") == 1).select("shipment_id", "exporter_id", "hs6", "arrival_date", "declared_value_usd")
    inputs = world.inputs.filter(pl.col("supplier_country") == "CN").select(
        pl.col("importer_id").alias("exporter_id"), pl.col("hs_code").str.slice(0, 6).alias("hs6"),
        pl.col("arrival_date").alias("input_date"), pl.col("declared_value_usd").alias("input_value"),
    )
    matched = exports.join(inputs, on=["exporter_id", "hs6"]).filter(
        ((pl.col("arrival_date") - pl.col("input_date")).dt.total_days().is_between(7, 42))
        & (pl.col("input_value") / pl.col("declared_value_usd")).is_between(0.84, 1.06)
    )
    assert matched["shipment_id"].n_unique() / exports.height >= 0.95


def test_relocated_factories_import_other_hs_codes_worth_part_of_their_exports(world, rows):
    reloc = rows.filter(pl.col("scenario") == "relocation")
    exported = reloc.select("exporter_id", "hs6").unique()
    inputs = world.inputs.filter(pl.col("importer_id").is_in(reloc["exporter_id"].unique().implode())).with_columns(
        pl.col("hs_code").str.slice(0, 6).alias("hs6")
    )
    same = inputs.join(exported, left_on=["importer_id", "hs6"], right_on=["exporter_id", "hs6"], how="semi")
    assert same["declared_value_usd"].sum() <= 0.15 * inputs["declared_value_usd"].sum()
    ratio = inputs["declared_value_usd"].sum() / reloc["declared_value_usd"].sum()
    assert 0.3 <= ratio <= 0.55
    assert reloc["manufacturer_id"].str.slice(0, 2).eq(reloc["origin_country"]).all()


def test_transshipment_prices_sit_closer_to_china_than_to_vietnam(rows):
    honest = rows.filter(pl.col("scenario") == "honest")
    norms = honest.group_by("hs_code").agg(
        pl.col("log_usd_kg").filter(pl.col("origin_country") == "CN").median().alias("cn"),
        pl.col("log_usd_kg").filter(pl.col("origin_country") == "VN").median().alias("vn"),
    )
    gap = norms.select((pl.col("vn") - pl.col("cn")).median()).item()
    assert 0.15 <= gap <= 0.5  # China 15-40 % cheaper than Vietnam on the same line
    # Vietnam's norm of a line is China's plus the typical gap (few lines have enough Vietnamese rows).
    fraud = rows.filter(pl.col("label") == 1).join(norms.drop_nulls("cn"), on="hs_code")
    assert fraud.height >= 0.6 * rows["label"].sum()
    d_cn = (fraud["log_usd_kg"] - fraud["cn"]).abs().median()
    d_vn = (fraud["log_usd_kg"] - fraud["cn"] - gap).abs().median()
    assert d_cn < d_vn


def test_shell_and_relocation_buyers_used_to_buy_the_same_goods_from_china(world, rows):
    main = _event_date(world, "main")
    cn_before = rows.filter((pl.col("origin_country") == "CN") & (pl.col("arrival_date") < main)).select(
        "importer_id", "hs6"
    ).unique()
    for scenario in ("transship_shell", "relocation"):
        sc = rows.filter(pl.col("scenario") == scenario)
        share = sc.join(cn_before, on=["importer_id", "hs6"], how="semi").height / sc.height
        assert share >= 0.7, scenario


def test_duty_rate_rises_by_the_main_event_for_chinese_goods(world, rows):
    main = _event_date(world, "main")
    cn = rows.filter((pl.col("origin_country") == "CN") & ~pl.col("hs_code").str.starts_with("94"))
    steps = cn.group_by("hs_code").agg(
        pl.col("duty_rate").filter(pl.col("arrival_date") >= main).max()
        - pl.col("duty_rate").filter(pl.col("arrival_date") < main).max()
    ).drop_nulls()
    assert steps.height > 10
    assert steps["duty_rate"].round(6).unique().to_list() == [0.3]


def test_samples_are_tiny_and_bulk_lots_heavy_and_cheap(rows):
    samples = rows.filter(pl.col("scenario") == "sample")
    assert samples["declared_value_usd"].max() <= 200 and samples["weight_kg"].max() <= 5
    honest_kg = rows.filter(pl.col("scenario") == "honest")["weight_kg"].median()
    bulk = rows.filter(pl.col("scenario") == "bulk_lot")
    assert bulk["weight_kg"].median() > 10 * honest_kg


def test_data_entry_errors_are_off_by_a_power_of_ten(rows):
    honest = rows.filter(pl.col("scenario") == "honest").group_by("hs_code").agg(pl.col("log_usd_kg").median().alias("norm"))
    errors = rows.filter(pl.col("scenario") == "data_entry_error").join(honest, on="hs_code")
    assert ((errors["log_usd_kg"] - errors["norm"]).abs() > 1.5).mean() >= 0.8


def test_generate_world_rejects_too_few_shipments():
    with pytest.raises(InputError, match="at least 500"):
        generate_world(10, seed=1, start=START, months=12)


def test_shipped_tariff_table_passes_the_contract_reader(tmp_path: Path):
    table = tmp_path / "tariff_events.csv"
    table.write_bytes(resources.files("detector").joinpath("data", "tariff_events.csv").read_bytes())
    loaded = load([table], EVENTS)
    assert loaded.rejects.height == 0
    assert {"CN", "VN"} <= set(loaded.valid["origin_country"])


def test_generate_command_writes_the_world_and_a_summary(tmp_path: Path):
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "w"), "--shipments", "1000", "--months", "12"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [
        "events.csv", "flows.csv", "inputs.csv", "labels.csv", "parties.csv", "routes_truth.csv", "shipments.csv", "world.json",
    ]
    assert "transship_shell" in result.stdout  # the summary is the result: stdout
    params = json.loads((tmp_path / "w" / "world.json").read_text())
    assert params["seed"] == 7 and sum(params["scenario_counts"].values()) == 1000


def test_generate_command_json_lists_files_and_counts(tmp_path: Path):
    result = CliRunner().invoke(app, ["generate", str(tmp_path), "-n", "800", "--format", "parquet", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert Path(out["files"]["shipments"]).name == "shipments.parquet"
    assert out["scenario_counts"]["transship_shell"] >= 3


def test_generate_command_rejects_a_bad_start_date(tmp_path: Path):
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "w"), "--start", "2024-13-01"])
    assert result.exit_code == 2
    assert "--start" in result.stderr and "YYYY-MM-DD" in result.stderr
    assert not (tmp_path / "w").exists()


def test_generate_command_rejects_an_unknown_format(tmp_path: Path):
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "w"), "--format", "xlsx"])
    assert result.exit_code == 2
    assert "--format" in result.stderr


@pytest.fixture(scope="module")
def mixed(world):
    """The same world with general customs fraud, joined with the labels and the plain world's lines."""
    fraud = generate_world(20_000, seed=11, start=START, months=24, fraud_mix=0.08)
    plain = world.shipments.join(world.labels, on="shipment_id")
    return fraud.shipments.join(fraud.labels, on="shipment_id").join(plain, on="shipment_id", suffix="_plain")


def test_a_fraud_mix_keeps_the_worlds_transshipment_and_look_alikes(mixed):
    assert mixed.height == 20_000  # same ids
    kept = mixed.filter(pl.col("scenario_plain") != "honest")
    assert (kept["scenario"] == kept["scenario_plain"]).all()
    assert kept.select((pl.col("declared_value_usd") == pl.col("declared_value_usd_plain")).all()).item()
    turned = mixed.filter(pl.col("scenario").is_in(list(GENERAL_FRAUD)))
    assert (turned["scenario_plain"] == "honest").all() and (turned["label"] == 1).all()
    assert 0.07 <= turned.height / mixed.height <= 0.09


def test_undervalued_lines_declare_part_of_the_true_value_and_gather_on_few_importers(mixed):
    under = mixed.filter(pl.col("scenario") == "undervaluation")
    ratio = under["declared_value_usd"] / under["declared_value_usd_plain"]
    assert ratio.min() >= 0.29 and ratio.max() <= 0.76
    by_importer = under.group_by("importer_id").len().sort("len", descending=True)
    # a few importers carry most of it: the top 10 % of its importers hold at least half the lines
    top = by_importer.head(max(1, by_importer.height // 10))["len"].sum()
    assert top >= 0.5 * under.height


def test_misclassified_lines_declare_a_lower_duty_code_of_the_same_heading_or_chapter(mixed):
    mis = mixed.filter(pl.col("scenario") == "misclassification")
    assert mis.height > 100
    assert (mis["hs_code"] != mis["hs_code_plain"]).all()
    assert (mis["hs_code"].str.slice(0, 2) == mis["hs_code_plain"].str.slice(0, 2)).all()
    # a lower base rate; measures of coarse HS prefixes may cover the two codes differently
    assert (mis["duty_rate"] < mis["duty_rate_plain"]).mean() >= 0.9
    # the goods are what they were: the same weight and value
    assert (mis["weight_kg"] == mis["weight_kg_plain"]).all() and (mis["declared_value_usd"] == mis["declared_value_usd_plain"]).all()
    bags = mis.filter(pl.col("hs_code_plain").str.starts_with("4202"))
    assert bags.height == 0 or (bags["hs_code"].str.slice(0, 4) == "4202").all()


def test_misdeclared_quantity_changes_weight_or_quantity_and_value_together(mixed):
    q = mixed.filter(pl.col("scenario") == "misdeclared_quantity")
    on_weight = q["weight_kg"] < q["weight_kg_plain"]
    on_quantity = q["quantity"] < q["quantity_plain"]
    assert (on_weight | on_quantity).mean() >= 0.95 and on_weight.any() and on_quantity.any()
    by_weight = q.filter(on_weight)
    assert (by_weight["declared_value_usd"] == by_weight["declared_value_usd_plain"]).all()


def test_generate_command_writes_general_fraud_with_a_fraud_mix(tmp_path: Path):
    run = CliRunner().invoke(app, ["generate", str(tmp_path), "-n", "2000", "--fraud-mix", "0.1", "--json"])
    assert run.exit_code == 0, run.output
    out = json.loads(run.stdout)
    assert out["fraud_mix"] == 0.1 and out["scenario_counts"]["undervaluation"] == 100
    labels = pl.read_csv(tmp_path / "labels.csv")
    assert labels.filter(pl.col("scenario") == "misclassification")["label"].to_list() == [1] * 50
    bad = CliRunner().invoke(app, ["generate", str(tmp_path / "x"), "-n", "2000", "--fraud-mix", "0.9"])
    assert bad.exit_code == 2 and "--fraud-mix" in bad.output
