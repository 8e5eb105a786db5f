"""route_transit_cover measured: held-out figures of the same world with and without it.

    python bench/routes_feature.py                       # the worlds of WORLDS
    python bench/routes_feature.py 12000:2:0:0.5         # shipments:seed:fraud_mix[:share of firms with inputs]

Each world's features are built once, point-in-time (``bench/baseline_gbm.py``), and the
last ``--share`` of its labelled dates is held out (``models.holdout``, as
``waypoint train --labels`` does). The detector (forest + ranker) is fitted on the lines
before it twice, with the same seed: once with every usable feature and once without
``route_transit_cover``. The fourth field keeps the component imports of that share of
the importers only (by a hash of the id), as when a transit country's records cover some
firms: the line's own firm then often has no inputs to read while its route does.
Prints precision at 1 % and average precision of the blend, the ranker and the forest.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import polars as pl  # noqa: E402

FEATURE = "route_transit_cover"
WORLDS = ("12000:2:0", "12000:2:0:0.5", "12000:3:0.1:0.5")


def measure(spec: str, share: float, seed: int) -> None:
    from baseline_gbm import features_and_labels

    from detector.jobs.train import usable_features
    from detector.synth import generate_world, write_world
    from features.registry import FEATURE_NAMES, REGISTRY
    from models.detector import fit
    from models.holdout import evaluate_holdout
    from models.ranker import extra_columns

    n, world_seed, mix, *rest = spec.split(":")
    keep = float(rest[0]) if rest else 1.0
    started = time.perf_counter()
    world = generate_world(int(n), seed=int(world_seed), start=dt.date(2024, 1, 1), months=24, fraud_mix=float(mix))
    with tempfile.TemporaryDirectory(prefix="waypoint-bench-") as tmp:
        files = write_world(world, tmp)
        if keep < 1.0:
            ins = pl.read_csv(files["inputs"], infer_schema=False)
            files["inputs"] = Path(tmp) / "inputs_partial.csv"
            ins.filter((pl.col("importer_id").hash(seed=1) % 1000) < int(keep * 1000)).write_csv(files["inputs"])
        features, y, _ = features_and_labels([files["shipments"]], files["labels"], [files["inputs"]], None, files["events"])
    directions = {f.name: f.direction for f in REGISTRY}
    numeric, categorical = extra_columns(features)
    for arm in ("with", "without"):
        usable = usable_features(features, [f for f in FEATURE_NAMES if arm == "with" or f != FEATURE])[0]
        result = evaluate_holdout(
            features, y, lambda rows, usable=usable: fit(rows, usable, directions=directions, n_estimators=200, seed=seed),
            extra_numeric=numeric, extra_categorical=categorical, share=share)
        if result.note:
            print(f"{spec} {arm}: {result.note}")
            continue
        m = result.metrics
        figures = "  ".join(f"{name} P@1% {m[f'heldout_{p}precision_at_1pct']:.3f} AP {m[f'heldout_{p}average_precision']:.3f}"
                            for name, p in (("blend", ""), ("ranker", "ranker_"), ("forest", "forest_")))
        print(f"{spec} {arm:<7} held out {m['heldout_rows']:.0f} lines, {m['heldout_positives']:.0f} positive | {figures}",
              flush=True)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("worlds", nargs="*", default=list(WORLDS), help="SHIPMENTS:SEED:FRAUD_MIX[:INPUTS_SHARE]")
    parser.add_argument("--share", type=float, default=0.4, help="share of the labelled dates held out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for spec in args.worlds:
        measure(spec, args.share, args.seed)


if __name__ == "__main__":
    main()
