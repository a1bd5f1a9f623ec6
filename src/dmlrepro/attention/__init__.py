"""Attention modules with a gated residual, built by name from a registry.

Importing this package registers every module: ``list_attention()`` → ``["csa", "csalr", "sa"]``.
"""

from dmlrepro.attention.base import AttentionOutput, GatedResidualAttention
from dmlrepro.attention.csa import CompressedSelfAttention
from dmlrepro.attention.csalr import CompressedSelfAttentionLowRank, landmark_grid_for
from dmlrepro.attention.registry import (
    build_attention,
    get_attention_class,
    list_attention,
    register_attention,
)
from dmlrepro.attention.sa import SelfAttention

__all__ = [
    "AttentionOutput",
    "CompressedSelfAttention",
    "CompressedSelfAttentionLowRank",
    "GatedResidualAttention",
    "SelfAttention",
    "build_attention",
    "get_attention_class",
    "landmark_grid_for",
    "list_attention",
    "register_attention",
]
