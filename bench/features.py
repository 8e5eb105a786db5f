"""Benchmark the feature pipeline: Polars reading the CSV vs building every feature.

Prints, in one run: time to read the shipments CSV with Polars alone, time to build all
features from CSV (shipments + component imports), their ratio (target: at most 4x),
rows/s and the peak RSS of the build process. Two figures per build: features into memory
(``build(...)``, the ratio's numerator) and the same followed by writing them to
Parquet (what ``waypoint features build`` does).

The read and the build are timed alike: each in a fresh process ("cold"), from after the
imports. A read repeated inside one process is 20-45% faster than a first read, because
the allocator reuses the memory the read before it freed (no page faults); a build pays
them as a first read does. That warm figure is printed too, with its ratio.

    .venv/bin/python bench/features.py                        # 1M shipments, build()
    .venv/bin/python bench/features.py --repeat 3             # best and range of 3 runs
    .venv/bin/python bench/features.py --rows 10000000 --chunked   # 10M, build_chunks() (target < 8 GB)
    .venv/bin/python bench/features.py --repeat 3 --kernels-loaded  # also: compiled kernels loaded first

The build is timed from after the imports, so loading the compiled lookup kernels (numba
and its cache, about 0.4 s of CPU, which competes with the read on two cores) is counted.
``--kernels-loaded`` adds a second figure where they are loaded before the timer starts: what a
process that has already loaded them pays (a second build, or ``waypoint score``, whose
forest loads numba anyway).

``--chunked`` writes the features to Parquet chunk by chunk with ``build_chunks`` (a few arrival months
at a time); its time includes the write. Data comes from ``detector.synth`` and is cached
in ``--cache`` (default /tmp). The machine is shared: repeat and read the best.
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

READ = """
import json, sys, time
import polars as pl
t0 = time.perf_counter()
rows = pl.read_csv(sys.argv[1]).height
print(json.dumps({"read": time.perf_counter() - t0, "rows": rows}))
"""

BUILD = """
import json, resource, sys, time
from features.pipeline import build, build_chunks
from detector.io.write import write_frames
from features.schema import EVENTS, INPUTS, SHIPMENTS
import polars as pl
d, chunked, preload = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
if preload:
    from features.families import _kernels
    _kernels.warm()
t0 = time.perf_counter()  # after imports; loading the compiled kernels is counted unless preloaded
ships = pl.scan_csv(f"{d}/shipments.csv", schema_overrides=dict(SHIPMENTS.schema))
inputs = pl.scan_csv(f"{d}/inputs.csv", schema_overrides=dict(INPUTS.schema))
events = pl.read_csv(f"{d}/events.csv", schema_overrides=dict(EVENTS.schema))
out = f"{d}/features.parquet"
if chunked:
    write_frames(build_chunks(ships, inputs=inputs, events=events), out, "parquet")
    t1 = t2 = time.perf_counter()
else:
    frame = build(ships, inputs=inputs, events=events)
    t1 = time.perf_counter()
    frame.write_parquet(out)
    t2 = time.perf_counter()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
meta = pl.scan_parquet(out)
rows = meta.select(pl.len()).collect().item()
print(json.dumps({"build": t1 - t0, "with_write": t2 - t0, "rows": rows, "columns": len(meta.collect_schema()), "peak_rss_mb": rss_kb / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="shipments in the generated world")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/waypoint-bench"), help="where generated worlds are kept")
    ap.add_argument("--repeat", type=int, default=1, help="runs of read + build (the machine is shared: take the best)")
    ap.add_argument("--chunked", action="store_true", help="use build_chunks and write to Parquet chunk by chunk (for inputs larger than memory)")
    ap.add_argument("--kernels-loaded", action="store_true", help="also time builds with the compiled kernels loaded first")
    args = ap.parse_args()
    world = args.cache / f"world-{args.rows}"
    if not (world / "shipments.csv").exists():
        print(f"generating {args.rows:,} shipments into {world} ...", file=sys.stderr)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", GENERATE, str(args.rows), str(world)], check=True)
        print(f"  generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    import polars as pl

    def run_read() -> dict:
        res = subprocess.run([sys.executable, "-c", READ, str(world / "shipments.csv")], check=True, capture_output=True, text=True)
        return json.loads(res.stdout.strip().splitlines()[-1])

    def run_build(preload: bool) -> dict:
        res = subprocess.run([sys.executable, "-c", BUILD, str(world), "1" if args.chunked else "0", "1" if preload else "0"],
                             check=True, capture_output=True, text=True)
        return json.loads(res.stdout.strip().splitlines()[-1])

    reads, warm_reads, builds, loaded = [], [], [], []
    for _ in range(args.repeat):
        read = run_read()
        rows = read["rows"]
        reads.append(read["read"])
        builds.append(run_build(False))
        if args.kernels_loaded:
            loaded.append(run_build(True))
    for _ in range(max(args.repeat, 2)):  # the same read repeated in this process (warm allocator)
        t = time.perf_counter()
        pl.read_csv(world / "shipments.csv")
        warm_reads.append(time.perf_counter() - t)
    read_s = min(reads)
    best = min(builds, key=lambda b: b["build"])
    ratios = [b["build"] / r for b, r in zip(builds, reads)]
    mode = "build_chunks, written to Parquet" if args.chunked else "build, features into memory"
    print(f"shipments               {rows:,} rows ({(world / 'shipments.csv').stat().st_size / 1e6:.0f} MB CSV)")
    print(f"polars read_csv (cold)  {read_s:.2f} s  (best of {len(reads)}: {', '.join(f'{r:.2f}' for r in reads)}; a fresh process each)")
    runs = ", ".join(f"{b['build']:.2f}" for b in builds)
    print(f"features build (cold)   {best['build']:.2f} s  (best of {len(builds)}: {runs}; {mode})")
    if not args.chunked:
        print(f"  + write Parquet       {best['with_write']:.2f} s  ({best['rows']:,} rows x {best['columns']} columns)")
    target = "" if args.chunked else "  (target <= 4x)"  # the 10M chunked target is memory: peak < 8 GB
    print(f"ratio build / read      {best['build'] / read_s:.1f}x best-to-best; per run {', '.join(f'{r:.1f}' for r in ratios)}{target}")
    if loaded:
        best_loaded = min(b["build"] for b in loaded)
        runs_loaded = ", ".join(f"{b['build']:.2f}" for b in loaded)
        ratios_loaded = ", ".join(f"{b['build'] / r:.1f}" for b, r in zip(loaded, reads))
        print(f"  kernels loaded first  {best_loaded:.2f} s  (best of {len(loaded)}: {runs_loaded}); "
              f"ratio {best_loaded / read_s:.1f}x best-to-best, per run {ratios_loaded}")
    warm = min(warm_reads)
    print(f"  read repeated warm    {warm:.2f} s  (best of {len(warm_reads)} in one process: {', '.join(f'{r:.2f}' for r in warm_reads)}); "
          f"build / warm read {best['build'] / warm:.1f}x")
    print(f"rows/s                  {rows / best['build']:,.0f}")
    peak = max(b["peak_rss_mb"] for b in builds)
    print(f"peak RSS of build       {peak:,.0f} MB (max over runs)" + ("  (target < 8 GB)" if args.chunked else ""))


if __name__ == "__main__":
    main()
