"""What any model costs, whatever the model: parameters, multiply-accumulates, peak training and
inference memory per image, and inference time, of an ``nn.Module`` on inputs the caller makes.

The per-model measurers (``dmlrepro.resources.measurers``) build a table row's network and call
these; nothing here knows a paper, a spec or a model family.

Memory per image (CSALR Table 5, CSA Table 6: "Memory (MB/image)").  A training step's peak
``M(b)`` at batch ``b`` is a fixed part ``F`` (what the peak holds that does not grow with the
batch: the parameters' gradients allocated by then, workspace) plus ``b`` times a per-image part
``a`` (activations kept for backward, the images themselves).  Dividing one peak by its batch,
``M(b)/b = a + F/b``, charges ``F/b`` to every image and pulls the ratios between rows towards 1:
PCB's ResNet-50 (25.2 M parameters) at 384×128 has F = 67 MB, so M(4)/4 reads 96.7 MB/image where
a is 79.9.  Here the step runs at two batches ``b1 < b2`` (after an unmeasured warm-up at ``b1``
that pays the one-time allocations) and

    per_image_mb = (M(b2) - M(b1)) / (b2 - b1),   fixed_mb = M(b1) - b1 * per_image_mb,

the slope and intercept of the line through the two peaks.  The slope does not depend on the
parameter count (tests/resources/test_core.py).  At the papers' batch of 64
(000_6bea8c3e96cdf0f5.txt, Sec. 4.2; 001_5fbd5da13318fd56.txt, Implementation Details) a peak
divided by its batch would read ``a + F/64``, about 1 MB/image above ``a`` for PCB.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from dmlrepro.errors import UserError
from dmlrepro.resources.peak_memory import peak_memory

#: One training step at batch b: builds its own inputs, runs forward + backward.
TrainingStep = Callable[[int], None]
#: One inference pass at batch b (no gradient).
InferencePass = Callable[[int], None]

MEMORY_METHOD = "slope of the peak between two batches"


def count_parameters(model: nn.Module) -> int:
    """Every parameter of ``model`` (shared ones once)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (the papers' "FLOPs"), from torch's flop counter,
    which counts 2 FLOPs per multiply-accumulate (conv, linear, matmul; not element-wise ops).
    Works on the ``meta`` device, so a count costs no memory and no time."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() // 2


def parse_batches(text: str) -> tuple[int, int]:
    """``"2,4"`` → (2, 4): the two batches of the memory slope, b1 < b2, b1 ≥ 2 (BatchNorm1d in
    training mode needs two samples)."""
    try:
        batches = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        batches = ()
    if len(batches) != 2 or not 2 <= batches[0] < batches[1]:
        raise UserError(f"memory batches {text!r}: give two batch sizes b1,b2 with 2 <= b1 < b2, e.g. 2,4")
    return batches  # type: ignore[return-value]


def memory_slope(run: Callable[[int], None], batches: Sequence[int], device: torch.device,
                 after: Callable[[], None] | None = None) -> dict:
    """Peak memory of ``run(b)`` at the two batches and the line through them (module docstring).

    ``run(b)`` does one unit of work at batch ``b`` (a training step, an inference pass); ``after``
    (e.g. ``model.zero_grad(set_to_none=True)``) returns what the work left allocated, so that each
    measured run starts from the same state.  The first run, at ``b1``, is a warm-up and is not
    measured: thread pools, kernel caches and the autograd engine allocate once."""
    b1, b2 = parse_batches(",".join(str(b) for b in batches))
    run(b1)
    if after is not None:
        after()
    peaks: dict[int, float] = {}
    method = ""
    for batch in (b1, b2):
        with peak_memory(device) as peak:
            run(batch)
        if after is not None:
            after()
        peaks[batch] = peak["peak_mb"]
        method = peak["method"]
    per_image = (peaks[b2] - peaks[b1]) / (b2 - b1)
    return {
        "per_image_mb": per_image,
        "fixed_mb": peaks[b1] - b1 * per_image,
        "batches": [b1, b2],
        "peaks_mb": [peaks[b1], peaks[b2]],
        "divided_mb": peaks[b2] / b2,
        "peak_method": method,
        "method": f"{MEMORY_METHOD} b={b1},{b2}: (M(b2)-M(b1))/(b2-b1); {method}",
    }


def training_memory(model: nn.Module, step: TrainingStep, batches: Sequence[int], device: torch.device) -> dict:
    """Per-image and fixed memory of one training step (``step(b)``: forward + backward at batch b);
    the gradients are freed after each step so that every measured step allocates them afresh."""
    model.train()
    return memory_slope(step, batches, device, after=lambda: model.zero_grad(set_to_none=True))


def inference_memory(model: nn.Module, forward: InferencePass, batches: Sequence[int], device: torch.device) -> dict:
    """Per-image and fixed memory of one eval-mode, no-gradient forward pass at batch b."""
    model.eval()

    def run(batch: int) -> None:
        with torch.no_grad():
            forward(batch)

    return memory_slope(run, batches, device)


def timed_inference(model: nn.Module, images: torch.Tensor, device: torch.device, iterations: int) -> dict:
    """Seconds per forward pass of ``images`` (eval, no gradient), best of ``iterations`` after one
    warm-up pass.

    CUDA: wall time between synchronisations.  CPU: the process's CPU time with ONE intra-op
    thread.  On a CPU shared with other jobs, wall time with several OpenMP threads measures the
    other jobs more than the network: on this project's 2-core machine under load, AiA-Net's F_a
    took 230-580 ms per image with 2 threads and 80-89 ms with 1, whose CPU time was 56-59 ms in
    every pass.  One thread's CPU time counts only this network's work, so the ratios between rows
    (what the tables compare) hold whatever else runs.  Wall times are returned too."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    wall, cpu = [], []
    model.eval()
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


def _cpu_model() -> str:
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    except OSError:
        match = None
    return match.group(1).strip() if match else (platform.processor() or platform.machine())


def measurement_device(device: torch.device) -> str:
    """The device a resource row was measured on, independent of the thread count (CPU timing
    runs on one thread whatever ``--threads`` says): the GPU's name, or the CPU model and core
    count.  Rows whose devices differ are not comparable as ratios."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {_cpu_model()} ({os.cpu_count()} cores)"
