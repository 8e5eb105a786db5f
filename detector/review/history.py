"""The model's history behind a scored file, for the pictures.

A scored file's lineage (``detector.lineage``) names the model that scored it; that
model's reference state (``features.state.ReferenceState``) holds the training period's
sums: weekly ``imports`` per (importer, HS6, origin), weekly ``exports`` per (exporter,
HS6), monthly ``price`` sums of log unit values per (HS6, origin), weekly component
``inputs`` per (importer, HS6, supplier country), all in integer cents or scaled logs.
The pictures draw that history for the months *before* the scored file's first month
(later months are the scored file's own), so nothing is counted twice.

:func:`model_history` finds and loads the state once per set of scored files (and keeps
the last few loaded, by model): a file without lineage falls back on its ``model_name`` /
``model_version`` columns; a model that cannot be found, or a state that cannot be read,
gives a :class:`ModelHistory` with no state and a ``note`` saying why, and the pictures
draw the scored file's months alone.
"""
from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from features.families._history import CENTS, LOG_SCALE, week_monday

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_KEEP = 4


@dataclass(frozen=True)
class ModelHistory:
    """The reference state of the model behind the scored files (``state`` None: none found).

    ``model`` names it (``name/version`` or a folder); ``note`` says why there is no
    state; ``before`` is the first day of the scored files' first month: history is drawn
    for the months before it.
    """

    state: Any = None  # features.state.ReferenceState
    model: str = ""
    note: str = ""
    before: dt.date | None = None

    @property
    def available(self) -> bool:
        return self.state is not None

    def caption(self) -> str:
        if self.available:
            first = self.state.spans["shipments"].first
            return (f"Months before {self.before:%b %Y} are model {self.model}'s history (its training data"
                    + (f" from {first:%b %Y}" if first else "") + "), drawn lighter; later months are the scored file's.")
        return f"No model history was available ({self.note}): only the scored file's months are drawn."

    # --- monthly frames of the history before ``before`` -----------------------------------

    def _monthly_usd(self, table: str, where: pl.Expr, *by: str) -> pl.DataFrame:
        """USD per month (and per ``by``) of a weekly table's rows matching ``where``, weeks
        placed in the month their Monday falls in, before ``before``."""
        return (self.state.tables[table].filter(where)
                .with_columns(week_monday(pl.col("period")).alias("day"))
                .filter(pl.col("day") < pl.lit(self.before))
                .group_by(pl.col("day").dt.truncate("1mo").alias("month"), *by)
                .agg((pl.col("value").sum() / CENTS).alias("usd"))
                .sort("month", *by))

    def supply(self, importer: str, hs6: str) -> list[tuple[dt.date, str, float]]:
        """(month, origin, USD) of one importer's imports of one HS6."""
        if not self.available or self.before is None:
            return []
        out = self._monthly_usd("imports", (pl.col("importer_id") == importer) & (pl.col("hs6") == hs6), "origin_country")
        return [(m, o or "?", float(v)) for m, o, v in out.iter_rows()]

    def exports(self, exporter: str) -> list[tuple[dt.date, float]]:
        """(month, USD) of one exporter's shipments, every HS code."""
        if not self.available or self.before is None:
            return []
        return [(m, float(v)) for m, v in self._monthly_usd("exports", pl.col("exporter_id") == exporter).iter_rows()]

    def inputs(self, importer: str) -> list[tuple[dt.date, float]]:
        """(month, USD) of the component imports of one transit-country firm."""
        if not self.available or self.before is None or not self.state.has_inputs:
            return []
        return [(m, float(v)) for m, v in self._monthly_usd("inputs", pl.col("importer_id") == importer).iter_rows()]

    def price(self, hs6: str, origins: Sequence[str]) -> dict[str, dict[str, float]]:
        """{origin: {YYYY-MM: geometric mean unit value, USD/kg}} of one HS6, months before ``before``."""
        if not self.available or self.before is None:
            return {}
        limit = self.before.year * 12 + self.before.month - 1
        df = (self.state.tables["price"]
              .filter((pl.col("hs6") == hs6) & pl.col("origin_country").is_in(list(origins)) & (pl.col("period") < limit))
              .group_by("origin_country", "period").agg(pl.col("priced").sum(), pl.col("s1").sum())
              .filter(pl.col("priced") > 0))
        out: dict[str, dict[str, float]] = {}
        for origin, period, priced, s1 in df.sort("period").iter_rows():
            key = f"{period // 12:04d}-{period % 12 + 1:02d}"
            out.setdefault(origin, {})[key] = math.exp(s1 / LOG_SCALE / priced)
        return out

    def events(self) -> pl.DataFrame | None:
        """The tariff events the model was trained with."""
        return self.state.events if self.available else None


def model_refs(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """(how to load, what to call it) of the models named by the scored files: a saved
    folder or ``NAME/VERSION`` from the lineage, else from the ``model_name``/``model_version`` columns."""
    from detector import lineage

    refs: list[tuple[str, str]] = []
    for path in paths:
        record = lineage.read(path) or {}
        model = record.get("model") or {}
        name, version, ref = model.get("name"), model.get("version"), model.get("ref")
        if version == "local" and ref:
            refs.append((ref, ref))
        elif name and version:
            refs.append((f"{name}/{version}", f"{name}/{version}"))
        else:
            refs.extend(_from_columns(path))
    return list(dict.fromkeys(refs))


def _from_columns(path: str | Path) -> list[tuple[str, str]]:
    from detector.review.queue import _scan_one

    try:
        lf = _scan_one(Path(path))
        if not {"model_name", "model_version"} <= set(lf.collect_schema().names()):
            return []
        rows = lf.select(pl.col("model_name").cast(pl.String), pl.col("model_version").cast(pl.String)).unique().head(4).collect()
    except Exception:  # noqa: BLE001 - a picture's history is optional; the queue reports unreadable files
        return []
    return [(f"{n}/{v}", f"{n}/{v}") for n, v in rows.iter_rows() if n and v and v != "local"]


def load_state(ref: str, settings=None):
    """The reference state of model ``ref`` (a saved folder or ``NAME/VERSION``), its files
    checked against the model's manifest; kept for the next call with the same model."""
    import tempfile

    from detector.config import Settings
    from detector.jobs.modelref import saved_dir, model_errors, store
    from features.state import ReferenceState
    from models import artifact

    settings = settings or Settings.from_env()
    folder = saved_dir(ref)
    key = (str(folder.resolve()), (folder / artifact.MANIFEST).stat().st_mtime_ns) if folder else (settings.tracking_uri, ref)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    with model_errors(), tempfile.TemporaryDirectory(prefix="waypoint-state-") as tmp:
        if folder is None:
            from models.tracking import locate_detector

            folder, _ = locate_detector(store(settings), ref, Path(tmp))
        artifact.verify(folder)
        if not (folder / artifact.STATE_DIR).is_dir():
            raise ValueError(f"model {ref} was saved without a reference state")
        state = ReferenceState.from_dir(folder / artifact.STATE_DIR, verify=False)
    with _CACHE_LOCK:
        _CACHE[key] = state
        while len(_CACHE) > _KEEP:
            _CACHE.popitem(last=False)
    return state


def model_history(paths: Sequence[str | Path], first_day: dt.date | None, settings=None) -> ModelHistory:
    """The history of the first model the scored files name that can be loaded."""
    before = first_day.replace(day=1) if first_day else None
    refs = model_refs(paths)
    if not refs:
        return ModelHistory(note="the scored file names no model", before=before)
    notes = []
    for ref, label in refs:
        try:
            return ModelHistory(state=load_state(ref, settings), model=label, before=before)
        except Exception as exc:  # noqa: BLE001 - any failure to find or read the model only loses the history
            notes.append(f"model {label}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return ModelHistory(note="; ".join(notes), before=before)


__all__ = ["ModelHistory", "load_state", "model_history", "model_refs"]
