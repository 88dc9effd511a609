"""What the evaluation benchmarks share: the corpus check that skips them and the report of their checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

from _pages import shared_dir

OUT = Path(__file__).resolve().parent / "out"


def newspaper_corpus_missing() -> bool:
    """Whether ../shared lacks the newspaper corpus the wire and dedup evaluations read (saying so if it does)."""
    shared = shared_dir()
    if (shared / "corpora/newspaper/expected.json").is_file():
        return False
    print(f"skipped: {shared} has no corpora (set MONITOR_SHARED_DIR)")
    return True


def report_checks(checks: dict[str, bool], result: dict, name: str, *, started: float | None = None) -> None:
    """Print each check PASS or FAIL (then the time since ``started``), and write ``result`` with the checks
    added to ``out/NAME``."""
    for check, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {check}")
    if started is not None:
        print(f"({time.perf_counter() - started:.0f}s)")
    result["checks"] = checks
    OUT.mkdir(exist_ok=True)
    (OUT / name).write_text(json.dumps(result, indent=2))
