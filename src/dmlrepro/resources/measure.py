"""Measure one resource-table row (CSALR Table 5, CSA Table 6): the row's model at the paper's
architecture and input size (ResNet-50, 384×128), on this machine.

* memory_mb: peak memory per image of one training step (forward + backward); on CPU measured in
  a child process of its own under a 128 KiB malloc mmap threshold so that the process's
  high-water mark counts live tensors only (``measure_memory_apart``), on CUDA by the allocator;
* fps: inference images per second (eval mode, no gradient);
* params: exact parameter count (millions); flops: multiply-accumulates of one forward pass
  (GMACs, the convention the papers' "FLOPs" follow), counted by torch.utils.flop_counter.
Memory and speed depend on the machine, so the table diff compares each row's ratio to the
baseline row rather than absolute values.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from dmlrepro.atomic_io import atomic_write_json
from dmlrepro.cells import resolve_reid_cell
from dmlrepro.config import load_scales
from dmlrepro.models.build import build_reid_model
from dmlrepro.models.pcb import pcb_loss
from dmlrepro.resources.measure_aianet import measure_aianet
from dmlrepro.resources.peak_memory import child_process_env, peak_memory
from dmlrepro.training.determinism import resolve_device
from dmlrepro.training.provenance import device_name, provenance

MARKET_TRAIN_IDS = 751
MEMORY_METRICS = frozenset({"memory_mb", "inference_memory_mb"})
TIME_METRICS = frozenset({"fps", "inference_time_ms"})
REID_METRICS = frozenset({"params", "flops"}) | MEMORY_METRICS | TIME_METRICS
#: glibc's mmap threshold of the memory-measuring child process (see ``measure_memory_apart``).
MEMORY_MMAP_THRESHOLD_KB = 128


def paper_scale_cell(paper_cell: dict) -> dict:
    scale = {**load_scales()["paper"], "name": "paper"}
    scale["backbone"] = {**scale["backbone"], "pretrained": "none"}
    return resolve_reid_cell(paper_cell, "market1501", scale, data_root="")


def count_macs(model: torch.nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (the papers' "FLOPs"), from torch's flop counter,
    which counts 2 FLOPs per multiply-accumulate."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() // 2


def time_inference(model: torch.nn.Module, images: torch.Tensor, device: torch.device, iterations: int) -> float:
    """Best time of one forward pass over `iterations` after one warm-up; on CPU the process CPU
    time with one intra-op thread (see measure_aianet.timed_inference)."""
    from dmlrepro.resources.measure_aianet import timed_inference

    return timed_inference(model, images, device, iterations)["best"]


def measure_reid(paper_cell: dict, device: torch.device, train_batch: int, infer_batch: int, iterations: int,
                 wanted: set[str] | None = None) -> dict:
    """A PCB / PCB-RPP row (CSALR Table 5, CSA Table 6).  ``wanted`` limits the costly parts:
    the training step (``memory_mb``; ``inference_memory_mb`` comes with it) and the timing
    (``fps``, ``inference_time_ms``); parameters and MACs are always counted."""
    wanted = set(wanted) if wanted else set(REID_METRICS)
    cell = paper_scale_cell(paper_cell)
    torch.manual_seed(0)
    model = build_reid_model(cell, MARKET_TRAIN_IDS, load_pretrained=False).to(device)
    height, width = cell["training"]["input_size"]
    metrics: dict[str, float] = {"params": sum(p.numel() for p in model.parameters()) / 1e6}
    setup: dict = {
        "input_size": [height, width], "infer_batch": infer_batch, "device": device_name(device),
        "units": {"params": "millions", "flops": "GMACs (multiply-accumulates)"},
    }
    if wanted & MEMORY_METRICS:
        model.train()
        images = torch.randn(train_batch, 3, height, width, device=device)
        targets = torch.randint(0, MARKET_TRAIN_IDS, (train_batch,), device=device)
        with peak_memory(device) as train_peak:
            loss, _ = pcb_loss(model(images), targets, cell["ds_lambda"])
            loss.backward()
        del loss, images
        model.zero_grad(set_to_none=True)
        metrics["memory_mb"] = train_peak["peak_mb"] / train_batch
        setup.update(train_batch=train_batch, memory_method=train_peak["method"])

    model.eval()
    images = torch.randn(infer_batch, 3, height, width, device=device)
    if wanted & MEMORY_METRICS:
        with torch.no_grad(), peak_memory(device) as infer_peak:
            model(images)
        metrics["inference_memory_mb"] = infer_peak["peak_mb"] / infer_batch
    if wanted & TIME_METRICS:
        best = time_inference(model, images, device, iterations)
        metrics.update(fps=infer_batch / best, inference_time_ms=1000 * best / infer_batch)
        setup.update(timed_iterations=iterations, timing="best of the timed iterations after one warm-up")
    metrics["flops"] = count_macs(model, images[:1]) / 1e9
    return {"metrics": metrics, "setup": setup, "cell": cell}


#: model name → measuring function(resource_cell, device, train_batch, infer_batch, iterations)
MEASURERS = {"pcb": measure_reid, "pcb_rpp": measure_reid, "aianet": measure_aianet}


def measure(resource_cell: dict, device: torch.device, train_batch: int, infer_batch: int, iterations: int,
            wanted: set[str] | None = None) -> dict:
    """Measure a resource row.  `wanted` names the metrics the tables need; a measurer may skip the
    costly ones (training-step memory, timing) when only parameters or MACs are wanted."""
    model = resource_cell.get("model", "pcb")
    if model not in MEASURERS:
        raise ValueError(f"model: no resource measurement for {model!r}; known: {sorted(MEASURERS)}")
    return MEASURERS[model](resource_cell, device, train_batch, infer_batch, iterations, wanted=wanted)


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
    for key in MEMORY_METRICS:
        if key in memory["metrics"]:
            result["metrics"][key] = memory["metrics"][key]
        for scope, values in memory.get("metrics_by_scope", {}).items():
            if key in values:
                result.setdefault("metrics_by_scope", {}).setdefault(scope, {})[key] = values[key]
    method = memory["setup"].get("memory_method")
    if method:
        if method.startswith("VmHWM"):
            method += f", own process, MALLOC_MMAP_THRESHOLD_={MEMORY_MMAP_THRESHOLD_KB} KiB"
        result["setup"]["memory_method"] = method
    if "train_batch" in memory["setup"]:
        result["setup"]["train_batch"] = memory["setup"]["train_batch"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", required=True, help="the row's paper cell as JSON")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train-batch", type=int, default=None)
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
    wanted = set(args.metrics.split(",")) if args.metrics else set(REID_METRICS)
    memory_wanted = wanted & MEMORY_METRICS
    # On CPU the memory is measured in a child process under a fixed mmap threshold; the child
    # itself (the threshold set) measures in place.
    apart = device.type == "cpu" and bool(memory_wanted) and "MALLOC_MMAP_THRESHOLD_" not in os.environ
    memory = measure_memory_apart(argv, memory_wanted) if apart else None
    here = wanted - memory_wanted if apart else wanted
    result = measure(
        cell, device, wanted=here or {"params"},
        train_batch=args.train_batch or (32 if cuda else 4),
        infer_batch=args.infer_batch or (64 if cuda else 8),
        iterations=args.iterations,
    )
    if memory is not None:
        _merge_memory(result, memory)
    result["provenance"] = provenance(device)
    atomic_write_json(args.out, result)
    print(json.dumps(result["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
