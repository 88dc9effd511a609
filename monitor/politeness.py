"""Per-host politeness: how many requests one host gets at once, and how far apart they start."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class _Host:
    __slots__ = ("slots", "lock", "next_start", "delay")

    def __init__(self, concurrency: int, delay: float) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.lock = asyncio.Lock()
        self.next_start = 0.0
        self.delay = delay


class HostGate:
    """Limits requests per host: at most ``concurrency`` in flight, starts at least ``delay`` seconds apart.

    A host's delay can be raised (never lowered below the default) by its robots.txt ``Crawl-delay``.
    """

    def __init__(self, *, concurrency: int = 2, delay: float = 1.0, max_crawl_delay: float = 30.0) -> None:
        self.concurrency = concurrency
        self.delay = delay
        self.max_crawl_delay = max_crawl_delay
        self._hosts: dict[str, _Host] = {}

    def _host(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(self.concurrency, self.delay)
        return state

    def set_crawl_delay(self, host: str, seconds: float) -> None:
        """Honour a robots.txt Crawl-delay, bounded so a hostile file cannot stall us for hours."""
        if math.isnan(seconds):
            seconds = self.delay
        self._host(host).delay = max(self.delay, min(seconds, self.max_crawl_delay))

    def hold_off(self, host: str, seconds: float) -> None:
        """Honour a server's short Retry-After (429, 503) in this pass: the host's next request starts no
        sooner than ``seconds`` from now; its requests wait for that as for their turn, holding nothing.

        One longer than the longest Crawl-delay we honour is left to the retry schedules (monitor.schedule:
        the feed is held, the page tried again later), as before: holding every request to the host that
        long would stall the pass, and holding them less would not honour it anyway.
        """
        if math.isnan(seconds) or not 0 < seconds <= self.max_crawl_delay:
            return
        state = self._host(host)
        state.next_start = max(state.next_start, time.monotonic() + seconds)

    def delay_for(self, host: str) -> float:
        """The minimum time between two request starts to ``host`` now in force."""
        state = self._hosts.get(host)
        return self.delay if state is None else state.delay

    @asynccontextmanager
    async def slot(self, host: str, *, then: asyncio.Semaphore | None = None,
                   on_turn: Callable[[], Awaitable[object]] | None = None) -> AsyncIterator[None]:
        """Hold one of ``host``'s slots, starting at least the host's delay after its previous start.

        Waiting for the host's turn holds nothing but this host's place in line: ``then`` and ``on_turn``
        are only taken once the turn has come, so a host with a long delay never keeps other hosts waiting.

        Args:
            then: a further limit (the fetcher's global one) taken once it is this host's turn and held
                until the slot is left. Taking it inside the turn is what keeps the spacing: taken after,
                two requests that waited for it could start back to back.
            on_turn: awaited once it is this host's turn, before ``then``; what it takes (a place for the
                body in a bounded buffer) is the caller's to give back, not given back here.
        """
        state = self._host(host)
        async with state.slots:
            # Waiters go one at a time (the lock is FIFO), and the next start is counted from when this one
            # really started, not from when it was planned: a late wake-up cannot squeeze the gap after it.
            async with state.lock:
                # Again after each sleep: an answer's Retry-After may have put the next start further off.
                while (wait := state.next_start - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                if on_turn is not None:
                    await on_turn()
                if then is not None:
                    await then.acquire()
                state.next_start = time.monotonic() + state.delay
            try:
                yield
            finally:
                if then is not None:
                    then.release()
