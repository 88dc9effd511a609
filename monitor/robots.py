"""robots.txt, fetched once per host and cached, read as RFC 9309 says.

A missing robots.txt (4xx) allows everything; an unreachable one (5xx, network failure) disallows
everything for a short while, because the site may be in trouble and we should not add load.

The rules are read here rather than by ``urllib.robotparser``, which departs from RFC 9309 in ways that
matter on real sites: it takes the first matching rule instead of the longest (so ``Disallow: /`` followed by
``Allow: /news/`` blocks the news), ignores ``*`` and ``$`` patterns, ends a group at a blank line, matches
user agents by substring, and reads only whole-second Crawl-delays.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from monitor.fetch import Fetcher

log = logging.getLogger(__name__)

ROBOTS_TTL = 24 * 3600.0
UNREACHABLE_TTL = 15 * 60.0
ROBOTS_MAX_BYTES = 512 * 1024
AGENT = "monitor"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/:@!$&'()*+,;=?~"  # kept as is when normalising; "*" and "$" are pattern syntax
_AGENT_TOKEN = re.compile(r"[A-Za-z_-]+")


@dataclass(frozen=True)
class _Rule:
    allow: bool
    pattern: str
    regex: re.Pattern[str]

    @classmethod
    def make(cls, allow: bool, path: str) -> _Rule:
        pattern = _normalise(path)
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        regex = ".*".join(re.escape(part) for part in body.split("*")) + ("$" if anchored else "")
        return cls(allow, pattern, re.compile(regex, re.DOTALL))


@dataclass
class _Group:
    agents: list[str] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    crawl_delay: float | None = None


class RobotsRules:
    """The rules of one robots.txt that apply to one product token (RFC 9309 section 2.2)."""

    def __init__(self, text: str, agent: str = AGENT) -> None:
        groups = _parse(text)
        agent = agent.lower()
        mine = [g for g in groups if agent in g.agents]
        if not mine:
            mine = [g for g in groups if "*" in g.agents]
        # Several groups for the same agent are merged into one.
        self.rules: tuple[_Rule, ...] = tuple(rule for g in mine for rule in g.rules)
        delays = [g.crawl_delay for g in mine if g.crawl_delay is not None]
        self.crawl_delay: float | None = max(delays) if delays else None

    def allows(self, url: str) -> bool:
        """Longest matching rule wins; on a tie, allow wins; no match allows. /robots.txt is always allowed."""
        parts = urlsplit(url)
        path = _normalise(parts.path or "/") + (f"?{_normalise(parts.query)}" if parts.query else "")
        if path == "/robots.txt":
            return True
        best: _Rule | None = None
        for rule in self.rules:
            if rule.regex.match(path) and (
                best is None
                or len(rule.pattern) > len(best.pattern)
                or (len(rule.pattern) == len(best.pattern) and rule.allow)
            ):
                best = rule
        return best is None or best.allow


def _normalise(path: str) -> str:
    """Percent-encode the same way on both sides, so "/caf%C3%A9" and "/café" compare equal."""
    return quote(unquote(path), safe=_PATH_SAFE)


def _parse(text: str) -> list[_Group]:
    groups: list[_Group] = []
    group: _Group | None = None
    in_agents = False  # the previous meaningful line was a user-agent line
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, sep, value = line.partition(":")
        if not sep:
            continue  # blank lines and garbage do not end a group (RFC 9309 section 2.2)
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if not in_agents:
                group = _Group()
                groups.append(group)
            in_agents = True
            token = "*" if value.startswith("*") else (m.group(0).lower() if (m := _AGENT_TOKEN.match(value)) else "")
            if token:
                group.agents.append(token)
            continue
        if key in ("allow", "disallow", "crawl-delay"):
            in_agents = False
            if group is None:
                continue  # rules before any user-agent line belong to no group
            if key == "crawl-delay":
                try:
                    delay = float(value)
                except ValueError:
                    continue
                if math.isfinite(delay) and delay >= 0:
                    group.crawl_delay = delay
            elif value:  # an empty Disallow (or Allow) is no rule at all
                group.rules.append(_Rule.make(key == "allow", value))
        # other records (Sitemap, Host, ...) are not ours to read and leave the group as it is
    return groups


class _Rules:
    __slots__ = ("rules", "allow_all", "deny_all", "expires")

    def __init__(
        self, rules: RobotsRules | None = None, *, allow_all=False, deny_all=False, ttl=ROBOTS_TTL
    ) -> None:
        self.rules = rules
        self.allow_all = allow_all
        self.deny_all = deny_all
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


class RobotsCache:
    """Answers "may we fetch this URL?" per origin, fetching robots.txt through the polite fetcher."""

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher
        self._rules: dict[str, _Rules] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def allowed(self, url: str) -> bool:
        found = _origin(url)
        if found is None:
            return False  # not an http(s) URL with a host: nothing we could fetch anyway
        origin, host = found
        rules = self._rules.get(origin)
        if rules is None or rules.expires < time.monotonic():
            lock = self._locks.setdefault(origin, asyncio.Lock())
            async with lock:
                rules = self._rules.get(origin)
                if rules is None or rules.expires < time.monotonic():
                    rules = self._rules[origin] = await self._load(origin, host)
        return rules.allows(url)

    async def _load(self, origin: str, host: str) -> _Rules:
        result = await self._fetcher.fetch(f"{origin}/robots.txt", accept="text/plain")
        if result.status is not None and 400 <= result.status < 500 and result.status != 429:
            return _Rules(allow_all=True)
        if not result.ok:
            reason = result.failure.message if result.failure else f"HTTP {result.status}"
            log.info("robots.txt unreachable, not fetching pages from %s for now: %s", origin, reason,
                     extra={"url": f"{origin}/robots.txt"})
            return _Rules(deny_all=True, ttl=UNREACHABLE_TTL)
        text = result.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
        rules = RobotsRules(text)
        if rules.crawl_delay:
            self._fetcher.gate.set_crawl_delay(host, rules.crawl_delay)
        return _Rules(rules)
