"""Finding what a site offers to watch: the feeds it advertises or keeps at common paths, and its sitemaps.

``monitor discover URL`` uses this to print ready ``feeds.yaml`` entries. Every request goes through the
polite ``Fetcher`` (per-host limits and delays); guessed paths are asked of robots.txt first and their
number is capped, so discovering a site costs it a handful of requests. Each candidate is fetched and
parsed before it is offered: an entry printed here is one the pipeline can read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lxml import etree, html

from monitor.ingest.feeditems import NotAFeed
from monitor.ingest.fetch import PAGE_ACCEPT, Fetcher, FetchResult, reaching
from monitor.ingest.listing import html_document, parse_listing
from monitor.ingest.parse import parse_feed
from monitor.ingest.robots import ROBOTS_MAX_BYTES, RobotsCache, RobotsRules
from monitor.ingest.sitemaps import parse_sitemap
from monitor.ingest.text import normalize_whitespace

log = logging.getLogger(__name__)

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/rdf+xml": "rdf",
    "application/feed+json": "json",
    "application/json": "json",
    "application/x.atom+xml": "atom",
    "application/x-atom+xml": "atom",
    "text/xml": "rss",
    "application/xml": "rss",
}
FEED_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/feed/", "/rss/")
SITEMAP_PATHS = ("/news-sitemap.xml", "/sitemap.xml", "/sitemap_index.xml")
DEFAULT_MAX_PROBES = 12
MIN_PAGE_LINKS = 5  # a page with fewer article links is not offered as a front page to watch


@dataclass(frozen=True)
class Found:
    """A source found on a site, fetched and read."""

    url: str
    kind: str  # "rss", "sitemap" or "page"
    title: str | None
    via: str  # how it was found: "link rel=alternate", "common path", "robots.txt", "the page itself"
    entries: int  # articles (or sitemaps, for an index) it holds now
    news: bool = False  # a sitemap with news: titles


@dataclass(frozen=True)
class Discovery:
    """What ``discover`` found on one site."""

    url: str
    title: str | None
    feeds: tuple[Found, ...]
    sitemaps: tuple[Found, ...]
    page: Found | None  # the page itself, when it lists articles and nothing better was found
    problems: tuple[str, ...]
    requests: int


def alternate_links(body: bytes, url: str) -> tuple[tuple[str, str | None], ...]:
    """The feeds a page advertises with ``<link rel="alternate" type="...">``: (absolute URL, title)."""
    try:
        document = html.document_fromstring(body, parser=html.HTMLParser(no_network=True, huge_tree=False))
    except (etree.ParserError, ValueError):
        return ()
    base = document.find(".//base[@href]")
    base_url = urljoin(url, base.get("href").strip()) if base is not None else url
    found: dict[str, str | None] = {}
    for link in document.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" not in rel or kind not in FEED_TYPES or not href:
            continue
        absolute = urljoin(base_url, href)
        if urlsplit(absolute).scheme in ("http", "https"):
            found.setdefault(absolute, normalize_whitespace(link.get("title") or "") or None)
    return tuple(found.items())


async def discover(
    url: str, fetcher: Fetcher, *, robots: RobotsCache | None = None, max_probes: int = DEFAULT_MAX_PROBES
) -> Discovery:
    """Find the feeds and sitemaps of the site at ``url``.

    Args:
        url: a page of the site, usually its front page.
        fetcher: the polite fetcher every request goes through.
        robots: asked before each guessed path; None asks nobody (robots.txt is still read for sitemaps).
        max_probes: at most this many guessed paths (and sitemaps named by robots.txt) are fetched.

    Returns:
        The feeds (advertised first, then found at common paths), sitemaps (named by robots.txt first,
        news sitemaps before others), and the page itself if it lists articles and no feed was found.
    """
    probe = _Prober(fetcher, robots, max_probes)
    page = await fetcher.fetch(url, accept=PAGE_ACCEPT)
    probe.requests += 1
    # The URL given is the user's; what its page and its robots.txt name are links, which reach only where
    # the links of a feed on that site may go (monitor.ingest.addressguard): no private address from a
    # public site.
    with reaching(await fetcher.links_reach(page if page.ok else url)):
        return await _discover_from(url, page, probe)


async def _discover_from(url: str, page: FetchResult, probe: _Prober) -> Discovery:
    problems: list[str] = []
    title = None
    feeds: list[Found] = []
    origin = url
    if page.ok:
        origin = page.final_url
        title = _page_title(page)
        if _is_feed(page):
            found = _read_feed(page, "the URL itself")
            feeds += [found] if found else []
        else:
            checked = await asyncio.gather(
                *(
                    probe.feed(link, "link rel=alternate", advertised=True)
                    for link, _ in alternate_links(page.body, page.final_url)
                )
            )
            feeds += [f for f in checked if f is not None]
    else:
        problems.append(f"{url}: {page.failure.message if page.failure else f'HTTP {page.status}'}")
    if not feeds:
        checked = await asyncio.gather(
            *(probe.feed(urljoin(origin, path), "common path") for path in FEED_PATHS)
        )
        feeds += [f for f in checked if f is not None]
    sitemaps = await _sitemaps(origin, probe)
    listing = None
    if page.ok and not feeds and not _is_feed(page):
        listing = _read_listing(page)
    return Discovery(
        url=origin,
        title=title,
        feeds=tuple(_unique(feeds)),
        sitemaps=tuple(_unique(sitemaps)),
        page=listing,
        problems=tuple(problems + probe.problems),
        requests=probe.requests,
    )


async def _sitemaps(origin: str, probe: _Prober) -> list[Found]:
    robots_url = urljoin(origin, "/robots.txt")
    result = await probe.fetcher.fetch(robots_url, accept="text/plain")
    probe.requests += 1
    named: list[str] = []
    if result.ok:
        text = result.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
        named = [urljoin(robots_url, s.strip()) for s in RobotsRules(text).sitemaps]
    candidates = [(u, "robots.txt") for u in dict.fromkeys(named)]
    if not candidates:
        candidates = [(urljoin(origin, path), "common path") for path in SITEMAP_PATHS]
    checked = await asyncio.gather(*(probe.sitemap(u, via) for u, via in candidates))
    found = [f for f in checked if f is not None]
    return sorted(found, key=lambda f: not f.news)  # news sitemaps first, else as named


class _Prober:
    """Fetches candidates within the probe budget and reads them."""

    def __init__(self, fetcher: Fetcher, robots: RobotsCache | None, budget: int) -> None:
        self.fetcher, self.robots, self.budget = fetcher, robots, budget
        self.requests = 0
        self.problems: list[str] = []

    async def _get(self, url: str, accept: str, *, advertised: bool = False) -> FetchResult | None:
        if self.budget <= 0:
            return None
        self.budget -= 1
        # An advertised feed is meant for readers like us; a guessed path is crawling, and robots.txt decides.
        if not advertised and self.robots is not None and not await self.robots.allowed(url):
            return None
        self.requests += 1
        return await self.fetcher.fetch(url, accept=accept)

    async def feed(self, url: str, via: str, *, advertised: bool = False) -> Found | None:
        result = await self._get(
            url,
            "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, */*;q=0.5",
            advertised=advertised,
        )
        if result is None:
            return None
        if not result.ok:
            if advertised:
                reason = result.failure.message if result.failure else f"HTTP {result.status}"
                self.problems.append(f"advertised feed {url}: {reason}")
            return None
        found = _read_feed(result, via)
        if found is None and advertised:
            self.problems.append(f"advertised feed {url} is not a feed")
        return found

    async def sitemap(self, url: str, via: str) -> Found | None:
        result = await self._get(url, "application/xml, text/xml;q=0.9, */*;q=0.5")
        if result is None or not result.ok:
            if result is not None and via == "robots.txt":
                reason = result.failure.message if result.failure else f"HTTP {result.status}"
                self.problems.append(f"sitemap named by robots.txt {url}: {reason}")
            return None
        try:
            parsed = await asyncio.to_thread(
                parse_sitemap, result.body, url=result.final_url, headers=dict(result.headers)
            )
        except NotAFeed:
            return None
        items = parsed.feed.items
        news = any(item.title for item in items) or "news" in urlsplit(url).path.lower()
        return Found(url, "sitemap", None, via, len(items) or len(parsed.children), news=news)


def _read_feed(result: FetchResult, via: str) -> Found | None:
    try:
        parsed = parse_feed(result.body, url=result.final_url, headers=result.headers)
    except NotAFeed:
        return None
    # The URL asked for, not where a redirect led: that is the address the site publishes.
    return Found(result.url, "rss", parsed.title, via, len(parsed.items))


def _read_listing(page: FetchResult) -> Found | None:
    try:
        parsed = parse_listing(page.body, url=page.final_url, headers=dict(page.headers))
    except NotAFeed:
        return None
    if len(parsed.items) < MIN_PAGE_LINKS:
        return None
    return Found(page.url, "page", parsed.title, "the page itself", len(parsed.items))


def _is_feed(result: FetchResult) -> bool:
    head = result.body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1024].lower()
    return b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head or b"jsonfeed.org/version" in head


def _page_title(page: FetchResult) -> str | None:
    """The page's ``<title>``, in the charset its pages are read in (the bytes read as Latin-1 named a
    site "Daily Globe â\x80\x93 World" in the entries `--add` writes)."""
    try:
        document = html_document(page.body, page.final_url, page.headers.get("content-type", ""))
    except NotAFeed:
        return None
    return normalize_whitespace(document.findtext(".//title") or "") or None


def _unique(found: list[Found]) -> list[Found]:
    seen: dict[str, Found] = {}
    for item in found:
        seen.setdefault(item.url.rstrip("/"), item)
    return list(seen.values())


def entries(discovery: Discovery, *, taken_names: set[str] | None = None) -> list[dict]:
    """Ready ``feeds.yaml`` entries: every feed found, the best sitemap, else the page itself.

    One sitemap is enough (a site names many: posts, pages, images); a news sitemap is preferred, then
    the site itself when robots.txt names its sitemaps (the pipeline follows them), then the one found.
    Names are unique among ``taken_names`` (compared ignoring case).
    """
    taken = {name.casefold() for name in taken_names or set()}
    site = discovery.title or urlsplit(discovery.url).hostname or discovery.url
    result = []

    def add(name: str, url: str, kind: str) -> None:
        unique, n = name[:190], 2
        while unique.casefold() in taken:
            unique, n = f"{name[:185]} ({n})", n + 1
        taken.add(unique.casefold())
        result.append({"name": unique, "url": url} | ({} if kind == "rss" else {"kind": kind}))

    for feed in discovery.feeds:
        add(feed.title or site, feed.url, "rss")
    best = _best_sitemap(discovery)
    if best is not None:
        add(f"{site} – sitemap", best, "sitemap")
    if not result and discovery.page is not None:
        add(discovery.page.title or site, discovery.page.url, "page")
    return result


def _best_sitemap(discovery: Discovery) -> str | None:
    if not discovery.sitemaps:
        return None
    news = [s for s in discovery.sitemaps if s.news]
    if news:
        return news[0].url
    if any(s.via == "robots.txt" for s in discovery.sitemaps):
        parts = urlsplit(discovery.url)
        return f"{parts.scheme}://{parts.netloc}/"
    return discovery.sitemaps[0].url
