"""monitor's modules import each other one way only: every module imports on its own, and the graph of imports
among them (read with ``ast``; module-level and function-level imports both count, ``TYPE_CHECKING`` ones do
not, see ``support.importgraph``) has no cycle beyond the known ones listed here, so a new cycle fails."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from support.importgraph import cycles, import_graph, module_names
from support.monitormodules import NOT_IMPORTED_BY_TESTS, importable_modules

import monitor

ROOT = Path(monitor.__file__).parent

# Cycles that exist and are accepted, each with its reason; each entry is the whole cycle as found.
KNOWN_CYCLES: set[tuple[str, ...]] = set()
# Packages whose __init__ imports its own submodules so that they register themselves, while those import
# the package for the object they register on: a cycle inside the package, which no other module can join.
REGISTERING_PACKAGES = {
    "monitor.cli",  # each command module adds its commands to `app`
}


def _known(cycle: tuple[str, ...]) -> bool:
    return cycle in KNOWN_CYCLES or any(
        all(module == package or module.startswith(package + ".") for module in cycle)
        for package in REGISTERING_PACKAGES
    )


@pytest.mark.parametrize("module", importable_modules())
def test_every_module_imports(module):
    importlib.import_module(module)


def test_only_the_helper_entry_modules_are_left_out():
    assert set(module_names(ROOT, "monitor")) - set(importable_modules()) == NOT_IMPORTED_BY_TESTS


def test_no_new_import_cycle():
    new = [cycle for cycle in cycles(import_graph(ROOT, "monitor")) if not _known(cycle)]
    assert new == [], f"new import cycles among monitor's modules: {new}"


def test_the_graph_sees_deferred_imports_and_ignores_type_checking(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def late():\n    from pkg.a import thing\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    (package / "d.py").write_text("from . import a\n")
    graph = import_graph(package, "pkg")
    assert graph["pkg.b"] == {"pkg.a"} and graph["pkg.c"] == set() and graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [("pkg.a", "pkg.b")]
