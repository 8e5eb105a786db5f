"""The decision store: append-only history, derived status, concurrency, label export; review CLI."""
from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli.main import app
from detector.errors import InputError
from detector.review.store import Context, DecisionStore
from features.schema import LABELS
from models.artifact import sha256
from review_helpers import make_scored


@pytest.fixture
def store(tmp_path) -> DecisionStore:
    return DecisionStore(tmp_path / "decisions.db")


def test_current_status_is_the_latest_decision_and_history_keeps_all(store):
    store.decide("S1", "needs-info", note="ask broker", analyst="ana")
    store.decide("S1", "confirmed", note="same HS from CN", analyst="bo", context=Context("m", "3", 97.5, "s.parquet"))
    store.decide("S2", "cleared", analyst="ana")
    assert store.current_status() == {"S1": "confirmed", "S2": "cleared"}
    history = store.history("S1")
    assert [d.status for d in history] == ["needs-info", "confirmed"]
    assert history[1].model_version == "3" and history[1].risk_score == 97.5 and history[1].decided_at.endswith("+00:00")
    assert [d.shipment_id for d in store.current("cleared")] == ["S2"]


def test_update_of_a_decision_is_aborted_by_the_store(store):
    store.decide("S1", "confirmed")
    con = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE decisions SET status = 'cleared'")
    con.close()
    assert store.current_status() == {"S1": "confirmed"}


def test_delete_of_decisions_or_audit_is_aborted_by_the_store(store):
    store.decide("S1", "confirmed")
    con = sqlite3.connect(store.path)
    for table in ("decisions", "audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(f"DELETE FROM {table}")
    con.close()
    assert len(store.history("S1")) == 1 and len(store.audit()) == 1


def test_bulk_decision_is_one_audit_entry_naming_every_shipment(store):
    store.decide_many(["S1", "S2", "S3"], "cleared", analyst="ana", note="honest exporter")
    assert store.current_status() == {"S1": "cleared", "S2": "cleared", "S3": "cleared"}
    (entry,) = store.audit()
    assert entry["action"] == "bulk-decide" and "S1, S2, S3" in entry["detail"]


def test_unknown_status_is_refused_with_the_allowed_ones(store):
    with pytest.raises(InputError) as err:
        store.decide("S1", "maybe")
    assert "needs-info" in err.value.hint
    assert store.current_status() == {}


def test_store_is_in_wal_mode(store):
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def _write_many(path: str, prefix: str, n: int) -> None:
    s = DecisionStore(path)
    for i in range(n):
        s.decide(f"{prefix}{i}", "confirmed" if i % 2 else "cleared", analyst=prefix)


def test_concurrent_writers_in_threads_and_processes_lose_no_decision(tmp_path):
    path = str(tmp_path / "decisions.db")
    DecisionStore(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, f"P{k}-", 40)) for k in range(2)]
    threads = [threading.Thread(target=_write_many, args=(path, f"T{k}-", 40)) for k in range(3)]
    for w in procs + threads:
        w.start()
    for w in procs + threads:
        w.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)
    store = DecisionStore(path)
    assert len(store.current_status()) == 5 * 40
    assert len(store.audit()) == 5 * 40


def test_export_labels_maps_confirmed_to_1_cleared_to_0_and_omits_needs_info(store, tmp_path):
    store.decide("S1", "cleared")
    store.decide("S1", "confirmed")  # the latest decision counts
    store.decide("S2", "cleared")
    store.decide("S3", "needs-info")
    out = tmp_path / "labels.csv"
    assert store.export_labels(out) == 2
    df = pl.read_csv(out, schema_overrides={"shipment_id": pl.String})
    assert df.columns == LABELS.names
    assert sorted(df.rows()) == [("S1", 1, "review:confirmed"), ("S2", 0, "review:cleared")]


def test_export_labels_neutralises_spreadsheet_formulas(store, tmp_path):
    store.decide("=HYPERLINK(\"x\")", "confirmed")
    out = tmp_path / "labels.csv"
    store.export_labels(out)
    assert out.read_text().splitlines()[1].startswith("\"'=HYPERLINK")


def test_cli_decide_list_and_export_round_trip(tmp_path):
    db = tmp_path / "d.db"
    runner = CliRunner()
    r = runner.invoke(app, ["review", "decide", "S7", "--status", "confirmed", "--note", "CN inputs", "--analyst", "ana",
                            "--db", str(db), "--force"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["review", "list", "--db", str(db), "--json"])
    assert r.exit_code == 0
    (row,) = json.loads(r.stdout)
    assert (row["shipment_id"], row["status"], row["analyst"], row["note"]) == ("S7", "confirmed", "ana", "CN inputs")
    r = runner.invoke(app, ["review", "export", "-o", str(tmp_path / "labels.csv"), "--db", str(db)])
    assert r.exit_code == 0
    assert (tmp_path / "labels.csv").read_text().splitlines() == ["shipment_id,label,scenario", "S7,1,review:confirmed"]


def test_cli_decide_with_scored_file_records_model_and_score(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    db = tmp_path / "d.db"
    r = CliRunner().invoke(app, ["review", "decide", "S00001", "--status", "cleared", "--note", "ok", "--scored", str(scored), "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["model_version"] == "3" and d["risk_score"] is not None
    assert d["scored_file"] == str(scored.resolve()) and d["scored_file_sha256"] == sha256(scored)


def test_cli_decide_refuses_shipment_not_in_scored_file(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    db = tmp_path / "d.db"
    r = CliRunner().invoke(app, ["review", "decide", "NOPE", "--status", "cleared", "--note", "x", "--scored", str(scored), "--db", str(db)])
    assert r.exit_code == 2
    assert "NOPE" in r.stderr and "scored.parquet" in r.stderr
    assert DecisionStore(db).current_status() == {}


def test_cli_decide_without_a_scored_file_needs_force(tmp_path):
    db = tmp_path / "d.db"
    r = CliRunner().invoke(app, ["review", "decide", "S7", "--status", "cleared", "--note", "x", "--db", str(db)])
    assert r.exit_code == 2 and "--scored" in r.stderr and "--force" in r.stderr
    assert DecisionStore(db).current_status() == {}


def test_cli_decide_force_records_an_id_in_no_scored_file(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(60, n_flagged=5).write_parquet(scored)
    db = tmp_path / "d.db"
    r = CliRunner().invoke(app, ["review", "decide", "NOPE", "--status", "needs-info", "--note", "x", "--scored", str(scored),
                                 "--db", str(db), "--force", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["model_version"] is None
    assert DecisionStore(db).current_status() == {"NOPE": "needs-info"}


@pytest.mark.parametrize(("status", "note", "analyst", "said"), [("confirmed", " ", "ana", "note"), ("cleared", "x", " ", "analyst")])
def test_cli_decide_refuses_a_decision_without_note_or_analyst(tmp_path, status, note, analyst, said):
    db = tmp_path / "d.db"
    r = CliRunner().invoke(app, ["review", "decide", "S7", "--status", status, "--note", note, "--analyst", analyst,
                                 "--db", str(db), "--force"])
    assert r.exit_code == 2 and said in r.stderr
    assert DecisionStore(db).current_status() == {}


def test_cli_export_writes_csv_to_stdout_and_json_summary(tmp_path):
    db = tmp_path / "d.db"
    store = DecisionStore(db)
    store.decide("NEN/2026/1", "confirmed", note="x", analyst="a")
    store.decide("=cmd", "cleared", note="x", analyst="a")
    r = CliRunner().invoke(app, ["review", "export", "-o", "-", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["shipment_id,label,scenario", "NEN/2026/1,1,review:confirmed", "'=cmd,0,review:cleared"]
    out = tmp_path / "labels.parquet"
    r = CliRunner().invoke(app, ["review", "export", "-o", str(out), "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"output": str(out), "labels": 2, "confirmed": 1, "cleared": 1}
    assert pl.read_parquet(out).height == 2


def test_cli_export_refuses_to_write_over_the_decision_store(tmp_path):
    db = tmp_path / "d.csv"
    DecisionStore(db).decide("S1", "confirmed", note="x", analyst="a")
    before = db.read_bytes()
    r = CliRunner().invoke(app, ["review", "export", "-o", str(db), "--db", str(db)])
    assert r.exit_code == 2 and "overwritten" in r.stderr
    assert db.read_bytes() == before


def test_cli_decide_refuses_unknown_status(tmp_path):
    r = CliRunner().invoke(app, ["review", "decide", "S1", "--status", "guilty", "--note", "x", "--db", str(tmp_path / "d.db")])
    assert r.exit_code == 2
    assert "guilty" in r.stderr


def test_cli_serve_refuses_remote_bind_without_allow_remote(tmp_path):
    scored = tmp_path / "scored.parquet"
    make_scored(30, n_flagged=3).write_parquet(scored)
    r = CliRunner().invoke(app, ["review", "serve", str(scored), "--host", "0.0.0.0", "--db", str(tmp_path / "d.db")])
    assert r.exit_code == 2
    assert "--allow-remote" in r.stderr
