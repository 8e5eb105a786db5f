"""Append-only SQLite store of analysts' decisions on flagged shipments.

Each decision is a new row; a shipment's current status is *derived* (its latest
decision), so history is never lost. SQLite triggers abort any UPDATE or DELETE
on the decision and audit tables. WAL mode plus a busy timeout let two browser
tabs and a CLI write at the same time.

Example::

    store = DecisionStore("decisions.db")
    store.decide("S1", "confirmed", note="same HS from CN", analyst="ana")
    store.current_status(["S1"])  # {"S1": "confirmed"}
"""
from __future__ import annotations

import sqlite3
from contextlib import closing  # sqlite3's own context manager only ends the transaction
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.io.write import write_table

STATUSES = ("confirmed", "cleared", "needs-info")
#: How a review status becomes a training/evaluation label (needs-info is no outcome).
LABEL_OF_STATUS = {"confirmed": 1, "cleared": 0}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shipment_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'cleared', 'needs-info')),
    note TEXT NOT NULL DEFAULT '',
    analyst TEXT NOT NULL DEFAULT '',
    decided_at TEXT NOT NULL,
    model_name TEXT,
    model_version TEXT,
    risk_score REAL,
    scored_file TEXT,
    scored_file_sha256 TEXT
);
CREATE INDEX IF NOT EXISTS decisions_shipment ON decisions (shipment_id, id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

#: The latest decision per shipment (highest id wins: ids grow with time).
_CURRENT = """
SELECT d.* FROM decisions d
JOIN (SELECT shipment_id, MAX(id) AS id FROM decisions GROUP BY shipment_id) last ON last.id = d.id
"""


@dataclass(frozen=True)
class Decision:
    """One analyst decision as stored."""

    id: int
    shipment_id: str
    status: str
    note: str
    analyst: str
    decided_at: str
    model_name: str | None = None
    model_version: str | None = None
    risk_score: float | None = None
    scored_file: str | None = None
    scored_file_sha256: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """What the analyst saw when deciding: the model and score behind the flag, and the
    scored file (absolute path and SHA-256) it was read from."""

    model_name: str | None = None
    model_version: str | None = None
    risk_score: float | None = None
    scored_file: str | None = None
    scored_file_sha256: str | None = None


#: Statuses that are an outcome (a label): they need a note saying what was checked.
NOTE_REQUIRED = ("confirmed", "cleared")


def check_decision(status: str, *, note: str, analyst: str) -> None:
    """Refuse a decision that nobody could later stand behind.

    Every decision names its analyst; a confirmation or a clearance (the outcomes that
    become training and evaluation labels) also says what was checked.
    """
    check_status(status)
    if not analyst.strip():
        raise InputError("a decision needs the analyst's name", hint="fill in Analyst (or pass --analyst)")
    if status in NOTE_REQUIRED and not note.strip():
        raise InputError(f"a {status} decision needs a note saying what was checked",
                         hint="write what you checked in Note (or pass --note)")


def check_status(status: str) -> str:
    """Return ``status`` if it is a known review status, else raise ``InputError``."""
    if status not in STATUSES:
        raise InputError(f"unknown review status {status!r}", hint=f"use one of: {', '.join(STATUSES)}")
    return status


#: Columns added to ``decisions`` after its first release, with their type: a store made
#: before them gains them (empty for its earlier rows) when it is opened.
_ADDED_COLUMNS = {"scored_file_sha256": "TEXT"}


def _add_missing_columns(con: sqlite3.Connection) -> None:
    have = {row[1] for row in con.execute("PRAGMA table_info(decisions)")}
    for name, kind in _ADDED_COLUMNS.items():
        if name not in have:
            try:
                con.execute(f"ALTER TABLE decisions ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:  # added meanwhile by another process
                if "duplicate column" not in str(exc):
                    raise


class DecisionStore:
    """Decisions in one SQLite file; every method opens its own short connection.

    A connection per call (instead of one held open) keeps the store safe to use
    from the web server's worker threads and from other processes at once.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
                _add_missing_columns(con)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a usable decision store ({exc})", hint="pass another --db file") from exc

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
        return con

    def decide(
        self, shipment_id: str, status: str, *, note: str = "", analyst: str = "", context: Context | None = None
    ) -> Decision:
        """Append one decision (and its audit entry) and return it."""
        return self.decide_many([shipment_id], status, note=note, analyst=analyst, contexts={shipment_id: context})[0]

    def decide_many(
        self,
        shipment_ids: Iterable[str],
        status: str,
        *,
        note: str = "",
        analyst: str = "",
        contexts: dict[str, Context | None] | None = None,
    ) -> list[Decision]:
        """Append one decision per shipment in a single transaction (bulk decisions)."""
        check_status(status)
        ids = [str(s) for s in shipment_ids]
        if any(not s.strip() for s in ids):
            raise InputError("a decision needs a shipment id", hint="pass SHIPMENT_ID")
        contexts = contexts or {}
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        out: list[Decision] = []
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlock
            for sid in ids:
                ctx = contexts.get(sid) or Context()
                cur = con.execute(
                    "INSERT INTO decisions (shipment_id, status, note, analyst, decided_at, model_name, "
                    "model_version, risk_score, scored_file, scored_file_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sid, status, note, analyst, now, ctx.model_name, ctx.model_version, ctx.risk_score, ctx.scored_file,
                     ctx.scored_file_sha256),
                )
                out.append(Decision(cur.lastrowid, sid, status, note, analyst, now, ctx.model_name,
                                    ctx.model_version, ctx.risk_score, ctx.scored_file, ctx.scored_file_sha256))
            con.execute(
                "INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (now, analyst, "decide" if len(ids) == 1 else "bulk-decide", f"{status}: {', '.join(ids)}"),
            )
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()
        return out

    def history(self, shipment_id: str) -> list[Decision]:
        """Every decision on one shipment, oldest first."""
        with closing(self._connect()) as con:
            rows = con.execute("SELECT * FROM decisions WHERE shipment_id = ? ORDER BY id", (shipment_id,)).fetchall()
        return [Decision(**dict(r)) for r in rows]

    def current(self, status: str | None = None) -> list[Decision]:
        """The latest decision of every decided shipment, optionally only those with ``status``."""
        sql, args = _CURRENT, ()
        if status is not None:
            check_status(status)
            sql, args = f"SELECT * FROM ({_CURRENT}) WHERE status = ?", (status,)
        with closing(self._connect()) as con:
            rows = con.execute(sql + " ORDER BY id", args).fetchall()
        return [Decision(**dict(r)) for r in rows]

    def current_status(self, shipment_ids: Iterable[str] | None = None) -> dict[str, str]:
        """Map shipment id -> derived status (latest decision); undecided ids are absent."""
        wanted = None if shipment_ids is None else set(map(str, shipment_ids))
        return {d.shipment_id: d.status for d in self.current() if wanted is None or d.shipment_id in wanted}

    def audit(self) -> list[dict]:
        """The audit log, oldest first."""
        with closing(self._connect()) as con:
            return [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY id").fetchall()]

    def export_labels(self, path: str | Path) -> int:
        """Write ``shipment_id,label,scenario`` for confirmed (1) and cleared (0) shipments.

        Atomic and spreadsheet-safe (``write_table``); the file is accepted by
        ``waypoint evaluate --labels`` and ``waypoint train --labels``. Returns the row count.
        """
        df = self.labels()
        write_table(df, path)
        return df.height

    def labels(self) -> pl.DataFrame:
        """``shipment_id,label,scenario`` of the confirmed (1) and cleared (0) shipments."""
        rows = [d for d in self.current() if d.status in LABEL_OF_STATUS]
        return pl.DataFrame(
            {
                "shipment_id": [d.shipment_id for d in rows],
                "label": [LABEL_OF_STATUS[d.status] for d in rows],
                "scenario": [f"review:{d.status}" for d in rows],
            },
            schema={"shipment_id": pl.String, "label": pl.Int8, "scenario": pl.String},
        )
