"""CSALR's output ``Y = W E`` with ``W = A_nm A_mm⁻¹`` (000_6bea8c3e96cdf0f5.txt, Eq. 14, 17),
W formed in float64 but never held whole.

Why float64: A_mm = softmax + I (Eq. 16) is invertible but ill-conditioned when the landmark
softmax is sharp, and A_mm⁻¹ then has large entries of both signs.  Forming W in float32 — or
evaluating ``A_nm (A_mm⁻¹ E)`` instead of ``(A_nm A_mm⁻¹) E`` — cancels those terms in float32
and diverged a smoke-scale training run (Duke, 192 samples, NaN at epoch 7).  Forming W in
float64 cancels them where there is precision to spare; W is then rounded to the working dtype
and multiplied by E, exactly as if W had been formed whole.

Why a custom autograd function: autograd through ``solve(A_mm, A_nm.double())`` and a matmul
keeps the float64 W and the rounded W for the backward pass and materialises float64 copies on
the way — at PCB's stage 1 (n = 3072, m = 96, 2 groups, batch 8) 18 MB per n×m float32 tensor,
twice that in float64, which decides whether CSALR stays under a fifth of SA's memory.  Here
the forward and backward passes walk the ``n`` rows in chunks and keep only the float32 softmax
part of A_nm (which softmax's own backward keeps anyway, so saving it again is free), the
``n × m`` float64 indicator of Eq. 15 (shared by the batch), the LU factors of A_mm (``m × m``, float64)
and the landmark output E; the backward pass solves each chunk of W again.

Gradients, with Y = W E, W A_mm = A_nm and G = ∂L/∂Y:
``∂L/∂W = G Eᵀ``, ``∂L/∂E = Wᵀ G``, ``∂L/∂A_nm = (∂L/∂W) A_mm⁻ᵀ`` and
``∂L/∂A_mm = −Wᵀ ∂L/∂A_nm`` — the formulas, and the operations, of autograd's own backward
for ``torch.linalg.solve``.  When the rows fit one chunk (as at smoke scale) the results equal
``reference_combination_weights``'s to the bit (tested; a smoke-scale Duke cell trained the same
to the last digit), which matters because training through a near-singular A_mm amplifies
rounding differences: the mathematically equal ``M = A_mm⁻¹`` formulation diverged that cell.

Why the sums A_nm = S + 𝟙 (Eq. 15) and A_mm = S' + I (Eq. 16) are formed in float64: the 1s land
on one entry per row (the position's own pooling patch), and in float32 that entry ``s + 1`` is
rounded to the spacing of [1, 2), 2⁻²³ — an absolute error up to 6·10⁻⁸, far more than the
float32 softmax itself is off by where s is small — which the solve multiplies by A_mm's
condition number.  The float32 softmax parts are therefore promoted first and the 1s added in
float64 (the indicator of Eq. 15 is float64 already; ``CompressedSelfAttentionLowRank`` passes
A_mm in float64).  Both paths here, the lean one and the reference, do exactly this, so they stay
equal to the bit.

A_mm can be exactly singular in floating point (a saturated landmark softmax, see
``CompressedSelfAttentionLowRank``).  A batch with such an element goes through
``reference_combination_weights`` — a float64 solve, with the pseudo-inverse for the singular
elements, differentiated by autograd — so the rare case keeps exact gradients and the common
case stays lean.  ``on_fallback``, when given, is called with the number of A_mm matrices that
took the pseudo-inverse, so that a module can count them (``pinv_fallbacks``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

#: Called with the number of A_mm matrices that fell back to the pseudo-inverse (at least 1).
FallbackHook = Callable[[int], None]

#: Elements of one float64 chunk ``[k, n, max(m, d)]``: 2**20 doubles = 8 MiB per temporary.
CHUNK_ELEMENTS = 2**20


def combine_landmark_outputs(softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor, landmark_output: Tensor,
                             on_fallback: FallbackHook | None = None) -> Tensor:
    """``Yᵀ = (W E)ᵀ`` ``[..., d, n]`` with ``W = (softmax_nm + indicator) A_mm⁻¹`` (Eq. 11, 14, 15, 17).

    ``softmax_nm`` ``[..., n, m]`` is the softmax part of A_nm, ``indicator`` ``[n, m]`` the
    𝟙(Q_i, K'_j) of Eq. 15 (broadcast over the leading dimensions), ``a_mm`` ``[..., m, m]`` and
    ``landmark_output`` E = B Vᵀ ``[..., m, d]``.  The result comes channels-first, the layout of
    the feature map, so that no transposed copy is needed before the fusing convolution.
    """
    if softmax_nm.device.type != "meta":
        lu, pivots, info = torch.linalg.lu_factor_ex(a_mm.detach().double())
        if not bool((info != 0).any()):
            return _CombinedLandmarkOutputs.apply(softmax_nm, indicator, a_mm, landmark_output, lu, pivots)
    return (reference_combination_weights(softmax_nm, indicator, a_mm, on_fallback) @ landmark_output).mT


def combination_weights(softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor,
                        on_fallback: FallbackHook | None = None) -> Tensor:
    """W itself ``[..., n, m]`` (for the attention maps of Figure 4 and for tests): Y with E = I."""
    identity = torch.eye(a_mm.shape[-1], dtype=softmax_nm.dtype, device=softmax_nm.device)
    return combine_landmark_outputs(softmax_nm, indicator, a_mm, identity.expand_as(a_mm), on_fallback).mT


def reference_combination_weights(softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor,
                                  on_fallback: FallbackHook | None = None) -> Tensor:
    """W by autograd through a float64 solve: the reference for tests and the path for singular
    A_mm, whose batch elements use the pseudo-inverse instead of failing the run."""
    a_mm64 = a_mm.double()
    a_nm64 = softmax_nm.double() + indicator.to(device=softmax_nm.device, dtype=torch.float64)
    if a_mm.device.type == "meta":  # shape checking only (dmlrepro.validate)
        return torch.linalg.solve(a_mm64, a_nm64, left=False).to(softmax_nm.dtype)
    singular = _singular(a_mm)[..., None, None]
    if not bool(singular.any()):
        return torch.linalg.solve(a_mm64, a_nm64, left=False).to(softmax_nm.dtype)
    if on_fallback is not None:
        on_fallback(int(singular.sum()))
    # Keep singular matrices out of the solve entirely: a NaN there would leak into the gradient
    # through torch.where (0 · NaN = NaN) even though its value is not selected.
    identity = torch.eye(a_mm.shape[-1], dtype=a_mm64.dtype, device=a_mm.device)
    solved = torch.linalg.solve(torch.where(singular, identity, a_mm64), a_nm64, left=False)
    pseudo = a_nm64 @ torch.linalg.pinv(torch.where(singular, a_mm64, identity))
    return torch.where(singular, pseudo, solved).to(softmax_nm.dtype)


def _singular(a_mm: Tensor) -> Tensor:
    """Per batch element: is A_mm exactly singular in float64 (LU hits a zero pivot)?"""
    return torch.linalg.lu_factor_ex(a_mm.detach().double()).info != 0


class _CombinedLandmarkOutputs(torch.autograd.Function):
    """Yᵀ = (W E)ᵀ with W A_mm = S + 𝟙, W in float64, a few batch elements at a time; see the
    module docstring.

    The arithmetic is, batch element for batch element, that of autograd through
    ``solve(A_mm, (S + 𝟙).double(), left=False)``, a cast and a matmul: one LU factorisation of
    A_mm, W by ``lu_solve`` against it, ∂L/∂A_nm = ∂L/∂W A_mm⁻ᵀ by ``lu_solve`` with the adjoint
    and ∂L/∂A_mm = −Wᵀ ∂L/∂A_nm.  Chunking over batch elements (each one's n rows whole) rather
    than over rows keeps every sum over the n positions in one matrix product, so the chunks
    change nothing, to the bit.
    """

    @staticmethod
    def forward(ctx, softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor, landmark_output: Tensor,  # type: ignore[override]
                lu: Tensor, pivots: Tensor) -> Tensor:
        """``lu``, ``pivots``: A_mm's float64 LU factors (``torch.linalg.lu_factor_ex``)."""
        batch_shape = softmax_nm.shape[:-2]
        if a_mm.shape[:-2] != batch_shape or landmark_output.shape[:-2] != batch_shape:
            raise ValueError(f"A_nm, A_mm and E need the same batch shape, got {tuple(softmax_nm.shape)}, "
                             f"{tuple(a_mm.shape)}, {tuple(landmark_output.shape)}")
        rows, landmarks = softmax_nm.shape[-2:]
        channels = landmark_output.shape[-1]
        softmax_flat = softmax_nm.reshape(-1, rows, landmarks)
        output_flat = landmark_output.reshape(-1, landmarks, channels)
        lu, pivots = lu.reshape(-1, landmarks, landmarks), pivots.reshape(-1, landmarks)
        indicator = indicator.to(device=softmax_nm.device, dtype=torch.float64)
        output = softmax_nm.new_empty(softmax_flat.shape[0], channels, rows)
        for chunk in _batch_chunks(softmax_flat, output_flat):
            weights = _weights(softmax_flat[chunk], indicator, lu[chunk], pivots[chunk]).to(softmax_nm.dtype)
            output[chunk] = (weights @ output_flat[chunk]).mT
        ctx.save_for_backward(softmax_flat, indicator, lu, pivots, output_flat)
        ctx.shapes = (softmax_nm.shape, a_mm.shape, landmark_output.shape)
        ctx.a_mm_dtype = a_mm.dtype
        return output.reshape(*batch_shape, channels, rows)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        softmax_flat, indicator, lu, pivots, output_flat = ctx.saved_tensors
        nm_shape, mm_shape, landmark_output_shape = ctx.shapes
        want_nm, _, want_mm, want_output = ctx.needs_input_grad[:4]
        grad_flat = grad_output.reshape(-1, *grad_output.shape[-2:])
        grad_nm = torch.empty_like(softmax_flat) if want_nm else None
        grad_output_landmarks = torch.empty_like(output_flat) if want_output else None
        grad_mm = torch.empty(lu.shape, dtype=ctx.a_mm_dtype, device=lu.device) if want_mm else None
        for chunk in _batch_chunks(softmax_flat, output_flat):
            grad_rows = grad_flat[chunk].mT  # ∂L/∂Y, [k, n, d]
            weights = None
            if grad_output_landmarks is not None or grad_mm is not None:
                weights = _weights(softmax_flat[chunk], indicator, lu[chunk], pivots[chunk])
            if grad_output_landmarks is not None:
                grad_output_landmarks[chunk] = weights.to(softmax_flat.dtype).mT @ grad_rows
            if grad_nm is None and grad_mm is None:
                continue
            grad_weights = (grad_rows @ output_flat[chunk].mT).double()
            grad_a_nm = torch.linalg.lu_solve(lu[chunk], pivots[chunk], grad_weights, left=False, adjoint=True)
            if grad_nm is not None:
                grad_nm[chunk] = grad_a_nm
            if grad_mm is not None:
                grad_mm[chunk] = -(weights.mT @ grad_a_nm)
        return (
            None if grad_nm is None else grad_nm.reshape(nm_shape),
            None,
            None if grad_mm is None else grad_mm.reshape(mm_shape),
            None if grad_output_landmarks is None else grad_output_landmarks.reshape(landmark_output_shape),
            None,
            None,
        )


def _batch_chunks(softmax_flat: Tensor, output_flat: Tensor) -> list[slice]:
    """Slices of the flattened batch whose float64 ``[k, n, max(m, d)]`` temporaries stay near
    ``CHUNK_ELEMENTS`` (at least one batch element each)."""
    elements, rows, landmarks = softmax_flat.shape
    step = max(1, CHUNK_ELEMENTS // max(1, rows * max(landmarks, output_flat.shape[-1])))
    return [slice(start, min(start + step, elements)) for start in range(0, elements, step)]


def _weights(softmax_nm: Tensor, indicator: Tensor, lu: Tensor, pivots: Tensor) -> Tensor:
    """W in float64, the solution of W A_mm = S + 𝟙 (A_nm summed in float64, as the reference)."""
    return torch.linalg.lu_solve(lu, pivots, softmax_nm.to(torch.float64, copy=True).add_(indicator), left=False)
