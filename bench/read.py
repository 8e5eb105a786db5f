"""Measure `detector.io.read.load` against a bare `pl.read_csv` of the same file.

Usage: python bench/read.py [ROWS] [--parquet]
Writes a synthetic contract CSV (1 row in 1000 broken) to a temp dir, then prints
rows/s for a bare read and for load+map+validate, and their ratio (best of 5,
alternating the two so both see the same load on a shared machine).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/features.py would shadow
# the `features` package: drop it before importing the product.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from detector.io.read import load  # noqa: E402
from features.schema import SHIPMENTS  # noqa: E402


def make_file(path: Path, rows: int) -> None:
    rng = np.random.default_rng(7)
    dates = pl.date_range(pl.date(2024, 1, 1), pl.date(2025, 12, 31), eager=True).cast(pl.String)
    df = pl.DataFrame(
        {
            "shipment_id": [f"S{i:09d}" for i in range(rows)],
            "arrival_date": dates.sample(rows, with_replacement=True, seed=1),
            "importer_id": [f"IMP{i}" for i in rng.integers(0, 5000, rows)],
            "exporter_id": [f"EXP{i}" for i in rng.integers(0, 8000, rows)],
            "hs_code": [f"{c:06d}" for c in rng.integers(10000, 999999, rows)],
            "origin_country": rng.choice(["VN", "TH", "MY", "KH", "CN"], rows),
            "export_country": rng.choice(["VN", "TH", "MY", "KH"], rows),
            "declared_value_usd": np.round(rng.lognormal(9, 1, rows), 2),
            "weight_kg": np.round(rng.lognormal(6, 1, rows), 1),
            "quantity": rng.integers(1, 1000, rows),
            "quantity_unit": rng.choice(["PCS", "KG"], rows),
            "port_of_lading": rng.choice(["VNSGN", "THLCH"], rows),
            "goods_description": rng.choice(["steel wire", "solar cells", "cotton t-shirts"], rows),
        }
    ).with_columns(pl.all().cast(pl.String))
    broken = pl.int_range(pl.len()) % 1000 == 999
    df = df.with_columns(pl.when(broken).then(pl.lit("-1")).otherwise(pl.col("weight_kg")).alias("weight_kg"))
    df.write_csv(path)


def timed_pair(a, b, repeat: int = 5) -> tuple[float, float]:
    """Best-of-``repeat`` times of ``a`` and ``b``, run alternately so both see the same machine load."""
    ta, tb = [], []
    for _ in range(repeat):
        for fn, times in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return min(ta), min(tb)


def main() -> None:
    rows = int(next((a for a in sys.argv[1:] if a.isdigit()), 1_000_000))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shipments.csv"
        make_file(path, rows)
        if "--parquet" in sys.argv:
            pq = path.with_suffix(".parquet")
            pl.read_csv(path, infer_schema=False).write_parquet(pq)
            path, bare = pq, lambda: pl.read_parquet(pq)
        else:
            bare = lambda: pl.read_csv(path, infer_schema=False)  # noqa: E731
        loaded = load([path], SHIPMENTS)
        assert loaded.rows_read == rows == loaded.valid.height + loaded.rejects.height
        t_bare, t_load = timed_pair(bare, lambda: load([path], SHIPMENTS))
        print(f"file            {path.suffix} {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB, {loaded.rejects.height:,} rejects")
        print(f"bare read       {t_bare:6.2f} s  {rows / t_bare / 1e6:5.2f} M rows/s")
        print(f"load+validate   {t_load:6.2f} s  {rows / t_load / 1e6:5.2f} M rows/s")
        print(f"ratio           {t_load / t_bare:6.2f} x bare read")


if __name__ == "__main__":
    main()
