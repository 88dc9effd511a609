"""Waiting for a condition with a generous deadline: tests run on busy machines, so they poll rather
than sleep a fixed time, and fail only when the condition never comes."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    """The first truthy value ``predicate()`` returns within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    return None
