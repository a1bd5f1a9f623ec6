"""Attention modules built by name from a registry.

Importing this package registers every module; ``list_attention()`` →
``["csa", "csalr", "gau", "gau_aia", "lin", "lin_aia", "nonlinear_v1", "nonlinear_v2",
"nonlocal", "sa", "sa_sdpa", "se", "sop", "sop_aia"]``.

The CSA/CSALR-paper modules (``sa``, ``csa``, ``csalr``, ``sa_sdpa``) are gated residuals
``x + α·response`` (``GatedResidualAttention``); ``nonlocal`` is a residual whose last BN starts
at zero; AiA-Net's modules and ``se`` multiply the input by a sigmoid mask and have no residual.
All return ``AttentionOutput(out, response)``.
"""

from dmlrepro.attention.aia_base import KernelAttention
from dmlrepro.attention.aia_gau import GauAiAAttention, GauAttention, RandomFourierFeatures
from dmlrepro.attention.aia_lin import LinAiAAttention, LinAttention
from dmlrepro.attention.aia_nonlinear import NonLinearAttentionV1, NonLinearAttentionV2
from dmlrepro.attention.aia_sop import SecondOrderPooling, SoPAiAAttention, SoPAttention
from dmlrepro.attention.base import AttentionOutput, GatedResidualAttention
from dmlrepro.attention.csa import CompressedSelfAttention
from dmlrepro.attention.csalr import CompressedSelfAttentionLowRank, landmark_grid_for
from dmlrepro.attention.nonlocal_block import NonLocalBlock
from dmlrepro.attention.registry import (
    build_attention,
    get_attention_class,
    list_attention,
    register_attention,
)
from dmlrepro.attention.sa import SelfAttention
from dmlrepro.attention.sa_sdpa import SelfAttentionSDPA
from dmlrepro.attention.se import SqueezeExcitation

__all__ = [
    "AttentionOutput",
    "CompressedSelfAttention",
    "CompressedSelfAttentionLowRank",
    "GatedResidualAttention",
    "GauAiAAttention",
    "GauAttention",
    "KernelAttention",
    "LinAiAAttention",
    "LinAttention",
    "NonLinearAttentionV1",
    "NonLinearAttentionV2",
    "NonLocalBlock",
    "RandomFourierFeatures",
    "SecondOrderPooling",
    "SelfAttention",
    "SelfAttentionSDPA",
    "SoPAiAAttention",
    "SoPAttention",
    "SqueezeExcitation",
    "build_attention",
    "get_attention_class",
    "landmark_grid_for",
    "list_attention",
    "register_attention",
]
