"""Who this process is in the leases it takes, and whether the holder of a lease on this host still lives.

A lease names its holder by host, process id and the process's start time. An instance that finds a lease
held on its own host by a process that is gone (killed with SIGKILL, crashed, the machine's OOM killer)
takes the leased work over at once instead of waiting for the lease to run out. The start time tells a
process id that the system has since given to another process from the holder itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Protocol, TypeVar

Lease = TypeVar("Lease", bound="HeldBy")


@dataclass(frozen=True)
class Holder:
    """A process, as a lease records it."""

    host: str
    pid: int
    started: int | None  # clock ticks after boot (/proc/<pid>/stat), None where there is no /proc


@cache
def host_name() -> str:
    return socket.gethostname()


def current() -> Holder:
    """This process. Not cached: a forked child is another process."""
    return Holder(host_name(), os.getpid(), process_started(os.getpid()))


def process_started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot; None if unknown (no /proc, no such process)."""
    fields = _stat_fields(pid)
    return None if fields is None else _start_time(fields)


def is_gone(holder: Holder) -> bool:
    """Whether ``holder`` certainly no longer runs. Only a process of this host can be known gone; one of
    another host, or one we cannot tell about, is presumed alive (its lease runs out in its own time)."""
    if holder.host != host_name() or holder.pid <= 0:
        return False
    if holder.pid == os.getpid():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it exists
        pass
    except OSError:
        return False
    fields = _stat_fields(holder.pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent: it does nothing any more
        return True
    started = _start_time(fields)
    # The process id now belongs to a process that started at another time: the holder is gone.
    return holder.started is not None and started is not None and started != holder.started


class HeldBy(Protocol):
    """A lease as the store reads it back: the process id and start time of its holder."""

    @property
    def pid(self) -> int: ...

    @property
    def pid_started(self) -> int | None: ...


def abandoned(leases: Iterable[Lease], *, host: str) -> list[Lease]:
    """Of ``leases`` taken by processes of ``host``, those whose holder is certainly gone (``is_gone``)."""
    return [lease for lease in leases if is_gone(Holder(host, lease.pid, lease.pid_started))]


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses):
    the state first, the start time at index 19."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _start_time(fields: list[str]) -> int | None:
    return int(fields[19]) if len(fields) > 19 else None
