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


def die_with_parent() -> bool:
    """Have this process killed when its parent process exits. Returns whether it could be arranged.

    The kernel sends the signal when the *thread* that forked us ends: the forkserver is single-threaded,
    and the daemon starts it from its event loop's thread, which lives as long as the extractor.
    """
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    # The parent may have died while the request was made: then we were given to another parent already.
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return True
