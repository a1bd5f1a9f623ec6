"""Shared helpers of the benchmark scripts: side-by-side timing, the machine and its load."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: One line that builds torchreid's Cython evaluation outside this repository (benchmark only;
#: torchreid is never a dependency of dmlrepro).
TORCHREID_CYTHON_BUILD = (
    "git clone --depth 1 https://github.com/KaiyangZhou/deep-person-reid /tmp/dpr && "
    "python -m venv --system-site-packages /tmp/trvenv && /tmp/trvenv/bin/pip install cython "
    "setuptools && cd /tmp/dpr/torchreid/metrics/rank_cylib && /tmp/trvenv/bin/python setup.py "
    "build_ext --inplace   # then pass --torchreid-cython /tmp/dpr/torchreid/metrics/rank_cylib"
)


def load_torchreid_cython(directory: str):
    """The ``rank_cy`` extension module built in ``directory`` (its ``rank_cylib`` folder)."""
    matches = sorted(Path(directory).glob("rank_cy*.so")) + sorted(Path(directory).glob("rank_cy*.pyd"))
    if not matches:
        sys.exit(f"--torchreid-cython {directory}: no built rank_cy module there; build it with:\n"
                 f"  {TORCHREID_CYTHON_BUILD}")
    spec = importlib.util.spec_from_file_location("rank_cy", matches[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def side_by_side(fns: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, float], dict]:
    """Best wall time of each function over ``repeats`` rounds, the functions taking turns
    within a round (so that a change of load hits both), and each one's last result."""
    best = {name: float("inf") for name in fns}
    results = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            seconds, results[name] = timed(fn)
            best[name] = min(best[name], seconds)
    return best, results


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def machine() -> str:
    model = platform.processor() or "unknown"
    try:  # platform.processor() is often empty or just "x86_64" on Linux
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.platform()}; {model}; os.cpu_count()={os.cpu_count()}; "
            f"python {platform.python_version()}; numpy {np.__version__}")
