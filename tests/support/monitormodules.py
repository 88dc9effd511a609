"""monitor's modules as a test may import them into its own process: all of them but the entry modules of
helper processes, whose import acts on the process that imports it."""

from __future__ import annotations

import pkgutil

import monitor

NOT_IMPORTED_BY_TESTS = {
    # The extraction forkserver's entry: importing it arms the kill-on-parent-death signal, reconfigures
    # logging and freezes the collector, and it kills its process outright when the parent a helper expects
    # (named in the environment by an earlier test's poll) is not its parent.
    "monitor.ingest.extract_worker",
}


def importable_modules() -> list[str]:
    """Every module of monitor by dotted name (packages included) that a test may import."""
    names = [info.name for info in pkgutil.walk_packages(monitor.__path__, "monitor.")]
    return sorted({"monitor", *names} - NOT_IMPORTED_BY_TESTS)
