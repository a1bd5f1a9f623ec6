"""A registry of attention modules filled by a decorator, after timm's ``_registry.py``.

Modules register on import of ``dmlrepro.attention``; ``build_attention("csalr", 256, samples=96)``
then builds one by name, which is how paper specs refer to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dmlrepro.attention.base import GatedResidualAttention
from dmlrepro.registry import Registry

_REGISTRY: Registry[type[GatedResidualAttention]] = Registry("attention")

AttentionClass = TypeVar("AttentionClass", bound=type[GatedResidualAttention])


def register_attention(name: str) -> Callable[[AttentionClass], AttentionClass]:
    """Class decorator that registers an attention module under ``name``."""
    return _REGISTRY.register(name)


def list_attention() -> list[str]:
    """The registered names, sorted."""
    return _REGISTRY.names()


def get_attention_class(name: str) -> type[GatedResidualAttention]:
    """The class registered under ``name``; a one-line UserError listing the valid names."""
    return _REGISTRY.get(name)


def build_attention(name: str, channels: int, **kwargs: Any) -> GatedResidualAttention:
    """Build the module registered under ``name`` for a ``channels``-channel feature map."""
    return get_attention_class(name)(channels, **kwargs)

