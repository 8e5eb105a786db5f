"""The review web page through FastAPI's TestClient: queue, filters, shipment, decisions, security."""
from __future__ import annotations

import re

import polars as pl
import pytest
from fastapi.testclient import TestClient

from detector.errors import InputError
from detector.review.app import create_app
from detector.review.queue import ScoredSet
from detector.review.security import SecurityConfig
from detector.review.store import DecisionStore
from models.artifact import sha256
from review_helpers import XSS, make_events, make_inputs, make_scored

BASE = "http://127.0.0.1:8765"
ORIGIN = {"Origin": BASE}


@pytest.fixture
def scored_file(tmp_path):
    path = tmp_path / "scored.parquet"
    make_scored().write_parquet(path)
    return path


@pytest.fixture
def store(tmp_path):
    return DecisionStore(tmp_path / "decisions.db")


@pytest.fixture
def client(scored_file, store):
    app = create_app(ScoredSet([scored_file]), store, inputs=make_inputs(), events=make_events())
    return TestClient(app, base_url=BASE)


def ids(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)"', html)


def csrf(client: TestClient, path: str = "/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def test_queue_lists_flagged_shipments_by_risk_rank(client):
    r = client.get("/")
    assert r.status_code == 200
    shown = ids(r.text)
    assert len(shown) == 15 and shown[0] == "S00000"
    ranks = [int(x) for x in re.findall(r'<tr data-id="[^"]+"[^>]*>\s*<td>(\d+)</td>', r.text)]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ("exporter=EXP-VN-1", lambda row: row["exporter_id"] == "EXP-VN-1"),
        ("origin=TH", lambda row: row["origin_country"] == "TH"),
        ("hs_chapter=85", lambda row: row["hs_code"].startswith("85")),
        ("reason=NEW_EXPORTER", lambda row: "NEW_EXPORTER" in row["reason_codes"]),
        ("importer=IMP-1", lambda row: row["importer_id"] == "IMP-1"),
    ],
)
def test_queue_filter_shows_only_matching_flagged_rows(client, query, check):
    rows = {r["shipment_id"]: r for r in make_scored().filter("flagged").to_dicts()}
    expected = {s for s, r in rows.items() if check(r)}
    assert expected and expected != set(rows)
    assert set(ids(client.get(f"/?{query}").text)) == expected


def test_queue_model_version_filter_excludes_other_versions(client):
    assert len(ids(client.get("/?model_version=3").text)) == 15
    assert ids(client.get("/?model_version=99").text) == []


def test_queue_pages_fifty_rows_at_a_time(tmp_path, store):
    path = tmp_path / "big.parquet"
    make_scored(300, n_flagged=120).write_parquet(path)
    c = TestClient(create_app(ScoredSet([path]), store), base_url=BASE)
    assert len(ids(c.get("/").text)) == 50
    last = c.get("/?page=3").text
    assert len(ids(last)) == 20 and "page 3 of 3" in last


def test_status_filter_uses_the_decision_store(client, store):
    store.decide("S00258", "confirmed", analyst="ana")
    assert ids(client.get("/?status=confirmed").text) == ["S00258"]
    assert "S00258" not in ids(client.get("/?status=open").text)
    assert len(ids(client.get("/?status=open").text)) == 14


def test_shipment_page_shows_reasons_fields_and_chart_images(client):
    r = client.get("/shipment?id=S00258")
    assert r.status_code == 200
    html = r.text
    charts = re.findall(r'<img class="chart" src="([^"]+)"', html)
    assert len(charts) == 3  # supply by origin, unit value, inputs vs exports
    for src in charts:
        image = client.get(src.replace("&amp;", "&"))
        assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
    assert "Section 301 list 3" in html  # the tariff event named in the supply picture's caption
    assert "PRICE_AT_TARIFFED_ORIGIN" in html and "is at China&#39;s level" in html
    assert "/?exporter=EXP-VN-1" in html and "/?importer=IMP-1" in html
    assert "tariffed_origin" in html and "unit_value_ratio" in html  # ev_ and f_ columns shown


def test_shipment_page_without_inputs_draws_two_pictures(scored_file, store):
    c = TestClient(create_app(ScoredSet([scored_file]), store), base_url=BASE)
    assert c.get("/shipment?id=S00258").text.count('<img class="chart"') == 2


def test_unknown_shipment_is_404(client):
    assert client.get("/shipment?id=NOPE").status_code == 404
    assert client.get("/shipment/NOPE").status_code == 404


def test_old_path_links_to_a_shipment_still_answer(client):
    assert client.get("/shipment/S00258").status_code == 200


def decide(client: TestClient, sid: str, status: str, *, note: str = "checked", analyst: str = "ana", **extra):
    data = {"csrf_token": csrf(client), "shipment_id": sid, "status": status, "note": note, "analyst": analyst, **extra}
    return client.post("/decide", data=data, headers=ORIGIN, follow_redirects=False)


def test_decide_persists_and_shows_in_history(client, store, scored_file):
    r = decide(client, "S00258", "confirmed", note="CN inputs")
    assert r.status_code == 303 and r.headers["location"] == "/shipment?id=S00258"
    assert "waypoint_analyst=ana" in r.headers["set-cookie"]
    (d,) = store.history("S00258")
    assert (d.status, d.note, d.analyst, d.model_version) == ("confirmed", "CN inputs", "ana", "3")
    # the scored file as an absolute path and its digest, wherever the page was started from
    assert (d.scored_file, d.scored_file_sha256) == (str(scored_file.resolve()), sha256(scored_file))
    page = client.get("/shipment?id=S00258").text
    assert "CN inputs" in page and 'id="current-status">confirmed' in page
    assert 'name="analyst" value="ana"' in page  # the name is remembered


@pytest.mark.parametrize(
    ("status", "note", "analyst", "missing"),
    [("confirmed", "", "ana", "note"), ("cleared", "  ", "ana", "note"), ("confirmed", "CN inputs", "", "analyst"),
     ("needs-info", "", " ", "analyst"), ("", "x", "ana", "status"), ("guilty", "x", "ana", "status")],
)
def test_decision_without_analyst_note_or_status_is_refused(client, store, status, note, analyst, missing):
    r = decide(client, "S00258", status, note=note, analyst=analyst)
    assert r.status_code == 422 and missing in r.text
    assert store.current_status() == {}


def test_needs_info_needs_no_note(client, store):
    assert decide(client, "S00258", "needs-info", note="").status_code == 303
    assert store.current_status() == {"S00258": "needs-info"}


def bulk(client, **data):
    base = {"csrf_token": csrf(client), "exporter": "EXP-VN-1", "analyst": "ana", "note": "same CN inputs", "confirm": "yes"}
    return client.post("/bulk-decide", data={**base, **data}, headers=ORIGIN, follow_redirects=False)


def test_bulk_decide_covers_only_open_flags_of_the_exporter(client, store):
    store.decide("S00258", "needs-info", analyst="bo")
    flagged_vn = set(make_scored().filter("flagged", exporter_id="EXP-VN-1")["shipment_id"])
    r = bulk(client, status="confirmed", expected=str(len(flagged_vn) - 1))
    assert r.status_code == 303
    status = store.current_status()
    assert {s for s, st in status.items() if st == "confirmed"} == flagged_vn - {"S00258"}
    assert status["S00258"] == "needs-info"


def test_bulk_decide_has_no_default_status_and_needs_the_confirmed_count(client, store):
    n = str(len(make_scored().filter("flagged", exporter_id="EXP-VN-1")))
    assert bulk(client, expected=n).status_code == 422  # no status given: nothing is assumed
    r = bulk(client, status="confirmed", expected=n, confirm="")
    assert r.status_code == 422 and n in r.text
    r = bulk(client, status="confirmed", expected="3")  # the page showed another count
    assert r.status_code == 409 and n in r.text
    assert bulk(client, status="cleared", expected=n, note="").status_code == 422
    assert store.current_status() == {}


def test_bulk_form_on_the_page_has_no_status_chosen_and_shows_the_count(client):
    html = client.get("/shipment?id=S00258").text
    form = re.search(r'<form method="post" action="/bulk-decide".*?</form>', html, re.S).group(0)
    n = len(make_scored().filter("flagged", exporter_id="EXP-VN-1"))
    assert '<option value="" selected disabled>' in form and "selected" not in form.split("disabled>", 1)[1]
    assert f'name="expected" value="{n}"' in form and f"decide all {n}" in form


GOOD = {"status": "confirmed", "note": "CN inputs", "analyst": "ana"}


@pytest.mark.parametrize("route", ["/decide", "/shipment/S00258/decide", "/bulk-decide"])
def test_post_without_csrf_token_is_refused(client, store, route):
    data = {**GOOD, "shipment_id": "S00258", "exporter": "EXP-VN-1", "confirm": "yes"}
    assert client.post(route, data=data, headers=ORIGIN).status_code == 403
    assert client.post(route, data={**data, "csrf_token": "forged"}, headers=ORIGIN).status_code == 403
    assert store.current_status() == {}


def test_csrf_token_of_another_session_is_refused(client, scored_file, store):
    token = csrf(client)
    other = TestClient(client.app, base_url=BASE)
    r = other.post("/decide", data={**GOOD, "csrf_token": token, "shipment_id": "S00258"}, headers=ORIGIN)
    assert r.status_code == 403


def test_post_from_another_origin_is_refused(client, store):
    token = csrf(client)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:9999"}, {},
                    {"Referer": "http://evil.example/x"}):
        for route in ("/decide", "/shipment/S00258/decide"):
            r = client.post(route, data={**GOOD, "csrf_token": token, "shipment_id": "S00258"}, headers=headers)
            assert r.status_code == 403, (route, headers)
    assert store.current_status() == {}


def test_post_with_same_origin_referer_and_no_origin_is_accepted(client, store):
    token = csrf(client)
    r = client.post("/decide", data={**GOOD, "status": "cleared", "csrf_token": token, "shipment_id": "S00258"},
                    headers={"Referer": f"{BASE}/shipment?id=S00258"}, follow_redirects=False)
    assert r.status_code == 303 and store.current_status() == {"S00258": "cleared"}


def test_decide_redirect_never_leaves_the_site(client):
    r = decide(client, "S00258", "cleared", next="//evil.example/")
    assert r.headers["location"] == "/shipment?id=S00258"


def test_request_with_foreign_host_header_is_refused(client):
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200


def test_text_from_the_file_is_escaped(client):
    html = client.get("/shipment?id=S00000").text
    assert XSS not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_pages_carry_a_content_security_policy(client):
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]


def test_remote_mode_requires_the_token_then_remembers_it(scored_file, store):
    config = SecurityConfig(host="10.0.0.5", allow_remote=True, token="t" * 24)
    c = TestClient(create_app(ScoredSet([scored_file]), store, security=config), base_url="http://10.0.0.5:8765")
    assert c.get("/").status_code == 401
    assert c.get("/?token=wrong").status_code == 401
    assert c.get("/?token=" + "t" * 24).status_code == 200
    assert c.get("/").status_code == 200  # the cookie now carries it


def test_binding_beyond_loopback_needs_allow_remote_and_a_token():
    with pytest.raises(InputError, match="refusing"):
        SecurityConfig(host="0.0.0.0")
    with pytest.raises(InputError, match="token"):
        SecurityConfig(host="0.0.0.0", allow_remote=True)


def test_queue_reads_a_csv_scored_file(tmp_path, store):
    df = make_scored(100, n_flagged=8)
    path = tmp_path / "scored.csv"
    df.write_csv(path)
    c = TestClient(create_app(ScoredSet([path]), store), base_url=BASE)
    assert ids(c.get("/").text) == df.filter("flagged").sort("risk_rank")["shipment_id"].to_list()
    assert c.get("/shipment?id=S00000").text.count('<img class="chart"') == 2


def test_scored_file_without_required_columns_is_an_input_error(tmp_path):
    path = tmp_path / "x.parquet"
    make_scored(10, n_flagged=1).drop("risk_rank", "flagged").write_parquet(path)
    with pytest.raises(InputError, match="risk_rank, flagged"):
        ScoredSet([path])


def test_unit_value_norms_prefer_the_scorers_evidence_columns(tmp_path):
    path = tmp_path / "s.parquet"
    make_scored(50, n_flagged=2).with_columns(ev_norm_uv_declared=pl.lit(3.4), ev_norm_uv_tariffed=pl.lit(1.9)).write_parquet(path)
    s = ScoredSet([path])
    uv = s.unit_value_norms(s.shipment("S00001"))
    assert (uv["declared"], uv["tariffed"], uv["tariffed_origin"]) == (3.4, 1.9, "CN")


def test_unit_value_norms_fall_back_to_medians_by_hs6_and_origin(scored_file):
    s = ScoredSet([scored_file])
    row = s.shipment("S00258")
    df = make_scored()
    uv_of = (pl.col("declared_value_usd") / pl.col("weight_kg"))
    expected = df.filter(pl.col("hs_code") == "850440", origin_country="CN").select(uv_of.median()).item()
    assert s.unit_value_norms(row)["tariffed"] == pytest.approx(expected)


@pytest.mark.parametrize("name", ["Ana María", 'o"brien; path=/', "[red]李[/red]"])
def test_an_analyst_name_of_any_characters_is_remembered(client, store, name):
    r = decide(client, "S00258", "needs-info", note="", analyst=name)
    assert r.status_code == 303
    assert store.history("S00258")[0].analyst == name
    page = client.get("/shipment?id=S00258").text
    import html

    shown = re.search(r'<input name="analyst" value="([^"]*)" size="14"', page).group(1)
    assert html.unescape(shown) == name


def test_shipment_page_shows_the_lines_data_quality_codes_and_notes(tmp_path, store):
    scored = make_scored().with_columns(
        pl.when(pl.col("shipment_id") == "S00258").then(pl.lit("missing_exporter,zero_value"))
        .otherwise(pl.lit(None, dtype=pl.String)).alias("dq_codes"),
        pl.when(pl.col("shipment_id") == "S00258").then(pl.lit("exporter_id is blank; <b>declared_value_usd</b> is 0"))
        .otherwise(pl.lit(None, dtype=pl.String)).alias("dq_notes"),
    )
    scored.write_parquet(tmp_path / "dq.parquet")
    c = TestClient(create_app(ScoredSet([tmp_path / "dq.parquet"]), store), base_url=BASE)
    html = c.get("/shipment?id=S00258").text
    assert 'id="data-quality"' in html and "missing_exporter,zero_value" in html
    assert "&lt;b&gt;declared_value_usd&lt;/b&gt; is 0" in html  # the note is data: escaped
    other = make_scored().filter(pl.col("flagged"))["shipment_id"][0]
    assert 'id="data-quality"' not in c.get(f"/shipment?id={other}").text
