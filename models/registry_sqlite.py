"""Read waypoint's embedded MLflow store straight from its SQLite file, without MLflow.

Listing versions, resolving a reference and describing a run read a few rows, while
importing mlflow and opening its store costs seconds. For the embedded store (a
``sqlite:///`` file waypoint owns) these reads go to the tables MLflow itself writes:
``registered_models``, ``model_versions``, ``registered_model_aliases``, ``runs``,
``params``, ``tags``, ``latest_metrics`` and ``logged_models``. The rules are MLflow's
own: a version deleted through MLflow is kept as ``Deleted_Internal`` and is no version;
the alias ``latest`` is the highest version; a version's files are at its
``storage_location`` (else its ``source``); the default workspace is the one read.

The file is opened read-only (``mode=ro``): reading never creates a store, never runs a
migration and never writes. A file that does not exist is an empty store. Anything this
reader does not recognise (a table or column missing, a locked or damaged file) raises
:class:`Unreadable`, and the caller asks MLflow's client instead. Writes (training,
promotion) always go through MLflow.
"""
from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

#: What MLflow's registry marks a deleted model version with (it keeps the row).
DELETED_VERSION = "Deleted_Internal"
#: MLflow's workspace when workspaces are not enabled.
DEFAULT_WORKSPACE = "default"
#: MLflow's reserved alias for the highest version.
LATEST = "latest"


class Unreadable(Exception):
    """The file is not a store this reader understands; ask MLflow's client instead."""


@dataclass(frozen=True)
class VersionRow:
    """One registered model version: what the registry's ``model_versions`` row says."""

    name: str
    version: int
    run_id: str | None
    creation_ms: int
    storage: str | None  # where the version's files are (a URI)


@dataclass(frozen=True)
class RunRow:
    """A run's parameters, tags and latest metrics."""

    run_id: str
    experiment_id: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


class SqliteRegistry:
    """Reads of one embedded store's registry and runs (see the module docstring).

    Every method opens its own short read-only connection, as the decision store does.
    """

    def __init__(self, db: str | Path, *, timeout_s: float = 10.0) -> None:
        self.db = Path(db)
        self.timeout_s = timeout_s

    @property
    def exists(self) -> bool:
        return self.db.is_file()

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True, timeout=self.timeout_s)
        except sqlite3.Error as exc:
            raise Unreadable(str(exc)) from None
        con.row_factory = sqlite3.Row
        return con

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        if not self.exists:
            return []
        try:
            with closing(self._connect()) as con:
                return con.execute(sql.format(ws=self._workspace(con)), args).fetchall()
        except sqlite3.Error as exc:  # a table or column this reader expects is not there, a lock, damage
            raise Unreadable(str(exc)) from None

    @staticmethod
    def _workspace(con: sqlite3.Connection) -> str:
        """The default-workspace condition when the registry has workspaces (MLflow 3.x), else none."""
        columns = {row[1] for row in con.execute("PRAGMA table_info(model_versions)")}
        if not columns:
            raise sqlite3.OperationalError("no model_versions table")
        return f"AND workspace = '{DEFAULT_WORKSPACE}'" if "workspace" in columns else ""

    # --- registry ------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        return [r["name"] for r in self._rows("SELECT name FROM registered_models WHERE 1=1 {ws} ORDER BY name")]

    def aliases(self, name: str) -> dict[str, int] | None:
        """``{alias: version}`` of a registered model, or None when no model has that name."""
        if not self._rows("SELECT 1 FROM registered_models WHERE name = ? {ws}", (name,)):
            return None
        rows = self._rows("SELECT alias, version FROM registered_model_aliases WHERE name = ? {ws}", (name,))
        return {r["alias"]: int(r["version"]) for r in rows}

    _VERSION = ("SELECT name, version, run_id, creation_time, storage_location, source FROM model_versions "
                "WHERE current_stage IS NOT '" + DELETED_VERSION + "' {ws}")

    def versions(self, name: str) -> list[VersionRow]:
        """Every live version of ``name``, newest first."""
        return [_version(r) for r in self._rows(self._VERSION + " AND name = ? ORDER BY version DESC", (name,))]

    def version(self, name: str, version: int | str) -> VersionRow | None:
        try:
            number = int(str(version))
        except ValueError:
            return None
        rows = self._rows(self._VERSION + " AND name = ? AND version = ?", (name, number))
        return _version(rows[0]) if rows else None

    def by_alias(self, name: str, alias: str) -> VersionRow | None:
        if alias.lower() == LATEST:
            found = self.versions(name)
            return found[0] if found else None
        rows = self._rows("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ? {ws}", (name, alias))
        return self.version(name, rows[0]["version"]) if rows else None

    def by_run(self, run_id: str) -> list[VersionRow]:
        """Every live version registered from ``run_id`` (any model name)."""
        return [_version(r) for r in self._rows(self._VERSION + " AND run_id = ? ORDER BY version DESC", (run_id,))]

    def logged_model_location(self, model_id: str) -> str | None:
        rows = self._rows("SELECT artifact_location FROM logged_models WHERE model_id = ?", (model_id,))
        return rows[0]["artifact_location"] if rows else None

    # --- runs ----------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRow | None:
        """The run's parameters, tags and latest metrics (NaN where MLflow stored NaN), or None."""
        found = self._rows("SELECT run_uuid, experiment_id FROM runs WHERE run_uuid = ?", (run_id,))
        if not found:
            return None
        params = self._rows("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))
        tags = self._rows("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,))
        metrics = self._rows("SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", (run_id,))
        return RunRow(
            run_id=run_id,
            experiment_id=str(found[0]["experiment_id"]),
            params={r["key"]: r["value"] for r in params},
            tags={r["key"]: r["value"] for r in tags},
            metrics={r["key"]: (float("nan") if r["is_nan"] else float(r["value"])) for r in metrics},
        )


def _version(row: sqlite3.Row) -> VersionRow:
    return VersionRow(
        name=row["name"],
        version=int(row["version"]),
        run_id=row["run_id"] or None,
        creation_ms=int(row["creation_time"] or 0),
        storage=row["storage_location"] or row["source"],
    )
