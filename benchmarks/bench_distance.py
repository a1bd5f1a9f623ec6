"""Time the squared-Euclidean distance matrix side by side with torchreid's
compute_distance_matrix (a script, not a test).

    python benchmarks/bench_distance.py [--queries 3368] [--gallery 19732] [--dim 2048]
        [--repeats 3] [--torchreid-distance PATH/torchreid/metrics/distance.py]

Features: uniform [0, 1) float32 (non-negative, as pooled ReLU features are), Market-1501's test
split size by default. torchreid's function is its ``euclidean_squared_distance`` (what
``compute_distance_matrix(..., 'euclidean')`` calls): by default re-stated below from reading
torchreid/metrics/distance.py (KaiyangZhou/deep-person-reid); with --torchreid-distance the
file of a checkout is imported instead (benchmark time only; torchreid is not a dependency).
Reported: best wall time of each over --repeats rounds (the two take turns), the ratio, whether
the outputs are bit-identical, torch's thread count, the machine and its load.
"""

from __future__ import annotations

import argparse
import importlib.util

import torch
from bench_common import load, machine, side_by_side

from dmlrepro.evaluation import pairwise_distance


def torchreid_euclidean_squared_distance(input1: torch.Tensor, input2: torch.Tensor) -> torch.Tensor:
    """torchreid's ``euclidean_squared_distance``: expanded squared norms summed, then
    ``addmm_(input1, input2.t(), beta=1, alpha=-2)`` in place (no clamp)."""
    m, n = input1.size(0), input2.size(0)
    mat1 = torch.pow(input1, 2).sum(dim=1, keepdim=True).expand(m, n)
    mat2 = torch.pow(input2, 2).sum(dim=1, keepdim=True).expand(n, m).t()
    distmat = mat1 + mat2
    distmat.addmm_(input1, input2.t(), beta=1, alpha=-2)
    return distmat


def torchreid_function(path: str | None):
    if path is None:
        return torchreid_euclidean_squared_distance, "re-stated euclidean_squared_distance"
    spec = importlib.util.spec_from_file_location("torchreid_distance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return (lambda a, b: module.compute_distance_matrix(a, b, "euclidean")), f"{path}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3368)
    parser.add_argument("--gallery", type=int, default=19732)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many rounds")
    parser.add_argument("--torchreid-distance", metavar="PATH",
                        help="torchreid/metrics/distance.py of a deep-person-reid checkout")
    args = parser.parse_args()
    reference, source = torchreid_function(args.torchreid_distance)
    generator = torch.Generator().manual_seed(0)
    query = torch.rand(args.queries, args.dim, generator=generator)
    gallery = torch.rand(args.gallery, args.dim, generator=generator)
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    before = load()
    times, results = side_by_side({"torchreid": lambda: reference(query, gallery),
                                   "ours": lambda: pairwise_distance(query, gallery)}, args.repeats)
    theirs, ours = results["torchreid"], results["ours"]
    identical = torch.equal(ours, theirs)
    print(f"{args.queries} x {args.gallery}, {args.dim}-d float32, best of {args.repeats}: torchreid "
          f"({source}) {times['torchreid']:.3f} s, ours {times['ours']:.3f} s, ratio ours/torchreid "
          f"{times['ours'] / times['torchreid']:.3f}; bit-identical: {identical} (max |diff| "
          f"{(ours - theirs).abs().max().item():.1e}; torchreid min {theirs.min().item():.1f}, "
          f"nothing to clamp)  (before: {before}; after: {load()})")


if __name__ == "__main__":
    main()
