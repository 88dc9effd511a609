"""CI's gates (`make lint`) stop a landing: lint, format, types and layers each fail on what they are there to
catch, planted in a copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    if not found.exists():
        pytest.skip(f"{name} is not installed in this environment (make install installs it)")
    return str(found)


def _run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def project(tmp_path):
    """The project's own configuration and package, copied: the gates run on the copy."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "monitor", tmp_path / "monitor", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_copy_passes_every_gate(project):
    assert _run(_tool("ruff"), "check", "monitor", cwd=project).returncode == 0
    assert _run(_tool("ruff"), "format", "--check", "monitor", cwd=project).returncode == 0
    env = dict(os.environ, PYTHONPATH=str(project))
    assert _run(_tool("lint-imports"), cwd=project, env=env).returncode == 0
    assert _run(_tool("mypy"), cwd=project, env=env).returncode == 0


def test_lint_fails_on_an_unused_import(project):
    (project / "monitor" / "planted.py").write_text('"""Planted."""\n\nimport os\n')
    result = _run(_tool("ruff"), "check", "monitor", cwd=project)
    assert result.returncode != 0 and "F401" in result.stdout


def test_format_check_fails_on_a_reformattable_file(project):
    (project / "monitor" / "planted.py").write_text('"""Planted."""\n\nvalue = {  "a":1 }\n')
    result = _run(_tool("ruff"), "format", "--check", "monitor", cwd=project)
    assert result.returncode != 0 and "planted.py" in result.stdout


def test_types_fail_on_a_wrong_annotation(project):
    (project / "monitor" / "planted.py").write_text(
        '"""Planted."""\n\n\ndef count() -> int:\n    return "many"\n'
    )
    result = _run(_tool("mypy"), cwd=project, env=dict(os.environ, PYTHONPATH=str(project)))
    assert result.returncode != 0 and "planted.py" in result.stdout and "return-value" in result.stdout


def test_layers_fail_on_an_upward_import(project):
    # The store reaching up into the pipeline: the edge the layers exist to forbid.
    (project / "monitor" / "store" / "planted.py").write_text(
        '"""Planted."""\n\nfrom monitor import pipeline\n'
    )
    env = dict(os.environ, PYTHONPATH=str(project))
    result = _run(_tool("lint-imports"), cwd=project, env=env)
    assert result.returncode != 0 and "monitor.store.planted -> monitor.pipeline" in result.stdout
