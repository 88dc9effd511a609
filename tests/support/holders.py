"""Lease holders of every kind an instance meets on a shared database, for the tests of taking leases over."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from monitor.runtime import instance


@contextmanager
def lease_holders() -> Iterator[dict[str, instance.Holder]]:
    """Four holders: ``gone`` (a process of this host that has ended), ``alive`` (one that runs, for as long as
    the block lasts), ``reused`` (the live one's process id under another start time: the id now belongs to
    another process than the one that took the lease) and ``elsewhere`` (a process of another host, which
    nothing here can tell about)."""
    ended = subprocess.Popen(["sleep", "60"])
    gone = instance.Holder(instance.host_name(), ended.pid, instance.process_started(ended.pid))
    ended.kill()
    ended.wait()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        alive = instance.Holder(instance.host_name(), sleeper.pid, instance.process_started(sleeper.pid))
        yield {
            "gone": gone,
            "alive": alive,
            "reused": instance.Holder(alive.host, alive.pid, (alive.started or 0) - 1),
            "elsewhere": instance.Holder("another-host", gone.pid, gone.started),
        }
    finally:
        sleeper.kill()
        sleeper.wait()
