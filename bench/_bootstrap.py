"""Benchmarks run as plain scripts (``python bench/NAME.py``): when the Python that started one lacks the
project's packages, it is run again under the project's virtualenv. Imports nothing of the project itself."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ensure_project_python(script: str, modules: tuple[str, ...] = ()) -> None:
    """Re-run ``script`` under ``.venv/bin/python`` unless ``monitor`` and ``modules`` import here."""
    try:
        for name in ("monitor", *modules):
            importlib.import_module(name)
    except ImportError:
        venv_python = REPO / ".venv" / "bin" / "python"
        if venv_python.exists() and not os.environ.get("MONITOR_BENCH_REEXEC"):
            os.environ["MONITOR_BENCH_REEXEC"] = "1"
            os.execv(str(venv_python), [str(venv_python), str(Path(script).resolve()), *sys.argv[1:]])
        raise SystemExit(
            f"bench/{Path(script).name} needs the project installed: run it with .venv/bin/python"
        ) from None
