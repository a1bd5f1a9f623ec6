"""The generic measurement core (dmlrepro.resources.core): per-image memory is the slope of the
training step's peak between two batches, so it does not depend on the parameter count, while the
old peak-divided-by-batch does; the fixed part carries the gradients."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from dmlrepro.errors import UserError
from dmlrepro.resources.core import parse_batches
from dmlrepro.resources.peak_memory import child_process_env, cpu_peak_supported

#: The measurement runs in a fresh process under the 128 KiB mmap threshold, as the resource rows'
#: memory does (dmlrepro.resources.measure): VmHWM then counts live tensors only.
_WORKER = textwrap.dedent("""
    import json, sys
    import torch
    from torch import nn
    from dmlrepro.resources.core import training_memory
    torch.set_num_threads(1)
    torch.manual_seed(0)
    extra = int(sys.argv[1])

    class Net(nn.Module):
        # Activations: 3 convs of 16 channels at 64x64 (256 KiB per image each) + their ReLUs.
        # `extra` parameters join the loss through one multiply-add, so they get a gradient of
        # their own size in every backward pass but no activation per image.
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(16, 10)
            self.extra = nn.Parameter(torch.zeros(extra))

        def forward(self, x):
            logits = self.head(self.body(x).mean(dim=(2, 3)))
            return logits + 0.0 * self.extra[:10].sum() if extra else logits

    model = Net()

    def step(batch):
        x = torch.randn(batch, 3, 64, 64)
        nn.functional.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long)).backward()

    print(json.dumps(training_memory(model, step, (2, 6), torch.device("cpu"))))
""")


def _measure(extra_parameters: int) -> dict:
    completed = subprocess.run([sys.executable, "-c", _WORKER, str(extra_parameters)], env=child_process_env(128),
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not cpu_peak_supported(), reason="needs Linux /proc/self/clear_refs")
def test_per_image_memory_is_independent_of_the_parameter_count():
    small = _measure(0)
    large = _measure(16 * 2**20)  # 64 MiB of parameters: 64 MiB of gradient in every step
    # Per image: input 48 KiB + 3 convs and 3 ReLUs of 256 KiB kept for backward, about 1.6 MB.
    assert 1.0 < small["per_image_mb"] < 4.0, small
    assert large["per_image_mb"] == pytest.approx(small["per_image_mb"], abs=0.3), (small, large)
    # The gradient lands in the fixed part...
    assert large["fixed_mb"] - small["fixed_mb"] == pytest.approx(64, abs=4), (small, large)
    # ...which the peak divided by the batch spreads over the images (64 MiB / 6 ≈ 11 MB each).
    assert large["divided_mb"] - small["divided_mb"] == pytest.approx(64 / 6, abs=1.5), (small, large)
    assert small["batches"] == [2, 6] and small["method"].startswith("slope of the peak between two batches b=2,6")


@pytest.mark.parametrize("text", ["4", "4,2", "1,4", "2,2", "a,b", "2,4,6"])
def test_memory_batches_must_be_two_increasing_sizes_of_at_least_two(text):
    with pytest.raises(UserError, match="2 <= b1 < b2") as info:
        parse_batches(text)
    assert "\n" not in str(info.value)


def test_memory_batches_parse():
    assert parse_batches("2,4") == (2, 4)
