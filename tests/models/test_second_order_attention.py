"""Second-order attention (003_72cd4b33cee60b89.txt, Eq. 1–3): the equations, rows summing to 1,
the identity at initialisation, and where gradients go."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.models.second_order_attention import SecondOrderAttention


def _randomised(block: SecondOrderAttention) -> SecondOrderAttention:
    """The block with a non-zero φ, as after training."""
    torch.nn.init.normal_(block.phi.weight, std=0.1)
    torch.nn.init.normal_(block.phi.bias, std=0.1)
    return block


def test_attention_rows_sum_to_one_and_are_hw_by_hw():
    torch.manual_seed(0)
    block = _randomised(SecondOrderAttention(32, 8))
    _, a = block(torch.randn(3, 32, 5, 7), return_attention=True)
    assert a.shape == (3, 35, 35)
    assert (a >= 0).all()
    torch.testing.assert_close(a.sum(dim=-1), torch.ones(3, 35))


def test_output_equals_eq1_and_eq2_computed_location_by_location():
    """a_ij = exp(ζ q_iᵀk_j) / Σ_j' exp(ζ q_iᵀk_j'),  f^soa_i = f_i + W_φ Σ_j a_ij v_j + b_φ."""
    torch.manual_seed(0)
    block = _randomised(SecondOrderAttention(6, 3, zeta=0.7)).double()
    f = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    out, a = block(f, return_attention=True)
    weights = {n: getattr(block, n).weight[:, :, 0, 0] for n in ("query", "key", "value", "phi")}
    biases = {n: getattr(block, n).bias for n in ("query", "key", "value", "phi")}
    for b in range(2):
        x = f[b].flatten(1).T  # [hw, C]
        q, k, v = (x @ weights[n].T + biases[n] for n in ("query", "key", "value"))
        for i in range(12):
            logits = torch.stack([0.7 * q[i] @ k[j] for j in range(12)])
            row = torch.exp(logits) / torch.exp(logits).sum()
            torch.testing.assert_close(a[b, i], row)
            expected = x[i] + weights["phi"] @ sum(row[j] * v[j] for j in range(12)) + biases["phi"]
            torch.testing.assert_close(out[b].flatten(1)[:, i], expected)


def test_zero_initialised_phi_makes_the_block_the_identity():
    torch.manual_seed(0)
    block = SecondOrderAttention(16, 4)
    f = torch.randn(2, 16, 6, 6)
    assert torch.equal(block(f), f)
    assert not torch.equal(_randomised(block)(f), f)


def test_zeta_zero_gives_uniform_attention():
    block = SecondOrderAttention(8, 2, zeta=0.0)
    _, a = block(torch.randn(1, 8, 3, 3), return_attention=True)
    torch.testing.assert_close(a, torch.full((1, 9, 9), 1 / 9))


def test_key_bias_does_not_change_the_attention():
    """softmax ignores the per-row constant q_iᵀb_k the key bias adds."""
    torch.manual_seed(0)
    block = SecondOrderAttention(8, 4)
    f = torch.randn(2, 8, 4, 4)
    before = block.attention(f)
    torch.nn.init.normal_(block.key.bias)
    torch.testing.assert_close(block.attention(f), before)


def test_at_init_only_phi_learns_and_afterwards_q_k_v_do_too():
    torch.manual_seed(0)
    block = SecondOrderAttention(8, 4)
    f = torch.randn(2, 8, 4, 4)
    (block(f) ** 2).sum().backward()
    assert block.phi.weight.grad.abs().sum() > 0
    for name in ("query", "key", "value"):
        assert torch.count_nonzero(getattr(block, name).weight.grad) == 0
    block.zero_grad()
    (_randomised(block)(f) ** 2).sum().backward()
    for name in ("query", "key", "value"):
        assert getattr(block, name).weight.grad.abs().sum() > 0, name


def test_inner_dimension_is_the_constructor_argument():
    block = SecondOrderAttention(64, 16)
    assert block.query.out_channels == block.key.out_channels == block.value.out_channels == 16
    assert (block.phi.in_channels, block.phi.out_channels) == (16, 64)


def test_no_inner_channels_is_a_user_error():
    with pytest.raises(UserError, match="soa_reduction"):
        SecondOrderAttention(8, 0)
