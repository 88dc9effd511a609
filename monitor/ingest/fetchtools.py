"""The fetching machinery that one configuration's settings build, swapped whole when a reload changes them.

A ``FetchTools`` holds the fetcher (with its host gate and address guard), the robots.txt cache bound to it,
the extractor, and the buffer that bounds pages in flight. A poll pins the set in force when it starts
(``FetchTools.users``) and keeps it to its end, so a feed is fetched with the settings of one configuration
throughout. A reload that changes one of ``FETCH_SETTINGS`` or ``EXTRACT_SETTINGS`` builds a successor; the
set it replaces is closed once the last poll pinning it is done, never under one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from monitor.config import Settings
from monitor.ingest.addressguard import AddressGuard
from monitor.ingest.fetch import Fetcher, default_user_agent
from monitor.ingest.pagebuffer import PageBuffer
from monitor.ingest.politeness import HostGate
from monitor.ingest.robots import RobotsCache
from monitor.runtime.metrics import NO_METRICS, Metrics

log = logging.getLogger(__name__)

FETCH_SETTINGS = (
    "user_agent",
    "contact",
    "timeout",
    "max_bytes",
    "max_redirects",
    "concurrency",
    "per_host",
    "host_delay",
    "autothrottle",
    "allow_networks",
)
"""Settings built into the fetcher: a change to any of them builds a new one."""
EXTRACT_SETTINGS = ("extract_workers",)
"""Settings built into the extractor: a change starts new worker processes."""


def fetcher_for(
    settings: Settings,
    *,
    metrics: Metrics = NO_METRICS,
    gate: HostGate | None = None,
    guard: AddressGuard | None = None,
) -> Fetcher:
    """The one way a Fetcher is made from settings: the pipeline's, and the commands' that fetch
    (discover, explain a URL), so every request carries the same User-Agent, limits and politeness.

    Args:
        gate: the per-host gate to share (a successor's polls share its predecessor's); None makes one.
        guard: the address guard to use whatever ``allow_networks`` says (tests); None builds one from it.
    """
    return Fetcher(
        user_agent=settings.user_agent or default_user_agent(settings.contact),
        timeout=settings.timeout.total_seconds(),
        max_bytes=int(settings.max_bytes),
        max_redirects=settings.max_redirects,
        concurrency=settings.concurrency,
        metrics=metrics,
        gate=gate or host_gate(settings),
        guard=guard or AddressGuard(settings.allow_networks),
    )


GATE_SETTINGS = ("per_host", "host_delay", "autothrottle")
"""The settings a per-host gate is made of: while they stay, a reloaded configuration keeps its gate."""


def host_gate(settings: Settings) -> HostGate:
    """The per-host limits the settings ask for."""
    return HostGate(
        concurrency=settings.per_host,
        delay=settings.host_delay.total_seconds(),
        autothrottle=settings.autothrottle,
    )


class Extracting(Protocol):
    workers: int

    def close(self) -> None: ...


E = TypeVar("E", bound=Extracting)


class Shared(Generic[E]):
    """An extractor that successive tool sets share while ``extract_workers`` stays the same: its worker
    processes are shut down when the last set holding it is closed."""

    def __init__(self, value: E) -> None:
        self.value = value
        self.holders = 0

    def hold(self) -> E:
        self.holders += 1
        return self.value

    async def let_go(self) -> None:
        self.holders -= 1
        if self.holders == 0:
            await asyncio.to_thread(self.value.close)  # waits for the workers: not in the event loop


def differ(old: Settings, new: Settings, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(key for key in keys if getattr(old, key) != getattr(new, key))


class FetchTools(Generic[E]):
    """What the polls of one configuration fetch and extract with.

    Args:
        guard: the address guard to use whatever ``allow_networks`` says (tests); None builds one from it.
        previous: the set this one succeeds: its host gate carries over while ``GATE_SETTINGS`` stay, so
            polls of both sets still share one limit per host (and what the gate learnt of each host).
    """

    def __init__(
        self,
        settings: Settings,
        extractor: Shared[E],
        *,
        metrics: Metrics,
        guard: AddressGuard | None = None,
        previous: FetchTools | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard
        gate = (
            previous.fetcher.gate
            if previous is not None and not differ(previous.settings, settings, GATE_SETTINGS)
            else host_gate(settings)
        )
        self.fetcher: Fetcher = fetcher_for(settings, metrics=metrics, gate=gate, guard=guard)
        self.robots = RobotsCache(self.fetcher)
        self._extractor = extractor
        self.extractor: E = extractor.hold()
        # Pages downloading or fetched but not yet extracted hold memory: bound how many at once. Beyond
        # the downloads in flight, a few pages per worker wait ready, so a worker never waits for a download.
        self.page_buffer = PageBuffer(settings.concurrency + 4 * max(self.extractor.workers, 1))
        self.users = 0  # polls that pinned this set and are not done
        self.retired = False  # a successor is in force: close once no poll uses this set
        self._closed = False

    def successor(
        self, settings: Settings, new_extractor: Callable[[int | None], E], *, metrics: Metrics
    ) -> FetchTools[E] | None:
        """The set that ``settings`` call for, or None when they change nothing built into this one."""
        fetch_changed = differ(self.settings, settings, FETCH_SETTINGS)
        extract_changed = differ(self.settings, settings, EXTRACT_SETTINGS)
        if not fetch_changed and not extract_changed:
            return None
        extractor = Shared(new_extractor(settings.extract_workers)) if extract_changed else self._extractor
        log.info(
            "fetch settings changed (%s): polls that start from now on use them; polls in flight finish "
            "with the previous ones",
            ", ".join(fetch_changed + extract_changed),
        )
        return FetchTools(settings, extractor, metrics=metrics, guard=self.guard, previous=self)

    def pin(self) -> None:
        self.users += 1

    def unpin(self) -> bool:
        """A poll is done with this set. Returns whether it is now to be closed."""
        self.users -= 1
        return self.retired and self.users == 0

    def retire(self) -> bool:
        """A successor is in force. Returns whether this set is to be closed now (no poll uses it)."""
        self.retired = True
        return self.users == 0

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.fetcher.aclose()
        await self._extractor.let_go()
