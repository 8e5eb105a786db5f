"""Process settings: allocator options made when ``features`` is imported, and the
collector after the first build (each in a fresh process).

Polars puts its own jemalloc defaults first and whatever ``_RJEM_MALLOC_CONF`` held after
them (later options win), so what ends the variable once Polars is loaded is what applies.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from features._runtime import CONF


def _conf(code: str, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF" and not k.startswith("MALLOC_")}
    run = subprocess.run([sys.executable, "-c", f"import os; {code}; print(os.environ['_RJEM_MALLOC_CONF'])"],
                         env=clean | (env or {}), capture_output=True, text=True, check=True)
    return run.stdout.strip()


def test_importing_features_first_gives_polars_our_allocator_options():
    assert _conf("import features, polars").endswith("," + CONF)
    assert "narenas:1" in CONF and "oversize_threshold:0" in CONF


def test_allocator_options_the_user_set_are_kept():
    conf = _conf("import features, polars", {"_RJEM_MALLOC_CONF": "narenas:4"})
    assert conf.endswith(",narenas:4") and CONF not in conf


def test_polars_loaded_first_is_left_alone():
    assert CONF not in _conf("import polars, features")


BUILD_TWICE = """
import datetime as dt, gc, json
freezes = []
freeze = gc.freeze
gc.freeze = lambda: (freezes.append(1), freeze())
import polars as pl
from features.pipeline import build
from features.schema import SHIPMENTS
rows = pl.DataFrame([{"shipment_id": f"S{i}", "arrival_date": dt.date(2025, 1, 1) + dt.timedelta(days=i), "importer_id": "I",
                      "exporter_id": "E", "hs_code": "850440", "origin_country": "VN", "declared_value_usd": 10.0,
                      "weight_kg": 1.0} for i in range(20)])
rows = rows.with_columns(pl.lit(None, dtype=t).alias(n) for n, t in SHIPMENTS.schema.items() if n not in rows.columns)
frozen = []
for _ in range(2):
    build(rows.select(SHIPMENTS.names).cast(SHIPMENTS.schema).lazy()).collect()
    frozen.append(gc.get_freeze_count())
print(json.dumps({"frozen": frozen, "freezes": len(freezes), "enabled": gc.isenabled()}))
"""


def test_the_build_that_loads_the_kernels_freezes_them_once_and_restores_the_collector():
    out = subprocess.run([sys.executable, "-c", BUILD_TWICE], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["frozen"][0] > 20_000  # numba's modules, loaded by the first build
    assert got["freezes"] == 1  # the second build freezes nothing
    assert got["enabled"]
