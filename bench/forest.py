"""Benchmark: sklearn ``score_samples`` against :class:`models.fast_forest.FlatForest`.

Prints, for N rows x 15 float32 features and 200 trees (defaults: 1M rows): the
numba first-call cost (compile or cache load), sklearn's time (one thread, and two
threads through joblib's threading backend), FlatForest's time, the speed ratio, CPU
seconds (robust when other jobs share the cores), the largest difference between the
two, and the attribution time on 1 % of the rows.

    .venv/bin/python bench/forest.py [--rows 1000000] [--trees 200]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def _cpu(fn, *args) -> float:
    """CPU seconds of this process (all threads): robust to other jobs sharing the cores."""
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=15)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--skip-threaded", action="store_true", help="skip sklearn with 2 joblib threads")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import numba
    from joblib import parallel_backend
    from sklearn.ensemble import IsolationForest

    from models.fast_forest import FlatForest

    print(f"imports: {time.perf_counter() - t0:.2f} s; numba threads {numba.config.NUMBA_NUM_THREADS}")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features)).astype(np.float32)
    X[: args.rows // 100] *= 4  # some outliers
    forest, fit_s = _timed(IsolationForest(n_estimators=args.trees, random_state=0).fit, X[:100_000])
    flat, flat_s = _timed(FlatForest.from_sklearn, forest)
    print(f"fit (100k rows): {fit_s:.2f} s; flatten: {flat_s:.3f} s, {flat.left.size} nodes")

    _, first_s = _timed(flat.score_samples, X[:10])
    print(f"first call (numba compile or cache load): {first_s:.2f} s; threading layer {numba.threading_layer()}")
    _, first_attr_s = _timed(flat.attributions, X[:10])
    print(f"first attributions call: {first_attr_s:.2f} s")

    ours, ours_s = _timed(flat.score_samples, X)
    ref, ref_s = _timed(forest.score_samples, X)
    print(f"sklearn score_samples, 1 thread: {ref_s:.2f} s")
    if not args.skip_threaded:
        with parallel_backend("threading", n_jobs=2):
            _, ref2_s = _timed(forest.score_samples, X)
        print(f"sklearn score_samples, 2 threads: {ref2_s:.2f} s")
    print(f"FlatForest score_samples: {ours_s:.2f} s  -> {ref_s / ours_s:.1f}x faster than 1-thread sklearn")
    if not args.skip_threaded:
        print(f"                              {ref2_s / ours_s:.1f}x faster than 2-thread sklearn")
    ref_cpu, ours_cpu = _cpu(forest.score_samples, X), _cpu(flat.score_samples, X)
    print(f"CPU seconds (all threads): sklearn {ref_cpu:.2f}, FlatForest {ours_cpu:.2f} -> {ref_cpu / ours_cpu:.1f}x less work")
    numba.set_num_threads(1)
    one_cpu = _cpu(flat.score_samples, X)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    print(f"per core: FlatForest on 1 thread {one_cpu:.2f} CPU s -> {ref_cpu / one_cpu:.1f}x less work than sklearn")
    print(f"max |difference|: {np.abs(ours - ref).max():.3g}")
    flagged = X[np.argsort(ours)[: max(1, args.rows // 100)]]
    _, attr_s = _timed(flat.attributions, flagged)
    print(f"attributions on 1 % ({flagged.shape[0]} rows): {attr_s:.2f} s")


if __name__ == "__main__":
    main()
