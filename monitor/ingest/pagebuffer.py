"""A bound on the article pages held at once, from their download to the end of their extraction.

Fetched pages wait here for an extraction worker, so fetching goes on while the workers are busy and a
worker that frees up finds a page ready. The bound keeps memory in check: a page takes its place only once
its host's turn has come (``Fetcher.fetch`` takes it inside the host's turn), never while it waits for the
turn, for robots.txt or for a redirect's next hop, so pages of hosts that must be waited for never keep
the pages of other hosts out. A place that frees goes to the waiting page of the lowest priority (the
pipeline gives the order in which feed polls began, as for extraction), so that the feeds begun first
get their last pages and are stored while the others' pages are still coming.
"""

from __future__ import annotations

from monitor.runtime.priority import PriorityGate


class PageBuffer:
    """At most ``size`` pages downloading, waiting for extraction or being extracted at once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0
        self._places = PriorityGate(size)

    def place(self, priority: int = 0) -> Place:
        """A page's place, not yet taken: ``async with buffer.place() as place`` gives it back on leaving."""
        return Place(self, priority)


class Place:
    """One page's place in a ``PageBuffer``; taking it twice takes it once, and so does giving it back."""

    def __init__(self, buffer: PageBuffer, priority: int = 0) -> None:
        self._buffer = buffer
        self._priority = priority
        self.held = False

    async def take(self) -> None:
        if not self.held:
            await self._buffer._places.acquire(self._priority)
            self.held = True
            self._buffer.taken += 1

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self._buffer.taken -= 1
            self._buffer._places.release()

    async def __aenter__(self) -> Place:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.give_back()
