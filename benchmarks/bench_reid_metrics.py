"""Time the Market-1501 evaluation side by side with torchreid's Cython eval_market1501 (a
script, not a test).

    python benchmarks/bench_reid_metrics.py [--torchreid-cython DIR] [--repeats 3] [--seed 0]

Market-1501-shaped synthetic test split: 3368 queries; 19732 gallery images of which 3819 junk
(pid -1), 2793 distractors (pid 0) and the rest of 750 identities; 6 cameras. torchreid drops
junk when it loads the dataset, so the side-by-side run uses the 3368 x 15913 matrix without
junk, float32 (torchreid's Cython casts to float32; `pairwise_distance` of float32 features
returns float32). Distances are random with true matches pulled nearer. Reported: best wall
time of each over --repeats rounds (the two take turns), the ratio ours / torchreid, the
largest CMC difference (torchreid's float32 curve against ours rounded to float32) and mAP
difference, the machine and its load. Also: ours against the loop reference on 500 x 5000, and
ours alone on the 19732-image gallery with junk in float32 and float64.

Without --torchreid-cython the script prints how to build torchreid's module (one line; outside
this repository, benchmark only).
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_common import TORCHREID_CYTHON_BUILD, load, load_torchreid_cython, machine, side_by_side

from dmlrepro.evaluation import JUNK_PID, evaluate_market1501, evaluate_market1501_reference

MARKET_QUERIES, MARKET_GALLERY, MARKET_JUNK, MARKET_DISTRACTORS = 3368, 19732, 3819, 2793


def synthetic_split(rng: np.random.Generator, num_query: int, num_gallery: int,
                    num_ids: int = 750, num_cams: int = 6, dtype=np.float32) -> dict:
    """Market-shaped: junk and distractors in the real gallery's proportions."""
    num_junk = round(num_gallery * MARKET_JUNK / MARKET_GALLERY)
    num_distractors = round(num_gallery * MARKET_DISTRACTORS / MARKET_GALLERY)
    g_pids = np.concatenate([
        np.full(num_junk, JUNK_PID), np.zeros(num_distractors, np.int64),
        rng.integers(1, num_ids + 1, num_gallery - num_junk - num_distractors),
    ])
    rng.shuffle(g_pids)
    q_pids = rng.integers(1, num_ids + 1, num_query)
    g_cams, q_cams = rng.integers(0, num_cams, num_gallery), rng.integers(0, num_cams, num_query)
    distmat = rng.random((num_query, num_gallery))
    distmat -= 0.1 * (q_pids[:, None] == g_pids[None, :])  # a model that is right fairly often
    return dict(distmat=distmat.astype(dtype), q_pids=q_pids, g_pids=g_pids, q_camids=q_cams,
                g_camids=g_cams)


def without_junk(split: dict) -> dict:
    keep = split["g_pids"] != JUNK_PID
    return dict(split, distmat=np.ascontiguousarray(split["distmat"][:, keep]),
                g_pids=split["g_pids"][keep], g_camids=split["g_camids"][keep])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torchreid-cython", metavar="DIR",
                        help="torchreid/metrics/rank_cylib with rank_cy built in it")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"machine: {machine()}")

    small = synthetic_split(rng, 500, 5000)
    times, results = side_by_side({"fast": lambda: evaluate_market1501(**small),
                                   "reference": lambda: evaluate_market1501_reference(**small)}, 1)
    fast, ref = results["fast"], results["reference"]
    diff = max(np.abs(fast.cmc - ref.cmc).max(), abs(fast.mAP - ref.mAP))
    print(f"500 x 5000 float32 with junk: ours {times['fast']:.3f} s, loop reference "
          f"{times['reference']:.3f} s; max |ours - reference| = {diff:.1e}")

    market = synthetic_split(rng, MARKET_QUERIES, MARKET_GALLERY)
    for dtype in (np.float32, np.float64):
        case = dict(market, distmat=market["distmat"].astype(dtype))
        times, results = side_by_side({"ours": lambda: evaluate_market1501(**case)}, args.repeats)
        metrics = results["ours"]
        print(f"{MARKET_QUERIES} x {MARKET_GALLERY} {np.dtype(dtype).name} with junk: ours "
              f"{times['ours']:.3f} s; {metrics.num_valid_queries} valid queries, rank-1 "
              f"{100 * metrics.rank(1):.2f}%, mAP {100 * metrics.mAP:.2f}%  ({load()})")

    if not args.torchreid_cython:
        print("torchreid side by side skipped: build its Cython evaluation with\n  "
              f"{TORCHREID_CYTHON_BUILD}")
        return
    rank_cy = load_torchreid_cython(args.torchreid_cython)
    case = without_junk(market)
    shape = case["distmat"].shape
    before = load()
    times, results = side_by_side({
        "torchreid": lambda: rank_cy.evaluate_cy(case["distmat"], case["q_pids"], case["g_pids"],
                                                 case["q_camids"], case["g_camids"], 50),
        "ours": lambda: evaluate_market1501(**case, max_rank=50),
    }, args.repeats)
    (tr_cmc, tr_map), ours = results["torchreid"], results["ours"]
    cmc_diff = np.abs(ours.cmc.astype(np.float32) - tr_cmc).max()
    print(f"{shape[0]} x {shape[1]} float32 (junk removed), best of {args.repeats}: torchreid "
          f"Cython eval_market1501 {times['torchreid']:.3f} s, ours {times['ours']:.3f} s, ratio "
          f"ours/torchreid {times['ours'] / times['torchreid']:.3f}; max |CMC diff| {cmc_diff:.1e} "
          f"(float32), |mAP diff| {abs(ours.mAP - float(tr_map)):.1e}; rank-1 "
          f"{100 * ours.rank(1):.2f}%, mAP {100 * ours.mAP:.2f}%  (before: {before}; after: "
          f"{load()})")


if __name__ == "__main__":
    main()
