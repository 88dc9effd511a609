"""Sources that are not feeds, read into a ``ParsedFeed``: sitemaps (following an index) and front pages.

The pipeline fetches a source's first document as it fetches a feed (conditionally, politely) and hands the
result here. A page or a plain sitemap is parsed and capped. A sitemap index, or a robots.txt naming
sitemaps, is followed to its newest sitemaps, at most ``max_pages`` documents per poll, each through the
pipeline's polite fetch. An index says nothing about whether the sitemaps it names changed, so no
validators are kept for it; each child sitemap gets its own conditional GET (validators held in memory,
so the daemon saves the transfer while a one-off ``monitor poll`` simply reads them again).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from types import MappingProxyType
from urllib.parse import urljoin, urlsplit

from monitor.config import FeedConfig
from monitor.errors import MonitorError
from monitor.ingest.feeditems import NotAFeed, ParsedFeed
from monitor.ingest.fetch import PAGE_ACCEPT, SITEMAP_ACCEPT, Failure, FailureKind, FetchResult
from monitor.ingest.robots import ROBOTS_MAX_BYTES, RobotsRules
from monitor.ingest.sitemaps import ParsedSitemap, merge, newest, parse_sitemap

log = logging.getLogger(__name__)

ACCEPT = {"sitemap": SITEMAP_ACCEPT, "page": PAGE_ACCEPT}
MAX_REMEMBERED = 10_000  # child sitemaps whose validators are kept

Fetch = Callable[..., Awaitable[FetchResult]]


class SourceFailed(MonitorError):
    """A source could not be read at all (every sitemap of an index failed, for instance)."""

    hint = "open the source's URL in a browser; the poll is retried with back-off meanwhile"

    def __init__(self, failure: Failure, status: int | None = None) -> None:
        super().__init__(failure.message)
        self.failure, self.status = failure, status


def first_url(source: FeedConfig) -> str:
    """What to fetch first: the configured URL, or for a sitemap source named by its site, its robots.txt."""
    parts = urlsplit(source.url)
    if source.kind == "sitemap" and parts.path in ("", "/") and not parts.query:
        return urljoin(source.url, "/robots.txt")
    return source.url


class SourceReader:
    """Reads fetched sitemaps and pages into feeds; fetches child sitemaps with the given polite ``fetch``.

    ``max_bytes`` gives the bound on what a document may unpack or expand to (``settings.max_bytes`` of the
    poll's fetch tools, which a reload may change), as the fetch bounds what it may receive.
    """

    def __init__(self, fetch: Fetch, *, max_bytes: Callable[[], int]) -> None:
        self._fetch = fetch
        self._max_bytes = max_bytes
        self._validators: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        # The child sitemaps each source read in full in its poll under way, remembered (``settle``) only once
        # their entries are all stored: a 304 must not hide entries that waited for the next poll.
        self._unsettled: dict[str, list[FetchResult]] = {}

    async def read(self, source: FeedConfig, result: FetchResult) -> tuple[ParsedFeed, FetchResult]:
        """The articles of a fetched source, newest first and capped at ``max_links``.

        Args:
            source: the configured source (kind ``sitemap`` or ``page``).
            result: its first document, fetched.

        Returns:
            The feed, and the fetch result whose validators are to be stored on the source (none for an
            index, whose own validators say nothing of its sitemaps).

        Raises:
            NotAFeed: the document is not what the kind says (not a sitemap, not an HTML page).
            SourceFailed: an index none of whose sitemaps could be read.
        """
        if source.kind == "page":
            # Imported when a front page is first read: courlan and lxml.html cost every start of the CLI a
            # few hundredths of a second, and most configurations list no front page.
            from monitor.ingest.listing import parse_listing

            parsed = await asyncio.to_thread(
                parse_listing,
                result.body,
                url=result.final_url,
                headers=dict(result.headers),
                selector=source.selector,
                pattern=source.pattern,
            )
            return newest(parsed, source.links_cap), result
        if urlsplit(result.final_url).path == "/robots.txt":
            root = _robots_sitemaps(result)
        else:
            root = await asyncio.to_thread(
                parse_sitemap,
                result.body,
                url=result.final_url,
                headers=dict(result.headers),
                max_bytes=self._max_bytes(),
            )
        if not root.children:
            return newest(root.feed, source.links_cap), result
        parsed = await self._follow(source, root)
        return newest(parsed, source.links_cap), replace(result, headers=MappingProxyType({}))

    async def _follow(self, source: FeedConfig, root: ParsedSitemap) -> ParsedFeed:
        """Read the sitemaps an index names, breadth first, newest first, at most ``max_pages`` in all."""
        queue, seen = list(root.children), {root.feed.link}
        read: list[FetchResult] = self._unsettled.setdefault(source.name, [])
        read.clear()
        parts, failures, unchanged, fetched = [root.feed], [], 0, 1
        while queue and fetched < source.pages_cap:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            fetched += 1
            etag, modified = self._validators.get(url, (None, None))
            result = await self._fetch(url, etag=etag, last_modified=modified, accept=ACCEPT["sitemap"])
            if result.not_modified:
                unchanged += 1  # its entries were read in an earlier poll
                continue
            if not result.ok:
                failure = result.failure or Failure(FailureKind.OTHER, f"HTTP {result.status}")
                failures.append((url, failure, result.status))
                continue
            try:
                child = await asyncio.to_thread(
                    parse_sitemap,
                    result.body,
                    url=result.final_url,
                    headers=dict(result.headers),
                    max_bytes=self._max_bytes(),
                )
            except NotAFeed as exc:
                failures.append((url, Failure(FailureKind.NOT_A_FEED, str(exc)), result.status))
                continue
            read.append(result)
            self._validators.pop(url, None)  # until settled: its entries are not all stored yet
            parts.append(child.feed)
            queue.extend(child.children)  # a nested index: its sitemaps come after this level's
        left = len([url for url in dict.fromkeys(queue) if url not in seen])
        if left:
            log.info(
                "sitemap source %s: %d more sitemaps not read this poll (max_pages %d)",
                source.name,
                left,
                source.pages_cap,
                extra={"feed": source.name, "url": source.url},
            )
        if failures and len(parts) == 1 and not unchanged:
            url, failure, status = failures[0]
            raise SourceFailed(
                replace(failure, message=f"no sitemap could be read; {url}: {failure.message}"), status
            )
        warnings = (
            [
                (
                    f"{len(failures)} of {fetched - 1} sitemaps could not be read, e.g. {failures[0][0]}: "
                    f"{failures[0][1].message}"
                )
            ]
            if failures
            else []
        )
        return merge(source.url, parts, warnings)

    def settle(self, name: str, *, complete: bool) -> None:
        """The poll of source ``name`` stored what it read: keep its child sitemaps' validators when every
        entry was stored (``complete``), so that the next poll asks for them conditionally; when entries wait
        for the next poll, keep none, so that it reads them whole again and finds what waits."""
        for result in self._unsettled.pop(name, []):
            if complete:
                self._remember(result.url, result)

    def _remember(self, url: str, result: FetchResult) -> None:
        if result.etag or result.last_modified:
            self._validators[url] = (result.etag, result.last_modified)
            self._validators.move_to_end(url)
            while len(self._validators) > MAX_REMEMBERED:
                self._validators.popitem(last=False)


def _robots_sitemaps(result: FetchResult) -> ParsedSitemap:
    """The sitemaps a robots.txt names, as an index would name them."""
    text = result.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
    found = []
    for location in RobotsRules(text).sitemaps:
        absolute = urljoin(result.final_url, location.strip())
        if urlsplit(absolute).scheme in ("http", "https"):
            found.append(absolute)
    if not found:
        raise NotAFeed(
            f"{result.final_url} names no sitemap (no 'Sitemap:' line); give the sitemap's URL instead"
        )
    empty = ParsedFeed(title=None, link=result.final_url, language=None, items=())
    return ParsedSitemap(empty, tuple(dict.fromkeys(found)))
