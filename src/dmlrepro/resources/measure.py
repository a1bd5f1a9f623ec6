"""Measure one resource-table row (CSALR Table 5, CSA Table 6): the row's model at the paper's
architecture and input size (ResNet-50, 384×128), on this machine.

* memory_mb: peak memory per image of one training step (forward + backward), measured in a fresh
  process so that nothing earlier inflates or hides the peak;
* fps: inference images per second (eval mode, no gradient);
* params: exact parameter count (millions); flops: multiply-accumulates of one forward pass
  (GMACs, the convention the papers' "FLOPs" follow), counted by torch.utils.flop_counter.
Memory and speed depend on the machine, so the table diff compares each row's ratio to the
baseline row rather than absolute values.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from dmlrepro.atomic_io import atomic_write_json
from dmlrepro.cells import resolve_reid_cell
from dmlrepro.config import load_scales
from dmlrepro.models.build import build_reid_model
from dmlrepro.models.pcb import pcb_loss
from dmlrepro.resources.measure_aianet import measure_aianet
from dmlrepro.resources.peak_memory import peak_memory
from dmlrepro.training.determinism import resolve_device
from dmlrepro.training.provenance import device_name, provenance

MARKET_TRAIN_IDS = 751


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
    """A PCB / PCB-RPP row (CSALR Table 5, CSA Table 6)."""
    cell = paper_scale_cell(paper_cell)
    torch.manual_seed(0)
    model = build_reid_model(cell, MARKET_TRAIN_IDS, load_pretrained=False).to(device)
    height, width = cell["training"]["input_size"]
    params = sum(p.numel() for p in model.parameters())

    model.train()
    images = torch.randn(train_batch, 3, height, width, device=device)
    targets = torch.randint(0, MARKET_TRAIN_IDS, (train_batch,), device=device)
    with peak_memory(device) as train_peak:
        loss, _ = pcb_loss(model(images), targets, cell["ds_lambda"])
        loss.backward()
    del loss
    model.zero_grad(set_to_none=True)

    model.eval()
    images = torch.randn(infer_batch, 3, height, width, device=device)
    with torch.no_grad(), peak_memory(device) as infer_peak:
        model(images)
    best = time_inference(model, images, device, iterations)
    return {
        "metrics": {
            "params": params / 1e6,
            "flops": count_macs(model, images[:1]) / 1e9,
            "memory_mb": train_peak["peak_mb"] / train_batch,
            "inference_memory_mb": infer_peak["peak_mb"] / infer_batch,
            "fps": infer_batch / best,
            "inference_time_ms": 1000 * best / infer_batch,
        },
        "setup": {
            "input_size": [height, width], "train_batch": train_batch, "infer_batch": infer_batch,
            "timed_iterations": iterations, "timing": "best of the timed iterations after one warm-up",
            "memory_method": train_peak["method"], "device": device_name(device),
            "units": {"params": "millions", "flops": "GMACs (multiply-accumulates)"},
        },
        "cell": cell,
    }


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


def main(argv: list[str] | None = None) -> int:
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
    result = measure(
        json.loads(args.cell), device, wanted=set(args.metrics.split(",")) if args.metrics else None,
        train_batch=args.train_batch or (32 if cuda else 4),
        infer_batch=args.infer_batch or (64 if cuda else 8),
        iterations=args.iterations,
    )
    result["provenance"] = provenance(device)
    atomic_write_json(args.out, result)
    print(json.dumps(result["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
