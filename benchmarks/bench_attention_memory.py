"""CSALR against materialised self-attention at the stage-1 position (a script, not a test).

    python benchmarks/bench_attention_memory.py [--repeats 3] [--batch 8] [--device cpu] [--threads N]

One forward + backward pass of a module on a 256×96×32 map (PCB's ResNet-50 stage 1 at the
papers' 384×128 input), batch 8: CSALR with 2 groups × 96 landmarks (000_6bea8c3e96cdf0f5.txt,
Sec. 4.2) against single-head SA that materialises the n×n map (n = 3072; 000, Eq. 10).
The target (CSALR Sec. 4.7's claim, made concrete): CSALR at most 0.2× SA's peak memory and at
most 0.3× its time.

Both modules are measured in ONE invocation under the same conditions: every measurement is a
pair of fresh worker processes of ``dmlrepro.resources.scaling`` (``measure_point``: one for
memory, one for time; same threads), SA and CSALR alternating ``--repeats`` times so that a change
in the machine's load hits both.  Memory: peak above the process's level before the pass (module
and input held), CPU VmHWM under a 128 KiB malloc mmap threshold (live tensors only) or CUDA
max_memory_allocated; per-module value = median over the repeats.  Time: best pass of each time
worker, which runs with glibc's default allocator as training does; per-module value = best over
the repeats.  On CPU the default is one thread timed by the process's CPU time, which other jobs on
a shared machine do not inflate; wall time is printed too.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

from dmlrepro.resources.scaling import Budget, Variant, cpu_model, default_memory_budget_mb, measure_point

SIZE = (384, 128)  # input; the stage-1 map is 96×32
TARGET_MEMORY_RATIO = 0.2
TARGET_TIME_RATIO = 0.3


def machine(threads: int, device: str) -> str:
    mem_gib = load = "?"
    try:
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
        mem_gib = f"{mem_kb / 2**20:.0f}"
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if device != "cpu" and torch.cuda.is_available() else ""
    return (f"{cpu_model()}, {os.cpu_count()} CPU cores, {mem_gib} GiB{gpu}; {platform.platform()}; "
            f"python {platform.python_version()}, torch {torch.__version__}; {threads} threads; "
            f"load average {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3, help="timed passes per worker (best kept)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads (default 1, timed by process CPU time; more: wall time)")
    parser.add_argument("--mmap-threshold-kb", type=int, default=128,
                        help="glibc MALLOC_MMAP_THRESHOLD_ of the memory workers (0: glibc's default); see dmlrepro.resources.scaling")
    args = parser.parse_args(argv)

    modules = {"SA (materialised)": Variant("sa"), "CSALR 2 groups x 96": Variant("csalr", 2, landmarks=96)}
    budget = Budget(default_memory_budget_mb(), 900.0)
    print(f"machine: {machine(args.threads, args.device)}")
    print(f"input {SIZE[0]}x{SIZE[1]} -> stage-1 map 256x{SIZE[0] // 4}x{SIZE[1] // 4} (n = {SIZE[0] * SIZE[1] // 16}), "
          f"batch {args.batch}, device {args.device}, {args.repeats} alternating fresh workers per module, "
          f"malloc mmap threshold {args.mmap_threshold_kb or 'glibc default'} KiB")
    results: dict[str, list[dict]] = {name: [] for name in modules}
    for repeat in range(args.repeats):
        for name, variant in modules.items():
            result = measure_point(variant, *SIZE, args.batch, args.device, args.threads, args.iterations, budget,
                                   args.mmap_threshold_kb)
            if result["status"] != "measured":
                print(f"{name}: not measured: {result['reason']}")
                return 1
            results[name].append(result)
            print(f"  run {repeat + 1} {name:20s} peak {result['peak_mb']:8.1f} MB   "
                  f"best pass {result['time_s']:.3f} s (median {result['time_s_median']:.3f} s; {result['clock']}; "
                  f"best wall {result['wall_s']:.3f} s)   pid {result['pid']}")

    summary = {}
    for name, runs in results.items():
        summary[name] = (statistics.median(r["peak_mb"] for r in runs), min(r["time_s"] for r in runs))
        peaks = ", ".join(f"{r['peak_mb']:.0f}" for r in runs)
        print(f"{name:20s} peak memory {summary[name][0]:8.1f} MB (median of {peaks}; "
              f"{summary[name][0] / args.batch:.1f} MB/image)   time {summary[name][1]:.3f} s "
              f"({1000 * summary[name][1] / args.batch:.1f} ms/image)")
    names = list(summary)
    (sa_mem, sa_time), (lr_mem, lr_time) = summary.values()
    memory_ratio, time_ratio = lr_mem / sa_mem, lr_time / sa_time
    verdict = lambda ok: "meets" if ok else "MISSES"  # noqa: E731
    print(f"CSALR / SA memory ratio {memory_ratio:.3f}  ({verdict(memory_ratio <= TARGET_MEMORY_RATIO)} "
          f"the target <= {TARGET_MEMORY_RATIO})")
    print(f"CSALR / SA time ratio   {time_ratio:.3f}  ({verdict(time_ratio <= TARGET_TIME_RATIO)} "
          f"the target <= {TARGET_TIME_RATIO})")
    wall_ratio = min(r["wall_s"] for r in results[names[1]]) / min(r["wall_s"] for r in results[names[0]])
    print(f"  (wall-clock time ratio {wall_ratio:.3f}; the ratio above uses {results[names[0]][0]['clock']})")
    print(f"memory method: {results[names[0]][0]['memory_method']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
