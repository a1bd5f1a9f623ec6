"""How the cost of one attention module grows with the input: peak memory and time of ONE forward
+ backward pass of SA, fused-SDPA SA, CSA and CSALR at the stage-1 position of PCB's ResNet-50
(256 channels, map = input / 4), as the input grows from 192×64 to 768×256.

This is the O(n²) against O(n·m) argument of the papers made measurable: full self-attention
materialises an n×n map over the n = H·W positions (000_6bea8c3e96cdf0f5.txt, Eq. 10;
001_5fbd5da13318fd56.txt, Eq. 1-2), CSA a D·G×n one (001, Eq. 3-7) and CSALR n×m ones with m
landmarks per group (000, Eq. 11-17).  The papers state the landmark count for 384×128 (96 per
group); here every input size keeps the paper's 96 per group (they fit the stage-1 map at every
size in the default list) and CSA keeps its 32 bases per group, so the m of O(n·m) is fixed.
``sa_sdpa`` (torch's ``scaled_dot_product_attention``) is beyond the papers: a modern fused
baseline; whether it avoids the n×n map depends on the kernel PyTorch picks on this device (on
this project's CPU, torch 2.14, with Q/K of 64 and V of 256 channels, its memory still grows as
n², about a quarter below SA's).

Each point runs in two FRESH subprocesses, one for memory and one for time.  The CPU peak is the
process's high-water resident set (VmHWM, reset before the pass; ``dmlrepro.resources.peak_memory``),
which nothing earlier in the same process can inflate, and the CUDA peak is the allocator's.  The
memory is that of the first full-size pass (after a warm-up at a small map that starts the thread
pools), above what the process holds before it (module and input).  The memory worker runs with
glibc's ``MALLOC_MMAP_THRESHOLD_`` at 128 KiB (``--mmap-threshold-kb``; 0 keeps glibc's default):
every tensor of that size or more is then its own mapping, returned to the system when freed, so
the high-water mark counts live tensors (as CUDA's ``max_memory_allocated`` does) and neither the
warm-up's freed memory nor heap fragmentation shifts it.  With glibc's default, mid-sized freed
blocks stay in the heap and the same pass reads 10-70% higher, unevenly across modules.

The time is the best of ``--iterations`` passes after an untimed full-size one, on CPU by default
with one thread and measured as the process's CPU time (on a shared machine, wall time with
several OpenMP threads mostly measures the other jobs; the CSV has wall time too).  The time
worker keeps glibc's default allocator, as training does: under the 128 KiB threshold every
mid-sized temporary is a fresh mapping that the kernel must fault in and zero, which on this
machine made one stage-1 pass at batch 8 take 1.38 s instead of 0.82 s for CSALR and 3.69 s instead
of 3.50 s for SA — a cost of the memory accounting, not of the module.

Points over the memory or time budget are recorded as skipped, with the reason; their numbers are
never estimated in their place.  A batch smaller than ``--batch`` is used, and recorded, when the
requested one would not fit the memory budget.  ``--plot-only`` redraws the figure from the CSV.

    python -m dmlrepro.resources.scaling --out-csv results/resources/scaling.csv \\
        --out-png results/resources/scaling.png [--device auto] [--sizes 192x64 384x128 ...]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dmlrepro.atomic_io import atomic_write, atomic_write_text
from dmlrepro.errors import UserError
from dmlrepro.resources.peak_memory import child_process_env

#: ResNet-50 stage 1 (layer1): 256 channels at stride 4 (CSALR/CSA put a module after it).
STAGE1_CHANNELS = 256
STAGE1_STRIDE = 4
DEFAULT_SIZES = ((192, 64), (288, 96), (384, 128), (576, 192), (768, 256))
#: CSALR Sec. 4.2: "96 sampled points per group"; CSA: "32 base attention maps in each group".
PAPER_LANDMARKS = 96
PAPER_BASES = 32
DEFAULT_GROUPS = (1, 2, 4, 8)
METHODS = ("sa", "sa_sdpa", "csa", "csalr")
#: The warm-up map: big enough for 96 landmarks (12×8 tiles 24×16), small enough to cost nothing.
WARMUP_MAP = (24, 16)
MB = 2**20
FLOAT = 4

CSV_FIELDS = (
    "variant", "attention", "groups", "landmarks", "bases", "input_h", "input_w", "map_h", "map_w",
    "positions", "requested_batch", "batch", "status", "reason", "peak_mb", "peak_mb_per_image",
    "time_s", "time_ms_per_image", "time_s_median", "timed_iterations", "clock", "wall_s", "cpu_s",
    "rss_before_mb",
    "memory_method", "device", "threads", "torch", "pid", "time_pid", "estimate_mb",
)


@dataclass(frozen=True)
class Variant:
    """One attention configuration: a registry name and its constructor arguments."""

    attention: str
    groups: int = 1
    landmarks: int | None = None
    bases: int | None = None

    @property
    def name(self) -> str:
        if self.attention in ("sa", "sa_sdpa"):
            return self.attention
        return f"{self.attention}-g{self.groups}"

    def kwargs(self) -> dict[str, Any]:
        if self.attention == "csalr":
            return {"samples": self.landmarks, "groups": self.groups}
        if self.attention == "csa":
            return {"bases": self.bases, "groups": self.groups}
        return {}


def variants(methods: tuple[str, ...] = METHODS, groups: tuple[int, ...] = DEFAULT_GROUPS) -> list[Variant]:
    """SA (materialised), fused SDPA SA, and CSA / CSALR at every group count."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise UserError(f"methods: unknown {unknown}; choose from {list(METHODS)}")
    out: list[Variant] = []
    for method in methods:
        if method in ("sa", "sa_sdpa"):
            out.append(Variant(method))
        elif method == "csa":
            out += [Variant("csa", g, bases=PAPER_BASES) for g in groups]
        else:
            out += [Variant("csalr", g, landmarks=PAPER_LANDMARKS) for g in groups]
    return out


def estimate_mb(variant: Variant, positions: int, batch: int, channels: int = STAGE1_CHANNELS) -> float:
    """A generous guess of one pass's peak, used ONLY to pick a batch that fits the budget and to
    skip hopeless points without running them (never reported as a measurement).  Factors from
    measurements on this code at 96×32 (SA ≈ 4.7 n² floats per image; linear terms ≈ 16 n·C)."""
    linear = 16 * positions * channels * FLOAT
    if variant.attention in ("sa", "sa_sdpa"):
        quadratic = 6 * positions * positions * FLOAT
    elif variant.attention == "csa":
        quadratic = 8 * variant.groups * (variant.bases or PAPER_BASES) * positions * FLOAT
    else:
        quadratic = 12 * variant.groups * (variant.landmarks or PAPER_LANDMARKS) * positions * 2 * FLOAT
    return batch * (linear + quadratic) / MB


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not HxW, e.g. 384x128") from None
    if height % STAGE1_STRIDE or width % STAGE1_STRIDE or height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r}: both sides must be positive multiples of {STAGE1_STRIDE}")
    return height, width


# ------------------------------------------------------------------------------------ worker


def run_point(variant: Variant, height: int, width: int, batch: int, device: str, threads: int,
              iterations: int, phase: str = "memory") -> dict[str, Any]:
    """One point, in THIS process (call it in a fresh one: see ``measure_point``).

    ``phase="memory"``: the peak of the first full-size pass.  ``phase="time"``: one untimed
    full-size pass (first-touch costs), then the best of ``iterations`` timed passes."""
    import torch

    from dmlrepro.attention import build_attention
    from dmlrepro.resources.peak_memory import peak_memory
    from dmlrepro.training.determinism import resolve_device

    if phase not in ("memory", "time"):
        raise ValueError(f"phase must be 'memory' or 'time', got {phase!r}")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = resolve_device(device)
    module = build_attention(variant.attention, STAGE1_CHANNELS, **variant.kwargs()).to(dev).train()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def step(x: torch.Tensor) -> None:
        # The loss reads the module's response, so the backward runs through the attention
        # whatever the gate α (0 at initialisation) is.
        module(x).response.square().mean().backward()
        x.grad = None
        module.zero_grad(set_to_none=True)

    warm = torch.randn(1, STAGE1_CHANNELS, *WARMUP_MAP, device=dev, requires_grad=True)
    step(warm)
    del warm
    sync()

    map_h, map_w = height // STAGE1_STRIDE, width // STAGE1_STRIDE
    x = torch.randn(batch, STAGE1_CHANNELS, map_h, map_w, device=dev, requires_grad=True)
    common = {"status": "measured", "reason": "", "batch": batch, "device": _device_label(dev),
              "threads": torch.get_num_threads(), "torch": torch.__version__, "pid": os.getpid()}
    if phase == "memory":
        rss_before = _rss_mb(os.getpid()) if dev.type == "cpu" else None
        try:
            with peak_memory(dev) as peak:
                step(x)
        except torch.OutOfMemoryError:
            return {"status": "skipped", "reason": f"out of device memory at batch {batch}", "batch": batch,
                    "killed_for": "memory"}
        return {**common, "peak_mb": peak["peak_mb"], "peak_mb_per_image": peak["peak_mb"] / batch,
                "rss_before_mb": rss_before, "memory_method": peak["method"]}

    try:
        step(x)  # untimed: first touch of every buffer
    except torch.OutOfMemoryError:
        return {"status": "skipped", "reason": f"out of device memory at batch {batch}", "batch": batch,
                "killed_for": "memory"}
    wall, cpu = [], []
    for _ in range(iterations):
        sync()
        start, start_cpu = time.perf_counter(), time.process_time()
        step(x)
        sync()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    # One CPU thread: the process's CPU time counts this module's work only, whatever else runs on
    # the machine; with more threads (or on CUDA) only wall time means anything.
    use_cpu_clock = dev.type == "cpu" and torch.get_num_threads() == 1
    timings = sorted(cpu if use_cpu_clock else wall)
    return {**common,
            "time_s": timings[0], "time_ms_per_image": 1000 * timings[0] / batch,
            "time_s_median": timings[len(timings) // 2], "timed_iterations": iterations,
            "clock": "process CPU time, 1 thread" if use_cpu_clock else "wall",
            "wall_s": min(wall), "cpu_s": min(cpu)}


def _device_label(dev) -> str:
    import torch

    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu: {cpu_model()}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------------------ parent


@dataclass
class Budget:
    memory_mb: float
    time_s: float


@dataclass
class Point:
    variant: Variant
    height: int
    width: int
    requested_batch: int
    result: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        map_h, map_w = self.height // STAGE1_STRIDE, self.width // STAGE1_STRIDE
        base = {
            "variant": self.variant.name, "attention": self.variant.attention, "groups": self.variant.groups,
            "landmarks": self.variant.landmarks, "bases": self.variant.bases,
            "input_h": self.height, "input_w": self.width, "map_h": map_h, "map_w": map_w,
            "positions": map_h * map_w, "requested_batch": self.requested_batch,
        }
        return {k: {**base, **self.result}.get(k) for k in CSV_FIELDS}


def _rss_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def measure_point(variant: Variant, height: int, width: int, batch: int, device: str, threads: int,
                  iterations: int, budget: Budget, mmap_threshold_kb: int = 128) -> dict[str, Any]:
    """Measure one point in two fresh subprocesses — memory, then time — killing either past the
    memory (CPU: resident set) or time budget; the returned dict has status ``measured`` or
    ``skipped`` with the reason.

    Only the memory worker runs with ``MALLOC_MMAP_THRESHOLD_`` (``mmap_threshold_kb``; 0: glibc's
    default): it makes the high-water mark count live tensors, but it also makes every tensor of
    128 KiB or more a fresh mapping, page-faulted and zeroed on each allocation — a cost that
    training with the default allocator does not pay and that falls hardest on modules with many
    mid-sized temporaries.  The time worker therefore runs with glibc's default allocator."""
    spec = {"variant": asdict(variant), "height": height, "width": width, "batch": batch,
            "device": device, "threads": threads, "iterations": iterations}
    memory = _run_worker({**spec, "phase": "memory"}, threads, budget, mmap_threshold_kb)
    if memory["status"] != "measured":
        return memory
    if memory.get("memory_method", "").startswith("VmHWM"):
        glibc = f"MALLOC_MMAP_THRESHOLD_={mmap_threshold_kb} KiB" if mmap_threshold_kb > 0 else "glibc default malloc"
        memory["memory_method"] += f", fresh process, {glibc}"
    timing = _run_worker({**spec, "phase": "time"}, threads, budget, mmap_threshold_kb=0)
    if timing["status"] != "measured":
        return timing
    time_fields = ("time_s", "time_ms_per_image", "time_s_median", "timed_iterations", "clock", "wall_s", "cpu_s")
    result = {**memory, **{key: timing[key] for key in time_fields}, "time_pid": timing["pid"]}
    if timing["device"].startswith("cpu"):
        result["clock"] += ", glibc default malloc, own process"
    return result


def _run_worker(spec: dict[str, Any], threads: int, budget: Budget, mmap_threshold_kb: int) -> dict[str, Any]:
    """``run_point`` in a fresh subprocess under the budget (see ``measure_point``)."""
    batch = spec["batch"]
    env = child_process_env(mmap_threshold_kb)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    process = subprocess.Popen([sys.executable, "-m", "dmlrepro.resources.scaling", "--worker", json.dumps(spec)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    start = time.monotonic()
    while process.poll() is None:
        rss = _rss_mb(process.pid)
        killed_for = reason = None
        if rss is not None and rss > budget.memory_mb:
            killed_for = "memory"
            reason = f"exceeded the memory budget ({rss:.0f} MB resident > {budget.memory_mb:.0f} MB) at batch {batch}"
        elif time.monotonic() - start > budget.time_s:
            killed_for = "time"
            reason = f"exceeded the time budget ({budget.time_s:.0f} s) at batch {batch}"
        if killed_for:
            process.kill()
            process.communicate()
            return {"status": "skipped", "reason": reason, "batch": batch, "killed_for": killed_for}
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "skipped", "reason": f"worker failed (exit {process.returncode}): {tail}", "batch": batch}
    return json.loads(lines[-1])


def run_scaling(sizes, variant_list, batch: int, device: str, threads: int, iterations: int,
                budget: Budget, log=print, mmap_threshold_kb: int = 128) -> list[Point]:
    """Every (variant, size) point, smallest inputs first.  A variant over budget at one size is
    skipped, without running, at the larger ones (its cost only grows with n)."""
    points: list[Point] = []
    exhausted: dict[str, str] = {}
    for height, width in sorted(sizes, key=lambda s: s[0] * s[1]):
        positions = (height // STAGE1_STRIDE) * (width // STAGE1_STRIDE)
        for variant in variant_list:
            point = Point(variant, height, width, batch)
            points.append(point)
            if variant.name in exhausted:
                point.result = {"status": "skipped", "batch": None,
                                "reason": f"over budget at a smaller input ({exhausted[variant.name]})"}
                log(f"{variant.name:10s} {height}x{width}: skipped ({point.result['reason']})")
                continue
            if variant.attention == "csalr" and variant.landmarks > positions:
                point.result = {"status": "skipped", "batch": None,
                                "reason": f"{variant.landmarks} landmarks do not fit {positions} positions"}
                continue
            run_batch = batch
            while run_batch > 1 and estimate_mb(variant, positions, run_batch) > budget.memory_mb:
                run_batch //= 2
            estimate = estimate_mb(variant, positions, run_batch)
            if estimate > budget.memory_mb:
                result = {"status": "skipped", "batch": None,
                          "reason": f"estimated {estimate:.0f} MB at batch 1 > budget {budget.memory_mb:.0f} MB (not run)"}
            else:
                while True:
                    result = measure_point(variant, height, width, run_batch, device, threads, iterations, budget,
                                           mmap_threshold_kb)
                    if result.get("killed_for") == "memory" and run_batch > 1:
                        run_batch //= 2
                        continue
                    break
            result.pop("killed_for", None)
            result["estimate_mb"] = round(estimate, 1)
            point.result = result
            if result["status"] == "skipped":
                exhausted[variant.name] = f"{height}x{width}"
                log(f"{variant.name:10s} {height}x{width}: skipped ({result['reason']})")
            else:
                log(f"{variant.name:10s} {height}x{width} n={positions:6d} batch {result['batch']}: "
                    f"{result['peak_mb_per_image']:9.1f} MB/image  {result['time_ms_per_image']:9.1f} ms/image")
    return points


# ------------------------------------------------------------------------------------ output


def to_csv(points: list[Point]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for point in points:
        writer.writerow({k: ("" if v is None else (round(v, 4) if isinstance(v, float) else v))
                         for k, v in point.row().items()})
    return out.getvalue()


#: CSV columns that describe the point itself rather than its measurement.
_POINT_KEYS = frozenset({"variant", "attention", "groups", "landmarks", "bases", "input_h", "input_w", "map_h",
                         "map_w", "positions", "requested_batch"})


def points_from_csv(text: str) -> list[Point]:
    """The points of a CSV written by ``to_csv`` (to redraw the figure without measuring again)."""
    numeric = {"peak_mb", "peak_mb_per_image", "time_s", "time_ms_per_image", "time_s_median", "wall_s", "cpu_s",
               "rss_before_mb", "estimate_mb"}
    points = []
    for row in csv.DictReader(io.StringIO(text)):
        variant = Variant(row["attention"], int(row["groups"]),
                          int(row["landmarks"]) if row["landmarks"] else None, int(row["bases"]) if row["bases"] else None)
        result = {k: (float(v) if k in numeric else int(v) if k in ("batch", "threads", "pid", "time_pid", "timed_iterations") else v)
                  for k, v in row.items() if v != "" and k in CSV_FIELDS and k not in _POINT_KEYS}
        points.append(Point(variant, int(row["input_h"]), int(row["input_w"]), int(row["requested_batch"]), result))
    return points


_COLOURS = {"sa": "tab:red", "sa_sdpa": "tab:orange"}
_SHADES = {"csa": ("#9ecae1", "#6baed6", "#3182bd", "#08519c"), "csalr": ("#a1d99b", "#74c476", "#31a354", "#006d2c")}


def _colour(variant: Variant, groups: list[int]) -> str:
    if variant.attention in _COLOURS:
        return _COLOURS[variant.attention]
    shades = _SHADES[variant.attention]
    return shades[min(groups.index(variant.groups), len(shades) - 1)] if variant.groups in groups else shades[-1]


def plot(points: list[Point], title: str):
    """Two log-log panels, memory and time per image against positions n, with n² and n guides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    order: list[Variant] = []
    for point in points:
        if point.variant not in order:
            order.append(point.variant)
    groups = sorted({v.groups for v in order if v.attention in ("csa", "csalr")})
    clocks = sorted({p.result["clock"] for p in points if p.result.get("status") == "measured"})
    methods = sorted({p.result["memory_method"] for p in points if p.result.get("status") == "measured"})
    panels = (("peak_mb_per_image", "peak memory, MB per image", "; ".join(methods)),
              ("time_ms_per_image", "time, ms per image", "; ".join(clocks) or "wall"))
    for axis, (key, label, how) in zip(axes, panels):
        axis.set_title(how, fontsize=7, wrap=True)
        for variant in order:
            measured = [p for p in points if p.variant == variant and p.result.get("status") == "measured"]
            if not measured:
                continue
            xs = [p.row()["positions"] for p in measured]
            ys = [p.result[key] for p in measured]
            reduced = [p.result["batch"] != p.requested_batch for p in measured]
            style = "-" if variant.attention in ("sa", "csalr") else "--"
            axis.plot(xs, ys, style, marker="o", color=_colour(variant, groups), label=variant.name, markersize=4)
            for x, y, small in zip(xs, ys, reduced):
                if small:
                    axis.plot([x], [y], marker="o", markersize=9, markerfacecolor="none", color="black")
        _guides(axis, points, key)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("positions n = H/4 · W/4 (stage 1)")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def _guides(axis, points: list[Point], key: str) -> None:
    """Dashed grey slopes through the first measured SA and CSALR points: O(n²) and O(n)."""
    for attention, power, text in (("sa", 2, "∝ n²"), ("csalr", 1, "∝ n")):
        measured = [p for p in points if p.variant.attention == attention and p.result.get("status") == "measured"]
        if not measured:
            continue
        first = min(measured, key=lambda p: p.row()["positions"])
        n0, y0 = first.row()["positions"], first.result[key]
        n1 = max(p.row()["positions"] for p in points)
        axis.plot([n0, n1], [y0, y0 * (n1 / n0) ** power], ":", color="grey", linewidth=1)
        axis.annotate(text, (n1, y0 * (n1 / n0) ** power), fontsize=8, color="grey")


def default_memory_budget_mb() -> float:
    """Half the memory available now, at most 8 GiB: the machine is shared."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return min(8192.0, int(line.split()[1]) / 1024 / 2)
    except OSError:
        pass
    return 4096.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-csv")
    parser.add_argument("--out-png")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES),
                        help="input sizes HxW (default: 192x64 288x96 384x128 576x192 768x256)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--groups", nargs="+", type=int, default=list(DEFAULT_GROUPS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=2, help="timed passes per point (best kept)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads per worker (default 1: on CPU its process CPU time is the time, "
                             "immune to other jobs; with more, wall time)")
    parser.add_argument("--memory-budget-mb", type=float, default=None,
                        help="per point (CPU: the worker's resident set); default half the available memory, at most 8 GiB")
    parser.add_argument("--time-budget-s", type=float, default=600.0, help="per point, wall clock")
    parser.add_argument("--mmap-threshold-kb", type=int, default=128,
                        help="glibc MALLOC_MMAP_THRESHOLD_ of the CPU workers (0: glibc's default)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw --out-png from an existing --out-csv without measuring")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        spec = json.loads(args.worker)
        result = run_point(Variant(**spec["variant"]), spec["height"], spec["width"], spec["batch"],
                           spec["device"], spec["threads"], spec["iterations"], spec["phase"])
        print(json.dumps(result))
        return 0
    if not args.out_csv or not args.out_png:
        parser.error("--out-csv and --out-png are required")
    if args.batch < 1 or args.iterations < 1:
        parser.error("--batch and --iterations must be at least 1")
    started = time.time()
    if args.plot_only:
        points = points_from_csv(Path(args.out_csv).read_text())
    else:
        budget = Budget(args.memory_budget_mb or default_memory_budget_mb(), args.time_budget_s)
        variant_list = variants(tuple(args.methods), tuple(args.groups))
        points = run_scaling(args.sizes, variant_list, args.batch, args.device, args.threads, args.iterations, budget,
                             log=lambda line: print(line, flush=True), mmap_threshold_kb=args.mmap_threshold_kb)
        atomic_write_text(args.out_csv, to_csv(points))
    devices = sorted({p.result["device"] for p in points if p.result.get("device")})
    threads = sorted({str(p.result["threads"]) for p in points if p.result.get("threads")})
    batches = sorted({p.requested_batch for p in points})
    title = (f"One forward + backward of an attention module at ResNet-50 stage 1 (256 channels, map = input/4); "
             f"CSALR 96 landmarks/group, CSA 32 bases/group\n"
             f"batch {', '.join(map(str, batches))} (circled: a smaller batch, see the CSV); "
             f"{', '.join(devices) or args.device}, {'/'.join(threads) or '?'} intra-op thread(s); "
             f"skipped points (over budget) are absent")
    figure = plot(points, title)
    atomic_write(args.out_png, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    skipped = sum(p.result.get("status") != "measured" for p in points)
    wrote = args.out_png if args.plot_only else f"{args.out_csv} and {args.out_png}"
    print(f"{len(points) - skipped} points measured, {skipped} skipped, in {time.time() - started:.0f} s; wrote {wrote}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
