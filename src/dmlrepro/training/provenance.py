"""Where a number came from: code version, packages, device and time."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import torch

import dmlrepro
from dmlrepro.config import REPO_ROOT

#: The package whose source defines what a training run computes.
PACKAGE_DIR = Path(dmlrepro.__file__).resolve().parent

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


def source_hash(root: Path) -> str:
    """SHA-256 (first 16 hex digits) over every `.py` file under `root`: each file's path relative
    to `root` and its bytes, in sorted path order.  Any edit to the source changes it; caches,
    data and other files do not, and neither does where the checkout lives."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(root).as_posix().encode()
        content = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(relative), relative, len(content)))
        digest.update(content)
    return digest.hexdigest()[:16]


#: Hashed when this module is first imported, which is close to when the process imported the
#: code it runs: a checkout edited during a long run does not change the version the run records.
_CODE_VERSION = source_hash(PACKAGE_DIR)


def code_version() -> str:
    """The code version of this process's `dmlrepro` package: its source hash.

    Unlike the git commit it also tells apart uncommitted edits, and it ignores everything outside
    the package (docs, specs, tests) that cannot change a trained model."""
    return _CODE_VERSION


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
        "code_version": code_version(),
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
