"""Lineage of a scored file: the model, the files, the options and the time that made it.

Every file ``waypoint score`` writes carries one JSON record, so a score can be traced
from the file alone, on any machine:

- in a Parquet output, under the key/value metadata key ``waypoint.lineage``
  (``pl.read_parquet_metadata(path)["waypoint.lineage"]``);
- beside a CSV output (CSV has no metadata), in ``OUT.lineage.json``, named like the
  rejects file ``OUT.rejects.csv``; it records the size of the CSV it describes, so a
  sidecar left by another run of the same name is not taken for this file's.

The record (``format`` 1)::

    {"format": 1, "scored_at": "2026-03-01T09:30:12Z", "waypoint_version": "0.1.0",
     "model": {"name": "waypoint", "version": "3", "run_id": "9f...", "ref": "waypoint@champion"},
     "files": {"shipments": [{"path": "/abs/extract.csv", "sha256": "...", "bytes": 123}],
               "inputs": [...], "events": [...], "mapping": [...], "party_lists": [...]},
     "options": {"budget": 0.01, "top": null, ...},
     "context": {"flag_rule": "...", "events": "the model's", "events_digest": "...", ...}}

``files`` holds every file the run read, by role, with its absolute path and SHA-256
(roles with no file are left out: no ``events`` means the model's own tariff events were
used, and ``context`` says so). The digests are computed on a background thread while
the run reads and scores (hashing releases the GIL), so they cost no wall time on a
scoring run of any size. ``model.run_id`` is the MLflow run of the model version:
``waypoint evaluate --log`` records its figures there.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Parquet key/value metadata key of the record.
KEY = "waypoint.lineage"
FORMAT = 1
#: Roles of input files, in the order a record lists them.
ROLES = ("shipments", "inputs", "events", "mapping", "party_lists")


def sidecar_path(output: str | Path) -> Path:
    """``OUT.lineage.json`` beside ``output`` (the stem, as ``OUT.rejects.csv``)."""
    output = Path(output)
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.lineage.json")


def file_entry(path: str | Path) -> dict[str, Any]:
    """``{"path": absolute path, "sha256": ..., "bytes": ...}`` of one file."""
    from models.artifact import sha256

    path = Path(path).resolve()
    return {"path": str(path), "sha256": sha256(path), "bytes": path.stat().st_size}


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    """The files the reader reads for ``paths`` (its own glob rules); names it cannot
    resolve are left out: the read reports them before anything is written."""
    from detector.errors import InputError
    from detector.io.read import expand_paths

    out: list[Path] = []
    for p in paths:
        try:
            out.extend(expand_paths([p]))
        except InputError:
            continue
    return out


@dataclass
class Trace:
    """A scoring run's lineage in the making: the digests are being computed on a thread
    (started by :func:`start`); :meth:`record` waits for them and adds the model."""

    options: dict[str, Any]
    _files: Future = field(repr=False)
    _record: dict[str, Any] | None = field(default=None, repr=False)

    def record(self, model: Any = None, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The lineage record (built once): ``model`` is a ``detector.jobs.modelref.LoadedModel``
        (or anything with ``name``, ``version``, ``run_id``, ``ref``); ``context`` holds what the
        run decided (flag rule, whose events, importing country)."""
        from detector import __version__

        if self._record is None:
            self._record = {
                "format": FORMAT,
                "scored_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "waypoint_version": __version__,
                "model": _model(model),
                "files": self._files.result(),
                "options": _plain(self.options),
                "context": _plain({k: v for k, v in (context or {}).items() if k != "notes"}),
            }
        return self._record

    def metadata(self, model: Any = None, context: Mapping[str, Any] | None = None) -> dict[str, str]:
        """The Parquet key/value metadata carrying the record."""
        return {KEY: json.dumps(self.record(model, context), sort_keys=True)}

    def write_beside(self, output: str | Path, fmt: str) -> Path | None:
        """For a CSV output, write ``OUT.lineage.json`` (atomically) with the output's size;
        a Parquet output carries its record inside and gets no sidecar. Call after the
        output is in place, with :meth:`record` already built."""
        if fmt != "csv":
            return None
        from detector.io.write import write_text_output

        output = Path(output)
        record = {**self.record(), "output": {"path": str(output.resolve()), "bytes": output.stat().st_size}}
        return write_text_output(json.dumps(record, indent=2, sort_keys=True), sidecar_path(output))


def start(
    shipments: Sequence[str | Path],
    *,
    inputs: Sequence[str | Path] | None = None,
    events: Sequence[str | Path] | None = None,
    mapping: str | Path | None = None,
    party_lists: Sequence[str | Path] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Trace:
    """Begin the lineage of a run reading these files: their digests are computed on a
    daemon thread from now on; ``options`` are the run's settings as given."""
    roles = {"shipments": shipments, "inputs": inputs, "events": events,
             "mapping": [mapping] if mapping else None, "party_lists": party_lists}
    future: Future = Future()

    def work() -> None:
        try:
            files = {}
            for role in ROLES:
                found = _expand(list(roles[role] or []))
                if found:
                    files[role] = [file_entry(p) for p in found]
            future.set_result(files)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)

    threading.Thread(target=work, name="waypoint-lineage", daemon=True).start()
    return Trace(options=dict(options or {}), _files=future)


def _model(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    return {
        "name": str(getattr(model, "name", "") or ""),
        "version": str(getattr(model, "version", "") or ""),
        "run_id": getattr(model, "run_id", None),
        "ref": getattr(model, "ref", None),
    }


def _plain(value: Any) -> Any:
    """JSON-ready: paths as text, tuples as lists, anything else unknown as its text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def read(path: str | Path) -> dict[str, Any] | None:
    """The lineage record of a scored file, or None when it has none (written before
    lineage existed, by another tool, or a CSV whose sidecar describes another file)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        import polars as pl

        try:
            text = pl.read_parquet_metadata(path).get(KEY)
        except (OSError, pl.exceptions.PolarsError):
            return None
        return json.loads(text) if text else None
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except ValueError:
        return None
    output = record.get("output") or {}
    if not path.is_file() or output.get("bytes") != path.stat().st_size:
        return None
    return record
