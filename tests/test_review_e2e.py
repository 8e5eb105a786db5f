"""Review on a real scored file: score -> review page -> decide -> export -> evaluate and train accept it."""
from __future__ import annotations

import re

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from detector.cli.main import app as cli
from detector.review.app import build_app, shipment_url
from detector.review.store import DecisionStore
from hostile_helpers import HOSTILE_IDS, score_with_hostile_ids

pytestmark = pytest.mark.slow
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def scored(small_world, fitted_model, tmp_path_factory):
    from detector.jobs.score import score

    out = tmp_path_factory.mktemp("review-e2e") / "scored.parquet"
    score([small_world["holdout"]], out, model=fitted_model, inputs=[small_world["inputs"]],
          events=[small_world["events"]], budget=0.02)
    return out


def test_real_scored_file_reviewed_decided_exported_and_evaluated(scored, small_world, tmp_path):
    db = tmp_path / "decisions.db"
    client = TestClient(build_app([scored], db, inputs=small_world["inputs"], events=small_world["events"]),
                        base_url=BASE)
    queue = client.get("/")
    assert queue.status_code == 200
    shown = re.findall(r'<tr data-id="([^"]+)"', queue.text)
    top = pl.read_parquet(scored).filter("flagged").sort("risk_rank")["shipment_id"].head(len(shown)).to_list()
    assert shown == top, "the queue lists the real flags by risk"

    page = client.get(shipment_url(shown[0]))
    assert page.status_code == 200 and page.text.count('<img class="chart"') >= 3  # supply, unit value, inputs vs exports
    reason = pl.read_parquet(scored).filter(pl.col("shipment_id") == shown[0])["reasons"][0].split(" | ")[0]
    assert reason.split(" ")[0] in page.text

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    for sid, status in ((shown[0], "confirmed"), (shown[1], "cleared")):
        r = client.post("/decide", data={"csrf_token": token, "shipment_id": sid, "status": status, "note": "checked",
                                         "analyst": "ana"}, headers={"Origin": BASE}, follow_redirects=False)
        assert r.status_code == 303
    assert DecisionStore(db).current_status() == {shown[0]: "confirmed", shown[1]: "cleared"}

    labels = tmp_path / "labels.csv"
    runner = CliRunner()
    assert runner.invoke(cli, ["review", "export", "-o", str(labels), "--db", str(db)]).exit_code == 0
    exported = pl.read_csv(labels)
    assert dict(zip(exported["shipment_id"], exported["label"])) == {shown[0]: 1, shown[1]: 0}

    result = runner.invoke(cli, ["evaluate", str(scored), "--labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    assert '"rows_labelled": 2' in result.stdout


@pytest.fixture(scope="module")
def hostile(small_world, fitted_model, tmp_path_factory):
    return score_with_hostile_ids(small_world, fitted_model, tmp_path_factory.mktemp("review-hostile"))


def test_ids_with_slashes_dots_and_marks_work_in_every_route_and_export(hostile, small_world, tmp_path):
    scored, renamed = hostile
    assert set(renamed.values()) == set(HOSTILE_IDS)
    db = tmp_path / "decisions.db"
    client = TestClient(build_app([scored], db, inputs=small_world["inputs"], events=small_world["events"]), base_url=BASE)
    queue = client.get("/")
    links = re.findall(r'<td><a href="(/shipment\?[^"]+)">', queue.text)
    assert len(links) >= len(HOSTILE_IDS)
    import html as htmllib

    for sid in HOSTILE_IDS:
        page = client.get(htmllib.unescape(next(link for link in links if htmllib.unescape(link).startswith(shipment_url(sid) + "&"))))
        assert page.status_code == 200, sid
        assert htmllib.unescape(re.search(r"<h1>Shipment (.*?) <span", page.text).group(1)) == sid
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form_id = re.search(r'name="shipment_id" value="([^"]*)"', page.text).group(1)
        assert htmllib.unescape(form_id) == sid
        r = client.post("/decide", data={"csrf_token": token, "shipment_id": htmllib.unescape(form_id), "status": "confirmed",
                                         "note": "checked", "analyst": "ana"}, headers={"Origin": BASE}, follow_redirects=False)
        assert r.status_code == 303, (sid, r.text)
        assert client.get(r.headers["location"]).status_code == 200, sid
    assert DecisionStore(db).current_status() == {sid: "confirmed" for sid in HOSTILE_IDS}

    listed = pl.read_csv(client.get("/queue.csv?status=confirmed").content, infer_schema=False)
    assert sorted(listed["shipment_id"]) == sorted(HOSTILE_IDS)
    labels = tmp_path / "labels.csv"
    assert CliRunner().invoke(cli, ["review", "export", "-o", str(labels), "--db", str(db)]).exit_code == 0
    assert sorted(pl.read_csv(labels, infer_schema=False)["shipment_id"]) == sorted(HOSTILE_IDS)
    result = CliRunner().invoke(cli, ["evaluate", str(scored), "--labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    assert '"rows_labelled": %d' % len(HOSTILE_IDS) in result.stdout
