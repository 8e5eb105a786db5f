"""The review page's Host allow-list: loopback names and the bound host pass, with any port;
every other Host is refused with 400 before the token is asked for."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from detector.review.app import create_app
from detector.review.queue import ScoredSet
from detector.review.security import SecurityConfig
from detector.review.store import DecisionStore
from review_helpers import make_scored

TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    path = tmp_path_factory.mktemp("hosts") / "scored.parquet"
    make_scored(30, n_flagged=3).write_parquet(path)
    return path


def _client(scored, tmp_path, config: SecurityConfig | None = None) -> TestClient:
    app = create_app(ScoredSet([scored]), DecisionStore(tmp_path / "d.db"), security=config)
    return TestClient(app, base_url="http://127.0.0.1:8765")


def _status(client: TestClient, host: str, **params) -> int:
    return client.get("/healthz", headers={"Host": host}, params=params, follow_redirects=False).status_code


@pytest.mark.parametrize("host", ["localhost", "localhost:8765", "LOCALHOST:8765", "127.0.0.1", "127.0.0.1:8765",
                                  "[::1]", "[::1]:8765"])
def test_review_page_accepts_loopback_host_with_or_without_port(scored, tmp_path, host):
    assert _status(_client(scored, tmp_path), host) == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "localhost.evil.example", "127.0.0.2",
                                  "[::2]:8765", "::1", "[::1", "localhost:80:80", "", "127.0.0.1/x"])
def test_review_page_refuses_foreign_or_malformed_host_with_400(scored, tmp_path, host):
    client = _client(scored, tmp_path)
    answer = client.get("/healthz", headers={"Host": host}, follow_redirects=False)
    assert answer.status_code == 400
    assert answer.text == "Invalid host header"


def test_review_page_refuses_foreign_host_before_asking_for_the_token(scored, tmp_path):
    client = _client(scored, tmp_path, SecurityConfig(host="10.0.0.5", allow_remote=True, token=TOKEN))
    assert _status(client, "evil.example", token=TOKEN) == 400  # the right token does not let a foreign Host in
    assert _status(client, "evil.example") == 400  # nor is it 401: the Host is checked first
    assert _status(client, "10.0.0.5:8765") == 401
    assert _status(client, "10.0.0.5:8765", token=TOKEN) == 200
    assert _status(client, "localhost", token=TOKEN) == 200


def test_review_page_accepts_bound_ipv6_host_in_brackets(scored, tmp_path):
    client = _client(scored, tmp_path, SecurityConfig(host="FD00::5", allow_remote=True, token=TOKEN))
    assert _status(client, "[fd00::5]:8765", token=TOKEN) == 200
    assert _status(client, "[FD00::5]", token=TOKEN) == 200
    assert _status(client, "[fd00::6]:8765", token=TOKEN) == 400


def test_review_page_bound_to_every_interface_accepts_only_loopback_names(scored, tmp_path):
    client = _client(scored, tmp_path, SecurityConfig(host="0.0.0.0", allow_remote=True, token=TOKEN))
    assert _status(client, "0.0.0.0:8765", token=TOKEN) == 400
    assert _status(client, "127.0.0.1:8765", token=TOKEN) == 200


def test_review_page_refuses_host_without_www_instead_of_redirecting(scored, tmp_path):
    client = _client(scored, tmp_path, SecurityConfig(host="www.review.example", allow_remote=True, token=TOKEN))
    assert _status(client, "review.example", token=TOKEN) == 400
    assert _status(client, "www.review.example", token=TOKEN) == 200


def test_allowed_hosts_never_hold_a_wildcard_that_would_accept_any_host():
    config = SecurityConfig(host="*", allow_remote=True, token=TOKEN)
    assert config.allowed_hosts == ["127.0.0.1", "[::1]", "localhost"]
