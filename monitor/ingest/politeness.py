"""Per-host politeness: how many requests one host gets at once, and how far apart they start."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import IntEnum

from monitor.runtime.priority import PriorityGate

log = logging.getLogger(__name__)


class Turn(IntEnum):
    """Who goes first when several requests wait for one host: robots.txt (the host's pages wait for it),
    then article pages (the extraction workers wait for them), then the rest (feeds, whose pages come later
    anyway). Among equals, first come first served.

    robots.txt is also outside the host's spacing: it neither waits for the delay after the previous request
    nor delays the next one. It is one small file a day per host, which every crawler is expected to ask
    for (RFC 9309 section 2.4 has it cached up to 24 hours; Nutch fetches it outside its fetch queues, apart
    from their delay), and counting it would put a whole delay between a feed and its first page on every
    host met for the first time. It still takes one of the host's connections, and honours a Retry-After.
    """

    ROBOTS = 0
    PAGE = 1
    OTHER = 2


FORGET_AFTER = 24 * 3600.0
"""A host with no request for this long is forgotten (its delay with it), as its robots.txt is
(``monitor.ingest.robots.ROBOTS_TTL``): the next page's robots.txt, fetched again, brings its Crawl-delay
back. A daemon following links meets new hosts every day, and would otherwise keep them all."""
SWEEP_EVERY = 600.0
"""Seconds between two looks for hosts to forget, made as a new host is met."""
SLOW_HOST = 2.0
"""A host whose response time (smoothed) passes this many seconds, and twice its delay, is said to be slowed
(logged once, counted by /metrics' ``monitor_hosts_slowed``) until it is back under its delay or half of
this, whichever is longer: the gap between the two keeps a host that answers in about that time from being
logged at every answer."""


class _Host:
    __slots__ = (
        "slots",
        "turns",
        "next_start",
        "held_until",
        "delay",
        "latency",
        "slowed",
        "users",
        "last_used",
    )

    def __init__(self, concurrency: int, delay: float) -> None:
        self.users = 0
        """Requests waiting for the host's turn or holding one of its slots."""
        self.last_used = time.monotonic()
        self.slots = asyncio.Semaphore(concurrency)
        self.turns = PriorityGate(1)  # one waiter at a time, in the order of ``Turn``
        self.next_start = 0.0
        """No request starts before: the previous start plus the delay, or a Retry-After's end."""
        self.held_until = 0.0
        """A Retry-After's end alone: what robots.txt, outside the spacing, waits for."""
        self.delay = delay
        """The spacing the settings and the host's robots.txt (Crawl-delay) ask for."""
        self.latency = 0.0
        """The host's recent response time, smoothed and capped (``HostGate.observe``): the spacing it asks
        for."""
        self.slowed = False
        """Whether its response time holds it to a slower pace (see ``SLOW_HOST``)."""

    @property
    def spacing(self) -> float:
        """The time between two starts in force: the larger of the two above."""
        return max(self.delay, self.latency)


class HostGate:
    """Limits requests per host: at most ``concurrency`` in flight, starts at least ``delay`` seconds apart.

    A host's delay can be raised (never lowered below the default) by its robots.txt ``Crawl-delay``, and
    by its own slowness when ``autothrottle`` is on (``observe``).
    """

    def __init__(
        self,
        *,
        concurrency: int = 2,
        delay: float = 1.0,
        max_crawl_delay: float = 30.0,
        forget_after: float = FORGET_AFTER,
        autothrottle: bool = False,
    ) -> None:
        self.concurrency = concurrency
        self.delay = delay
        self.max_crawl_delay = max_crawl_delay
        self.autothrottle = autothrottle
        self.forget_after = forget_after
        self._hosts: dict[str, _Host] = {}
        self._next_sweep = time.monotonic() + SWEEP_EVERY
        self.slowed = 0
        """Hosts whose response time holds them to a slower pace now (``SLOW_HOST``)."""

    @property
    def hosts(self) -> int:
        """Hosts whose state is kept now."""
        return len(self._hosts)

    def _host(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            now = time.monotonic()
            if now >= self._next_sweep:
                self.forget_idle(now)
            state = self._hosts[host] = _Host(self.concurrency, self.delay)
        return state

    def forget_idle(self, now: float | None = None) -> None:
        """Forget the hosts that no request has used for ``forget_after`` seconds and that no Retry-After
        holds (see ``FORGET_AFTER``)."""
        now = time.monotonic() if now is None else now
        self._next_sweep = now + SWEEP_EVERY
        idle = [
            name
            for name, state in self._hosts.items()
            if not state.users and state.held_until <= now and now - state.last_used >= self.forget_after
        ]
        for name in idle:
            self.slowed -= self._hosts.pop(name).slowed

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
        state.held_until = max(state.held_until, time.monotonic() + seconds)
        state.next_start = max(state.next_start, state.held_until)

    def observe(self, host: str, latency: float, *, failed: bool = False) -> None:
        """Learn from a request to ``host`` that took ``latency`` seconds to answer (to its headers; a
        timeout's whole wait), when ``autothrottle`` is on: the host's requests start at least its recent
        response time apart (each answer moves it halfway there), within ``max_crawl_delay``.

        This is Scrapy's AutoThrottle with one request in flight on average (its default target): a server
        taking five seconds to answer is struggling, and two requests at a time, a second apart, would pile
        onto it. A fast host keeps ``delay``. A failed answer (an error status, a timeout) may only raise
        the spacing, never lower it: an overloaded server often fails fast, and its quick errors must not
        speed us up (as AutoThrottle does with non-200 answers).
        """
        if not self.autothrottle or math.isnan(latency) or latency < 0:
            return
        state = self._host(host)
        target = min(latency, self.max_crawl_delay)
        if failed and target <= state.latency:
            return
        state.latency = (state.latency + target) / 2
        if not state.slowed and state.latency > max(SLOW_HOST, 2 * state.delay):
            state.slowed = True
            self.slowed += 1
            log.info(
                "host %s takes %.1fs to answer: its requests start %.1fs apart until it answers faster",
                host,
                state.latency,
                state.spacing,
                extra={"host": host, "spacing": round(state.spacing, 2)},
            )
        elif state.slowed and state.latency <= max(SLOW_HOST / 2, state.delay):
            state.slowed = False
            self.slowed -= 1
            log.info(
                "host %s answers in time again: its requests start %.1fs apart",
                host,
                state.spacing,
                extra={"host": host, "spacing": round(state.spacing, 2)},
            )

    def delay_for(self, host: str) -> float:
        """The minimum time between two request starts to ``host`` now in force."""
        state = self._hosts.get(host)
        return self.delay if state is None else state.spacing

    @asynccontextmanager
    async def slot(
        self,
        host: str,
        *,
        then: PriorityGate | None = None,
        on_turn: Callable[[], Awaitable[object]] | None = None,
        priority: Turn = Turn.OTHER,
    ) -> AsyncIterator[None]:
        """Hold one of ``host``'s slots, starting at least the host's delay after its previous start.

        Waiting for the host's turn holds nothing but this host's place in line: ``then`` and ``on_turn``
        are only taken once the turn has come, so a host with a long delay never keeps other hosts waiting.

        Args:
            then: a further limit (the fetcher's global one) taken once it is this host's turn and held
                until the slot is left, by ``priority`` too (robots.txt and pages before feeds, whatever
                host they are for: the extraction workers wait for pages, not for feeds). Taking it inside
                the turn is what keeps the spacing: taken after, two requests that waited for it could
                start back to back.
            on_turn: awaited once it is this host's turn, before ``then``; what it takes (a place for the
                body in a bounded buffer) is the caller's to give back, not given back here.
            priority: the request's place in the host's line (``Turn``).
        """
        state = self._host(host)
        state.users += 1  # not forgotten (``forget_idle``) while it waits or is held
        try:
            await self._take_turn(state, then=then, on_turn=on_turn, priority=priority)
            try:
                yield
            finally:
                state.slots.release()
                if then is not None:
                    then.release()
        finally:
            state.users -= 1
            state.last_used = time.monotonic()

    @staticmethod
    async def _take_turn(
        state: _Host,
        *,
        then: PriorityGate | None,
        on_turn: Callable[[], Awaitable[object]] | None,
        priority: Turn,
    ) -> None:
        """Wait for the host's turn, then take one of its slots and ``then`` (see ``slot``)."""
        spaced = priority != Turn.ROBOTS  # see ``Turn``
        # Waiters go one at a time, in the order of ``Turn``, and the next start is counted from when this
        # one really started, not from when it was planned: a late wake-up cannot squeeze the gap after it.
        # The line comes before the host's slots, so that its order is the order requests go in.
        await state.turns.acquire(priority)
        try:
            # Again after each sleep: an answer's Retry-After may have put the next start further off.
            while (wait := (state.next_start if spaced else state.held_until) - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await state.slots.acquire()
            try:
                if on_turn is not None:
                    await on_turn()
                if then is not None:
                    await then.acquire(priority)
            except BaseException:
                state.slots.release()
                raise
            if spaced:
                state.next_start = time.monotonic() + state.spacing
        finally:
            state.turns.release()
