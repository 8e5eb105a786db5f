"""Screenshots of the queue, a shipment page and the report in Debian's headless
Chromium, on a real scored file, for a person to look at (``test-artifacts/screenshots/``,
not committed): every chart image loads and the browser reports no policy violation."""
from __future__ import annotations

import pytest

from test_review_browser import ARGS, ARTIFACTS, CHROMIUM, _serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ARTIFACTS / "screenshots"


@pytest.fixture
def browser_page():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (never download a browser)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        messages: list[str] = []
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        page.on("response", lambda r: messages.append(f"failed: {r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        yield page, messages
        context.close()
        browser.close()


def _charts_loaded(page) -> list[int]:
    """The natural width of every chart image once loaded (0: broken or blocked)."""
    page.wait_for_load_state("networkidle")
    return page.locator("img.chart").evaluate_all(
        "imgs => imgs.map(i => (i.complete && i.naturalWidth) ? i.naturalWidth : 0)")


def _no_violation(messages: list[str]) -> None:
    bad = [m for m in messages if "Content Security Policy" in m or "Refused" in m or m.startswith(("pageerror", "failed"))
           or (m.startswith("error") and "Failed to load resource" not in m)]  # a failed load is listed with its URL
    assert not bad, bad


def test_queue_and_shipment_pages_draw_their_charts_in_chromium(scored_holdout, small_world, browser_page, tmp_path):
    from detector.review.app import build_app

    page, messages = browser_page
    app = build_app([scored_holdout], tmp_path / "decisions.db", inputs=[small_world["inputs"]], events=[small_world["events"]])
    srv, thread, base = _serve(app)
    try:
        page.goto(base + "/")
        page.screenshot(path=SHOTS / "queue.png", full_page=True)
        first = page.locator("#queue tbody tr[data-id]").first
        first.locator("td:nth-child(4) a").click()
        page.wait_for_url("**/shipment?id=**")
        widths = _charts_loaded(page)
        assert len(widths) == 3 and all(w > 0 for w in widths), widths
        page.locator("section.pictures").screenshot(path=SHOTS / "shipment-pictures.png")
        page.screenshot(path=SHOTS / "shipment.png", full_page=True)
        _no_violation(messages)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_report_draws_its_charts_in_chromium(scored_holdout, small_world, browser_page, tmp_path):
    from detector.report import write_report

    page, messages = browser_page
    out = write_report([scored_holdout], tmp_path / "report.html", inputs=[small_world["inputs"]],
                       events=[small_world["events"]], top=3).path
    page.goto(out.as_uri())
    widths = _charts_loaded(page)
    assert len(widths) >= 1 + 3 + 3 * 3 and all(w > 0 for w in widths), widths
    page.screenshot(path=SHOTS / "report.png", full_page=True)
    page.locator("section.suspect").first.screenshot(path=SHOTS / "report-suspect.png")
    _no_violation(messages)
