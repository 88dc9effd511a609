"""Sitemap bytes to ``FeedItem`` values: news sitemaps, plain URL sets, sitemap indexes and text sitemaps.

A site without a feed still tells search engines what it published, in a sitemap (sitemaps.org), often with
Google News' ``news:`` extension: title, publication date and language of each article. That is a feed in
all but name, so this module turns it into a ``ParsedFeed`` that the pipeline treats like any other.

An index names other sitemaps instead of articles; they come back as ``children`` (newest first) and the
pipeline decides how many to follow. A robots.txt can name sitemaps too (``Sitemap:`` lines); that is read
by ``monitor.ingest.robots``. Like the feed parser, nothing here fetches anything: it is given the bytes.

The XML is read by lxml with entity expansion, DTD loading and network access off and huge trees refused,
so a hostile sitemap costs at most its (already capped) size. Broken XML is read as far as it goes.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

from lxml import etree

from monitor.ingest.feeditems import FeedItem, NotAFeed, ParsedFeed, placed_in_its_day
from monitor.ingest.parse import MAX_DOCUMENT_CHARS, parse_feed
from monitor.ingest.text import normalize_whitespace

log = logging.getLogger(__name__)

MAX_ENTRIES = 50_000  # the sitemaps.org limit for one file
# A date further ahead than this is no date: a CMS's placeholder (2099), a wrong zone, a page "pinned" on
# top. Sorted as the newest, such entries (and child sitemaps) would take every place of ``max_links`` and
# ``max_pages`` in every poll, and the news dated today would never be read.
FUTURE_TOLERANCE = timedelta(days=1)
_GZIP_MAGIC = b"\x1f\x8b"
_URL_LINE = re.compile(r"^https?://\S+$")
# Feeds are valid sitemaps too (sitemaps.org accepts RSS 2.0 and Atom 1.0): those go to the feed parser.
_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})


@dataclass(frozen=True)
class ParsedSitemap:
    """One sitemap document: its articles as a feed, and the sitemaps it points to (an index)."""

    feed: ParsedFeed
    children: tuple[str, ...] = ()

    @property
    def is_index(self) -> bool:
        return bool(self.children) and not self.feed.items


def parse_sitemap(
    body: bytes, *, url: str, headers: dict[str, str] | None = None, max_bytes: int = MAX_DOCUMENT_CHARS
) -> ParsedSitemap:
    """Parse an XML sitemap, a sitemap index, a text sitemap (one URL a line), gzipped or not.

    Args:
        body: the raw bytes as received (a gzip file body, as ``.xml.gz`` sitemaps are, is unpacked here).
        url: where the document came from: the base for relative locations, and its name in messages.
        headers: the response headers (Content-Language is the language of last resort).
        max_bytes: how large the document may grow: a gzipped sitemap is unpacked to at most this many
            bytes, and a feed served as a sitemap expands its entities to at most this many characters
            (``max_bytes``, in the pipeline, as for the response itself).

    Returns:
        The articles newest first (by news publication date, else last modification; undated ones keep
        their order, after the dated), and for an index its child sitemaps, newest first.

    Raises:
        NotAFeed: the document is neither a sitemap nor a feed (an HTML page, an error page, garbage).
    """
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if body[:2] == _GZIP_MAGIC:
        body = _gunzip(body, max_bytes)
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise NotAFeed("not a sitemap: the document is empty")
    if stripped[:1] != b"<":
        return ParsedSitemap(_text_sitemap(stripped, url))
    root, warning = _xml_root(stripped)
    name = etree.QName(root).localname.lower() if isinstance(root.tag, str) else ""
    if name in _FEED_ROOTS:
        return ParsedSitemap(parse_feed(body, url=url, headers=headers, max_chars=max_bytes))
    if name == "sitemapindex":
        return ParsedSitemap(_empty_feed(url), _index_children(root, url))
    if name != "urlset":
        raise NotAFeed(
            f"not a sitemap: the document's root element is <{name or '?'}>, not <urlset> or <sitemapindex>"
        )
    language = (headers.get("content-language") or "").split(",")[0].strip() or None
    dated: list[tuple[datetime, FeedItem]] = []
    undated: list[tuple[datetime | None, FeedItem]] = []
    for element in _children_named(root, "url"):
        item, when = _item(element, url, language)
        if item is not None:
            if when:
                dated.append((when, item))
            else:
                undated.append((when, item))
        if len(dated) + len(undated) >= MAX_ENTRIES:
            break
    dated.sort(key=lambda pair: pair[0], reverse=True)
    items = _unique(item for _, item in dated + undated)
    return ParsedSitemap(ParsedFeed(title=None, link=url, language=language, items=items, warning=warning))


def _xml_root(body: bytes) -> tuple[etree._Element, str | None]:
    """The root element, and a warning if the XML was broken and recovered."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise NotAFeed(f"not a sitemap: unreadable XML ({exc})") from None
    if root is None:
        raise NotAFeed("not a sitemap: no XML element found")
    errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    warning = f"sitemap is malformed, read as far as possible: {errors[0].message}" if errors else None
    return root, warning


def _index_children(root: etree._Element, url: str) -> tuple[str, ...]:
    dated: list[tuple[datetime, str]] = []
    undated: list[tuple[datetime | None, str]] = []
    for element in _children_named(root, "sitemap"):
        location = _absolute(_location(element), url)
        if location is None or location == url:
            continue
        when = _date(_child_text(element, "lastmod"))
        if when:
            dated.append((when, location))
        else:
            undated.append((when, location))
    dated.sort(key=lambda pair: pair[0], reverse=True)
    undated.sort(key=lambda pair: _recency_guess(pair[1]), reverse=True)
    return tuple(dict.fromkeys(location for _, location in dated + undated))


def _recency_guess(location: str) -> tuple[bool, tuple[int, ...]]:
    """For undated sitemaps of an index: news sitemaps first, then by the numbers in the name, highest first.

    Sites name their sitemaps by date ("sitemap-2024-09.xml") or number them as they fill up
    ("post-sitemap7.xml"), so the highest numbers are the newest; a stable sort keeps document order else.
    """
    path = urlsplit(location).path.lower()
    return "news" in path, tuple(int(n) for n in re.findall(r"\d+", path)[:4])


def _item(
    element: etree._Element, base: str, language: str | None
) -> tuple[FeedItem | None, datetime | None]:
    """The article a ``<url>`` element names, and the date it is sorted by."""
    location = _absolute(_location(element), base)
    if location is None:
        return None, None
    news = next(_children_named(element, "news"), None)
    title = published = news_language = None
    if news is not None:
        title = _clean(_child_text(news, "title"))
        published = _date(_child_text(news, "publication_date"))
        publication = next(_children_named(news, "publication"), None)
        if publication is not None:
            news_language = _clean(_child_text(publication, "language"))
    modified = _date(_child_text(element, "lastmod"))
    item = FeedItem(
        key=location,
        guid=None,
        url=location,
        title=title,
        author=None,
        published=published or modified,
        summary=None,
        content=None,
        language=news_language or language,
    )
    return item, published or modified


def _text_sitemap(body: bytes, url: str) -> ParsedFeed:
    """A text sitemap: one absolute URL a line, UTF-8; anything else in it means it is not one."""
    text = body.decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = [line for line in lines if _URL_LINE.match(line)]
    if not found or len(found) < len(lines) / 2:
        raise NotAFeed("not a sitemap: neither XML nor a list of URLs, one a line")
    items = _unique(
        FeedItem(
            key=line,
            guid=None,
            url=line,
            title=None,
            author=None,
            published=None,
            summary=None,
            content=None,
            language=None,
        )
        for line in found[:MAX_ENTRIES]
    )
    warning = (
        f"{len(lines) - len(found)} lines of the text sitemap are not URLs"
        if len(found) < len(lines)
        else None
    )
    return ParsedFeed(title=None, link=url, language=None, items=items, warning=warning)


def newest(feed: ParsedFeed, limit: int) -> ParsedFeed:
    """``feed`` with only its first ``limit`` items (they come newest first)."""
    return feed if len(feed.items) <= limit else replace(feed, items=feed.items[:limit])


def merge(url: str, parts: list[ParsedFeed], warnings: list[str]) -> ParsedFeed:
    """The articles of several sitemaps as one feed, newest first, each URL once."""
    dated = sorted(
        ((item.published, item) for part in parts for item in part.items if item.published),
        key=lambda pair: pair[0],
        reverse=True,
    )
    undated = [item for part in parts for item in part.items if not item.published]
    warning = (
        "; ".join(dict.fromkeys(w for w in warnings + [p.warning for p in parts if p.warning] if w)) or None
    )
    return ParsedFeed(
        title=next((p.title for p in parts if p.title), None),
        link=url,
        language=None,
        items=_unique([item for _, item in dated] + undated),
        warning=warning,
    )


def _empty_feed(url: str) -> ParsedFeed:
    return ParsedFeed(title=None, link=url, language=None, items=())


def _children_named(element: etree._Element, name: str):
    """Child elements called ``name`` in any namespace: sitemaps in the wild use several, or none."""
    return (child for child in element if isinstance(child.tag, str) and etree.QName(child).localname == name)


def _child_text(element: etree._Element, name: str) -> str | None:
    child = next(_children_named(element, name), None)
    return "".join(child.itertext()) if child is not None else None


def _location(element: etree._Element) -> str | None:
    """The ``<loc>`` of a ``<url>`` or ``<sitemap>``; some sites write the URL as the element's own text."""
    location = _child_text(element, "loc")
    return location if location is not None else element.text


def _absolute(location: str | None, base: str) -> str | None:
    location = (location or "").strip()
    if not location:
        return None
    try:
        joined = urljoin(base, location)
        parts = urlsplit(joined)
    except ValueError:
        return None
    return joined if parts.scheme in ("http", "https") and parts.hostname and len(joined) <= 2048 else None


def _date(value: str | None) -> datetime | None:
    """W3C datetime as sitemaps use it: a date, or a date and time with a zone (UTC if none)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    if parsed > now + FUTURE_TOLERANCE:
        return None
    # Today's date alone is placed at its noon, which may not have come yet: it is now at the latest.
    return min(placed_in_its_day(parsed, value), max(parsed, now))


def _clean(value: str | None) -> str | None:
    return normalize_whitespace(value) or None if value else None


def _unique(items) -> tuple[FeedItem, ...]:
    seen: dict[str, FeedItem] = {}
    for item in items:
        seen.setdefault(item.key, item)
    return tuple(seen.values())


def _gunzip(body: bytes, limit: int) -> bytes:
    """A gzipped sitemap (``.xml.gz``), unpacked to at most ``limit`` bytes."""
    try:
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(body, limit)
    except zlib.error as exc:
        raise NotAFeed(f"not a sitemap: corrupt gzip data ({exc})") from None
