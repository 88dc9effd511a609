"""Helper processes die with the process that started them.

The extraction forkserver and its workers (``monitor.pipeline.Extractor``) are helpers of one daemon or
poll: when that is killed with SIGKILL it cannot stop them, and they would live on, each holding tens of
megabytes. On Linux each asks the kernel to kill it when its parent goes (``PR_SET_PDEATHSIG``); elsewhere
this does nothing, and the workers end when the executor's pipes close.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_PARENT = "MONITOR_HELPERS_PARENT"  # the pid a helper started now must find as its parent
_parent_of_my_children: int | None = None  # inherited by the processes a helper forks (the workers)


def expect_helpers() -> None:
    """Called by a process about to start helpers, so that they know whom they belong to (a variable of
    the environment, set anew each time: one inherited from an ancestor names another process)."""
    os.environ[_PARENT] = str(os.getpid())


def die_with_parent() -> bool:
    """Have this process killed when its parent process exits. Returns whether it could be arranged.

    The kernel sends the signal when the *thread* that forked us ends: the forkserver is single-threaded,
    and the daemon starts it from its event loop's thread, which lives as long as the extractor.
    """
    global _parent_of_my_children
    if _parent_of_my_children not in (None, os.getpid()):
        expected = _parent_of_my_children  # a worker: forked by the forkserver
    else:
        expected = int(os.environ.get(_PARENT) or os.getppid())
    _parent_of_my_children = os.getpid()
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    # The parent died before the request was made (we were starting as it was killed): we were given to
    # another parent already, and no signal will come.
    if os.getppid() != expected:
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def start_worker() -> None:
    """What a worker process does first: die with its parent (``die_with_parent``), and ignore Ctrl-C.

    A terminal sends SIGINT to every process of its foreground group: the workers of a ``monitor run`` or
    ``monitor poll`` interrupted there would each print a KeyboardInterrupt traceback, while the command
    they serve stops cleanly and ends them itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
