"""End-to-end `waypoint score` against the bare floor, measured in the same run.

    python bench/score.py                 # 1M shipments scored (CSV in, Parquet out, with component imports)
    python bench/score.py --rows 10000000 # the 10M memory check (peak RSS: target under 6 GB)
    python bench/score.py --runtime pairs  # the runtime tuning's gain: runs without and with it, twice

The floor is what no scoring tool can avoid: Polars reading the CSV, scikit-learn's
``score_samples`` of the same 200-tree forest on a ready float32 matrix of the same
rows, and writing a Parquet file. The end-to-end run is the real CLI in a fresh
process (validation, features with component imports, scoring, reasons, atomic
writes); its peak RSS is read from the kernel (``wait4``). Prints rows/s, the ratio to
the floor, peak memory and whether the runtime tuning (``detector.runtime``) was on:
``--runtime on`` runs the ``waypoint`` command as shipped (it applies the tuning),
``--runtime off`` the same command without it (the CLI's ``app`` called directly), and
``--runtime pairs`` alternates the two twice, so a gain is read from paired runs on a
shared machine. Data and the trained model are cached under --cache.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

# `python bench/score.py` puts bench/ first on sys.path; keep the real packages visible
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

MONTHS = 24
TRAIN_MONTHS = 12  # the span holds the main tariff event, as a real training window would


#: Most training shipments: 10M scored rows come with 15M training rows, which
#: training does not hold in 24 GB; the latest ones before the cutoff are kept.
TRAIN_ROWS = 2_000_000


def prepare(rows: int, cache: Path) -> dict[str, Path]:
    """A world whose last months hold ``rows`` shipments to score; a model trained on its first TRAIN_MONTHS
    (at most TRAIN_ROWS of them, the latest)."""
    from detector.config import Settings
    from detector.io.write import write_table
    from detector.synth import generate_world, write_world
    from detector.synth.world import add_months

    cache.mkdir(parents=True, exist_ok=True)
    files = {
        "score": cache / "score.csv",
        "train": cache / "train.csv",
        "inputs": cache / "inputs.csv",
        "events": cache / "events.csv",
        "home": cache / "home",
    }
    if not files["score"].exists():
        start = dt.date(2024, 1, 1)
        total = int(rows * MONTHS / (MONTHS - TRAIN_MONTHS) * 1.25)  # trade grows: later months are busier, keep a margin
        t = time.perf_counter()
        world = generate_world(total, seed=5, start=start, months=MONTHS)
        written = write_world(world, cache / "world")
        cutoff = add_months(start, TRAIN_MONTHS)
        write_table(world.shipments.filter(pl.col("arrival_date") < cutoff).tail(TRAIN_ROWS), files["train"])
        score_rows = world.shipments.filter(pl.col("arrival_date") >= cutoff).head(rows)
        write_table(score_rows, files["score"])
        os.replace(written["inputs"], files["inputs"])
        os.replace(written["events"], files["events"])
        print(f"generated {total:,} shipments in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    if not (files["home"] / "mlflow.db").exists():
        from detector.jobs.train import train

        if pl.scan_csv(files["train"]).select(pl.len()).collect().item() > TRAIN_ROWS:  # a cache from before the cap
            capped = cache / f"train-{TRAIN_ROWS}.csv"
            pl.scan_csv(files["train"], infer_schema=False).tail(TRAIN_ROWS).sink_csv(capped)
            files["train"] = capped

        t = time.perf_counter()
        settings = Settings.from_env({"WAYPOINT_HOME": str(files["home"])})
        train([files["train"]], inputs=[files["inputs"]], events=[files["events"]], model_name="bench",
              n_estimators=200, settings=settings)
        print(f"trained the 200-tree model in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return files


def floor(files: dict[str, Path], out: Path) -> dict[str, float]:
    """Read the CSV, score a ready matrix of the same rows with sklearn, write Parquet."""
    from detector.config import Settings
    from detector.jobs.modelref import load_model_ref

    forest = load_model_ref("bench@champion", Settings.from_env({"WAYPOINT_HOME": str(files["home"])})).detector.sklearn_forest()
    t = time.perf_counter()
    frame = pl.read_csv(files["score"])
    read = time.perf_counter() - t
    x = np.random.default_rng(0).normal(size=(frame.height, forest.n_features_in_)).astype(np.float32)
    t = time.perf_counter()
    forest.score_samples(x)
    predict = time.perf_counter() - t
    t = time.perf_counter()
    frame.write_parquet(out)
    write = time.perf_counter() - t
    return {"read_csv": read, "sklearn_score_samples": predict, "write_parquet": write,
            "floor": read + predict + write, "rows": frame.height}


def end_to_end(files: dict[str, Path], out: Path, *, tuned: bool = True) -> tuple[float, float, float]:
    """`waypoint score` in a fresh process: wall seconds, peak RSS in GB and CPU seconds (user +
    system, all threads: steadier than wall time on a shared machine). ``tuned``: the
    command as installed (``detector.cli.main.run``, which applies ``detector.runtime``);
    otherwise the same Typer app called without the tuning."""
    exe = [str(Path(sys.executable).with_name("waypoint"))] if tuned else [
        sys.executable, "-c", "import sys; from detector.cli.main import app; sys.argv[0] = 'waypoint'; app()"]
    env = {**os.environ, "WAYPOINT_HOME": str(files["home"]), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [*exe, "score", str(files["score"]), "--inputs", str(files["inputs"]), "--events",
           str(files["events"]), "--model", "bench@champion", "-o", str(out), "--json"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"waypoint score failed:\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024 / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="shipments to score")
    parser.add_argument("--cache", type=Path, default=None, help="where data and model are kept")
    parser.add_argument("--runtime", choices=("on", "off", "pairs"), default="on",
                        help="the runtime tuning of detector.runtime: on (as shipped), off, or pairs of off and on runs")
    args = parser.parse_args()
    cache = args.cache or Path(f"/tmp/waypoint-bench/score-{args.rows}")
    files = prepare(args.rows, cache)

    f = floor(files, cache / "floor.parquet")
    n = f["rows"]
    if args.runtime == "pairs":
        for pair in (1, 2):
            off = end_to_end(files, cache / "scored.parquet", tuned=False)
            on = end_to_end(files, cache / "scored.parquet", tuned=True)
            print(f"pair {pair}: runtime tuning off {off[0]:.2f}s wall {off[2]:.1f}s CPU ({off[1]:.2f} GB), "
                  f"on {on[0]:.2f}s wall {on[2]:.1f}s CPU ({on[1]:.2f} GB): on/off wall {on[0] / off[0]:.3f}, "
                  f"CPU {on[2] / off[2]:.3f}", flush=True)
        wall, rss, cpu = on
    else:
        wall, rss, cpu = end_to_end(files, cache / "scored.parquet", tuned=args.runtime == "on")
    print(f"rows scored             {n:,}")
    print(f"floor: read CSV         {f['read_csv']:.2f}s")
    print(f"floor: sklearn predict  {f['sklearn_score_samples']:.2f}s  (200 trees, {n:,} rows, 1 thread)")
    print(f"floor: write Parquet    {f['write_parquet']:.2f}s")
    print(f"floor total             {f['floor']:.2f}s")
    print(f"waypoint score          {wall:.2f}s  ({n / wall:,.0f} rows/s, {cpu:.1f}s CPU)")
    print(f"runtime tuning          {'off (app without detector.runtime)' if args.runtime == 'off' else 'on (detector.runtime.batch_process)'}")
    print(f"peak RSS                {rss:.2f} GB   (target at 10M rows: under 6 GB)")
    print(f"ratio to floor          {wall / f['floor']:.2f}x   (target: at most 2x, aim under 1x)")


if __name__ == "__main__":
    main()
