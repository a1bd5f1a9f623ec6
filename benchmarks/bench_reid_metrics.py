"""Time the fast Market-1501 evaluation against the loop reference (a script, not a test).

    python benchmarks/bench_reid_metrics.py [--repeats 3] [--seed 0]

Sizes: 500 x 5000 (fast and reference, and their largest difference), and the Market-1501 test
split, 3368 queries x 19732 gallery images (fast only): 751 identities plus distractors (pid 0)
and junk (pid -1) in the proportions of the real gallery (3819 and 2798 images), 6 cameras.
Distances are random with true matches pulled nearer, in float32 (what `pairwise_distance`
returns for float32 features) and in float64 that float32 cannot hold exactly (the slower
numpy-stable-sort path of `stable_argsort_rows`).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from dmlrepro.evaluation import evaluate_market1501, evaluate_market1501_reference


def synthetic_split(rng: np.random.Generator, num_query: int, num_gallery: int,
                    num_ids: int = 751, num_cams: int = 6, dtype=np.float32) -> dict:
    num_junk = round(num_gallery * 2798 / 19732)
    num_distractors = round(num_gallery * 3819 / 19732)
    g_pids = np.concatenate([
        np.full(num_junk, -1), np.zeros(num_distractors, np.int64),
        rng.integers(1, num_ids + 1, num_gallery - num_junk - num_distractors),
    ])
    rng.shuffle(g_pids)
    q_pids = rng.integers(1, num_ids + 1, num_query)
    g_cams, q_cams = rng.integers(0, num_cams, num_gallery), rng.integers(0, num_cams, num_query)
    distmat = rng.random((num_query, num_gallery))
    distmat -= 0.1 * (q_pids[:, None] == g_pids[None, :])  # a model that is right fairly often
    if dtype == np.float32:
        distmat = distmat.astype(np.float32)
    return dict(distmat=distmat, q_pids=q_pids, g_pids=g_pids, q_camids=q_cams, g_camids=g_cams)


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, str, object]:
    """Best wall time of ``repeats`` runs, with that run's user and system CPU time (system time
    is mostly page faults: worth seeing on virtual machines where they are expensive)."""
    best, cpu, result = float("inf"), "", None
    for _ in range(repeats):
        before, start = os.times(), time.perf_counter()
        result = fn()
        wall, after = time.perf_counter() - start, os.times()
        if wall < best:
            best = wall
            user, system = after.user - before.user, after.system - before.system
            cpu = f"(user {user:.2f} s, sys {system:.2f} s)"
    return best, cpu, result


def machine() -> str:
    model = platform.processor() or "unknown"
    try:  # platform.processor() is often empty or just "x86_64" on Linux
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.platform()}; processor={platform.processor()!r} ({model}); "
            f"os.cpu_count()={os.cpu_count()}; numpy {np.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"machine: {machine()}")

    small = synthetic_split(rng, 500, 5000)
    t_fast, cpu_fast, fast = best_time(lambda: evaluate_market1501(**small), args.repeats)
    t_ref, cpu_ref, ref = best_time(lambda: evaluate_market1501_reference(**small), 1)
    diff = max(np.abs(fast.cmc - ref.cmc).max(), abs(fast.mAP - ref.mAP))
    print(f"500 x 5000 float32: fast {t_fast:.3f} s {cpu_fast}; reference {t_ref:.3f} s "
          f"{cpu_ref}; speed-up {t_ref / t_fast:.1f}x; max |fast - reference| = {diff:.1e}")

    for dtype in (np.float32, np.float64):
        market = synthetic_split(rng, 3368, 19732, dtype=dtype)
        t_market, cpu, metrics = best_time(lambda: evaluate_market1501(**market), args.repeats)
        print(f"3368 x 19732 {np.dtype(dtype).name}: fast {t_market:.3f} s {cpu}; "
              f"{metrics.num_valid_queries} valid queries, rank-1 {100 * metrics.rank(1):.1f}%, "
              f"mAP {100 * metrics.mAP:.1f}%")


if __name__ == "__main__":
    main()
