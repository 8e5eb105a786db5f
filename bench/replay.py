"""Replay a labelled generated history week by week: what do the outcomes buy over time?

Generates a world, builds point-in-time features for its whole history once (each row
sees only the rows that arrived before it), then for each of the last ``--weeks``
weeks: trains the forest and, when enough outcomes are known, the supervised ranker
on every shipment before the week (outcomes known for a ``--known`` share of them,
drawn once with a fixed seed, as if inspections had covered that share), scores the
week, and prints precision at 1 % of the week's shipments for the forest alone, the
ranker alone and the combination (``risk_score``), then the means; precision at 5 %
too, since 1 % of a week is only a handful of shipments.

    .venv/bin/python -m bench.replay [--shipments 120000] [--weeks 12] [--known 0.3]

(Run as a module from the repository root: run as a file, ``bench/features.py`` would
shadow the ``features`` package.)

Uses the Python API (no MLflow) to stay fast.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import polars as pl


def _figures(p: dict) -> str:
    return "".join(f"{p['forest', b]:>7.3f} {p['ranker', b]:>7.3f} {p['combined', b]:>8.3f} " for b in (0.01, 0.05))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=120_000, help="shipments in the 24-month world")
    parser.add_argument("--weeks", type=int, default=12, help="last weeks replayed")
    parser.add_argument("--known", type=float, default=0.3, help="share of past shipments with a known outcome")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from detector.jobs.train import usable_features
    from detector.synth import generate_world
    from features.pipeline import build
    from features.registry import FEATURE_NAMES
    from features.schema import SHIPMENTS
    from features.validate import validate
    from models import metrics
    from models.detector import add_ranker, fit

    t0 = time.perf_counter()
    world = generate_world(args.shipments, seed=args.seed, start=dt.date(2024, 1, 1), months=24)
    shipments = validate(world.shipments.lazy(), SHIPMENTS).filter(pl.col("_ok")).select(SHIPMENTS.names).collect()
    frame = (
        build(shipments.lazy(), inputs=world.inputs.lazy(), events=world.events, state=None)
        .drop("label")
        .join(world.labels.select("shipment_id", pl.col("label").alias("_y")), on="shipment_id", how="left",
              maintain_order="left")
        .sort("arrival_date", maintain_order=True)
    )
    rng = np.random.default_rng(args.seed)
    known = rng.random(frame.height) < args.known
    y_all = frame.get_column("_y").cast(pl.Float64).to_numpy()
    dates = frame.get_column("arrival_date")
    end = dates.max() + dt.timedelta(days=1)
    print(f"world: {frame.height:,} shipments, {int(np.nansum(y_all)):,} positives; features in "
          f"{time.perf_counter() - t0:.1f} s; outcomes known for {args.known:.0%} of past shipments")
    print(f"{'':>29} {'precision at 1 %':^24} {'precision at 5 %':^24}")
    print(f"{'week':>10} {'rows':>6} {'pos':>4} {'labels':>7} " + f"{'forest':>7} {'ranker':>7} {'combined':>8} " * 2
          + f"{'fit s':>6}")
    rows = []
    for w in range(args.weeks, 0, -1):
        start, stop = end - dt.timedelta(days=7 * w), end - dt.timedelta(days=7 * (w - 1))
        before = (dates < start).to_numpy()
        week = ((dates >= start) & (dates < stop)).to_numpy()
        train, test = frame.filter(pl.Series(before)), frame.filter(pl.Series(week))
        t = time.perf_counter()
        names = usable_features(train, FEATURE_NAMES)[0]
        detector = fit(train, names, n_estimators=args.trees, seed=args.seed)
        labels = np.where(known[before], y_all[before], np.nan)
        note = add_ranker(detector, train, labels, max_iter=100)
        fit_s = time.perf_counter() - t
        parts = detector.components(test)
        y = y_all[week]
        scores = {"forest": parts["anomaly"], "ranker": parts.get("ranker_score"), "combined": parts["priority"]}
        p = {}
        for budget in (0.01, 0.05):
            for name, s in scores.items():
                known_score = name == "forest" or note is None  # no ranker: forest alone
                p[name, budget] = metrics.precision_recall_at(s, y, budget)[0] if known_score else float("nan")
        rows.append(p)
        n_labels = int(np.isfinite(labels).sum())
        print(f"{start!s:>10} {week.sum():>6,} {int(y.sum()):>4} {n_labels:>7,} " + _figures(p) + f"{fit_s:>6.1f}")
    means = {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]}
    print(f"{'mean':>10} {'':>6} {'':>4} {'':>7} " + _figures(means))
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
