"""`waypoint review serve`: the port is checked before the URL is announced; every request is logged."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from detector.cli.main import SIGTERM_EXIT, app
from detector.review.app import create_app, shipment_url
from detector.review.queue import ScoredSet
from detector.review.security import SecurityConfig
from detector.review.store import DecisionStore
from review_helpers import make_scored


def test_serve_on_a_busy_port_fails_before_announcing_the_url(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(30, n_flagged=3).write_parquet(scored)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = CliRunner().invoke(app, ["review", "serve", str(scored), "--port", str(port), "--db", str(tmp_path / "d.db")])
    assert r.exit_code == 2, r.output
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    assert "review page on" not in r.output


def test_access_log_has_one_line_per_request_and_never_the_token(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    log = tmp_path / "logs" / "access.log"
    token = "s3cret-token-0123456789"
    config = SecurityConfig(host="10.0.0.5", allow_remote=True, token=token)
    client = TestClient(create_app(ScoredSet([scored]), DecisionStore(tmp_path / "d.db"), security=config, access_log=log),
                        base_url="http://10.0.0.5:8765")
    assert client.get("/").status_code == 401
    assert client.get(f"/?token={token}&origin=VN").status_code == 200
    assert client.get(shipment_url("NEN/2026 #1")).status_code == 404
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    lines = log.read_text().splitlines()
    assert len(lines) == 4
    assert [line.split(" ")[2:5] for line in lines] == [
        ["GET", "/", "401"], ["GET", "/?token=-&origin=VN", "200"], ["GET", "/shipment?id=NEN%2F2026%20%231", "404"],
        ["GET", "/", "400"],
    ]
    assert token not in log.read_text()


def test_serve_in_a_real_process_announces_its_port_logs_and_stops_on_sigterm(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    log = tmp_path / "access.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from detector.cli.main import run; run()", "review", "serve", str(scored), "--port", "0",
         "--db", str(tmp_path / "d.db"), "--log-file", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    try:
        announced = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", announced)
        assert url, announced + proc.stderr.read()
        with urllib.request.urlopen(url.group(0) + "healthz", timeout=10) as answer:
            assert answer.read() == b"ok"
        with urllib.request.urlopen(url.group(0) + shipment_url("S00001")[1:], timeout=10) as answer:
            assert answer.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode in (0, SIGTERM_EXIT)
    requests = [line.split(" ")[2:5] for line in log.read_text().splitlines()]
    assert requests == [["GET", "/healthz", "200"], ["GET", "/shipment?id=S00001", "200"]]
