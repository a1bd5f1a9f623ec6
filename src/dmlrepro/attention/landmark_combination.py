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
``n × m`` indicator of Eq. 15 (shared by the batch), the ``m × m`` float64 A_mm⁻¹ and the
landmark output E; the backward pass recomputes each chunk of W.

Gradients, with M = A_mm⁻¹, W = A_nm M, Y = W E and G = ∂L/∂Y:
``∂L/∂W = G Eᵀ``, ``∂L/∂E = Wᵀ G``, ``∂L/∂A_nm = (∂L/∂W) Mᵀ`` and
``∂L/∂A_mm = −Mᵀ (A_nmᵀ ∂L/∂W) Mᵀ``.

A_mm can be exactly singular in floating point (a saturated landmark softmax, see
``CompressedSelfAttentionLowRank``).  A batch with such an element goes through
``reference_combination_weights`` — a float64 solve, with the pseudo-inverse for the singular
elements, differentiated by autograd — so the rare case keeps exact gradients and the common
case stays lean.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

#: Elements of one float64 chunk ``[..., rows, max(m, d)]``: 2**20 doubles = 8 MiB per temporary.
CHUNK_ELEMENTS = 2**20


def combine_landmark_outputs(softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor, landmark_output: Tensor) -> Tensor:
    """``Yᵀ = (W E)ᵀ`` ``[..., d, n]`` with ``W = (softmax_nm + indicator) A_mm⁻¹`` (Eq. 11, 14, 15, 17).

    ``softmax_nm`` ``[..., n, m]`` is the softmax part of A_nm, ``indicator`` ``[n, m]`` the
    𝟙(Q_i, K'_j) of Eq. 15 (broadcast over the leading dimensions), ``a_mm`` ``[..., m, m]`` and
    ``landmark_output`` E = B Vᵀ ``[..., m, d]``.  The result comes channels-first, the layout of
    the feature map, so that no transposed copy is needed before the fusing convolution.
    """
    if softmax_nm.device.type == "meta" or _any_singular(a_mm):
        return (reference_combination_weights(softmax_nm, indicator, a_mm) @ landmark_output).mT
    return _CombinedLandmarkOutputs.apply(softmax_nm, indicator, a_mm, landmark_output)


def combination_weights(softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor) -> Tensor:
    """W itself ``[..., n, m]`` (for the attention maps of Figure 4 and for tests): Y with E = I."""
    identity = torch.eye(a_mm.shape[-1], dtype=softmax_nm.dtype, device=softmax_nm.device)
    return combine_landmark_outputs(softmax_nm, indicator, a_mm, identity.expand_as(a_mm)).mT


def reference_combination_weights(softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor) -> Tensor:
    """W by autograd through a float64 solve: the reference for tests and the path for singular
    A_mm, whose batch elements use the pseudo-inverse instead of failing the run."""
    a_mm64 = a_mm.double()
    a_nm64 = softmax_nm.double() + indicator.to(device=softmax_nm.device, dtype=torch.float64)
    if a_mm.device.type == "meta":  # shape checking only (dmlrepro.validate)
        return torch.linalg.solve(a_mm64, a_nm64, left=False).to(softmax_nm.dtype)
    singular = _singular(a_mm)[..., None, None]
    if not bool(singular.any()):
        return torch.linalg.solve(a_mm64, a_nm64, left=False).to(softmax_nm.dtype)
    # Keep singular matrices out of the solve entirely: a NaN there would leak into the gradient
    # through torch.where (0 · NaN = NaN) even though its value is not selected.
    identity = torch.eye(a_mm.shape[-1], dtype=a_mm64.dtype, device=a_mm.device)
    solved = torch.linalg.solve(torch.where(singular, identity, a_mm64), a_nm64, left=False)
    pseudo = a_nm64 @ torch.linalg.pinv(torch.where(singular, a_mm64, identity))
    return torch.where(singular, pseudo, solved).to(softmax_nm.dtype)


def _singular(a_mm: Tensor) -> Tensor:
    """Per batch element: is A_mm exactly singular in float64 (LU hits a zero pivot)?"""
    return torch.linalg.lu_factor_ex(a_mm.detach().double()).info != 0


def _any_singular(a_mm: Tensor) -> bool:
    return bool(_singular(a_mm).any())


def _row_chunks(rows: int, batch_elements: int, columns: int) -> list[slice]:
    step = max(1, CHUNK_ELEMENTS // max(1, batch_elements * columns))
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]


class _CombinedLandmarkOutputs(torch.autograd.Function):
    """Yᵀ = ((S + 𝟙) M E)ᵀ with M = A_mm⁻¹, row-chunked, W in float64; see the module docstring."""

    @staticmethod
    def forward(ctx, softmax_nm: Tensor, indicator: Tensor, a_mm: Tensor, landmark_output: Tensor) -> Tensor:  # type: ignore[override]
        inverse = torch.linalg.inv(a_mm.detach().double())
        indicator64 = indicator.to(device=softmax_nm.device, dtype=torch.float64)
        rows = softmax_nm.shape[-2]
        channels = landmark_output.shape[-1]
        batch_shape = torch.broadcast_shapes(softmax_nm.shape[:-2], landmark_output.shape[:-2])
        output = softmax_nm.new_empty(*batch_shape, channels, rows)
        for chunk in _chunks(softmax_nm, landmark_output):
            weights = _weights_chunk(softmax_nm, indicator64, inverse, chunk)
            output[..., chunk] = (weights @ landmark_output).mT
        ctx.save_for_backward(softmax_nm, indicator64, inverse, landmark_output)
        ctx.a_mm_dtype = a_mm.dtype
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None, Tensor | None, Tensor | None]:  # type: ignore[override]
        softmax_nm, indicator64, inverse, landmark_output = ctx.saved_tensors
        want_nm, _, want_mm, want_output = ctx.needs_input_grad
        grad_nm = torch.empty_like(softmax_nm) if want_nm else None
        grad_output_landmarks = torch.zeros_like(landmark_output) if want_output else None
        # A_nmᵀ ∂L/∂W, accumulated over the row chunks: [..., m, m] in float64.
        nm_t_grad_weights = torch.zeros_like(inverse) if want_mm else None
        inverse_t = inverse.mT
        for chunk in _chunks(softmax_nm, landmark_output):
            grad_rows = grad_output[..., chunk].mT  # ∂L/∂Y for these rows, [..., r, d]
            if grad_output_landmarks is not None:
                weights = _weights_chunk(softmax_nm, indicator64, inverse, chunk)
                grad_output_landmarks += weights.mT @ grad_rows
            if grad_nm is None and nm_t_grad_weights is None:
                continue
            grad_weights = (grad_rows @ landmark_output.mT).double()
            if grad_nm is not None:
                grad_nm[..., chunk, :] = grad_weights @ inverse_t
            if nm_t_grad_weights is not None:
                a_nm = softmax_nm[..., chunk, :] + indicator64[chunk]  # promotes to float64
                nm_t_grad_weights += a_nm.mT @ grad_weights
        grad_mm = None
        if nm_t_grad_weights is not None:
            grad_mm = (-(inverse_t @ nm_t_grad_weights @ inverse_t)).to(ctx.a_mm_dtype)
        return grad_nm, None, grad_mm, grad_output_landmarks


def _chunks(softmax_nm: Tensor, landmark_output: Tensor) -> list[slice]:
    rows, landmarks = softmax_nm.shape[-2:]
    batch_elements = softmax_nm[..., 0, 0].numel()
    return _row_chunks(rows, batch_elements, max(landmarks, landmark_output.shape[-1]))


def _weights_chunk(softmax_nm: Tensor, indicator64: Tensor, inverse: Tensor, chunk: slice) -> Tensor:
    """Rows ``chunk`` of W = (S + 𝟙) M, formed in float64 and rounded to S's dtype."""
    a_nm = softmax_nm[..., chunk, :] + indicator64[chunk]  # promotes to float64
    return (a_nm @ inverse).to(softmax_nm.dtype)
