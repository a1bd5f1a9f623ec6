"""Time the CUHK03 single-gallery-shot CMC (dmlrepro.evaluation.cuhk03_single_shot) against
torchreid's per-query loop at Market-1501 scale (a script, not a test; AiA-Net issue 13).

    python benchmarks/bench_cuhk03_single_shot.py [--repeats 10] [--loop-queries 100]
        [--check-queries 20] [--torchreid-cython DIR] [--rounds 3]

Data: the Market-shaped split of bench_reid_metrics.py without junk (3368 x 15913, float32).
The loop is torchreid ``eval_cuhk03``'s algorithm (torchreid/metrics/rank.py: per query, drop
its same-camera images, then per repeat draw one image per gallery identity with
``np.random.choice`` in Python), re-stated below; with --torchreid-cython also torchreid's
Cython ``eval_cuhk03_cy`` itself (10 repeats, fixed in its code). Both loops take minutes here,
so they are timed on the first --loop-queries queries and extrapolated linearly to all queries
(a query's work does not depend on the others; said so in the output). The fast metric runs on
every query (best of --rounds), and is first checked equal to the module's slow reference on
the first --check-queries queries at full gallery size (same draws: a query's draws do not
depend on the other queries).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from bench_common import TORCHREID_CYTHON_BUILD, load, load_torchreid_cython, machine, side_by_side, timed
from bench_reid_metrics import MARKET_GALLERY, MARKET_QUERIES, synthetic_split, without_junk

from dmlrepro.evaluation.cuhk03_single_shot import single_shot_cmc, single_shot_cmc_reference


def torchreid_style_loop(distmat, q_pids, g_pids, q_cams, g_cams, repeats, max_rank=50):
    """torchreid ``eval_cuhk03``'s CMC loop (its own draws from numpy's global generator)."""
    indices = np.argsort(distmat, axis=1)
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
        cmc = 0.0
        for _ in range(repeats):
            mask = np.zeros(len(raw), dtype=bool)
            for idxs in groups.values():
                mask[np.random.choice(idxs)] = True
            curve = raw[mask].cumsum()
            curve[curve > 1] = 1
            cmc += curve[:max_rank].astype(np.float32)
        all_cmc.append(cmc / repeats)
    return np.asarray(all_cmc).astype(np.float32).sum(0) / len(all_cmc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="draws per query")
    parser.add_argument("--loop-queries", type=int, default=100)
    parser.add_argument("--check-queries", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    parser.add_argument("--torchreid-cython", metavar="DIR",
                        help="torchreid/metrics/rank_cylib with rank_cy built in it")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    case = without_junk(synthetic_split(np.random.default_rng(0), MARKET_QUERIES, MARKET_GALLERY))
    data = (case["distmat"], case["q_pids"], case["g_pids"], case["q_camids"], case["g_camids"])
    num_query, num_gallery = data[0].shape

    head = (data[0][:args.check_queries], data[1][:args.check_queries], data[2],
            data[3][:args.check_queries], data[4])
    check_seconds, (slow, _) = timed(lambda: single_shot_cmc_reference(*head, repeats=args.repeats))
    fast_head, _ = single_shot_cmc(*head, repeats=args.repeats)
    print(f"first {args.check_queries} queries x {num_gallery}: max |fast - reference| = "
          f"{np.abs(fast_head - slow).max():.1e} (reference {check_seconds:.1f} s)")

    before = load()
    times, results = side_by_side({"fast": lambda: single_shot_cmc(*data, repeats=args.repeats)},
                                  args.rounds)
    cmc, valid = results["fast"]
    sub = (data[0][:args.loop_queries], data[1][:args.loop_queries], data[2],
           data[3][:args.loop_queries], data[4])
    scale = num_query / args.loop_queries
    np.random.seed(0)
    loop_seconds, _ = timed(lambda: torchreid_style_loop(*sub, repeats=args.repeats))
    loops = {"torchreid eval_cuhk03 loop (re-stated, Python)": loop_seconds * scale}
    if args.torchreid_cython:
        if args.repeats != 10:
            print("note: torchreid's Cython eval_cuhk03_cy always draws 10 times")
        rank_cy = load_torchreid_cython(args.torchreid_cython)
        cy_seconds, _ = timed(lambda: rank_cy.evaluate_cy(*sub, 50, use_metric_cuhk03=True))
        loops["torchreid Cython eval_cuhk03_cy"] = cy_seconds * scale
    else:
        print(f"(torchreid's Cython loop skipped; build it with: {TORCHREID_CYTHON_BUILD})")
    print(f"{num_query} x {num_gallery} float32, {args.repeats} repeats: fast {times['fast']:.2f} s "
          f"(best of {args.rounds}; rank-1 {100 * cmc[0]:.2f}% over {valid} queries)")
    for name, seconds in loops.items():
        print(f"  {name}: ~{seconds:.1f} s, extrapolated from {args.loop_queries} queries "
              f"({seconds / scale:.1f} s measured); fast is {seconds / times['fast']:.0f}x faster")
    print(f"  ({before} before; {load()} after)")


if __name__ == "__main__":
    main()
