"""Feed bytes and response headers to ``FeedItem`` values: RSS 0.9x/1.0/2.0, Atom, RDF (feedparser) and JSON Feed.

Broken input never raises: feedparser parses as far as it can and we keep its complaint as a warning on
the feed. Only a document with no feed in it at all is an error (``NotAFeed``).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.text import html_to_text

log = logging.getLogger(__name__)

MAX_ITEMS = 1000
_JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/",)


class NotAFeed(Exception):
    """The document holds no feed (an HTML page, an error page, garbage)."""


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, as the feed states it. Text fields are plain text."""

    key: str
    guid: str | None
    url: str | None
    title: str | None
    author: str | None
    published: datetime | None
    summary: str | None
    content: str | None
    language: str | None

    @property
    def feed_text(self) -> str:
        """The longest text the feed itself offers for this entry."""
        return max((self.content or "", self.summary or ""), key=len)


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    link: str | None
    language: str | None
    items: tuple[FeedItem, ...]
    warning: str | None = None
    ttl_minutes: int | None = None


def parse_feed(body: bytes, *, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse a feed document.

    Args:
        body: the raw bytes as received (after transfer decompression).
        url: the URL the document came from, the base for relative links.
        headers: the response headers (lower-case keys); the charset in Content-Type matters.

    Returns:
        The feed with its entries in document order, duplicates (same key) removed.

    Raises:
        NotAFeed: the document contains no recognisable feed.
    """
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if _looks_like_json(body, headers.get("content-type", "")):
        return _parse_json_feed(body, url)
    response_headers = dict(headers)
    response_headers["content-location"] = url
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=True, resolve_relative_uris=True)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS, Atom, RDF or JSON Feed found"
        raise NotAFeed(f"not a feed: {reason}")
    info = parsed.feed
    feed_language = _clean(info.get("language")) or _clean(headers.get("content-language"))
    base = _clean(info.get("link")) or url
    items = _unique(_item_from_entry(entry, base_url=url, feed_language=feed_language) for entry in parsed.entries)
    warning = None
    if parsed.get("bozo"):
        warning = f"feed is malformed, parsed as far as possible: {parsed.get('bozo_exception')}"
    ttl = info.get("ttl")
    return ParsedFeed(
        title=_clean(info.get("title")),
        link=urljoin(url, base),
        language=feed_language,
        items=items,
        warning=warning,
        ttl_minutes=int(ttl) if isinstance(ttl, str) and ttl.strip().isdigit() else None,
    )


def _item_from_entry(entry: Mapping, *, base_url: str, feed_language: str | None) -> FeedItem:
    link = _absolute(entry.get("link"), base_url)
    guid = _clean(entry.get("id"))
    title = html_to_text(entry.get("title")) or None
    summary = html_to_text(entry.get("summary")) or None
    contents = [c.get("value", "") for c in entry.get("content", []) or [] if isinstance(c, Mapping)]
    content = html_to_text(max(contents, key=len)) if contents else None
    if content and summary and content == summary:
        summary = None
    language = None
    for detail in ("title_detail", "summary_detail"):
        language = language or _clean((entry.get(detail) or {}).get("language"))
    published = _struct_to_datetime(entry.get("published_parsed") or entry.get("updated_parsed"))
    return FeedItem(
        key=_entry_key(guid, link, title, summary or content),
        guid=guid,
        url=link,
        title=title,
        author=_clean(entry.get("author")),
        published=published,
        summary=summary,
        content=content or None,
        language=language or feed_language,
    )


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAFeed(f"not a feed: invalid JSON ({exc})") from exc
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(_JSON_FEED_VERSIONS):
        raise NotAFeed("not a feed: JSON without a JSON Feed version")
    language = _clean(document.get("language"))
    items = []
    for raw in document.get("items") or []:
        if not isinstance(raw, dict):
            continue
        link = _absolute(raw.get("url") or raw.get("external_url"), url)
        guid = _clean(str(raw["id"])) if raw.get("id") is not None else None
        title = html_to_text(_str(raw.get("title"))) or None
        content = html_to_text(_str(raw.get("content_html"))) or _clean(_str(raw.get("content_text")))
        summary = _clean(_str(raw.get("summary")))
        authors = raw.get("authors") or ([raw["author"]] if isinstance(raw.get("author"), dict) else [])
        author = ", ".join(a["name"] for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str))
        items.append(
            FeedItem(
                key=_entry_key(guid, link, title, summary or content),
                guid=guid,
                url=link,
                title=title,
                author=author or None,
                published=_iso_to_datetime(raw.get("date_published") or raw.get("date_modified")),
                summary=summary,
                content=content,
                language=_clean(raw.get("language")) or language,
            )
        )
    return ParsedFeed(
        title=_clean(_str(document.get("title"))),
        link=_absolute(document.get("home_page_url"), url) or url,
        language=language,
        items=_unique(items),
    )


def _looks_like_json(body: bytes, content_type: str) -> bool:
    if "json" in content_type.lower():
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _entry_key(guid: str | None, link: str | None, title: str | None, text: str | None) -> str:
    """A stable identity for an entry: its GUID, else its link, else a hash of what it says."""
    for identity in (guid, link):
        if identity:
            # Keys are indexed; a hostile feed's megabyte-long GUID is stored by its hash.
            return identity if len(identity) <= 500 else "sha256:" + hashlib.sha256(identity.encode()).hexdigest()
    digest = hashlib.sha256(f"{title or ''}\n{text or ''}".encode()).hexdigest()[:32]
    return f"sha256:{digest}"


def _unique(items) -> tuple[FeedItem, ...]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.key in seen:
            continue
        seen.add(item.key)
        kept.append(item)
        if len(kept) >= MAX_ITEMS:
            break
    return tuple(kept)


def _absolute(link: object, base: str) -> str | None:
    link = _clean(link)
    if not link:
        return None
    joined = urljoin(base, link)
    return joined if urlsplit(joined).scheme in ("http", "https") else None


def _struct_to_datetime(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _iso_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None
