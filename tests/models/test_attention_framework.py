"""The attention framework (000_6bea8c3e96cdf0f5.txt Sec. 3.3; 001_5fbd5da13318fd56.txt Eq. 8):
what the deep-supervision branches pool, and their FC init."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.models.attention_framework import DeepSupervisionHead
from dmlrepro.models.build import build_reid_model


@pytest.mark.parametrize("branch", ["input_times_response", "response"])
def test_branch_pools_what_its_paper_says(branch: str) -> None:
    """CSALR: GAP(x ⊙ y) (Sec. 3.3); CSA: GAP(y) (Eq. 8), y the module output before the residual."""
    torch.manual_seed(0)
    head = DeepSupervisionHead(8, 5, branch)
    x, response = torch.randn(2, 8, 4, 3), torch.randn(2, 8, 4, 3)
    pooled = (x * response if branch == "input_times_response" else response).mean(dim=(2, 3))
    torch.testing.assert_close(head(x, response), head.fc(pooled))


def test_fc_init_is_the_public_codes() -> None:
    """N(0, 0.001²) weights and zero bias (public code, from PCB's classifiers; neither paper says)."""
    torch.manual_seed(0)
    fc = DeepSupervisionHead(512, 751).fc
    assert torch.count_nonzero(fc.bias) == 0
    assert fc.weight.std().item() == pytest.approx(0.001, rel=0.02)


def test_cell_key_reaches_every_branch(tiny_cell) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 32)
    logits = {}
    for branch in ("input_times_response", "response"):
        torch.manual_seed(0)
        model = build_reid_model(tiny_cell(ds_branch=branch), num_classes=5).train()
        assert {head.branch for head in model.body.ds_heads.values()} == {branch}
        torch.manual_seed(1)
        logits[branch] = model(x).ds_logits
    assert len(logits["response"]) == 3
    assert not any(torch.allclose(a, b) for a, b in zip(logits["response"], logits["input_times_response"]))


def test_unknown_branch_names_the_key() -> None:
    with pytest.raises(UserError, match="ds_branch"):
        DeepSupervisionHead(8, 5, "gap")
