"""Time the CUHK03 single-gallery-shot CMC (dmlrepro.evaluation.cuhk03_single_shot) against a
torchreid-style per-query loop (a script, not a test; AiA-Net issue 13).

    python benchmarks/bench_cuhk03_single_shot.py [--queries 3368] [--gallery 15913] [--repeats 10] [--loop-queries 200]

The loop is torchreid ``eval_cuhk03``'s algorithm written here (per query: remove its same-camera
images, then per repeat draw one image per gallery identity in Python), timed on the first
`--loop-queries` queries and extrapolated linearly; the fast metric runs on every query.  Both are
first checked equal on a small split with the reference of the module (same draws).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import defaultdict

import numpy as np

from dmlrepro.evaluation.cuhk03_single_shot import single_shot_cmc, single_shot_cmc_reference


def torchreid_style_loop(distmat, q_pids, g_pids, q_cams, g_cams, repeats, max_rank=50, seed=0):
    rng = np.random.default_rng(seed)
    indices = np.argsort(distmat, axis=1, kind="stable")
    matches = (g_pids[indices] == q_pids[:, None]).astype(np.int32)
    all_cmc = []
    for q in range(distmat.shape[0]):
        order = indices[q]
        keep = ~((g_pids[order] == q_pids[q]) & (g_cams[order] == q_cams[q]))
        raw = matches[q][keep]
        if not raw.any():
            continue
        groups = defaultdict(list)
        for i, pid in enumerate(g_pids[order][keep]):
            groups[pid].append(i)
        cmc = np.zeros(max_rank)
        for _ in range(repeats):
            mask = np.zeros(len(raw), dtype=bool)
            for idxs in groups.values():
                mask[rng.choice(idxs)] = True
            curve = np.minimum(raw[mask].cumsum(), 1)[:max_rank]
            cmc[:len(curve)] += curve
            cmc[len(curve):] += 1
        all_cmc.append(cmc / repeats)
    return np.mean(all_cmc, axis=0)


def split(rng, nq, ng, ids, cams=6):
    q_pids, g_pids = rng.integers(0, ids, nq), rng.integers(0, ids, ng)
    q_cams, g_cams = rng.integers(0, cams, nq), rng.integers(0, cams, ng)
    dist = (rng.random((nq, ng)) - 0.1 * (q_pids[:, None] == g_pids[None, :])).astype(np.float32)
    return dist, q_pids, g_pids, q_cams, g_cams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3368)
    parser.add_argument("--gallery", type=int, default=15913)
    parser.add_argument("--ids", type=int, default=751)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--loop-queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    small = split(rng, 60, 300, 40)
    fast, _ = single_shot_cmc(*small, repeats=3)
    slow, _ = single_shot_cmc_reference(*small, repeats=3)
    print(f"small split: max |fast - reference| = {np.abs(fast - slow).max():.2e}")
    data = split(rng, args.queries, args.gallery, args.ids)
    start = time.perf_counter()
    cmc, valid = single_shot_cmc(*data, repeats=args.repeats)
    fast_s = time.perf_counter() - start
    sub = (data[0][:args.loop_queries], data[1][:args.loop_queries], data[2], data[3][:args.loop_queries], data[4])
    start = time.perf_counter()
    torchreid_style_loop(*sub, repeats=args.repeats)
    loop_s = (time.perf_counter() - start) * args.queries / args.loop_queries
    print(f"{platform.processor() or platform.machine()}: {args.queries} x {args.gallery}, {args.repeats} repeats: "
          f"fast {fast_s:.1f} s, torchreid-style loop ~{loop_s:.1f} s (extrapolated from {args.loop_queries} queries), "
          f"ratio {loop_s / fast_s:.1f}x; rank-1 {100 * cmc[0]:.2f} over {valid} queries")


if __name__ == "__main__":
    main()
