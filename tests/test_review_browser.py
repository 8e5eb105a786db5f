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


@pytest.fixture
def server(tmp_path):
    import uvicorn

    scored = tmp_path / "scored.parquet"
    make_scored().write_parquet(scored)
    store = DecisionStore(tmp_path / "decisions.db")
    app = create_app(ScoredSet([scored]), store, inputs=make_inputs(), events=make_events())
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("review server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
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
    page.wait_for_url(f"**/shipment/{first}**")
    assert page.locator("svg.chart").count() == 3
    page.fill("#decide-form input[name=analyst]", "ana")
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
    with page.expect_navigation():  # the decision posts a form; wait for the page it leads to
        page.keyboard.press("x")
    assert page.locator(f'#queue tr[data-id="{ids[1]}"] .status').inner_text() == "cleared"
    assert store.current_status() == {ids[1]: "cleared"}
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(f"**/shipment/{ids[0]}**")


def test_decision_posted_without_csrf_token_is_refused(server, page):
    base, store = server
    page.goto(base + "/")
    response = page.request.post(base + "/shipment/S00000/decide", form={"status": "confirmed"}, headers={"Origin": base})
    assert response.status == 403
    assert store.current_status() == {}


def test_report_renders_in_the_browser(tmp_path, page):
    from detector.report import write_report

    scored = tmp_path / "scored.parquet"
    make_scored().write_parquet(scored)
    events = tmp_path / "events.csv"
    make_events().write_csv(events)
    out = write_report([scored], tmp_path / "report.html", events=events, top=3).path
    page.goto(out.as_uri())
    assert page.locator("svg.chart").count() == 1 + 3 + 3 * 2
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
