"""Measures belong to the importing country: a line gets only the tariff measures of the country it is imported into."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from features.families.tariff import applicable, default_country, events_digest
from features.pipeline import build
from features.schema import EVENTS, SHIPMENTS

EVENT_DAY = dt.date(2025, 2, 1)


def _events(rows: list[dict]) -> pl.DataFrame:
    base = {"effective_date": EVENT_DAY, "importing_country": None, "origin_country": "CN", "hs_prefix": "",
            "added_duty_rate": 0.25, "name": "a measure", "source": None}
    return pl.DataFrame([{**base, **r} for r in rows], schema=EVENTS.schema)


def _lines(importing: list[str | None]) -> pl.LazyFrame:
    rows = [{"shipment_id": f"S{i}", "arrival_date": EVENT_DAY + dt.timedelta(days=30 + i), "importer_id": f"I{i}",
             "exporter_id": f"E{i}", "hs_code": "850440", "origin_country": "VN", "export_country": "VN",
             "declared_value_usd": 1000.0, "weight_kg": 10.0, "importing_country": c} for i, c in enumerate(importing)]
    return pl.DataFrame(rows, schema=SHIPMENTS.schema).lazy()


def _tariffed(lines: pl.LazyFrame, events: pl.DataFrame) -> list:
    out = build(lines, events=events).sort("shipment_id")
    return out.select("ev_tariffed_origin", "ev_event_name", "tariff_differential_usd").rows()


def test_a_line_of_another_importing_country_gets_no_measure_of_the_us():
    events = _events([{"importing_country": "US", "name": "US duty on China"}])
    us, br = _tariffed(_lines(["US", "BR"]), events)
    assert us == ("CN", "US duty on China", pytest.approx(250.0))
    assert br == (None, None, None)  # every tariff-event feature off: unknown, not zero


def test_a_line_stating_no_importing_country_takes_the_one_country_the_events_name():
    events = _events([{"importing_country": "US", "name": "US duty on China"}])
    assert default_country(events) == "US"
    (unstated,) = _tariffed(_lines([None]), events)
    assert unstated[:2] == ("CN", "US duty on China")


def test_with_events_of_two_countries_a_line_stating_none_gets_only_the_measures_naming_none():
    events = _events([
        {"importing_country": "US", "name": "US duty", "added_duty_rate": 0.5},
        {"importing_country": "BR", "name": "Brazil duty", "added_duty_rate": 0.4},
        {"importing_country": None, "name": "a duty of every country", "added_duty_rate": 0.1},
    ])
    assert default_country(events) is None
    us, br, unstated = _tariffed(_lines(["US", "BR", None]), events)
    assert us == ("CN", "US duty", pytest.approx(600.0))
    assert br == ("CN", "Brazil duty", pytest.approx(500.0))
    assert unstated == ("CN", "a duty of every country", pytest.approx(100.0))


def test_a_measure_naming_no_importing_country_applies_to_every_line():
    events = _events([{"importing_country": None, "name": "a file without the column"}])
    assert [t[:2] for t in _tariffed(_lines(["US", "BR", None]), events)] == [("CN", "a file without the column")] * 3


def test_a_measure_adding_nothing_is_never_the_lines_event():
    events = _events([
        {"name": "the real duty", "effective_date": EVENT_DAY},
        {"name": "duty on goods found transshipped", "added_duty_rate": 0.0, "effective_date": EVENT_DAY + dt.timedelta(days=5)},
    ])
    (line,) = _tariffed(_lines(["US"]), events)
    assert line[:2] == ("CN", "the real duty")
    assert applicable(events, "US")["name"].to_list() == ["the real duty"]


def test_applicable_keeps_a_countrys_own_measures_and_those_naming_none():
    events = _events([{"importing_country": "US", "name": "us"}, {"importing_country": "BR", "name": "br"},
                      {"importing_country": None, "name": "any"}])
    assert sorted(applicable(events, "BR")["name"]) == ["any", "br"]
    assert sorted(applicable(events, "DE")["name"]) == ["any"]


def test_events_digest_ignores_row_order_and_sees_a_changed_rate():
    events = _events([{"name": "a"}, {"name": "b", "added_duty_rate": 0.1}])
    assert events_digest(events) == events_digest(events.reverse())
    assert events_digest(events) != events_digest(events.with_columns(pl.col("added_duty_rate") * 2))


def test_the_shipped_table_is_for_us_imports_and_every_line_cites_its_notice():
    from detector.io.read import DEFAULT_EVENTS, load

    loaded = load([DEFAULT_EVENTS], EVENTS)
    assert loaded.rejects.height == 0
    shipped = loaded.valid
    assert shipped["importing_country"].unique().to_list() == ["US"]
    assert shipped["source"].str.strip_chars().str.len_chars().min() > 20
    solar = shipped.filter(pl.col("name").str.contains("solar") & (pl.col("effective_date") == dt.date(2025, 6, 24)))
    assert sorted(set(solar["origin_country"])) == ["KH", "MY", "TH", "VN"]
    assert set(solar["hs_prefix"]) == {"854142", "854143"}
    transshipped = shipped.filter(pl.col("name").str.contains("transshipped"))
    assert transshipped.select("effective_date", "added_duty_rate").rows() == [(dt.date(2025, 8, 7), 0.0)]


def test_a_mapping_constant_states_the_importing_country_of_every_line(tmp_path):
    from detector.io.mapping import Mapping
    from detector.io.read import load

    src = tmp_path / "br.csv"
    src.write_text("shipment_id,arrival_date,importer_id,exporter_id,hs_code,origin_country,export_country,declared_value_usd,weight_kg\n"
                   "A,2025-03-01,I1,E1,850440,CN,CN,100,10\n")
    mapping = tmp_path / "br.toml"
    mapping.write_text('[constants]\nimporting_country = "BR"\n')
    loaded = load([src], SHIPMENTS, mapping=Mapping.from_toml(mapping))
    assert loaded.valid["importing_country"].to_list() == ["BR"]


@pytest.mark.slow
def test_a_non_us_extract_never_gets_a_us_measure_in_its_reasons(small_world, tmp_path):
    """Trained and scored as Brazil's imports with the shipped (US) table: no measure applies, training says
    so, the tariff-event features are off and no reason cites a tariff event."""
    import json

    from typer.testing import CliRunner

    from detector.cli.main import app
    from detector.config import Settings
    from detector.io.read import DEFAULT_EVENTS
    from models.tracking import Store

    runner = CliRunner()
    for part in ("train", "holdout"):  # an extract that does not say whose imports it holds
        pl.read_csv(small_world[part], infer_schema=False).drop("importing_country").write_csv(tmp_path / f"{part}.csv")
    trained = runner.invoke(app, ["train", str(tmp_path / "train.csv"), "--inputs", str(small_world["inputs"]),
                                  "--importing-country", "BR", "--model-name", "brazil", "--n-estimators", "30", "--json"])
    assert trained.exit_code == 0, trained.output
    result = json.loads(trained.stdout)
    assert any("no tariff measure" in w and "imports into BR" in w for w in result["warnings"])
    run = Store.from_settings(Settings.from_env()).client().get_run(result["run_id"])
    assert run.data.tags["waypoint.tariff_measures"].startswith("none apply")
    assert run.data.tags["waypoint.importing_country"] == "BR"

    out = tmp_path / "scored.parquet"
    scored = runner.invoke(app, ["score", str(tmp_path / "holdout.csv"), "-o", str(out), "--model", f"brazil/{result['model_version']}",
                                 "--inputs", str(small_world["inputs"]), "--budget", "5%", "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["importing_country"] == "BR"
    lines = pl.read_parquet(out)
    flagged = lines.filter("flagged")
    assert flagged.height > 0 and flagged["reasons"].str.len_chars().min() > 0
    assert lines["ev_tariffed_origin"].null_count() == lines.height
    us_measures = set(pl.read_csv(DEFAULT_EVENTS)["name"]) | set(pl.read_csv(small_world["events"])["name"])
    text = "\n".join(flagged["reasons"].to_list())
    assert not [name for name in us_measures if name in text]
    for code in ("OS_RECENT_EVENT", "OS_SHARE_DROP", "OS_NEW_SUPPLIER", "TARIFF_DIFFERENTIAL", "ENT_ORIGIN_SHARE_JUMP", "PRICE_PARITY"):
        assert code not in ",".join(flagged["reason_codes"].to_list())
