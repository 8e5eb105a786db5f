"""Benchmark the feature pipeline: Polars reading the CSV vs building every feature.

Prints, in one run: time to read the shipments CSV with Polars alone, time to build all
features from CSV (shipments + component imports, scanned cold, streaming engine), their
ratio (target: at most 4x), rows/s and the peak RSS of the build process. The feature
frame is streamed to Parquet (``sink_parquet``), as a scoring run on a large file would.

    .venv/bin/python bench/features.py                 # 1M shipments
    .venv/bin/python bench/features.py --rows 10000000 # 10M, streaming (target < 8 GB)

Data comes from ``detector.synth`` and is cached in ``--cache`` (default /tmp).
The build runs in a fresh subprocess so its peak RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

GENERATE = """
import datetime as dt, sys
from detector.synth import generate_world, write_world
w = generate_world(int(sys.argv[1]), seed=11, start=dt.date(2024, 1, 1), months=24)
write_world(w, sys.argv[2])
"""

BUILD = """
import json, resource, sys, time
import polars as pl
from features.pipeline import build
from features.schema import EVENTS, INPUTS, SHIPMENTS
d = sys.argv[1]
t0 = time.perf_counter()
ships = pl.scan_csv(f"{d}/shipments.csv", schema_overrides=dict(SHIPMENTS.schema))
inputs = pl.scan_csv(f"{d}/inputs.csv", schema_overrides=dict(INPUTS.schema))
events = pl.read_csv(f"{d}/events.csv", schema_overrides=dict(EVENTS.schema))
out = f"{d}/features.parquet"
build(ships, inputs=inputs, events=events).sink_parquet(out, engine="streaming")
t1 = time.perf_counter()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
meta = pl.scan_parquet(out)
rows = meta.select(pl.len()).collect().item()
print(json.dumps({"seconds": t1 - t0, "rows": rows, "columns": len(meta.collect_schema()), "peak_rss_mb": rss_kb / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="shipments in the generated world")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/waypoint-bench"), help="where generated worlds are kept")
    args = ap.parse_args()
    world = args.cache / f"world-{args.rows}"
    if not (world / "shipments.csv").exists():
        print(f"generating {args.rows:,} shipments into {world} ...", file=sys.stderr)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", GENERATE, str(args.rows), str(world)], check=True)
        print(f"  generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    import polars as pl

    t = time.perf_counter()
    rows = pl.read_csv(world / "shipments.csv").height
    read_s = time.perf_counter() - t

    res = subprocess.run([sys.executable, "-c", BUILD, str(world)], check=True, capture_output=True, text=True)
    built = json.loads(res.stdout.strip().splitlines()[-1])
    ratio = built["seconds"] / read_s
    print(f"shipments               {rows:,} rows ({(world / 'shipments.csv').stat().st_size / 1e6:.0f} MB CSV)")
    print(f"polars read_csv         {read_s:.2f} s")
    print(f"features build (cold)   {built['seconds']:.2f} s  ({built['rows']:,} rows x {built['columns']} columns to Parquet, streaming)")
    print(f"ratio build / read      {ratio:.1f}x  (target <= 4x)")
    print(f"rows/s                  {rows / built['seconds']:,.0f}")
    print(f"peak RSS of build       {built['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
