"""Peak memory of a piece of work, measured at the allocator (CUDA) or process (CPU) level.

CPU: Linux keeps the process's high-water resident set size (VmHWM in /proc/self/status); writing
"5" to /proc/self/clear_refs resets it, so the peak of one forward + backward can be read directly.
CUDA: the caching allocator's `max_memory_allocated`, reset before the work.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from dmlrepro.errors import UserError

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if not match:
        raise UserError(f"/proc/self/status has no {field}: CPU peak memory needs Linux; measure on Linux or on CUDA")
    return int(match.group(1))


def cpu_peak_supported() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        _status_kb("VmHWM")
        return True
    except OSError:
        return False


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict]:
    """`with peak_memory(dev) as m: work()` → m["peak_mb"] is the peak above the starting level."""
    result: dict[str, float] = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        yield result
        torch.cuda.synchronize(device)
        result["peak_mb"] = (torch.cuda.max_memory_allocated(device) - start) / 2**20
        result["method"] = "torch.cuda.max_memory_allocated"
        return
    _CLEAR_REFS.write_text("5")
    start = _status_kb("VmRSS")
    yield result
    result["peak_mb"] = (_status_kb("VmHWM") - start) / 1024
    result["method"] = "VmHWM after clear_refs (process resident set)"


def child_process_env(mmap_threshold_kb: int) -> dict[str, str]:
    """The environment of a measuring child process: this checkout's ``src`` importable, and
    glibc's ``MALLOC_MMAP_THRESHOLD_`` at ``mmap_threshold_kb`` (0: glibc's default, dynamic one).

    A fixed threshold of 128 KiB makes every tensor of that size or more its own mapping, returned
    to the system when freed, so VmHWM counts live tensors only (as CUDA's allocator peak does);
    it also makes each such allocation a fresh, zeroed mapping, so time is measured without it."""
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    if mmap_threshold_kb > 0:
        env["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold_kb * 1024)
    else:
        env.pop("MALLOC_MMAP_THRESHOLD_", None)
    return env
