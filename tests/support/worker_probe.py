"""Functions run inside extraction workers by the tests. This module imports nothing of monitor, so that
unpickling a call to it does not itself load what the tests look for."""

from __future__ import annotations

import os
import sys


def worker_state() -> tuple[int, bool, bool]:
    """The worker's pid, and whether it carries the CLI and the database layer."""
    return os.getpid(), "monitor.cli" in sys.modules, "sqlalchemy" in sys.modules
