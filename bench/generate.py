"""Measure `generate_world` + `write_world` throughput: prints rows/s for one world size.

Usage: python bench/generate.py [N_SHIPMENTS] [csv|parquet]   (default: 1000000 csv)
"""
from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

# Running a script puts its folder first on sys.path, where bench/features.py would shadow
# the `features` package; drop it so the installed packages are imported.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from detector.synth import generate_world, write_world  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    fmt = sys.argv[2] if len(sys.argv) > 2 else "csv"
    t0 = time.perf_counter()
    world = generate_world(n, seed=7, start=dt.date(2024, 1, 1), months=24)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_world(world, out, fmt)
        t2 = time.perf_counter()
    print(f"shipments={n} inputs={world.inputs.height} format={fmt}")
    print(f"generate: {t1 - t0:.2f} s ({n / (t1 - t0):,.0f} rows/s)")
    print(f"write:    {t2 - t1:.2f} s")
    print(f"total:    {t2 - t0:.2f} s ({n / (t2 - t0):,.0f} rows/s)")


if __name__ == "__main__":
    main()
