"""Feed bytes and response headers to ``FeedItem`` values: RSS 0.9x/1.0/2.0, Atom, RDF (feedparser) and JSON Feed.

Broken input never raises: feedparser parses as far as it can and we keep its complaint as a warning on
the feed. Only a document with no feed in it at all is an error (``NotAFeed``).

This module sniffs the format and reads XML through feedparser; JSON Feed is read in
``monitor.ingest.jsonfeed``; what a parsed feed is, and the helpers both use, are in
``monitor.ingest.feeditems``.
"""

from __future__ import annotations

import calendar
import codecs
import logging
import re
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime

import feedparser

from monitor.ingest.feedbytes import prepare
from monitor.ingest.feeditems import (
    MAX_MARKUP_CHARS,
    MAX_TITLE_CHARS,
    FeedItem,
    NotAFeed,
    ParsedFeed,
    absolute_link,
    clean_text,
    cut,
    entry_key,
    language_tag,
    placed_in_its_day,
    unique_items,
)
from monitor.ingest.jsonfeed import looks_like_json, parse_json_feed
from monitor.ingest.localdates import parse_local_rfc822  # noqa: F401  (registers the date handler)
from monitor.ingest.text import html_to_text, normalize_whitespace

log = logging.getLogger(__name__)

MAX_DOCUMENT_CHARS = 10_000_000  # a document with its own entities expanded (parse_feed's max_chars)
MAX_TTL_MINUTES = 525_600  # a year; anything longer is a typo, and timedelta has limits
_GZIP_MAGIC = b"\x1f\x8b"
# The first element of an XML document, after the prolog (declaration, PIs, comments, doctype).
_ROOT = re.compile(
    rb"\A(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*+<([A-Za-z_][\w.:-]*)", re.DOTALL
)
# Root element names (without prefix) of the feed formats; feedparser gives CDF's <channel> no "version".
_FEED_ROOTS = frozenset({"rss", "rdf", "feed", "channel"})
_PREFIXED_RSS_ITEM = re.compile(rb"<rss:item[\s>]")
_RSS_PREFIX = re.compile(rb"(?<=[<\s/])rss:")


_HTML_ROOT = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*+(?:<!doctype\s+html[^>]*>\s*)?<html[\s>]", re.IGNORECASE | re.DOTALL
)
_PAGE_TITLE = re.compile(rb"<title[^>]{0,200}>(.{0,1000}?)</title>", re.IGNORECASE | re.DOTALL)


def _web_page_title(body: bytes) -> str | None:
    """The title of an HTML page ("" when it has none); None when ``body`` is not one."""
    head = body[:65536]
    if not _HTML_ROOT.match(head):
        return None
    found = _PAGE_TITLE.search(head)
    return " ".join(found.group(1).decode("utf-8", "replace").split())[:100] if found else ""


def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str] | None = None, max_chars: int = MAX_DOCUMENT_CHARS
) -> ParsedFeed:
    """Parse a feed document.

    Args:
        body: the raw bytes as received (after transfer decompression; a gzip file body is unpacked here).
        url: the URL the document came from, the base for relative links.
        headers: the response headers; the charset in Content-Type and Content-Language matter.
        max_chars: how long the document may grow (``max_bytes``, in the pipeline): a gzip file body is
            unpacked to at most this many bytes, and an XML document's own entities are expanded to at most
            this many characters (past that, references are cut and the feed gets a warning).

    Returns:
        The feed with its entries in document order, duplicates (same key) removed.

    Raises:
        NotAFeed: the document contains no recognisable feed.
    """
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if body[:2] == _GZIP_MAGIC:
        log.debug("feed body from %s is a gzip file; unpacking it", url)
        body = _gunzip(body, max_chars)
    header_language = language_tag(headers.get("content-language", "").split(",")[0])
    if looks_like_json(body, headers.get("content-type", "")):
        return parse_json_feed(body, url, header_language)
    # Decoded once, in the charset we trust most (monitor.ingest.feedbytes), and handed on as UTF-8: feedparser
    # would decode a document with one bad byte again, whole, in windows-1252. Its own entities are
    # expanded there within max_chars, and its internal DTD subset removed.
    prepared = prepare(body, headers, max_chars=max_chars)
    # Content-Location is the only way to give feedparser a base URL for bytes. Content-Language is left
    # out so that an entry's language is what the document says; the header is our last fallback.
    # The media type is always application/xml: servers label feeds text/html, text/plain or nothing.
    response_headers = {"content-location": url, "content-type": "application/xml; charset=utf-8"}
    body = _strip_leading_space(prepared.body)
    parsed = _feedparser(body, response_headers)
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.entries and _PREFIXED_RSS_ITEM.search(body):
        # Some site generators put an undeclared "rss:" prefix on every element: feedparser sees no items.
        log.debug("feed from %s prefixes its RSS elements with an undeclared rss:; reading it without", url)
        parsed = _feedparser(_RSS_PREFIX.sub(b"", body), response_headers)
    if not parsed.get("version") and not parsed.entries and not _has_feed_root(body):
        if (page := _web_page_title(body)) is not None:
            # "<unknown>:7:3: mismatched tag" said nothing to the reader of `monitor feeds`.
            named = f" ({page!r})" if page else ""
            raise NotAFeed(
                f"not a feed: the address answers with a web page{named}; `monitor discover URL` lists "
                "the feeds a site offers"
            )
        if not body.strip():
            raise NotAFeed("not a feed: the document is empty")
        raise NotAFeed(f"not a feed: {problem or 'no RSS, Atom, RDF or JSON Feed found'}")
    problem = problem or (parsed.get("bozo_exception") if parsed.get("bozo") else None)
    info = parsed.feed
    feed_language = language_tag(info.get("language")) or header_language
    unique = unique_items(
        _item_from_entry(e, base_url=url, feed_language=feed_language) for e in parsed.entries
    )
    warnings = [f"feed is malformed, parsed as far as possible: {problem}"] if problem else []
    warnings += prepared.warnings
    warnings += unique.warnings
    for text in warnings[1 if problem else 0 :]:  # bounds met: the operator should know which feed
        log.warning("feed %s: %s", url, text, extra={"url": url})
    warning = "; ".join(warnings) or None
    return ParsedFeed(
        title=cut(clean_text(_text(info.get("title"), info.get("title_detail"))), MAX_TITLE_CHARS),
        link=absolute_link(info.get("link"), url) or url,
        language=feed_language,
        items=unique.items,
        warning=warning,
        ttl_minutes=_ttl(info.get("ttl")),
        hub=_linked(info.get("links"), "hub", url),
        self_url=_linked(info.get("links"), "self", url),
    )


def _feedparser(body: bytes, response_headers: dict[str, str]) -> feedparser.FeedParserDict:
    # Only plain text leaves this module: sanitizing HTML and rewriting the links inside it (most of
    # feedparser's time) would be wasted; html_to_text drops scripts and styles itself.
    return feedparser.parse(
        _valid_char_refs(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _valid_char_refs(body: bytes) -> bytes:
    """``body`` with references to characters that cannot exist (NUL, lone surrogates, past U+10FFFF)
    replaced by U+FFFD: feedparser's lenient parser raises on them (``&#xD800;``) instead of going on."""
    if b"&#" not in body:
        return body

    def replace(match: re.Match[bytes]) -> bytes:
        hexadecimal, decimal = match.groups()
        if len((hexadecimal or decimal).lstrip(b"0")) > 8:
            # Past U+10FFFF whatever its digits, and not to be read by int(): Python refuses a decimal
            # number of thousands of digits (and feedparser would raise on it).
            return b"&#xFFFD;"
        code = int(hexadecimal, 16) if hexadecimal else int(decimal)
        return b"&#xFFFD;" if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match.group()

    return _CHAR_REF.sub(replace, body)


def _item_from_entry(entry: Mapping, *, base_url: str, feed_language: str | None) -> FeedItem:
    link = absolute_link(entry.get("link"), base_url)
    guid = clean_text(entry.get("id"))
    title = clean_text(_text(entry.get("title"), entry.get("title_detail")))
    summary = _text(entry.get("summary"), entry.get("summary_detail"))
    contents = [c for c in entry.get("content", []) or [] if isinstance(c, Mapping)]
    content = max((_text(c.get("value"), c) or "" for c in contents), key=len, default="") or None
    if content and summary and content == summary:
        summary = None
    language = None
    for detail in (entry.get("title_detail"), entry.get("summary_detail"), *contents):
        language = language or language_tag((detail or {}).get("language"))
    names = [clean_text(a.get("name")) for a in entry.get("authors") or [] if isinstance(a, Mapping)]
    author = ", ".join(dict.fromkeys(n for n in names if n)) or clean_text(entry.get("author"))
    published = _published(entry)
    return FeedItem(
        key=entry_key(guid, link, title, summary or content),
        guid=guid,
        url=link,
        title=title,
        author=author or None,
        published=published,
        summary=summary,
        content=content,
        language=language or feed_language,
    )


def _linked(links: object, rel: str, base: str) -> str | None:
    """The first ``<link rel=...>`` (Atom, or atom:link in RSS) of the feed with that relation."""
    for link in links if isinstance(links, list) else ():
        if isinstance(link, Mapping) and link.get("rel") == rel:
            if found := absolute_link(link.get("href"), base):
                return found
    return None


def _text(value: object, detail: object) -> str | None:
    """Plain text of a feedparser value, by its content type (feedparser guesses it for RSS)."""
    if not isinstance(value, str):
        return None
    value = value[:MAX_MARKUP_CHARS]
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    if kind and "html" not in kind and "xml" not in kind:
        return normalize_whitespace(value) or None
    return html_to_text(value) or None


def _strip_leading_space(body: bytes) -> bytes:
    """Drops a UTF-8 BOM and blank lines before the first tag, which keep feedparser from the XML declaration.

    feedparser finds ``<?xml ... encoding=...?>`` only at the very start, and expat then rejects the
    declaration, so a stray newline before it (common with blog plugins) would cost the strict parser.
    """
    stripped = body.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    return stripped if stripped[:1] == b"<" and stripped[1:2] not in (b"", b"\x00") else body


def _has_feed_root(body: bytes) -> bool:
    match = _ROOT.match(body.removeprefix(codecs.BOM_UTF8)[:4096])
    return match is not None and match.group(1).split(b":")[-1].decode("ascii").lower() in _FEED_ROOTS


def _gunzip(body: bytes, limit: int) -> bytes:
    """A gzip file served as the body itself (no Content-Encoding); at most ``limit`` bytes of it."""
    try:
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(body, limit)
    except zlib.error:
        return body


def _ttl(value: object) -> int | None:
    digits = value.strip() if isinstance(value, str) else ""
    if not (digits.isascii() and digits.isdigit()):  # isdigit alone takes "²", which int() refuses
        return None
    # Capped before int(), which refuses a number of thousands of digits.
    digits = digits.lstrip("0") or "0"
    return MAX_TTL_MINUTES if len(digits) > len(str(MAX_TTL_MINUTES)) else min(int(digits), MAX_TTL_MINUTES)


def _published(entry: Mapping) -> datetime | None:
    """When the entry was published (else updated), a day given alone placed in its day (``placed_in_its_day``)."""
    field = "published" if entry.get("published_parsed") else "updated"
    published = _struct_to_datetime(entry.get(f"{field}_parsed"))
    written = entry.get(field)
    return placed_in_its_day(published, written) if published and isinstance(written, str) else published


def _struct_to_datetime(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        return None
