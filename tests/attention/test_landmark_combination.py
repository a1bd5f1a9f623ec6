"""CSALR's Y = W E with W = A_nm A_mm⁻¹ (000_6bea8c3e96cdf0f5.txt, Eq. 14, 17)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import landmark_combination
from dmlrepro.attention.csalr import patch_indicator
from dmlrepro.attention.landmark_combination import (
    combination_weights,
    combine_landmark_outputs,
    reference_combination_weights,
)


def blocks(batch: int = 2, groups: int = 2, size: tuple[int, int] = (12, 8), grid: tuple[int, int] = (3, 2),
           channels: int = 5, sharpness: float = 1.0, dtype: torch.dtype = torch.float32, seed: int = 0):
    """Random softmax part of A_nm, the indicator of Eq. 15, A_mm = softmax + I (Eq. 16) and E."""
    generator = torch.Generator().manual_seed(seed)
    n, m = size[0] * size[1], grid[0] * grid[1]
    softmax_nm = torch.softmax(sharpness * torch.randn(batch, groups, n, m, generator=generator), -1)
    a_mm = torch.softmax(sharpness * torch.randn(batch, groups, m, m, generator=generator), -1) + torch.eye(m)
    landmark_output = torch.randn(batch, groups, m, channels, generator=generator)
    return softmax_nm.to(dtype), patch_indicator(*size, grid), a_mm.to(dtype), landmark_output.to(dtype)


def reference_output(softmax_nm, indicator, a_mm, landmark_output) -> torch.Tensor:
    """Yᵀ by plain autograd: W from a float64 solve, rounded, times E."""
    return (reference_combination_weights(softmax_nm, indicator, a_mm) @ landmark_output).mT


def test_gradients_match_finite_differences() -> None:
    softmax_nm, indicator, a_mm, landmark_output = blocks(batch=1, size=(5, 4), grid=(2, 2), channels=3,
                                                          dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (softmax_nm, a_mm, landmark_output))
    assert torch.autograd.gradcheck(lambda s, a, e: combine_landmark_outputs(s, indicator, a, e), inputs)
    assert torch.autograd.gradcheck(lambda s, a: combination_weights(s, indicator, a), inputs[:2])


@pytest.mark.parametrize("sharpness", [1.0, 6.0])
def test_float32_matches_the_autograd_reference_to_the_bit(sharpness: float) -> None:
    """Value and the three gradients equal autograd through a float64 solve and a matmul — exactly,
    when the rows fit one chunk: a smoke-scale run through a near-singular A_mm amplifies any
    rounding difference into a different (once: a diverging) training run."""
    softmax_nm, indicator, a_mm, landmark_output = blocks(sharpness=sharpness)
    results = []
    for output_of in (combine_landmark_outputs, reference_output):
        inputs = [t.clone().requires_grad_() for t in (softmax_nm, a_mm, landmark_output)]
        output = output_of(inputs[0], indicator, *inputs[1:])
        upstream = torch.randn(output.shape, generator=torch.Generator().manual_seed(1))
        output.backward(upstream)
        assert output.dtype == torch.float32 and output.shape == (2, 2, 5, 96)
        results.append((output, *(t.grad for t in inputs)))
    for ours, reference in zip(*results):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)


def test_float64_forming_survives_an_ill_conditioned_a_mm() -> None:
    """With a sharp landmark softmax A_mm⁻¹ has large entries of both signs. W formed in float64
    from the float32 inputs is exact to float32 rounding; formed in float32 it is not."""
    softmax_nm, indicator, a_mm, _ = blocks(sharpness=40.0, size=(24, 16), grid=(6, 4))
    condition = torch.linalg.cond(a_mm.double()).max().item()
    assert condition > 1e3, condition
    exact = (softmax_nm.double() + indicator) @ torch.linalg.inv(a_mm.double())

    def error(weights: torch.Tensor) -> float:
        return ((weights.double() - exact).abs().max() / exact.abs().max()).item()

    ours = error(combination_weights(softmax_nm, indicator, a_mm))
    float32 = error((softmax_nm + indicator.float()) @ torch.linalg.inv(a_mm))
    assert ours < 1e-6 and float32 > 10 * ours, (ours, float32)


def test_batch_chunks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sum over the n positions stays in one matrix product, so chunking is exact."""
    softmax_nm, indicator, a_mm, landmark_output = blocks(batch=5, groups=2, size=(13, 7), grid=(3, 2), channels=4)

    def output_and_gradients() -> list[torch.Tensor]:
        inputs = [t.clone().requires_grad_() for t in (softmax_nm, a_mm, landmark_output)]
        output = combine_landmark_outputs(inputs[0], indicator, *inputs[1:])
        output.square().sum().backward()
        return [output, *(t.grad for t in inputs)]

    whole = output_and_gradients()
    # 91 rows × max(6, 4) = 546 elements per batch element: 3 per chunk, 10 elements → 4 chunks.
    monkeypatch.setattr(landmark_combination, "CHUNK_ELEMENTS", 3 * 546 + 1)
    assert len(landmark_combination._batch_chunks(softmax_nm.flatten(0, 1), landmark_output.flatten(0, 1))) == 4
    for chunked, reference in zip(output_and_gradients(), whole):
        torch.testing.assert_close(chunked, reference, rtol=0, atol=0)


def test_w_is_not_kept_for_the_backward_pass() -> None:
    """Of the batched n×m tensors, the backward pass keeps only the softmax part of A_nm, which
    is the function's input (and kept by softmax's own backward anyway) — no W, in any dtype."""
    softmax_nm, indicator, a_mm, landmark_output = blocks(batch=4, size=(24, 16), grid=(6, 4))
    saved: list[torch.Tensor] = []

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor)
        return tensor

    for output_of in (combine_landmark_outputs, reference_output):
        saved.clear()
        inputs = [t.clone().requires_grad_() for t in (softmax_nm, a_mm, landmark_output)]
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
            output_of(inputs[0], indicator, *inputs[1:])
        batched_n_by_m = [t for t in saved if t.numel() >= softmax_nm.numel()
                          and t.data_ptr() != inputs[0].data_ptr()]
        if output_of is combine_landmark_outputs:
            assert not batched_n_by_m, [(tuple(t.shape), t.dtype) for t in batched_n_by_m]
        else:  # the check can fail: plain autograd keeps the float64 W and the rounded one
            assert len(batched_n_by_m) >= 2


def test_singular_a_mm_falls_back_to_the_pseudo_inverse() -> None:
    """A saturated softmax with two swapped landmarks has eigenvalue −1, so softmax + I is exactly
    singular; that batch element uses the pseudo-inverse, the others the inverse, all finite."""
    softmax_nm, indicator, a_mm, landmark_output = blocks(batch=2, groups=1, grid=(2, 2), dtype=torch.float64)
    swap = torch.eye(4)[[1, 0, 2, 3]].double()
    a_mm[1, 0] = swap + torch.eye(4, dtype=torch.float64)
    inputs = [t.clone().requires_grad_() for t in (softmax_nm, a_mm, landmark_output)]
    output = combine_landmark_outputs(inputs[0], indicator, *inputs[1:])
    output.sum().backward()
    a_nm = softmax_nm + indicator
    torch.testing.assert_close(output[0], (a_nm[0] @ torch.linalg.inv(a_mm[0]) @ landmark_output[0]).mT)
    torch.testing.assert_close(output[1], (a_nm[1] @ torch.linalg.pinv(a_mm[1]) @ landmark_output[1]).mT)
    assert all(torch.isfinite(t.grad).all() for t in inputs)


def test_a_nm_is_summed_in_float64() -> None:
    """A_nm = S + 𝟙 (Eq. 15) is formed from the promoted float32 softmax, so W = A_nm A_mm⁻¹ is
    rounded to float32 once, at the end: with A_mm = 3I, W is (S + 𝟙)/3 correctly rounded.
    Summed in float32 first, S + 1 would be rounded to the spacing of [1, 2) before the solve."""
    softmax_nm, indicator, _, _ = blocks()
    a_mm = 3 * torch.eye(6, dtype=torch.float64).expand(2, 2, 6, 6)
    exact = ((softmax_nm.double() + indicator) / 3).float()
    rounded_first = ((softmax_nm + indicator.float()).double() / 3).float()
    assert not torch.equal(rounded_first, exact)  # the check can fail
    for weights_of in (combination_weights, reference_combination_weights):
        assert torch.equal(weights_of(softmax_nm, indicator, a_mm), exact)


def test_on_fallback_gets_the_number_of_singular_matrices() -> None:
    softmax_nm, indicator, a_mm, landmark_output = blocks(batch=3, groups=2, grid=(2, 2), dtype=torch.float64)
    singular = torch.eye(4)[[1, 0, 2, 3]].double() + torch.eye(4, dtype=torch.float64)
    a_mm[0, 1] = a_mm[2, 0] = singular
    counts: list[int] = []
    combine_landmark_outputs(softmax_nm, indicator, a_mm, landmark_output, counts.append)
    combination_weights(softmax_nm[:1], indicator, a_mm[:1], counts.append)
    combine_landmark_outputs(softmax_nm[1:2], indicator, a_mm[1:2], landmark_output[1:2], counts.append)
    assert counts == [2, 1]  # nothing reported for a batch without a singular A_mm
