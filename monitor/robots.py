"""robots.txt, fetched once per host and cached, read as RFC 9309 says.

A missing robots.txt (4xx) allows everything; an unreachable one (5xx, network failure) disallows
everything for a short while, because the site may be in trouble and we should not add load.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.robotparser
from urllib.parse import urlsplit

from monitor.fetch import Fetcher

log = logging.getLogger(__name__)

ROBOTS_TTL = 24 * 3600.0
UNREACHABLE_TTL = 15 * 60.0
ROBOTS_MAX_BYTES = 512 * 1024
AGENT = "monitor"


class _Rules:
    __slots__ = ("parser", "allow_all", "deny_all", "expires")

    def __init__(self, parser=None, *, allow_all=False, deny_all=False, ttl=ROBOTS_TTL) -> None:
        self.parser = parser
        self.allow_all = allow_all
        self.deny_all = deny_all
        self.expires = time.monotonic() + ttl

    def allows(self, url: str) -> bool:
        if self.allow_all:
            return True
        if self.deny_all:
            return False
        return self.parser.can_fetch(AGENT, url)


class RobotsCache:
    """Answers "may we fetch this URL?" per origin, fetching robots.txt through the polite fetcher."""

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher
        self._rules: dict[str, _Rules] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        rules = self._rules.get(origin)
        if rules is None or rules.expires < time.monotonic():
            lock = self._locks.setdefault(origin, asyncio.Lock())
            async with lock:
                rules = self._rules.get(origin)
                if rules is None or rules.expires < time.monotonic():
                    rules = self._rules[origin] = await self._load(origin, parts.hostname or "")
        return rules.allows(url)

    async def _load(self, origin: str, host: str) -> _Rules:
        result = await self._fetcher.fetch(f"{origin}/robots.txt", accept="text/plain")
        if result.status is not None and 400 <= result.status < 500 and result.status != 429:
            return _Rules(allow_all=True)
        if not result.ok:
            reason = result.failure.message if result.failure else f"HTTP {result.status}"
            log.info("robots.txt unreachable, not fetching pages from %s for now: %s", origin, reason)
            return _Rules(deny_all=True, ttl=UNREACHABLE_TTL)
        text = result.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(text.splitlines())
        delay = parser.crawl_delay(AGENT)
        if delay:
            self._fetcher.gate.set_crawl_delay(host, float(delay))
        return _Rules(parser)
