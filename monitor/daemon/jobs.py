"""The scheduler's jobs under way, counted so that a stop can let them finish.

APScheduler's shutdown cancels the jobs it runs and logs each as that job's error, traceback and all; a job
in a thread (a digest being sent, the daily prune) is not even stopped by it and goes on regardless. The
daemon registers every job through ``RunningJobs.tracked`` and, when it stops, pauses the scheduler and
waits for them within its grace (``monitor.daemon.scheduler.Daemon.stop``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class RunningJobs:
    """How many of the jobs registered through ``tracked`` are running, in the event loop or in threads."""

    def __init__(self) -> None:
        self._running = 0
        self._lock = threading.Lock()  # sync jobs run in the scheduler's thread pool

    @property
    def running(self) -> int:
        return self._running

    def tracked(self, job: Callable[..., Any]) -> Callable[..., Any]:
        """``job``, counted while it runs; a coroutine function stays one (APScheduler runs it in the loop)."""
        if inspect.iscoroutinefunction(job):

            @functools.wraps(job)
            async def run_in_loop(*args: Any, **kwargs: Any) -> Any:
                with self._counted():
                    return await job(*args, **kwargs)

            return run_in_loop

        @functools.wraps(job)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._counted():
                return job(*args, **kwargs)

        return run

    async def finished(self, *, timeout: float) -> bool:
        """Wait until no tracked job runs, at most ``timeout`` seconds; whether none does."""
        deadline = time.monotonic() + timeout
        while self._running:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    @contextmanager
    def _counted(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
