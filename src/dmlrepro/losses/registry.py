"""A registry of metric-learning losses filled by a decorator, after timm's ``_registry.py``.

A loss registers when its module is imported; every lookup (``list_losses``, ``get_loss_class``,
``build_loss``) first imports every module of the ``dmlrepro.losses`` package, so a new loss is one
new file with ``@register_loss(name)`` and no edit elsewhere, and the registry's content never
depends on what happened to be imported before. ``build_loss("proxy_anchor", num_classes=100,
embedding_size=512)`` builds one by name, which is how paper specs and training presets refer to
them (003_72cd4b33cee60b89.txt, Eq. 5–7).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from dmlrepro.errors import UserError
from dmlrepro.registry import Registry

def _import_all_losses() -> None:
    """Import every module of this package once (each registers its losses on import)."""
    package = importlib.import_module(__name__.rpartition(".")[0])
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


_REGISTRY: Registry[type[nn.Module]] = Registry("loss", fill=_import_all_losses)

LossClass = TypeVar("LossClass", bound=type[nn.Module])


def register_loss(name: str) -> Callable[[LossClass], LossClass]:
    """Class decorator that registers a loss under ``name``."""
    return _REGISTRY.register(name)


def list_losses() -> list[str]:
    """The registered names, sorted (every loss file of the package is imported first)."""
    return _REGISTRY.names()


def get_loss_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``; ``UserError`` listing the valid names otherwise."""
    return _REGISTRY.get(name)


def loss_parameters(name: str) -> list[str]:
    """The keyword parameters the loss registered under ``name`` accepts."""
    signature = inspect.signature(get_loss_class(name).__init__)
    return [p for p in signature.parameters if p != "self"]


def build_loss(name: str, **params: Any) -> nn.Module:
    """Build the loss registered under ``name``; an unknown or missing parameter is a one-line
    ``UserError`` naming the valid ones."""
    cls = get_loss_class(name)
    signature = inspect.signature(cls.__init__)
    valid = loss_parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise UserError(f"unknown parameter(s) {', '.join(unknown)} for loss {name!r}; valid: "
                        f"{', '.join(valid)}")
    missing = [p for p, spec in signature.parameters.items()
               if p != "self" and spec.default is inspect.Parameter.empty and p not in params]
    if missing:
        raise UserError(f"loss {name!r} needs parameter(s) {', '.join(missing)}")
    return cls(**params)

