"""A registry of attention modules filled by a decorator, after timm's ``_registry.py``.

Modules register on import of ``dmlrepro.attention``; ``build_attention("csalr", 256, samples=96)``
then builds one by name, which is how paper specs refer to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dmlrepro.attention.base import GatedResidualAttention
from dmlrepro.errors import UserError

_REGISTRY: dict[str, type[GatedResidualAttention]] = {}

AttentionClass = TypeVar("AttentionClass", bound=type[GatedResidualAttention])


def register_attention(name: str) -> Callable[[AttentionClass], AttentionClass]:
    """Class decorator that registers an attention module under ``name``."""

    def decorator(cls: AttentionClass) -> AttentionClass:
        previous = _REGISTRY.get(name)
        # Re-importing the same class (e.g. importlib.reload) is harmless; a second class is not.
        if previous is not None and _qualified(previous) != _qualified(cls):
            raise ValueError(f"attention {name!r} is already registered by {_qualified(previous)}")
        _REGISTRY[name] = cls
        return cls

    return decorator


def list_attention() -> list[str]:
    """The registered names, sorted."""
    return sorted(_REGISTRY)


def get_attention_class(name: str) -> type[GatedResidualAttention]:
    """The class registered under ``name``; ``UserError`` listing the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(list_attention()) or "(none registered)"
        raise UserError(f"unknown attention {name!r}; valid names: {valid}") from None


def build_attention(name: str, channels: int, **kwargs: Any) -> GatedResidualAttention:
    """Build the module registered under ``name`` for a ``channels``-channel feature map."""
    return get_attention_class(name)(channels, **kwargs)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
