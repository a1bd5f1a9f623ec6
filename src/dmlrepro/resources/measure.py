"""Measure one resource-table row and write its resources.json:

    python -m dmlrepro.resources.measure --cell '<paper cell as JSON>' --out resources.json \\
        [--device auto] [--threads N] [--metrics memory_mb,fps] [--memory-batches 2,4]

The row's model picks its measurer from the registry (``dmlrepro.resources.registry``; the
measurers are ``dmlrepro.resources.measurers.*``, the generic parts ``dmlrepro.resources.core``).
On CPU the memory metrics are measured in a child process of their own under a 128 KiB malloc mmap
threshold (``measure_memory_apart``), time and counts in this process.  resources.json records the
device and host it was measured on (``provenance.device``, ``provenance.host``) and the memory
method with both batches' peaks (``setup``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import dmlrepro.resources.measurers  # noqa: F401  (fills the registry)
from dmlrepro.atomic_io import atomic_write_json
from dmlrepro.resources.core import measurement_device, parse_batches
from dmlrepro.resources.peak_memory import child_process_env
from dmlrepro.resources.registry import get_measurer, list_measurers, measure
from dmlrepro.training.determinism import resolve_device
from dmlrepro.training.provenance import provenance

__all__ = ["measure", "list_measurers", "get_measurer", "main"]

#: Metrics measured by the training / inference memory runs (the child process on CPU).
MEMORY_METRICS = frozenset({"memory_mb", "inference_memory_mb"})
#: ... and what those runs also report.
MEMORY_OUTPUTS = MEMORY_METRICS | {"memory_fixed_mb", "inference_memory_fixed_mb"}
MEMORY_SETUP = ("memory_method", "memory_batches", "memory_peaks_mb", "memory_divided_mb", "inference_memory_peaks_mb")
DEFAULT_METRICS = frozenset({"params", "flops", "memory_mb", "fps", "inference_time_ms"})
#: glibc's mmap threshold of the memory-measuring child process (see ``measure_memory_apart``).
MEMORY_MMAP_THRESHOLD_KB = 128
#: The two batches of the memory slope.  CPU: small, because the step runs at 384×128 on a shared
#: 2-core machine; CUDA: up to the papers' training batch, 64 (CSALR Sec. 4.2).
DEFAULT_MEMORY_BATCHES = {"cpu": (2, 4), "cuda": (32, 64)}


def measure_memory_apart(argv: list[str], memory_wanted: set[str]) -> dict:
    """Run this module again, in a child process, for the memory metrics alone, with glibc's
    ``MALLOC_MMAP_THRESHOLD_`` at 128 KiB.

    With glibc's default allocator, mid-sized blocks freed earlier stay in the heap and the
    process's high-water mark counts some of them: the same PCB training step read 128, 137 and
    150 MB/image in three runs, and its inference pass 6 and 19 MB/image.  With the threshold every
    tensor of 128 KiB or more is its own mapping, returned when freed, so VmHWM counts live tensors
    (as CUDA's ``max_memory_allocated`` does).  The threshold also makes every such allocation a
    fresh, zeroed mapping, which slows the work, so timing stays in the parent process with the
    default allocator (see ``dmlrepro.resources.scaling``)."""
    with tempfile.TemporaryDirectory(prefix="dmlrepro-memory-") as tmp:
        out = Path(tmp) / "memory.json"
        # argparse keeps the last value of a repeated option: these override the parent's.
        child_argv = [*argv, "--out", str(out), "--metrics", ",".join(sorted(memory_wanted))]
        completed = subprocess.run([sys.executable, "-m", "dmlrepro.resources.measure", *child_argv],
                                   env=child_process_env(MEMORY_MMAP_THRESHOLD_KB), capture_output=True, text=True)
        if completed.returncode != 0:
            tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"the memory-measuring child process failed (exit {completed.returncode}): {tail}")
        return json.loads(out.read_text())


def _merge_memory(result: dict, memory: dict) -> None:
    """Take the memory metrics (and their method) from the child's result."""
    for key in MEMORY_OUTPUTS:
        if key in memory["metrics"]:
            result["metrics"][key] = memory["metrics"][key]
        for scope, values in memory.get("metrics_by_scope", {}).items():
            if key in values:
                result.setdefault("metrics_by_scope", {}).setdefault(scope, {})[key] = values[key]
    for key in MEMORY_SETUP:
        if key in memory["setup"]:
            result["setup"][key] = memory["setup"][key]
    method = result["setup"].get("memory_method")
    if method and "VmHWM" in method:
        result["setup"]["memory_method"] = f"{method}, own process, MALLOC_MMAP_THRESHOLD_={MEMORY_MMAP_THRESHOLD_KB} KiB"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", required=True, help="the row's paper cell as JSON")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-batches", type=parse_batches, default=None,
                        help="b1,b2: the two training batches of the per-image memory slope (CPU 2,4; CUDA 32,64)")
    parser.add_argument("--infer-batch", type=int, default=None)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metrics the tables need (default: all); measurers may skip costly ones")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    cell = json.loads(args.cell)
    wanted = set(args.metrics.split(",")) if args.metrics else set(DEFAULT_METRICS)
    memory_wanted = wanted & MEMORY_METRICS
    # On CPU the memory is measured in a child process under a fixed mmap threshold; the child
    # itself (the threshold set) measures in place.
    apart = device.type == "cpu" and bool(memory_wanted) and "MALLOC_MMAP_THRESHOLD_" not in os.environ
    memory = measure_memory_apart(argv, memory_wanted) if apart else None
    here = wanted - memory_wanted if apart else wanted
    result = measure(
        cell, device, wanted=here or {"params"},
        memory_batches=args.memory_batches or DEFAULT_MEMORY_BATCHES["cuda" if cuda else "cpu"],
        infer_batch=args.infer_batch or (64 if cuda else 8),
        iterations=args.iterations,
    )
    if memory is not None:
        _merge_memory(result, memory)
    # The device without the thread count (timing runs on one thread whatever --threads says), so
    # that rows measured on one machine compare as one device.
    result["provenance"] = {**provenance(device), "device": measurement_device(device), "host": socket.gethostname()}
    atomic_write_json(args.out, result)
    print(json.dumps(result["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
