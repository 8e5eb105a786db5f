"""The review page in Debian's headless Chromium: queue, filter, open, decide, reload, keys.

Starts the real server (uvicorn) on a free loopback port in a background thread.
Screenshots go to ``test-artifacts/`` for a human to look at.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from detector.review.app import create_app
from detector.review.queue import ScoredSet
from detector.review.store import DecisionStore
from hostile_helpers import HOSTILE_IDS, score_with_hostile_ids
from review_helpers import make_events, make_inputs, make_scored

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app):
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("review server did not start")
        time.sleep(0.05)
    return srv, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def server(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored().write_parquet(scored)
    store = DecisionStore(tmp_path / "decisions.db")
    srv, thread, base = _serve(create_app(ScoredSet([scored]), store, inputs=make_inputs(), events=make_events()))
    yield base, store
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (never download a browser)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def test_analyst_filters_opens_decides_and_sees_the_decision_after_reload(server, page):
    base, store = server
    page.goto(base + "/")
    assert page.locator("#queue tbody tr[data-id]").count() == 15
    page.screenshot(path=ARTIFACTS / "review-queue.png", full_page=True)

    page.fill("input[name=exporter]", "EXP-VN-1")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#queue tbody tr[data-id]")
    assert rows.count() == 12
    assert set(page.locator("#queue tbody tr td:nth-child(7)").all_inner_texts()) == {"EXP-VN-1"}

    first = rows.first.get_attribute("data-id")
    rows.first.locator("td:nth-child(4) a").click()
    page.wait_for_url(f"**/shipment?id={first}**")
    assert page.locator("img.chart").count() == 3
    page.fill("#decide-form input[name=analyst]", "ana")
    page.click("#decide-form button[value=confirmed]")  # no note yet: the page says so and stays
    assert "note" in page.locator("#decide-error").inner_text()
    assert store.current_status() == {}
    page.fill("#decide-form input[name=note]", "inputs of the same HS from CN")
    page.click("#decide-form button[value=confirmed]")
    page.wait_for_load_state()
    page.reload()
    assert page.locator("#current-status").inner_text() == "confirmed"
    assert "inputs of the same HS from CN" in page.locator("#history").inner_text()
    assert page.locator("#decide-form input[name=analyst]").input_value() == "ana"  # remembered
    page.screenshot(path=ARTIFACTS / "review-shipment.png", full_page=True)
    assert store.current_status() == {first: "confirmed"}

    page.click("text=back to the queue")
    assert page.locator(f'#queue tr[data-id="{first}"] .status').inner_text() == "confirmed"


def test_keyboard_shortcuts_move_and_decide_on_the_queue(server, page):
    base, store = server
    page.goto(base + "/")
    ids = page.locator("#queue tbody tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    assert page.locator("#queue tr.selected").get_attribute("data-id") == ids[1]
    page.keyboard.press("x")  # no analyst, no note: nothing is posted
    assert "name" in page.locator("#quick-error").inner_text()
    page.fill("#quick input[name=analyst]", "ana")
    page.locator("#quick input[name=analyst]").blur()
    page.keyboard.press("x")
    assert "note" in page.locator("#quick-error").inner_text()
    assert store.current_status() == {}
    page.fill("#quick input[name=note]", "price matches VN norm")
    page.locator("#quick input[name=note]").blur()
    with page.expect_navigation():  # the decision posts a form; wait for the page it leads to
        page.keyboard.press("x")
    assert page.locator(f'#queue tr[data-id="{ids[1]}"] .status').inner_text() == "cleared"
    assert store.current_status() == {ids[1]: "cleared"}
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(f"**/shipment?id={ids[0]}**")


def test_decision_posted_without_csrf_token_is_refused(server, page):
    base, store = server
    page.goto(base + "/")
    form = {"shipment_id": "S00000", "status": "confirmed", "note": "x", "analyst": "ana"}
    for route in ("/decide", "/shipment/S00000/decide"):
        response = page.request.post(base + route, form=form, headers={"Origin": base})
        assert response.status == 403
    assert store.current_status() == {}


def test_bulk_decision_needs_a_chosen_status_and_the_confirmed_count(server, page):
    base, store = server
    page.goto(base + "/shipment?id=S00258")
    form = page.locator("#bulk-form")
    count = int(form.locator("input[name=expected]").get_attribute("value"))
    assert count > 1 and f"Apply to all {count}" in form.inner_text()
    form.locator("input[name=analyst]").fill("ana")
    form.locator("input[name=note]").fill("same CN inputs for every line")
    form.locator("button").click()  # no status chosen, no box ticked: the browser keeps the form
    assert store.current_status() == {}
    form.locator("select[name=status]").select_option("needs-info")
    form.locator("input[name=confirm]").check()
    with page.expect_navigation():
        form.locator("button").click()
    assert list(store.current_status().values()) == ["needs-info"] * count


def test_queue_downloads_the_filtered_rows_as_csv(server, page, tmp_path):
    import polars as pl

    base, _ = server
    page.goto(base + "/?exporter=EXP-VN-1")
    with page.expect_download() as download:
        page.click("#queue-csv")
    path = tmp_path / "queue.csv"
    download.value.save_as(path)
    rows = pl.read_csv(path, infer_schema=False)
    expected = make_scored().filter("flagged", exporter_id="EXP-VN-1").sort("risk_rank")["shipment_id"].to_list()
    assert rows["shipment_id"].to_list() == expected and set(rows["status"]) == {"open"}


@pytest.fixture
def hostile_server(small_world, fitted_model, tmp_path):
    scored, _ = score_with_hostile_ids(small_world, fitted_model, tmp_path / "scored")
    store = DecisionStore(tmp_path / "decisions.db")
    app = create_app(ScoredSet([scored]), store)
    srv, thread, base = _serve(app)
    yield base, store
    srv.should_exit = True
    thread.join(timeout=10)


def test_ids_with_slashes_dots_and_marks_open_and_decide_in_the_browser(hostile_server, page):
    base, store = hostile_server
    for sid in HOSTILE_IDS:
        page.goto(base + "/")
        row = page.locator("#queue tbody tr[data-id]").filter(has=page.get_by_role("link", name=sid, exact=True))
        assert row.count() == 1, sid
        row.get_by_role("link", name=sid, exact=True).click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text().startswith(f"Shipment {sid}"), (sid, page.url)
        page.fill("#decide-form input[name=analyst]", "ana")
        page.fill("#decide-form input[name=note]", "checked " + sid)
        with page.expect_navigation():
            page.click("#decide-form button[value=cleared]")
        assert page.locator("#current-status").inner_text() == "cleared", sid
        assert page.locator("h1").inner_text().startswith(f"Shipment {sid}")
    page.screenshot(path=ARTIFACTS / "review-hostile-id.png", full_page=True)
    assert store.current_status() == {sid: "cleared" for sid in HOSTILE_IDS}
    assert {d.note for sid in HOSTILE_IDS for d in store.history(sid)} == {"checked " + sid for sid in HOSTILE_IDS}


def test_report_renders_in_the_browser(tmp_path, page):
    from detector.report import write_report

    scored = tmp_path / "scored.parquet"
    make_scored().write_parquet(scored)
    events = tmp_path / "events.csv"
    make_events().write_csv(events)
    out = write_report([scored], tmp_path / "report.html", events=events, top=3).path
    page.goto(out.as_uri())
    assert page.locator("img.chart").count() == 1 + 3 + 3 * 2
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
