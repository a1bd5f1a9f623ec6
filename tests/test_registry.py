"""The one registry type (dmlrepro.registry) behind attention modules, losses and dataset loaders."""

from __future__ import annotations

import pytest

from dmlrepro.errors import UserError
from dmlrepro.registry import Registry


def test_an_unknown_name_is_one_user_error_listing_the_valid_names():
    registry: Registry[object] = Registry("widget")
    registry.register("b")(int)
    registry.register("a")(str)
    assert registry.names() == ["a", "b"] and "a" in registry and "c" not in registry
    with pytest.raises(UserError, match=r"^unknown widget 'c'; valid names: a, b$"):
        registry.get("c")
    with pytest.raises(UserError, match="unknown widget"):
        registry.get(["unhashable"])  # a bad spec value, not a crash


def test_a_second_object_under_one_name_is_refused_but_the_same_one_again_is_harmless():
    registry: Registry[object] = Registry("widget")
    registry.register("x")(int)
    registry.register("x")(int)
    with pytest.raises(ValueError, match="already registered by builtins.int"):
        registry.register("x")(float)


def test_fill_runs_before_every_lookup_and_a_copy_is_independent():
    calls = []
    registry: Registry[object] = Registry("widget", fill=lambda: calls.append(1))
    registry.register("x")(int)
    assert registry.get("x") is int and registry.names() == ["x"] and len(calls) == 2
    copy = registry.copy()
    copy.register("y")(str)
    assert "y" not in registry and copy.names() == ["x", "y"]
