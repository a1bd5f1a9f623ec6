"""Where a number came from: code version, packages, device and time."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata

import torch

from dmlrepro.config import REPO_ROOT

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "snakemake", "pillow")


def git_state() -> dict[str, object]:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def collect_env() -> dict[str, object]:
    """PyTorch's own environment report (torch.utils.collect_env), the parts that explain numbers."""
    try:
        from torch.utils import collect_env as torch_env

        info = torch_env.get_env_info()._asdict()
    except Exception as exc:  # it shells out to pip, nvidia-smi, ...; never fail a run over it
        return {"error": f"{type(exc).__name__}: {exc}"}
    keys = ("torch_version", "cuda_compiled_version", "cuda_runtime_version", "cudnn_version",
            "nvidia_driver_version", "nvidia_gpu_models", "os", "python_platform", "pip_packages")
    return {k: info.get(k) for k in keys}


def provenance(device: torch.device) -> dict[str, object]:
    return {
        **git_state(),
        "packages": package_versions(),
        "collect_env": collect_env(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device_name(device),
        "cuda": torch.version.cuda,
    }
