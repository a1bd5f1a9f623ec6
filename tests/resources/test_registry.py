"""The measurer registry (dmlrepro.resources.registry): every resources module imports on its own
in a fresh interpreter (no import cycle), importing the measurers fills the registry, and an
unknown model is refused with one line listing the registered ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dmlrepro.errors import UserError
from dmlrepro.resources import registry
from dmlrepro.resources.measure import get_measurer, list_measurers
from dmlrepro.resources.peak_memory import child_process_env

MODULES = [
    "dmlrepro.resources.core",
    "dmlrepro.resources.registry",
    "dmlrepro.resources.peak_memory",
    "dmlrepro.resources.measurers.pcb",
    "dmlrepro.resources.measurers.aianet",
    "dmlrepro.resources.measurers",
    "dmlrepro.resources.measure",
    "dmlrepro.resources.scaling",
]


_ISOLATED_IMPORTS = """
import importlib, json, sys
out = {}
# First, before anything else is loaded: the generic parts pull in no model and no measurer.
import dmlrepro.resources.core, dmlrepro.resources.registry
out["loaded_by_core"] = sorted(m for m in sys.modules if m.startswith(("dmlrepro.models", "dmlrepro.resources.measurers")))
for module in sys.argv[1:]:
    # Forget every dmlrepro.resources module, so each import below starts from none of them: a
    # cycle among them fails whichever of its modules is imported first.
    for name in [m for m in sys.modules if m == "dmlrepro.resources" or m.startswith("dmlrepro.resources.")]:
        del sys.modules[name]
    importlib.import_module(module)
    out[module] = importlib.import_module("dmlrepro.resources.registry").list_measurers()
print(json.dumps(out))
"""


def test_each_module_imports_alone_and_the_measurers_fill_the_registry():
    done = subprocess.run([sys.executable, "-c", _ISOLATED_IMPORTS, *MODULES], env=child_process_env(0),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-3:]
    registered = json.loads(done.stdout)
    # The generic parts know no model; a measurer (or the command line) brings all of them.
    assert registered["loaded_by_core"] == []
    assert registered["dmlrepro.resources.core"] == registered["dmlrepro.resources.registry"] == []
    for module in ("dmlrepro.resources.measurers.pcb", "dmlrepro.resources.measurers.aianet",
                   "dmlrepro.resources.measurers", "dmlrepro.resources.measure"):
        assert registered[module] == ["aianet", "pcb", "pcb_rpp"], module


@pytest.mark.parametrize("name", list_measurers())
def test_every_registered_measurer_declares_what_it_measures(name):
    measurer = get_measurer(name)
    assert measurer.name == name and callable(measurer.function)
    assert {"params", "flops", "memory_mb", "fps"} <= measurer.metrics
    assert "network" in measurer.scopes
    assert measurer.check_cell is not None


def test_unknown_model_is_one_line_listing_the_registered():
    with pytest.raises(UserError) as info:
        get_measurer("mhdml")
    assert str(info.value) == "model: no resource measurer for 'mhdml'; registered: aianet, pcb, pcb_rpp"


def test_a_second_function_under_a_registered_name_is_refused():
    def measure_other(cell, device, **kwargs):  # pragma: no cover - never called
        return {}

    with pytest.raises(ValueError, match="'pcb' is already registered by dmlrepro.resources.measurers.pcb"):
        registry.register_measurer("pcb", metrics={"params"})(measure_other)
    assert get_measurer("pcb").function.__module__ == "dmlrepro.resources.measurers.pcb"


def _resource_imports() -> dict[str, set[str]]:
    """module → the dmlrepro.resources modules it imports, at the top or inside a function."""
    import ast
    from pathlib import Path

    root = Path(registry.__file__).resolve().parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            imported |= {n for n in names if n.startswith("dmlrepro.resources.")}
        graph[module] = imported - {module}
    return graph


def test_the_resources_modules_import_each_other_without_a_cycle():
    """Also through imports inside functions (measure ↔ measure_aianet was such a cycle)."""
    graph = _resource_imports()
    assert "dmlrepro.resources.measurers.pcb" in graph and "dmlrepro.resources.core" in graph

    def visit(module: str, path: tuple[str, ...]) -> None:
        for target in graph.get(module, ()):
            assert target not in path, " -> ".join((*path, target))
            visit(target, (*path, target))

    for module in graph:
        visit(module, (module,))
