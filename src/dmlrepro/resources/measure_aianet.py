"""Measure one AiA-Net resource row (002_e585b7ac4801a221.txt, Tables 2, 3, 4 and 8): the row's
network at the paper's input size, 256×128 (Sec. 4.4), on this machine.

Every size is reported in two scopes, because the paper's tables mix them (a row with an attention
block prints the block's size, a row without one the network's; the spec's ``scope`` says which):

* ``network`` — the whole AiA-Net the cell describes.  Parameters exclude the identity
  classifiers, whose size depends on the dataset's number of identities: with that convention
  F_a + F_p has 30,155,556 parameters, the 30.16 M of Tables 2, 4 and 8.  MACs are those of one
  eval-mode forward pass of one 3×256×128 image.
* ``attention_module`` — the cell's attention block(s) alone: parameters, and MACs of each block
  run by itself on the input it receives inside the network (Table 8: "The size of the input
  feature map to the attention block ... [is] 480×16×8", Blk 2's output at 256×128).  The shapes
  are recorded in ``setup["attention_inputs"]``.

``metrics`` follows the paper's convention (params and flops in the ``attention_module`` scope
when the cell has an attention block, else ``network``; time and memory always ``network``);
``metrics_by_scope`` holds both, for a table that asks for the other one.

Units: params in millions; flops in 10⁹ multiply-accumulates (torch's FlopCounterMode counts
2 FLOPs per MAC and covers conv/linear/matmul, not element-wise ops; the paper's "FLOPs" are MACs:
Lin-attention's 0.015 G is 14.8 M MACs); inference_time_ms per image and fps in eval mode (on CPU
single-threaded process CPU time, see ``timed_inference``); memory_mb the peak of one training
step per image.  Parameter and MAC counts are exact and
run on PyTorch's ``meta`` device (no memory, no time), so a row that needs only them is cheap.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from dmlrepro.attention import build_attention
from dmlrepro.models.aianet import (
    AiANet,
    AiANetOutput,
    attention_kwargs_for,
    attention_registry_name,
    build_aianet,
)
from dmlrepro.resources.peak_memory import peak_memory
from dmlrepro.training.provenance import device_name

#: Sec. 4.4: "The spatial size of the input image is fixed to 256 × 128".
INPUT_SIZE = (256, 128)
#: Identities of the CUHK03-NP training set (Table 8: "This study is performed on the CUHK03
#: dataset"); only the classifiers depend on it, and the reported counts leave them out.
CUHK03_NP_TRAIN_IDS = 767
#: Metrics that need no forward pass on real data: counted exactly on the meta device.
COUNT_METRICS = frozenset({"params", "flops"})
#: Inference timing: at least this many timed passes (best kept), because the timings of the
#: rows of Table 3 differ by a few percent and a shared CPU is noisy.
MIN_TIMED_ITERATIONS = 5


def aianet_model_cell(resource_cell: dict) -> dict:
    """The ``build_aianet`` cell of a resource row: the paper cell, random initialisation."""
    cell = {k: v for k, v in resource_cell.items() if k != "paper"}
    cell.setdefault("model", "aianet")
    cell["pretrained"] = "none"
    return cell


def default_scope(cell: dict, metric: str) -> str:
    """The paper's convention: sizes of a row with an attention block are the block's."""
    has_attention = cell.get("attention") not in (None, "none")
    return "attention_module" if metric in COUNT_METRICS and has_attention else "network"


def _count_macs(module: nn.Module, *inputs: torch.Tensor) -> int:
    # Imported here: dmlrepro.resources.measure imports this module to register it.
    from dmlrepro.resources.measure import count_macs

    return count_macs(module, *inputs)


def _count_network(model: AiANet, image: torch.Tensor) -> tuple[int, dict[str, tuple[int, ...]]]:
    """MACs of one forward pass of ``image``, and the shape of the input each attention block
    receives in it (one pass does both)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def recorder(key: str):
        def hook(_module: nn.Module, args: tuple) -> None:  # returning None keeps the input as is
            shapes[key] = tuple(args[0].shape)

        return hook

    handles = [module.register_forward_pre_hook(recorder(key)) for key, module in model.attention.items()]
    try:
        macs = _count_macs(model, image)
    finally:
        for handle in handles:
            handle.remove()
    return macs, shapes


def parameter_breakdown(model: AiANet) -> dict[str, int]:
    """Parameters per part of the network, so a reported count can be reconciled by hand."""
    parts = {
        "backbone": model.backbone,
        "attention": model.attention,
        "global_head": nn.ModuleList([model.global_norm, model.global_embedding]),
        "classifiers": model.classifiers,
    }
    if model.part_extractor:
        parts["part_streams"] = model.part_streams
        parts["part_head"] = nn.ModuleList([model.part_norm, model.part_embedding])
    return {name: sum(p.numel() for p in module.parameters()) for name, module in parts.items()}


def count_sizes(cell: dict, num_classes: int = CUHK03_NP_TRAIN_IDS) -> dict[str, Any]:
    """Exact parameter and MAC counts of ``cell`` in both scopes, on the meta device."""
    height, width = INPUT_SIZE
    with torch.device("meta"):
        model = build_aianet(cell, num_classes).eval()
        network_macs, inputs = _count_network(model, torch.empty(1, 3, height, width))
        module_macs = {
            key: _count_macs(model.attention[key], torch.empty(shape)) for key, shape in inputs.items()
        }
    module_params = sum(p.numel() for p in model.attention.parameters())
    breakdown = parameter_breakdown(model)
    return {
        "by_scope": {
            "network": {
                "params": model.parameter_count(include_classifiers=False) / 1e6,
                "flops": network_macs / 1e9,
            },
            "attention_module": {
                "params": module_params / 1e6,
                "flops": sum(module_macs.values()) / 1e9,
            },
        },
        "setup": {
            "attention_inputs": {key: list(shape[1:]) for key, shape in inputs.items()},
            "attention_module_macs": module_macs,
            "params_breakdown": breakdown,
            "params_with_classifiers": model.parameter_count(include_classifiers=True),
            "classifier_identities": num_classes,
        },
    }


def gau_code_variant_sizes(cell: dict, attention_inputs: dict[str, list[int]]) -> dict[str, float] | None:
    """For a Gau-attention row: the block with the public code's cos-only features (``rff="code"``),
    whose sizes are the ones Table 8 prints, counted alone on the same inputs and recorded beside
    the measured Eq. 14 reading (never instead of it)."""
    if cell.get("attention") != "gau":
        return None
    name = attention_registry_name("gau", bool(cell.get("aia", True)))
    kwargs = {**attention_kwargs_for(cell), "rff": "code"}
    params = macs = 0
    with torch.device("meta"):
        for shape in attention_inputs.values():
            module = build_attention(name, shape[0], **kwargs).eval()
            params += sum(p.numel() for p in module.parameters())
            macs += _count_macs(module, torch.empty(1, *shape))
    return {"params": params / 1e6, "flops": macs / 1e9}


def timed_inference(model: nn.Module, images: torch.Tensor, device: torch.device, iterations: int) -> dict:
    """Seconds per forward pass of ``images`` (eval, no gradient), best of ``iterations`` after one
    warm-up pass.

    CUDA: wall time between synchronisations.  CPU: the process's CPU time with ONE intra-op
    thread.  On a CPU shared with other jobs, wall time with several OpenMP threads measures the
    other jobs more than the network: on this project's 2-core machine under load, F_a took
    230-580 ms per image with 2 threads and 80-89 ms with 1, whose CPU time was 56-59 ms in every
    pass.  One thread's CPU time counts only this network's work, so the ratios between rows (what
    the tables compare) hold whatever else runs.  Wall times are returned too."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    wall, cpu = [], []
    try:
        with torch.no_grad():
            model(images)
            for _ in range(iterations):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start, start_cpu = time.perf_counter(), time.process_time()
                model(images)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
    finally:
        torch.set_num_threads(threads)
    timed = cpu if device.type == "cpu" else wall
    return {
        "best": min(timed), "median": statistics.median(timed), "wall_best": min(wall),
        "wall_median": statistics.median(wall),
        "clock": "process CPU time, 1 thread" if device.type == "cpu" else "wall time (CUDA synchronised)",
    }


def _training_loss(output: AiANetOutput, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on both branches; the triplet term's memory is negligible next to the
    activations, so one training step's peak is that of this loss's backward."""
    return sum(F.cross_entropy(logits, targets) for logits in output.logits)


def measure_aianet(resource_cell: dict, device: torch.device, train_batch: int, infer_batch: int, iterations: int,
                   wanted: set[str] | None = None) -> dict:
    """An AiA-Net row (AiA-Net Tables 2, 3, 4, 8).  ``wanted`` ⊆ {params, flops} skips every
    forward pass on real tensors (no timing, no memory)."""
    cell = aianet_model_cell(resource_cell)
    wanted = set(wanted) if wanted else {"params", "flops", "memory_mb", "fps", "inference_time_ms"}
    sizes = count_sizes(cell)
    by_scope = {scope: dict(values) for scope, values in sizes["by_scope"].items()}
    setup: dict[str, Any] = {
        "input_size": list(INPUT_SIZE),
        "units": {"params": "millions", "flops": "10^9 multiply-accumulates (conv/linear/matmul)",
                  "inference_time_ms": "per image", "memory_mb": "per image, one training step"},
        "params_convention": "network: all parameters but the identity classifiers; attention_module: the attention block(s)",
        **sizes["setup"],
    }
    gau_code = gau_code_variant_sizes(cell, sizes["setup"]["attention_inputs"])
    if gau_code is not None:
        setup["gau_rff_code_attention_module"] = gau_code
    height, width = INPUT_SIZE

    if wanted & {"fps", "inference_time_ms", "memory_mb"}:
        torch.manual_seed(0)
        model = build_aianet(cell, CUHK03_NP_TRAIN_IDS).to(device)
        if "memory_mb" in wanted:
            model.train()
            images = torch.randn(train_batch, 3, height, width, device=device)
            targets = torch.randint(0, CUHK03_NP_TRAIN_IDS, (train_batch,), device=device)
            with peak_memory(device) as train_peak:
                loss = _training_loss(model(images), targets)
                loss.backward()
            del loss, images, targets
            model.zero_grad(set_to_none=True)
            by_scope["network"]["memory_mb"] = train_peak["peak_mb"] / train_batch
            setup.update(train_batch=train_batch, memory_method=train_peak["method"])
        if wanted & {"fps", "inference_time_ms"}:
            model.eval()
            images = torch.randn(infer_batch, 3, height, width, device=device)
            timed = max(iterations, MIN_TIMED_ITERATIONS)
            timing = timed_inference(model, images, device, timed)
            by_scope["network"]["inference_time_ms"] = 1000 * timing["best"] / infer_batch
            by_scope["network"]["fps"] = infer_batch / timing["best"]
            setup.update(
                infer_batch=infer_batch, timed_iterations=timed, timing_clock=timing["clock"],
                timing="best of the timed iterations after one warm-up; eval mode, no gradient",
                inference_time_ms_median=1000 * timing["median"] / infer_batch,
                inference_wall_ms_best=1000 * timing["wall_best"] / infer_batch,
                inference_wall_ms_median=1000 * timing["wall_median"] / infer_batch,
            )
        setup["device"] = device_name(device)
    else:
        setup["device"] = "meta (exact counts; no timing or memory wanted)"

    metrics = {
        metric: by_scope[default_scope(cell, metric)][metric]
        for metric in ("params", "flops", "memory_mb", "fps", "inference_time_ms")
        if metric in by_scope[default_scope(cell, metric)]
    }
    return {"metrics": metrics, "metrics_by_scope": by_scope, "setup": setup, "cell": cell}
