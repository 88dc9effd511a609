"""robots.txt, fetched once per host and cached, read as RFC 9309 says.

A missing robots.txt (4xx) allows everything; an unreachable one (5xx, network failure) disallows
everything for a short while, because the site may be in trouble and we should not add load.

The rules are read by Protego rather than ``urllib.robotparser``, which departs from RFC 9309 in ways that
matter on real sites: it takes the first matching rule instead of the longest (so ``Disallow: /`` followed by
``Allow: /news/`` blocks the news), ignores ``*`` and ``$`` patterns, ends a group at a blank line, matches
user agents by substring, and reads only whole-second Crawl-delays.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from monitor.ingest.fetch import Failure, FailureKind, Fetcher
from monitor.ingest.politeness import Turn

log = logging.getLogger(__name__)

ROBOTS_TTL = 24 * 3600.0
UNREACHABLE_TTL = 15 * 60.0
ROBOTS_MAX_BYTES = 512 * 1024
MAX_ORIGINS = 5_000
"""Origins whose rules are kept, the most recently asked about: each new link's site adds one, and a daemon
following links for months meets tens of thousands. Parsed rules take some 10 KB on average, and a large
file (13 KB of rules) nearly 200 KB; an origin let go has its robots.txt fetched again when next needed."""
AGENT = "monitor"

_DEFAULT_PORTS = {"http": 80, "https": 443}


class RobotsRules:
    """The rules of one robots.txt for one product token, read by Protego (RFC 9309 matching)."""

    def __init__(self, text: str, agent: str = AGENT) -> None:
        self._parser = Protego.parse(text)
        self._agent = agent
        delay = self._parser.crawl_delay(agent)
        self.crawl_delay: float | None = (
            float(delay) if delay is not None and math.isfinite(delay) and delay >= 0 else None
        )
        self.sitemaps: tuple[str, ...] = tuple(self._parser.sitemaps)

    def allows(self, url: str) -> bool:
        """Longest matching rule wins, allow on a tie; no match allows. /robots.txt is always allowed."""
        if urlsplit(url).path == "/robots.txt":
            return True
        return self._parser.can_fetch(url, self._agent)


@dataclass(frozen=True)
class RobotsVerdict:
    """May a URL be fetched, and when not, whether robots.txt said so or could not be read (``unavailable``:
    why, so that a page held back for a passing reason is noted truthfully and tried again)."""

    allowed: bool
    unavailable: Failure | None = None


class _Rules:
    __slots__ = ("allow_all", "deny_all", "expires", "rules", "unavailable")

    def __init__(
        self,
        rules: RobotsRules | None = None,
        *,
        allow_all=False,
        deny_all=False,
        ttl=ROBOTS_TTL,
        unavailable: Failure | None = None,
    ) -> None:
        self.rules = rules
        self.allow_all = allow_all
        self.deny_all = deny_all
        self.unavailable = unavailable
        self.expires = time.monotonic() + ttl

    def allows(self, url: str) -> bool:
        if self.allow_all:
            return True
        if self.deny_all or self.rules is None:
            return False
        return self.rules.allows(url)


def _origin(url: str) -> tuple[str, str] | None:
    """("scheme://host[:port]", host) with case and default port normalised; None for an unusable URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    scheme = parts.scheme.lower()
    if not host or scheme not in _DEFAULT_PORTS:
        return None
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        shown = f"{shown}:{port}"
    return f"{scheme}://{shown}", host


class _Load:
    __slots__ = ("lock", "waiting")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0


class RobotsCache:
    """Answers "may we fetch this URL?" per origin, fetching robots.txt through the polite fetcher."""

    def __init__(self, fetcher: Fetcher, *, max_origins: int = MAX_ORIGINS) -> None:
        self._fetcher = fetcher
        self._max_origins = max_origins
        self._rules: OrderedDict[str, _Rules] = OrderedDict()  # least recently asked first
        self._loads: dict[str, _Load] = {}  # origins whose robots.txt is being fetched, and who waits for it

    async def allowed(self, url: str) -> bool:
        return (await self.verdict(url)).allowed

    async def verdict(self, url: str) -> RobotsVerdict:
        """Whether ``url`` may be fetched; when robots.txt could not be read, the failure that held it back."""
        found = _origin(url)
        if found is None:
            return RobotsVerdict(False)  # not an http(s) URL with a host: nothing we could fetch anyway
        origin, host = found
        rules = self._fresh(origin)
        if rules is None:
            # One fetch of a robots.txt at a time: the requests that meet it being fetched wait for it.
            load = self._loads.setdefault(origin, _Load())
            load.waiting += 1
            try:
                async with load.lock:
                    rules = self._fresh(origin)
                    if rules is None:
                        rules = await self._load(origin, host)
                        self._keep(origin, rules)
            finally:
                load.waiting -= 1
                if not load.waiting:
                    del self._loads[origin]
        if rules.allows(url):
            return RobotsVerdict(True)
        return RobotsVerdict(False, rules.unavailable)

    def _fresh(self, origin: str) -> _Rules | None:
        rules = self._rules.get(origin)
        if rules is None or rules.expires < time.monotonic():
            return None
        self._rules.move_to_end(origin)
        return rules

    def _keep(self, origin: str, rules: _Rules) -> None:
        self._rules[origin] = rules
        self._rules.move_to_end(origin)
        while len(self._rules) > self._max_origins:
            self._rules.popitem(last=False)

    async def _load(self, origin: str, host: str) -> _Rules:
        # First in its host's line: every page of the host waits for it.
        result = await self._fetcher.fetch(f"{origin}/robots.txt", accept="text/plain", priority=Turn.ROBOTS)
        if result.failure is not None and result.failure.kind == FailureKind.BLOCKED_ADDRESS:
            # Not ours to judge: the page's own fetch is refused for the same reason, and says so. Not kept,
            # since a fetch of another reach (a link from an intranet feed) may read this robots.txt.
            return _Rules(allow_all=True, ttl=0)
        if result.status is not None and 400 <= result.status < 500 and result.status != 429:
            return _Rules(allow_all=True)
        if not result.ok:
            failure = result.failure or Failure(FailureKind.OTHER, f"HTTP {result.status}")
            log.info(
                "robots.txt unreachable, not fetching pages from %s for now: %s",
                origin,
                failure.message,
                extra={"url": f"{origin}/robots.txt"},
            )
            return _Rules(deny_all=True, ttl=UNREACHABLE_TTL, unavailable=failure)
        text = result.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
        rules = RobotsRules(text)
        if rules.crawl_delay:
            self._fetcher.gate.set_crawl_delay(host, rules.crawl_delay)
        return _Rules(rules)
