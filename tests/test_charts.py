"""The pictures: drawn with matplotlib on the model's history before the scored file, events
marked, every label escaped, served as images behind the page's guards, no request out."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from detector.review import charts
from detector.review.app import create_app
from detector.review.charts import Chart, Event
from detector.review.history import ModelHistory, model_history
from detector.review.pictures import shipment_pictures
from detector.review.queue import ScoredSet
from detector.review.security import SecurityConfig
from detector.review.store import DecisionStore
from review_helpers import make_events, make_inputs, make_scored

BASE = "http://127.0.0.1:8765"
HOSTILE = ['<script>alert("x")</script>', "\"&'", "$x^2$ \\frac{", "]]><b>"]
#: The page's policy, as security.py sets it: the pictures must not need it loosened.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: bytes) -> list[str]:
    """Every text of an SVG, parsed as XML (so a label that broke out of its element fails here)."""
    root = ET.fromstring(svg)
    assert not [el for el in root.iter() if el.tag in (f"{SVG}script", "script", f"{SVG}foreignObject")]
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def _row_with_history(scored: ScoredSet, train: pl.DataFrame) -> dict:
    """A flagged line whose importer bought its HS6 in the training months too."""
    seen = set(train.select("importer_id", pl.col("hs_code").str.slice(0, 6)).unique().iter_rows())
    for row in scored.top(50):
        if (row["importer_id"], row["hs_code"][:6]) in seen:
            return row
    pytest.fail("no flagged line has training history")


def test_supply_picture_draws_the_months_before_the_scored_file_from_the_models_state(scored_holdout, small_world, trained_model):
    scored = ScoredSet([scored_holdout])
    history = model_history(scored.paths, scored.first_day())
    assert history.available, history.note
    assert history.model == f"{trained_model.name}/{trained_model.version}" and history.before == dt.date(2025, 7, 1)
    train = pl.read_csv(small_world["train"], schema_overrides={"hs_code": pl.String}, try_parse_dates=True)
    row = _row_with_history(scored, train)
    supply = shipment_pictures(scored, row, history=history)["supply"]
    d = supply.data
    assert d["scored_from"] == "2025-07" and d["history_months"] and max(d["history_months"]) < "2025-07"
    assert d["months"][0] <= min(d["history_months"]) and d["months"][-1] >= "2025-07"
    # the history is the training lines of this importer and HS6, to the cent (weeks placed by their Monday)
    mine = train.filter(pl.col("importer_id") == row["importer_id"], pl.col("hs_code").str.starts_with(row["hs_code"][:6]))
    drawn = sum(v for s in d["series"].values() for m, v in s.items() if m < "2025-07")
    assert drawn == pytest.approx(mine["declared_value_usd"].sum(), abs=0.01)
    arrival_months = {m.strftime("%Y-%m") for m in mine["arrival_date"]}
    earlier = {charts.month_key(dt.date(int(m[:4]), int(m[5:]), 1) - dt.timedelta(days=1)) for m in arrival_months}
    assert set(d["history_months"]) <= arrival_months | earlier
    # the scored file's months are the scored file's lines
    later = sum(v for s in d["series"].values() for m, v in s.items() if m >= "2025-07")
    lines = pl.read_parquet(scored_holdout).filter(pl.col("importer_id") == row["importer_id"],
                                                pl.col("hs_code").str.starts_with(row["hs_code"][:6]))
    assert later == pytest.approx(lines["declared_value_usd"].sum())
    assert "history" in supply.caption and "drawn lighter" in supply.caption


def test_price_picture_draws_the_monthly_norm_of_the_training_lines(scored_holdout, small_world):
    scored = ScoredSet([scored_holdout])
    history = model_history(scored.paths, scored.first_day())
    train = pl.read_csv(small_world["train"], schema_overrides={"hs_code": pl.String}, try_parse_dates=True)
    row = _row_with_history(scored, train)
    price = shipment_pictures(scored, row, history=history)["unit_value"].data
    origin = row["origin_country"]
    expected = (train.filter(pl.col("hs_code").str.starts_with(row["hs_code"][:6]), pl.col("origin_country") == origin,
                             pl.col("declared_value_usd") > 0, pl.col("weight_kg") > 0)
                .group_by(pl.col("arrival_date").dt.strftime("%Y-%m").alias("m"))
                .agg((pl.col("declared_value_usd") / pl.col("weight_kg")).log().mean().exp().alias("uv")))
    drawn = {m: v for m, v in price["series"].get(origin, {}).items() if m < "2025-07"}
    assert drawn and set(drawn) == set(expected["m"])
    for m, uv in expected.iter_rows():
        assert drawn[m] == pytest.approx(uv, rel=1e-5)
    assert price["shipment"]["value"] == pytest.approx(row["declared_value_usd"] / row["weight_kg"])


def test_inputs_picture_draws_the_models_component_imports_without_inputs_given(scored_holdout, small_world):
    scored = ScoredSet([scored_holdout])
    history = model_history(scored.paths, scored.first_day())
    inputs = pl.read_csv(small_world["inputs"], try_parse_dates=True)
    firms = set(inputs.filter(pl.col("arrival_date") < dt.date(2025, 7, 1))["importer_id"])
    row = next(r for r in scored.top(200) if r["exporter_id"] in firms)
    data = shipment_pictures(scored, row, history=history)["inputs"].data
    bought = inputs.filter(pl.col("importer_id") == row["exporter_id"], pl.col("arrival_date") < dt.date(2025, 6, 30))
    drawn = sum(v for m, v in data["series"]["component imports"].items() if m < "2025-07")
    assert drawn == pytest.approx(bought["declared_value_usd"].sum(), abs=0.01) and drawn > 0


def test_pictures_without_a_findable_model_draw_the_scored_months_and_say_so(tmp_path):
    path = tmp_path / "scored.parquet"
    make_scored().write_parquet(path)  # names model waypoint-iforest/3, which no store holds
    scored = ScoredSet([path])
    history = model_history(scored.paths, scored.first_day())
    assert not history.available and "waypoint-iforest/3" in history.note
    pictures = shipment_pictures(scored, scored.shipment("S00258"), history=history)
    supply = pictures["supply"]
    assert supply.data["scored_from"] is None and supply.data["history_months"] == []
    months = {m.strftime("%Y-%m") for m in make_scored().filter(importer_id="IMP-1", hs_code="850440")["arrival_date"]}
    assert set(supply.data["months"]) >= months and supply.data["months"][0] == min(months)
    assert "No model history was available" in supply.caption
    assert all("No model history was available" in p.caption for p in pictures.values())


def test_the_models_events_and_the_given_ones_are_marked_and_named(scored_holdout, small_world, tmp_path):
    scored = ScoredSet([scored_holdout])
    history = model_history(scored.paths, scored.first_day())
    row = scored.top(1)[0]
    given = pl.DataFrame({"effective_date": [dt.date(2025, 8, 15)], "importing_country": [None], "origin_country": ["CN"],
                          "hs_prefix": [row["hs_code"][:4]], "added_duty_rate": [0.1], "name": ['<b>"Given" & new</b>'],
                          "source": [None]}, schema_overrides={"importing_country": pl.String, "source": pl.String})
    chart = shipment_pictures(scored, row, events=given, history=history)["supply"]
    names = {e.name for e in chart.data["events"]}
    model_events = history.events().filter(pl.lit(row["hs_code"]).str.starts_with(pl.col("hs_prefix").fill_null("")))
    assert set(model_events["name"]) <= names and '<b>"Given" & new</b>' in names
    drawn = texts(chart.svg())
    inside = [e for e in chart.data["events"] if chart.data["months"][0] <= charts.month_key(e.day) <= chart.data["months"][-1]]
    assert inside
    for e in inside:  # each event inside the chart is a labelled line, its name drawn as text
        assert any(charts.short(e.label, 44) in t for t in drawn), e
        assert e.label in chart.caption or e.name in chart.caption
    assert "&lt;b&gt;" in chart.svg().decode() and "<b>" not in chart.svg().decode()


def test_hostile_labels_are_drawn_as_text_and_escaped():
    months = ["2025-01", "2025-02", "2025-03"]
    series = {name: {m: 1000.0 * (i + 1) for m in months} for i, name in enumerate(HOSTILE)}
    events = [Event(dt.date(2025, 2, 10), "CN", HOSTILE[0]), Event(dt.date(2025, 3, 3), "\"&'", HOSTILE[2])]
    for chart in (
        Chart("stacked_months", f"Importer {HOSTILE[0]}", {"months": months, "series": series, "events": events,
                                                          "scored_from": "2025-02", "highlight": "2025-03"}),
        Chart("grouped_months", HOSTILE[1], {"months": months, "series": {HOSTILE[0]: series[HOSTILE[0]], HOSTILE[2]: {}},
                                             "events": events}),
        charts.horizontal_bars([(h, 3) for h in HOSTILE], title=HOSTILE[3]),
    ):
        svg = chart.svg()
        drawn = texts(svg)
        assert "<script" not in svg.decode() and "]]><b>" not in svg.decode()
        for label in (chart.title, *[charts.short(h, 16) for h in HOSTILE if chart.kind == "stacked_months"]):
            assert label in drawn, (label, drawn)
        assert any("$x^2$" in t for t in drawn) or chart.kind == "grouped_months"  # not read as mathtext
    img = charts.horizontal_bars([("a", 1)], title=HOSTILE[0]).img(src='/x?a="1"&b=<2>')
    assert '"1"' not in img and "<2>" not in img and "<script" not in img


def test_a_chart_draws_the_same_bytes_every_time_and_names_no_url():
    make = lambda: Chart("stacked_months", "t", {"months": ["2025-01", "2025-02"], "series": {"CN": {"2025-01": 5.0}},  # noqa: E731
                                                  "events": [Event(dt.date(2025, 2, 1), "CN", "e")]})
    first = make().svg()
    charts._DRAWN.clear()  # drawn again, not taken from the charts drawn lately
    second = make().svg()
    assert first == second
    urls = set(re.findall(rb"https?://[^\s\"'<>)]+", first))
    assert urls <= {b"http://www.w3.org/2000/svg", b"http://www.w3.org/1999/xlink", b"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd",
                    b"http://purl.org/dc/elements/1.1/", b"http://creativecommons.org/ns#", b"http://www.w3.org/1999/02/22-rdf-syntax-ns#",
                    b"http://purl.org/dc/dcmitype/StillImage"}, urls  # XML namespaces, never fetched


def test_ticks_carry_units_and_nice_numbers():
    assert [charts.money(v) for v in (0, 250, 35_000, 1_200_000, 1_500_000, 3e9)] == [
        "0", "250 USD", "35 k USD", "1.2 M USD", "1.5 M USD", "3 bn USD"]
    chart = Chart("stacked_months", "t", {"months": charts.month_range("2024-01", "2025-12"),
                                          "series": {"VN": {"2024-03": 1_234_567.0, "2025-06": 800_000.0}}})
    drawn = texts(chart.svg())
    assert {"0", "500 k USD", "1 M USD", "1.5 M USD"} <= set(drawn)
    assert "Jan\n2024" in "\n".join(drawn) or ("Jan" in drawn and "2024" in drawn)


def test_chart_images_need_the_token_and_an_allowed_host_like_the_page(tmp_path):
    path = tmp_path / "scored.parquet"
    make_scored().write_parquet(path)
    token = "t" * 24
    config = SecurityConfig(host="10.0.0.5", allow_remote=True, token=token)
    app = create_app(ScoredSet([path]), DecisionStore(tmp_path / "d.db"), security=config, inputs=make_inputs(),
                     events=make_events())
    url = "/chart/shipment/supply.svg?id=S00258"
    c = TestClient(app, base_url="http://10.0.0.5:8765")
    assert c.get(url).status_code == 401
    assert c.get(url, headers={"host": "evil.example"}).status_code == 400
    ok = c.get(url, headers={"x-waypoint-token": token})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/svg+xml"
    assert ok.headers["content-security-policy"] == CSP and ok.headers["x-content-type-options"] == "nosniff"
    assert c.get("/chart/shipment/nothing.svg?id=S00258", headers={"x-waypoint-token": token}).status_code == 404
    assert c.get("/chart/shipment/supply.svg?id=NOPE", headers={"x-waypoint-token": token}).status_code == 404


def test_the_page_keeps_its_policy_and_loads_nothing_from_elsewhere(tmp_path):
    path = tmp_path / "scored.parquet"
    make_scored().write_parquet(path)
    c = TestClient(create_app(ScoredSet([path]), DecisionStore(tmp_path / "d.db"), inputs=make_inputs(), events=make_events()),
                   base_url=BASE)
    for url in ("/", "/shipment?id=S00258", "/routes"):
        r = c.get(url)
        assert r.headers["content-security-policy"] == CSP
        assert not re.search(r"https?://", r.text), url
        assert "<svg" not in r.text and " style=" not in r.text  # nothing the policy's style-src would block
    for src in re.findall(r'<img class="chart" src="([^"]+)"', c.get("/shipment?id=S00258").text):
        assert src.startswith("/chart/")


def test_the_report_allows_only_its_own_stylesheet_and_data_images(tmp_path):
    from detector.report import write_report

    path = tmp_path / "scored.parquet"
    make_scored().write_parquet(path)
    events = tmp_path / "events.csv"
    make_events().write_csv(events)
    html = write_report([path], tmp_path / "report.html", events=events, top=2).path.read_text()
    assert not re.search(r"https?://", html)
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1)
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert policy.replace("&#39;", "'") == (f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; base-uri 'none'; "
                                            "form-action 'none'")
    images = re.findall(r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(images) == 1 + 3 + 2 * 2
    for image in images:
        texts(base64.b64decode(image))  # each one a well-formed SVG


def test_importing_the_review_page_and_report_does_not_import_matplotlib():
    code = "import sys, detector.review.app, detector.report, detector.cli.main; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_first_chart_in_a_fresh_config_dir_prints_nothing(tmp_path):
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    code = ("from detector.review.charts import horizontal_bars; "
            "import sys; sys.stdout.write(str(len(horizontal_bars([('a', 1)], title='t').svg())))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(out.stdout) > 1000 and out.stderr == ""
    assert list((tmp_path / "mpl").glob("fontlist-*.json"))  # the font cache was built there, quietly


def test_history_stops_where_a_scored_file_overlapping_the_training_months_starts(scored_holdout, small_world):
    scored = ScoredSet([scored_holdout])
    full = model_history(scored.paths, scored.first_day())
    earlier = ModelHistory(state=full.state, model=full.model, before=dt.date(2025, 4, 1))  # a file from April on
    train = pl.read_csv(small_world["train"], schema_overrides={"hs_code": pl.String}, try_parse_dates=True)
    row = _row_with_history(scored, train)
    supply = earlier.supply(row["importer_id"], row["hs_code"][:6])
    assert supply and max(m for m, _, _ in supply) < dt.date(2025, 4, 1)
    monday = dt.date(2025, 3, 31)  # weeks are placed by their Monday: the week of 31 March is March's
    mine = train.filter(pl.col("importer_id") == row["importer_id"], pl.col("hs_code").str.starts_with(row["hs_code"][:6]),
                        pl.col("arrival_date") < monday + dt.timedelta(days=7))
    assert sum(v for _, _, v in supply) == pytest.approx(mine["declared_value_usd"].sum(), abs=0.01)
    assert max(earlier.price(row["hs_code"][:6], [row["origin_country"]]).get(row["origin_country"], {"0": 0})) < "2025-04"
