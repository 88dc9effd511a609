"""The layers hold: the import graph points one way (cli/daemon -> pipeline -> stages -> store -> models) and
all SQL lives in the store.

Every module under ``monitor/`` is parsed, not imported, so a rule holds for code no test runs. The rules are
written in module prefixes: when a folder is reorganised, its prefix changes here and nothing else does.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"


@dataclass(frozen=True)
class Rule:
    """Modules under ``importer`` must not import modules under any of ``forbidden``."""

    importer: str
    forbidden: tuple[str, ...]
    why: str


STORE = "monitor.store"
STAGES_AND_ABOVE = (
    "monitor.cli",
    "monitor.daemon",
    "monitor.pipeline",  # the top: commands, the daemon, the orchestrator
    "monitor.ingest",
    "monitor.dedupe",
    "monitor.watchlist",
    "monitor.digest",
    "monitor.retention",  # the stages
    "monitor.config",  # the store takes plain values, never settings
)
RULES = (
    Rule(STORE, STAGES_AND_ABOVE, "the store lies beneath the stages: it imports none and holds no policy"),
    Rule("monitor", ("monitor.cli",), "only the command line (and the entry point) imports the command line"),
)
IMPORT_ALLOWED = {
    # The entry point starts the command line (imported in the function, so extraction workers skip it).
    ("monitor.__main__", "monitor.cli"),
}

SQL_HOME = (STORE,)
"""Where SQL may be written: the store (the migrations live outside ``monitor/``)."""
SQLALCHEMY_ALLOWED = {
    # Error types: callers tell a lost connection from a failed statement.
    "sqlalchemy.exc": None,
    # The transaction handle stages receive and pass on to the store (a type, never a query).
    "sqlalchemy.orm": {"Session"},
}
SESSION_CALLS = {
    "execute",
    "scalar",
    "scalars",
    "exec_driver_sql",
    "get",
    "add",
    "add_all",
    "delete",
    "merge",
    "query",
}
"""Methods that run SQL or change rows, when called on something named like a session or a connection (a
dict's ``get`` or a set's ``add`` do not count). Query builders need an import of ``sqlalchemy``, which the
import rule catches."""
SQL_RECEIVERS = {"session", "connection", "conn", "engine"}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


MODULES = _modules()


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _imports(name: str, path: Path) -> list[tuple[str, tuple[str, ...] | None, int]]:
    """(module, names imported from it, line) for every import in the module, relative ones resolved; each
    name of a ``from`` import is listed as a module too (names None), since ``from monitor import cli`` imports
    the module ``monitor.cli``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = tuple(alias.name for alias in node.names)
            found.append((base, names, node.lineno))
            found += [(f"{base}.{n}", None, node.lineno) for n in names]
    return found


def test_the_rules_see_the_package():
    names = {name for name, _ in MODULES}
    assert {"monitor.store.clusters", "monitor.pipeline", "monitor.cli"} <= names
    for rule in RULES:
        for prefix in (rule.importer, *rule.forbidden):
            assert any(_under(name, prefix) for name in names), f"{prefix} names no module: update the rules"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.importer)
def test_no_module_imports_a_layer_above_it(rule):
    broken = set()
    for name, path in MODULES:
        if not _under(name, rule.importer):
            continue
        for imported, _, line in _imports(name, path):
            for forbidden in rule.forbidden:
                if (
                    _under(imported, forbidden)
                    and not _under(name, forbidden)
                    and (name, forbidden) not in IMPORT_ALLOWED
                ):
                    broken.add(f"{path.relative_to(PACKAGE.parent)}:{line} imports from {forbidden}")
    assert not broken, f"{rule.why}:\n" + "\n".join(sorted(broken))


def test_sql_lives_in_the_store():
    broken = []
    for name, path in MODULES:
        if any(_under(name, home) for home in SQL_HOME):
            continue
        where = path.relative_to(PACKAGE.parent)
        for imported, names, line in _imports(name, path):
            if names is None or not _under(imported, "sqlalchemy"):
                continue
            allowed = SQLALCHEMY_ALLOWED.get(imported, set())
            if allowed is not None and (not names or not set(names) <= allowed):
                broken.append(f"{where}:{line} imports {', '.join(names) or imported}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "__table__":
                broken.append(f"{where}:{node.lineno} reads a table")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                receiver_name = (
                    receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", "")
                )
                if node.func.attr in SESSION_CALLS and receiver_name.lower() in SQL_RECEIVERS:
                    broken.append(f"{where}:{node.lineno} calls {receiver_name}.{node.func.attr}")
    assert not broken, "SQL belongs in monitor/store/ (add a store function):\n" + "\n".join(broken)
