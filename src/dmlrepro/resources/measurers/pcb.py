"""Measure one PCB / PCB-RPP resource row (CSALR Table 5, CSA Table 6): the row's model at the
papers' architecture and input size (ResNet-50, 384×128; 000_6bea8c3e96cdf0f5.txt Sec. 4.2,
001_5fbd5da13318fd56.txt Implementation Details), on this machine.

* memory_mb: per-image memory of one training step (forward + backward of PCB's loss with the
  deep-supervision terms, CSALR Eq. 18 / CSA Eq. 8): the slope of the step's peak between two
  batches (``dmlrepro.resources.core``), the fixed part (gradients of the parameters) recorded
  apart as ``memory_fixed_mb``; inference_memory_mb the same for an eval-mode forward pass;
* fps: inference images per second (eval mode, no gradient), inference_time_ms its inverse;
* params: exact parameter count (millions); flops: multiply-accumulates of one forward pass
  (GMACs, the convention the papers' "FLOPs" follow).
Memory and speed depend on the machine, so the table diff compares each row's ratio to the
baseline row rather than absolute values.

torch and the models are imported inside the functions: the plan imports this module for its
declaration (what it measures, which keys it honours) in every Snakemake job, which must not pay
for loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmlrepro.resources.registry import register_measurer
from dmlrepro.specs.honoured import reid_cell_problem

if TYPE_CHECKING:
    import torch

#: Identities of the Market-1501 training set: only the part classifiers depend on it.
MARKET_TRAIN_IDS = 751
MEMORY_METRICS = frozenset({"memory_mb", "inference_memory_mb"})
TIME_METRICS = frozenset({"fps", "inference_time_ms"})
METRICS = frozenset({"params", "flops"}) | MEMORY_METRICS | TIME_METRICS


def paper_scale_cell(paper_cell: dict) -> dict:
    """The re-ID cell of a resource row at the paper's scale, random initialisation."""
    from dmlrepro.cells import resolve_reid_cell

    scale = {"name": "paper", "pretrained_override": "none"}
    return resolve_reid_cell({k: v for k, v in paper_cell.items() if k != "paper"}, "market1501", scale, data_root="",
                             paper=paper_cell.get("paper", "csalr"))


def _check(cell: dict, own: dict) -> str | None:
    # The measurer resolves its rows with the trainer's resolve_reid_cell: the same keys count.
    return reid_cell_problem(cell, own)


@register_measurer("pcb", "pcb_rpp", metrics=METRICS, check_cell=_check)
def measure_pcb(paper_cell: dict, device: torch.device, *, memory_batches: tuple[int, int], infer_batch: int,
                iterations: int, wanted: set[str] | None = None) -> dict:
    """A PCB / PCB-RPP row.  ``wanted`` limits the costly parts: the training steps (``memory_mb``;
    ``inference_memory_mb`` comes with it) and the timing (``fps``, ``inference_time_ms``);
    parameters and MACs are always counted."""
    import torch

    from dmlrepro.models.build import build_reid_model
    from dmlrepro.models.pcb import pcb_loss
    from dmlrepro.resources.core import (
        count_macs,
        count_parameters,
        inference_memory,
        measurement_device,
        timed_inference,
        training_memory,
    )

    wanted = set(wanted) if wanted else set(METRICS)
    cell = paper_scale_cell(paper_cell)
    torch.manual_seed(0)
    model = build_reid_model(cell, MARKET_TRAIN_IDS, load_pretrained=False).to(device)
    height, width = cell["training"]["input_size"]
    metrics: dict[str, float] = {"params": count_parameters(model) / 1e6}
    setup: dict = {
        "input_size": [height, width], "device": measurement_device(device), "threads": torch.get_num_threads(),
        "units": {"params": "millions", "flops": "GMACs (multiply-accumulates)",
                  "memory_mb": "MB per image, one training step (slope between two batches)"},
    }

    def images(batch: int) -> torch.Tensor:
        return torch.randn(batch, 3, height, width, device=device)

    if wanted & MEMORY_METRICS:
        def step(batch: int) -> None:
            targets = torch.randint(0, MARKET_TRAIN_IDS, (batch,), device=device)
            loss, _ = pcb_loss(model(images(batch)), targets, cell["ds_lambda"])
            loss.backward()

        train = training_memory(model, step, memory_batches, device)
        infer = inference_memory(model, lambda batch: model(images(batch)), memory_batches, device)
        metrics.update(memory_mb=train["per_image_mb"], memory_fixed_mb=train["fixed_mb"],
                       inference_memory_mb=infer["per_image_mb"], inference_memory_fixed_mb=infer["fixed_mb"])
        setup.update(memory_method=train["method"], memory_batches=train["batches"],
                     memory_peaks_mb=train["peaks_mb"], memory_divided_mb=train["divided_mb"],
                     inference_memory_peaks_mb=infer["peaks_mb"])

    model.eval()
    batch = images(infer_batch)
    if wanted & TIME_METRICS:
        timing = timed_inference(model, batch, device, iterations)
        metrics.update(fps=infer_batch / timing["best"], inference_time_ms=1000 * timing["best"] / infer_batch)
        setup.update(infer_batch=infer_batch, timed_iterations=iterations, timing_clock=timing["clock"],
                     timing="best of the timed iterations after one warm-up")
    metrics["flops"] = count_macs(model, batch[:1]) / 1e9
    return {"metrics": metrics, "setup": setup, "cell": cell}
