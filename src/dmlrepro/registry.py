"""One registry type for every family of named parts (attention modules, losses, dataset loaders,
…), after timm's ``_registry.py``: filled by a decorator on import, looked up by the name that
paper specs and configs use, and an unknown name is a one-line ``UserError`` listing the valid
ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from dmlrepro.errors import UserError

T = TypeVar("T")


def qualified_name(obj: object) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


class Registry(Generic[T]):
    """Named entries of one `kind` ("attention", "loss", "dataset", …).

    `fill`, if given, runs before every lookup (e.g. importing every module of a package, so that
    a new part file registers itself without anyone importing it)."""

    def __init__(self, kind: str, fill: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._fill = fill
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering its target under `name`.  Re-importing the same object (e.g.
        importlib.reload) is harmless; a second object under one name is a programming error."""

        def decorator(entry: T) -> T:
            previous = self._entries.get(name)
            if previous is not None and qualified_name(previous) != qualified_name(entry):
                raise ValueError(f"{self.kind} {name!r} is already registered by {qualified_name(previous)}")
            self._entries[name] = entry
            return entry

        return decorator

    def names(self) -> list[str]:
        """The registered names, sorted."""
        if self._fill is not None:
            self._fill()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The entry registered under `name`; a one-line UserError listing the valid names."""
        if self._fill is not None:
            self._fill()
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name from a bad spec
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise UserError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def copy(self) -> Registry[T]:
        """An independent registry with the same entries (tests register throw-away names in one)."""
        other: Registry[T] = Registry(self.kind, self._fill)
        other._entries = dict(self._entries)
        return other

    def __contains__(self, name: object) -> bool:
        return name in self.names()
