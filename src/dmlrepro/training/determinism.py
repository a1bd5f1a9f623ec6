"""Seeds and determinism flags, set before anything random happens and recorded with each result."""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import torch

from dmlrepro.errors import UserError

#: What PyTorch says when an operation without a deterministic kernel runs under
#: `use_deterministic_algorithms(True, warn_only=True)` (c10 `alertNotDeterministic`):
#: "<op> does not have a deterministic implementation, but you set
#: 'torch.use_deterministic_algorithms(True, warn_only=True)'. You can file an issue at ...".
NONDETERMINISTIC_ALERT = "does not have a deterministic implementation"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_deterministic(device: torch.device) -> dict[str, object]:
    """Ask PyTorch for deterministic kernels; return the flags for the provenance record.

    The flags are a request, not a guarantee: with `warn_only=True` an operation that has no
    deterministic kernel (adaptive average pooling's backward on CUDA, for one) still runs and only
    warns.  `NondeterministicOps` collects those warnings, and the result records them.
    """
    if device.type == "cuda":
        # cuBLAS needs a fixed workspace to be deterministic (PyTorch reproducibility notes).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    return {
        "use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


class NondeterministicOps:
    """Context manager that records every nondeterministic-kernel alert PyTorch raises inside it.

    Each alert is kept once, as its first clause ("put_ does not have a deterministic
    implementation"), in the order first seen; `messages` is what `metrics.json` records as
    `provenance.nondeterministic_ops`.  Alerts are recorded every time they fire (Python would
    otherwise show a warning once per code location and hide the rest); every other warning is
    shown as before.  `seen` carries the alerts of an earlier, resumed part of the same run.
    """

    def __init__(self, seen: list[str] | tuple[str, ...] = ()) -> None:
        self.messages: list[str] = list(seen)
        self._catch: warnings.catch_warnings | None = None

    def record(self, text: str) -> None:
        short = text.split(",")[0].strip()
        if short not in self.messages:
            self.messages.append(short)

    def __enter__(self) -> NondeterministicOps:
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.filterwarnings("always", message=f".*{NONDETERMINISTIC_ALERT}")
        show = warnings.showwarning

        def show_or_record(message, category, filename, lineno, file=None, line=None):
            if NONDETERMINISTIC_ALERT in str(message):
                self.record(str(message))
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_or_record
        return self

    def __exit__(self, *exc) -> None:
        assert self._catch is not None
        self._catch.__exit__(*exc)
        self._catch = None


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is visible; use --config device=auto or device=cpu")
    return torch.device(name)
