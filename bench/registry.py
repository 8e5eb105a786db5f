"""Registry commands on a store of 20 model versions, each timed in fresh processes.

    python bench/registry.py               # builds the store once (cached), then times each command
    python bench/registry.py --repeat 5    # more runs per command (the median is printed)

The store is real: 20 `waypoint train` runs of a small generated world (a few trees
each, different seeds) in one embedded SQLite store, so every version has its run,
parameters, tags, metrics and artifacts. Each command runs as the installed
`waypoint` console script in a new process, as a user would type it; the figure is
the wall time to exit, and the CPU time (user + system) the process used, which
other work on a shared machine does not inflate. `waypoint --help` is printed as the
floor (interpreter and CLI start-up). ``--source DIR`` runs the CLI of another checkout
of waypoint (e.g. ``git worktree add /tmp/before COMMIT``) against the same store, for
before/after figures. The missing-model error of `score` is timed against an empty
WAYPOINT_HOME (nothing trained yet) and against the 20-version store with a model
name it does not hold.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# `python bench/registry.py` puts bench/ first on sys.path; keep the real packages visible
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

VERSIONS = 20
#: Written last, once every version is registered: a cache without it is rebuilt.
DONE = "complete"


def prepare(cache: Path) -> dict[str, Path]:
    """A generated world and a store holding VERSIONS versions of the model ``waypoint``."""
    files = {"home": cache / "home", "world": cache / "world", "empty": cache / "empty-home"}
    if (cache / DONE).exists():
        return {**files, "shipments": cache / "world" / "shipments.csv"}
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    from detector.config import Settings
    from detector.jobs.train import train
    from detector.synth import generate_world, write_world

    world = generate_world(3_000, seed=7, start=dt.date(2024, 1, 1), months=12)
    written = write_world(world, files["world"])
    settings = Settings.from_env({"WAYPOINT_HOME": str(files["home"])})
    started = time.perf_counter()
    for seed in range(VERSIONS):
        train([written["shipments"]], inputs=[written["inputs"]], events=[written["events"]],
              n_estimators=10, seed=seed, settings=settings)
    print(f"trained {VERSIONS} versions in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    (cache / DONE).write_text(str(VERSIONS))
    return {**files, "shipments": written["shipments"]}


def timed(args: list[str], home: Path, repeat: int, expect: int = 0, source: Path | None = None,
          fresh: bool = False) -> tuple[float, float, float]:
    """Median and minimum wall time, and median CPU time, of ``args`` in fresh processes;
    the exit code must be ``expect``."""
    env = {**os.environ, "WAYPOINT_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    walls, cpus = [], []
    for _ in range(repeat):
        if fresh:  # nothing trained: a home nobody has used, each time
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir(parents=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != expect:
            raise SystemExit(f"{' '.join(args)} exited {done.returncode} (expected {expect}):\n{done.stderr[-2000:]}")
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/waypoint-bench/registry-20"), help="where the store is kept")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per command")
    parser.add_argument("--source", type=Path, default=None, help="run the CLI of this waypoint checkout instead")
    args = parser.parse_args()
    files = prepare(args.cache)
    if args.source is None:
        waypoint = [str(Path(sys.executable).with_name("waypoint"))]
    else:  # the other checkout's code first on the path (-P: not the working folder), same interpreter
        waypoint = [sys.executable, "-P", "-c", "import sys; from detector.cli.main import run; sys.argv[0] = 'waypoint'; run()"]
    out = args.cache / "scored.parquet"
    cases = [
        ("waypoint --help", [*waypoint, "--help"], files["home"], 0),
        ("models list", [*waypoint, "models", "list"], files["home"], 0),
        ("models list --json", [*waypoint, "models", "list", "--json"], files["home"], 0),
        ("models show (champion)", [*waypoint, "models", "show"], files["home"], 0),
        ("models show waypoint/7 --json", [*waypoint, "models", "show", "waypoint/7", "--json"], files["home"], 0),
        ("score, nothing trained", [*waypoint, "score", str(files["shipments"]), "-o", str(out)], files["empty"], 3),
        ("score --model nosuch", [*waypoint, "score", str(files["shipments"]), "-o", str(out), "--model", "nosuch"],
         files["home"], 3),
    ]
    print(f"{VERSIONS} versions in {files['home']}; {args.repeat} fresh processes each"
          + (f"; code of {args.source}" if args.source else ""))
    print(f"  {'command':<32} {'wall median (min)':>18} {'CPU median':>11}")
    for label, argv, home, expect in cases:
        median, low, cpu = timed(argv, home, args.repeat, expect, args.source, fresh=home == files["empty"])
        print(f"  {label:<32} {median:8.2f} s ({low:.2f}) {cpu:9.2f} s")


if __name__ == "__main__":
    main()
