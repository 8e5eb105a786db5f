"""Time the review page over a 1M-row scored Parquet: queue pages, filters, a shipment page.

Run: .venv/bin/python bench/review_queue.py [ROWS]   (prints figures; no assertions)
"""
from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import polars as pl  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from detector.review.app import create_app  # noqa: E402
from detector.review.queue import ScoredSet  # noqa: E402
from detector.review.store import DecisionStore  # noqa: E402
from review_helpers import make_scored  # noqa: E402


def main(rows: int) -> None:
    base = make_scored(1000, n_flagged=0)
    reps = -(-rows // base.height)
    df = (
        pl.concat([base] * reps).head(rows)
        .with_columns(pl.format("S{}", pl.int_range(pl.len())).alias("shipment_id"),
                      (pl.int_range(pl.len()) + 1).cast(pl.Int64).alias("risk_rank"))
        .with_columns((pl.col("risk_rank") <= rows // 100).alias("flagged"))
    )
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "scored.parquet"
        df.write_parquet(path)
        del df, base
        t = time.perf_counter()
        app = create_app(ScoredSet([path]), DecisionStore(Path(d) / "db.sqlite"))
        print(f"rows {rows:,}, flagged {rows // 100:,}; app start (facets) {time.perf_counter() - t:.2f} s")
        c = TestClient(app, base_url="http://127.0.0.1:8765")
        for label, url in [("queue page 1", "/"), ("queue page 1 (again)", "/"), ("queue page 100", "/?page=100"),
                           ("filter exporter", "/?exporter=EXP-VN-1"), ("filter origin+HS", "/?origin=VN&hs_chapter=85"),
                           ("shipment page", f"/shipment/S{rows // 2}")]:
            t = time.perf_counter()
            r = c.get(url)
            dt = time.perf_counter() - t
            n = len(re.findall(r"<tr data-id=", r.text))
            print(f"{label:24s} {r.status_code} {dt * 1000:8.0f} ms  rows shown {n}  svgs {r.text.count('<svg')}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
