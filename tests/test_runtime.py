"""Importing waypoint, or building features, changes nothing in the process.

``detector.runtime.batch_process`` is the one place that does, inside its block only, as
the `waypoint` entry point applies it (tests/test_batch_process.py). Each check runs in a
fresh interpreter, so nothing imported by other tests hides a change.
"""
from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, os, signal
env = dict(os.environ); enabled = gc.isenabled(); frozen = gc.get_freeze_count(); threshold = gc.get_threshold()
sigterm = signal.getsignal(signal.SIGTERM)
import {modules}
import polars
print(json.dumps({{"env": {{k: v for k, v in os.environ.items() if env.get(k) != v}}, "enabled": gc.isenabled() == enabled,
                  "frozen": gc.get_freeze_count() - frozen, "threshold": gc.get_threshold() == threshold,
                  "sigterm": signal.getsignal(signal.SIGTERM) is sigterm}}))
"""


def _probe(modules: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(modules=modules)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_features_and_detector_changes_no_environment_variable_nor_the_collector_nor_a_signal():
    # Polars itself writes its jemalloc options into the environment when it loads: that
    # is the baseline, and importing waypoint's packages must add nothing to it.
    polars_alone = _probe("polars")
    assert polars_alone["enabled"] and polars_alone["frozen"] == 0 and polars_alone["sigterm"]
    for modules in ("features", "features.pipeline", "detector", "detector.runtime", "detector.cli.main"):
        assert _probe(modules) == polars_alone, modules


BUILD_TWICE = """
import datetime as dt, gc, json
import polars as pl
from features.pipeline import build
from features.schema import SHIPMENTS
rows = pl.DataFrame([{"shipment_id": f"S{i}", "arrival_date": dt.date(2025, 1, 1) + dt.timedelta(days=i), "importer_id": "I",
                      "exporter_id": "E", "hs_code": "850440", "origin_country": "VN", "declared_value_usd": 10.0,
                      "weight_kg": 1.0} for i in range(20)])
rows = rows.with_columns(pl.lit(None, dtype=t).alias(n) for n, t in SHIPMENTS.schema.items() if n not in rows.columns)
seen = []
for _ in range(2):
    build(rows.select(SHIPMENTS.names).cast(SHIPMENTS.schema).lazy())
    seen.append([gc.isenabled(), gc.get_freeze_count()])
gc.disable()
build(rows.select(SHIPMENTS.names).cast(SHIPMENTS.schema).lazy())
seen.append([gc.isenabled(), gc.get_freeze_count()])
print(json.dumps(seen))
"""


def test_a_build_leaves_the_collector_as_it_found_it_and_freezes_nothing():
    out = subprocess.run([sys.executable, "-c", BUILD_TWICE], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[True, 0], [True, 0], [False, 0]]
