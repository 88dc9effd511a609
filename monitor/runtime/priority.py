"""A limit on holders that lets waiters in by priority: the asyncio semaphore, with a line in order."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PriorityGate:
    """At most ``slots`` holders at once. Waiters get in lowest ``priority`` first, first come first served
    among equals; a slot given up goes straight to the next waiter, so a newcomer never overtakes the line.
    For one event loop at a time."""

    __slots__ = ("_free", "_waiting", "_order")

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self._free = slots
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def free(self) -> int:
        """Slots no one holds now."""
        return self._free

    async def acquire(self, priority: int = 0) -> None:
        if self._free and not self._waiting:
            self._free -= 1
            return
        handed = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), handed))
        try:
            await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self.release()  # the slot came as we were given up: pass it on
            raise  # a cancelled waiter is skipped by release

    def release(self) -> None:
        while self._waiting:
            handed = heapq.heappop(self._waiting)[2]
            if not handed.done():
                handed.set_result(None)  # the slot goes straight to this waiter
                return
        self._free += 1

    @asynccontextmanager
    async def hold(self, priority: int = 0) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
