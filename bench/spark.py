"""`waypoint score --engine spark` (Spark local[2]) against the single-machine `waypoint score`, same run.

    python bench/spark.py                  # 1M shipments
    python bench/spark.py --rows 10000000  # 10M

Both are the real CLI in a fresh process, on the same generated world and the same model
(``bench/score.py``'s, cached under --cache). Prints wall time, lines per second and per
core, and peak memory: the single-machine process, and for Spark the driver (Python and
its JVM, which in local mode also runs the executor threads) and the Python workers
(sampled from /proc every 0.2 s, summed over the workers alive at once). Checks that both
runs scored the same lines with the same flags.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import polars as pl  # noqa: E402

CORES = 2


def _bench_score():
    spec = importlib.util.spec_from_file_location("bench_score", Path(__file__).with_name("score.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(pid: int) -> dict[int, tuple[str, int]]:
    """``pid`` and its descendants: pid -> (command name, RSS bytes)."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            rss = int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
        name = stat[stat.index("(") + 1: stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        info[int(entry)] = (name, rss)
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        if p in info:
            out[p] = info[p]
        todo.extend(children.get(p, []))
    return out


def run(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd``; wall seconds and peak GB of the top process + JVM ("driver") and of the other Pythons ("workers")."""
    peak = {"driver": 0, "workers": 0}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = _tree(proc.pid)
            driver = sum(rss for p, (name, rss) in tree.items() if p == proc.pid or name == "java")
            workers = sum(rss for p, (name, rss) in tree.items() if p != proc.pid and name != "java")
            peak["driver"], peak["workers"] = max(peak["driver"], driver), max(peak["workers"], workers)
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    err = proc.stderr.read()
    proc.wait()
    done.set()
    thread.join()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed:\n{err.decode()[-3000:]}")
    return {"wall": wall, "driver_gb": peak["driver"] / 2**30, "workers_gb": peak["workers"] / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="shipments to score")
    parser.add_argument("--cache", type=Path, default=None, help="where data and model are kept (shared with bench/score.py)")
    parser.add_argument("--master", default=f"local[{CORES}]")
    args = parser.parse_args()
    cache = args.cache or Path(f"/tmp/waypoint-bench/score-{args.rows}")
    files = _bench_score().prepare(args.rows, cache)
    exe = Path(sys.executable).with_name("waypoint")
    env = {**os.environ, "WAYPOINT_HOME": str(files["home"]), "MLFLOW_DISABLE_TELEMETRY": "true",
           "PYSPARK_PYTHON": sys.executable}
    env.pop("MLFLOW_TRACKING_URI", None)
    common = [str(files["score"]), "--inputs", str(files["inputs"]), "--model", "bench@champion", "--json"]

    local_out, spark_out = cache / "scored.parquet", cache / "spark-scored"
    local = run([str(exe), "score", *common, "-o", str(local_out)], env)
    shutil.rmtree(spark_out, ignore_errors=True)
    spark = run([str(exe), "score", *common, "-o", str(spark_out), "--engine", "spark", "--master", args.master,
                 ], env | {"SPARK_DRIVER_MEMORY": "4g"})

    a = pl.scan_parquet(local_out).select("shipment_id", "flagged", "risk_rank").collect()
    b = pl.scan_parquet(str(spark_out / "**" / "*.parquet"), hive_partitioning=True).select(
        "shipment_id", "flagged", "risk_rank").collect()
    same = a.sort("shipment_id").equals(b.sort("shipment_id"))
    n = a.height
    print(f"lines scored              {n:,} (same ids, ranks and flags: {same})")
    print(f"single machine            {local['wall']:.1f}s  {n / local['wall']:,.0f} lines/s  "
          f"{n / local['wall'] / CORES:,.0f} lines/s/core  peak {local['driver_gb']:.2f} GB")
    print(f"spark {args.master:<19} {spark['wall']:.1f}s  {n / spark['wall']:,.0f} lines/s  "
          f"{n / spark['wall'] / CORES:,.0f} lines/s/core  peak driver+JVM {spark['driver_gb']:.2f} GB, "
          f"Python workers {spark['workers_gb']:.2f} GB")
    print(f"spark / single machine    {spark['wall'] / local['wall']:.2f}x wall time")


if __name__ == "__main__":
    main()
