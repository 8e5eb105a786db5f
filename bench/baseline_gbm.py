"""Waypoint against the plain gradient-boosted baseline, on the same temporal split.

    python bench/baseline_gbm.py                                  # generated worlds (see WORLDS)
    python bench/baseline_gbm.py --world 6000:11:0.1              # shipments:seed:fraud_mix
    python bench/baseline_gbm.py --shipments S.csv --labels L.csv [--inputs I.csv] [--mapping M.toml]

Each labelled file or world is read as `waypoint train` reads it, its features are built
point-in-time, the last quarter of its labelled dates is held out (``--share``), and both
systems are fitted on the labelled lines before it: waypoint (forest + ranker, as
``waypoint train --labels``) and the untuned ``HistGradientBoostingClassifier`` of
``models/baseline.py`` on the raw contract columns. Prints precision at 1 % and 5 %,
average precision and ROC-AUC of both, side by side, on the held-out lines.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

#: Default generated worlds: (shipments, seed, fraud mix); 0 = transshipment labels only.
WORLDS = ((6000, 11, 0.1), (6000, 3, 0.06), (6000, 11, 0.0))


def features_and_labels(shipments: list[Path], labels: Path, inputs: list[Path] | None, mapping: Path | None,
                        events: Path | None = None):
    from detector.io.mapping import Mapping
    from detector.io.read import load, load_labels, load_side_tables
    from features.pipeline import build
    from features.schema import SHIPMENTS

    loaded = load(shipments, SHIPMENTS, mapping=Mapping.from_toml(mapping) if mapping else None)
    inputs_loaded, events_loaded = load_side_tables(inputs, [events] if events else None)
    features = build(loaded.valid.lazy(), inputs=inputs_loaded.valid.lazy() if inputs_loaded is not None else None,
                     events=events_loaded.valid, state=None)
    known = load_labels(labels).valid.select("shipment_id", pl.col("label").alias("_y"))
    y = features.select("shipment_id").join(known, on="shipment_id", how="left", maintain_order="left")["_y"]
    return features, y.cast(pl.Float64).fill_null(float("nan")).to_numpy(), loaded.rows_read


def compare(features: pl.DataFrame, y: np.ndarray, *, share: float, n_estimators: int, seed: int):
    from detector.jobs.train import usable_features
    from features.registry import FEATURE_NAMES, REGISTRY
    from models.detector import fit
    from models.holdout import evaluate_holdout
    from models.ranker import extra_columns

    directions = {f.name: f.direction for f in REGISTRY}

    def fit_detector(rows: pl.DataFrame):
        return fit(rows, usable_features(rows, FEATURE_NAMES)[0], directions=directions, n_estimators=n_estimators,
                   seed=seed)

    numeric, categorical = extra_columns(features)
    return evaluate_holdout(features, y, fit_detector, extra_numeric=numeric, extra_categorical=categorical,
                            baseline=True, share=share)


def report(name: str, result, seconds: float) -> None:
    m = result.metrics
    if result.note:
        print(f"{name}: {result.note}")
        return
    print(f"\n{name}: held out from {result.cutoff}: {m['heldout_rows']:.0f} labelled lines, "
          f"{m['heldout_positives']:.0f} positive ({seconds:.0f} s)")
    print(f"  {'system':<22}{'P@1%':>8}{'P@5%':>8}{'AP':>8}{'ROC-AUC':>9}")
    for label, prefix in (("waypoint", "heldout_"), ("  its ranker alone", "heldout_ranker_"),
                          ("  its forest alone", "heldout_forest_"), ("baseline GBM", "heldout_baseline_")):
        if f"{prefix}roc_auc" not in m:
            continue
        print(f"  {label:<22}{m[f'{prefix}precision_at_1pct']:>8.3f}{m[f'{prefix}precision_at_5pct']:>8.3f}"
              f"{m[f'{prefix}average_precision']:>8.3f}{m[f'{prefix}roc_auc']:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", action="append", help="a generated world as SHIPMENTS:SEED:FRAUD_MIX (repeatable)")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--shipments", nargs="+", type=Path, help="labelled shipment files instead of worlds")
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--inputs", nargs="*", type=Path)
    parser.add_argument("--events", type=Path)
    parser.add_argument("--mapping", type=Path)
    parser.add_argument("--share", type=float, default=0.25, help="share of the labelled dates held out (default: the last quarter)")
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.shipments:
        if args.labels is None:
            parser.error("--shipments needs --labels")
        started = time.perf_counter()
        features, y, _ = features_and_labels(args.shipments, args.labels, args.inputs, args.mapping, args.events)
        result = compare(features, y, share=args.share, n_estimators=args.n_estimators, seed=args.seed)
        report(", ".join(str(p) for p in args.shipments), result, time.perf_counter() - started)
        return

    from detector.synth import generate_world, write_world

    worlds = [tuple(float(x) for x in w.split(":")) for w in args.world] if args.world else WORLDS
    for n, seed, mix in worlds:
        started = time.perf_counter()
        world = generate_world(int(n), seed=int(seed), start=dt.date(2024, 1, 1), months=args.months, fraud_mix=mix)
        with tempfile.TemporaryDirectory(prefix="waypoint-bench-") as tmp:
            files = write_world(world, tmp)
            features, y, _ = features_and_labels([files["shipments"]], files["labels"], [files["inputs"]], None,
                                                 files["events"])
        result = compare(features, y, share=args.share, n_estimators=args.n_estimators, seed=args.seed)
        report(f"world {int(n)} shipments, seed {int(seed)}, fraud mix {mix:g}", result, time.perf_counter() - started)


if __name__ == "__main__":
    main()
