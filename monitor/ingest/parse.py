"""Feed bytes and response headers to ``FeedItem`` values: RSS 0.9x/1.0/2.0, Atom, RDF (feedparser) and JSON Feed.

Broken input never raises: feedparser parses as far as it can and we keep its complaint as a warning on
the feed. Only a document with no feed in it at all is an error (``NotAFeed``).
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import json
import logging
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.errors import MonitorError
from monitor.ingest.feedbytes import prepare
from monitor.ingest.text import html_to_text, normalize_whitespace

log = logging.getLogger(__name__)

MAX_ITEMS = 10_000  # entries read from one document; the pipeline takes them max_entries_per_poll at a time
MAX_DOCUMENT_CHARS = 10_000_000  # a document with its own entities expanded (parse_feed's max_chars)
MAX_TITLE_CHARS = 2_000  # an entry's title, author; the feed's title
MAX_TEXT_CHARS = 500_000  # an entry's summary and content, as plain text
_MAX_MARKUP_CHARS = 4 * MAX_TEXT_CHARS  # markup read to make that text
MAX_KEY_LENGTH = 500
MAX_TTL_MINUTES = 525_600  # a year; anything longer is a typo, and timedelta has limits
_JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_JSON_ITEM_FIELDS = frozenset({"url", "content_html", "content_text"})
_GZIP_MAGIC = b"\x1f\x8b"
# The first element of an XML document, after the prolog (declaration, PIs, comments, doctype).
_ROOT = re.compile(
    rb"\A(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*+<([A-Za-z_][\w.:-]*)", re.DOTALL
)
# Root element names (without prefix) of the feed formats; feedparser gives CDF's <channel> no "version".
_FEED_ROOTS = frozenset({"rss", "rdf", "feed", "channel"})
_PREFIXED_RSS_ITEM = re.compile(rb"<rss:item[\s>]")
_RSS_PREFIX = re.compile(rb"(?<=[<\s/])rss:")
# As feedparser decides for RSS text: HTML only with a closing tag or an entity reference in it.
_HTMLISH = re.compile(r"</\w+>|&#?\w+;")


class NotAFeed(MonitorError):
    """The document holds no feed (an HTML page, an error page, garbage)."""

    hint = (
        "give the feed's own RSS, Atom or JSON Feed URL; `monitor discover SITE` finds the ones a site offers"
    )


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
    """A feed document: what it says about itself, its entries, and what was wrong with it (if anything)."""

    title: str | None
    link: str | None
    language: str | None
    items: tuple[FeedItem, ...]
    warning: str | None = None
    ttl_minutes: int | None = None
    # WebSub: the hub that pushes this feed's updates, and the feed's own canonical address (the topic).
    hub: str | None = None
    self_url: str | None = None


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
    header_language = _language(headers.get("content-language", "").split(",")[0])
    if _looks_like_json(body, headers.get("content-type", "")):
        return _parse_json_feed(body, url, header_language)
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
        raise NotAFeed(f"not a feed: {problem or 'no RSS, Atom, RDF or JSON Feed found'}")
    problem = problem or (parsed.get("bozo_exception") if parsed.get("bozo") else None)
    info = parsed.feed
    feed_language = _language(info.get("language")) or header_language
    items, left = _unique(
        _item_from_entry(e, base_url=url, feed_language=feed_language) for e in parsed.entries
    )
    warnings = [f"feed is malformed, parsed as far as possible: {problem}"] if problem else []
    warnings += prepared.warnings
    if left:
        warnings.append(f"feed has more than {MAX_ITEMS} entries; the first {MAX_ITEMS} are read")
    for text in warnings[1 if problem else 0 :]:  # bounds met: the operator should know which feed
        log.warning("feed %s: %s", url, text, extra={"url": url})
    warning = "; ".join(warnings) or None
    return ParsedFeed(
        title=_cut(_clean(_text(info.get("title"), info.get("title_detail"))), MAX_TITLE_CHARS),
        link=_absolute(info.get("link"), url) or url,
        language=feed_language,
        items=items,
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
    link = _absolute(entry.get("link"), base_url)
    guid = _clean(entry.get("id"))
    title = _clean(_text(entry.get("title"), entry.get("title_detail")))
    summary = _text(entry.get("summary"), entry.get("summary_detail"))
    contents = [c for c in entry.get("content", []) or [] if isinstance(c, Mapping)]
    content = max((_text(c.get("value"), c) or "" for c in contents), key=len, default="") or None
    if content and summary and content == summary:
        summary = None
    language = None
    for detail in (entry.get("title_detail"), entry.get("summary_detail"), *contents):
        language = language or _language((detail or {}).get("language"))
    names = [_clean(a.get("name")) for a in entry.get("authors") or [] if isinstance(a, Mapping)]
    author = ", ".join(dict.fromkeys(n for n in names if n)) or _clean(entry.get("author"))
    published = _struct_to_datetime(entry.get("published_parsed") or entry.get("updated_parsed"))
    return FeedItem(
        key=_entry_key(guid, link, title, summary or content),
        guid=guid,
        url=link,
        title=title,
        author=author or None,
        published=published,
        summary=summary,
        content=content,
        language=language or feed_language,
    )


def _parse_json_feed(body: bytes, url: str, header_language: str | None) -> ParsedFeed:
    warning = None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("utf-8-sig", errors="replace")
        warning = "JSON Feed is not valid UTF-8; undecodable bytes replaced"
    truncated = False
    try:
        document = json.loads(text, strict=False, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        document, truncated = _salvage_json_feed(text), True
        if document is None:
            raise NotAFeed(f"not a feed: invalid JSON ({exc})") from exc
        warning = f"JSON Feed is malformed, parsed as far as possible: {exc}"
    if not _is_json_feed(document, truncated=truncated):
        raise NotAFeed("not a feed: JSON without a JSON Feed version")
    language = _language(document.get("language")) or header_language
    feed_authors = _json_authors(document)
    items = []
    for raw in document.get("items") or []:
        if not isinstance(raw, dict):
            continue
        link = _absolute(raw.get("url"), url) or _absolute(raw.get("external_url"), url)
        raw_id = raw.get("id")
        guid = _clean(str(raw_id)) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
        title = _clean(_json_text(raw.get("title"), html=False))
        content = _json_text(raw.get("content_html"), html=True)
        content = content or _json_text(raw.get("content_text"), html=False)
        summary = _json_text(raw.get("summary"), html=False)
        if content and summary and content == summary:
            summary = None
        items.append(
            FeedItem(
                key=_entry_key(guid, link, title, summary or content),
                guid=guid,
                url=link,
                title=title,
                author=_json_authors(raw) or feed_authors,
                published=_json_date(raw.get("date_published")) or _json_date(raw.get("date_modified")),
                summary=summary,
                content=content,
                language=_language(raw.get("language")) or language,
            )
        )
    unique, left = _unique(items)
    if left:
        warning = "; ".join(
            filter(None, (warning, f"feed has more than {MAX_ITEMS} entries; the first {MAX_ITEMS} are read"))
        )
    return ParsedFeed(
        title=_cut(_clean(_json_text(document.get("title"), html=False)), MAX_TITLE_CHARS),
        link=_absolute(document.get("home_page_url"), url) or url,
        language=language,
        items=unique,
        warning=warning,
        hub=_json_hub(document.get("hubs"), url),
        self_url=_absolute(document.get("feed_url"), url),
    )


def _linked(links: object, rel: str, base: str) -> str | None:
    """The first ``<link rel=...>`` (Atom, or atom:link in RSS) of the feed with that relation."""
    for link in links if isinstance(links, list) else ():
        if isinstance(link, Mapping) and link.get("rel") == rel:
            if found := _absolute(link.get("href"), base):
                return found
    return None


def _json_hub(hubs: object, base: str) -> str | None:
    """JSON Feed's ``hubs``: the first of type WebSub."""
    for hub in hubs if isinstance(hubs, list) else ():
        if isinstance(hub, dict) and str(hub.get("type", "")).lower() == "websub":
            if found := _absolute(hub.get("url"), base):
                return found
    return None


def _is_json_feed(document: object, *, truncated: bool) -> bool:
    """A JSON Feed version; or, if the version was cut off, complete items that look like JSON Feed items."""
    if not isinstance(document, dict):
        return False
    version = document.get("version")
    if isinstance(version, str):
        return version.strip().startswith(_JSON_FEED_VERSIONS)
    items = document.get("items")
    return (
        truncated
        and version is None
        and isinstance(items, list)
        and any(isinstance(i, dict) and "id" in i and _JSON_ITEM_FIELDS & i.keys() for i in items)
    )


def _json_int(text: str) -> int | str:
    """A JSON integer; one too long to be a number of anything is kept as its text, which Python would
    refuse to read (past 4,300 digits) and so lose the whole feed."""
    return int(text) if len(text) <= 100 else text


def _salvage_json_feed(text: str) -> dict | None:
    """The fields before ``items`` and every complete item of a truncated JSON Feed, or None."""
    match = re.search(r'"items"\s*:\s*\[', text)
    if match is None:
        return None
    decoder = json.JSONDecoder(strict=False, parse_int=_json_int)
    try:
        document = decoder.decode(text[: match.start()].rstrip().rstrip(",") + "}")
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    items = []
    position = match.end()
    while True:
        position = _skip_space(text, position)
        if position >= len(text) or text[position] == "]":
            break
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        items.append(item)
        position = _skip_space(text, position)
        if text.startswith(",", position):
            position += 1
    document["items"] = items
    return document


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _json_authors(raw: Mapping) -> str | None:
    authors = raw.get("authors")
    if not isinstance(authors, list):
        authors = [raw["author"]] if isinstance(raw.get("author"), dict) else []
    names = [_clean(a.get("name")) for a in authors if isinstance(a, dict)]
    return ", ".join(dict.fromkeys(n for n in names if n)) or None


def _json_text(value: object, *, html: bool) -> str | None:
    """Plain text of a JSON Feed string; plain-text fields holding markup or entities are read as HTML."""
    if not isinstance(value, str):
        return None
    value = value[:_MAX_MARKUP_CHARS]
    if html or _HTMLISH.search(value):
        return html_to_text(value) or None
    return normalize_whitespace(value) or None


def _text(value: object, detail: object) -> str | None:
    """Plain text of a feedparser value, by its content type (feedparser guesses it for RSS)."""
    if not isinstance(value, str):
        return None
    value = value[:_MAX_MARKUP_CHARS]
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    if kind and "html" not in kind and "xml" not in kind:
        return normalize_whitespace(value) or None
    return html_to_text(value) or None


def _looks_like_json(body: bytes, content_type: str) -> bool:
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start in (b"{", b"["):
        return True
    return "json" in content_type.lower() and start != b"<"


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


def _entry_key(guid: str | None, link: str | None, title: str | None, text: str | None) -> str:
    """A stable identity for an entry: its GUID, else its link, else a hash of what it says."""
    for identity in (guid, link):
        if identity:
            # Keys are indexed; a hostile feed's megabyte-long GUID is stored by its hash.
            if len(identity) <= MAX_KEY_LENGTH:
                return identity
            return "sha256:" + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    digest = hashlib.sha256(f"{title or ''}\n{text or ''}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"sha256:{digest}"


def _unique(items: Iterable[FeedItem]) -> tuple[tuple[FeedItem, ...], bool]:
    """The first ``MAX_ITEMS`` entries, each key once, their fields cut; and whether more were left."""
    seen: set[str] = set()
    kept: list[FeedItem] = []
    for item in items:
        if item.key in seen:
            continue
        if len(kept) >= MAX_ITEMS:
            return tuple(kept), True
        seen.add(item.key)
        kept.append(_bounded(item))
    return tuple(kept), False


def _bounded(item: FeedItem) -> FeedItem:
    """``item`` with its text fields cut to their maxima (the key was made from them whole)."""
    return replace(
        item,
        title=_cut(item.title, MAX_TITLE_CHARS),
        author=_cut(item.author, MAX_TITLE_CHARS),
        summary=_cut(item.summary, MAX_TEXT_CHARS),
        content=_cut(item.content, MAX_TEXT_CHARS),
    )


def _cut(value: str | None, length: int) -> str | None:
    return value if value is None or len(value) <= length else value[:length]


def _absolute(link: object, base: str) -> str | None:
    link = _clean(link)
    if not link:
        return None
    try:
        joined = urljoin(base, link)
        scheme = urlsplit(joined).scheme
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    return joined if scheme in ("http", "https") else None


def _ttl(value: object) -> int | None:
    digits = value.strip() if isinstance(value, str) else ""
    if not (digits.isascii() and digits.isdigit()):  # isdigit alone takes "²", which int() refuses
        return None
    # Capped before int(), which refuses a number of thousands of digits.
    digits = digits.lstrip("0") or "0"
    return MAX_TTL_MINUTES if len(digits) > len(str(MAX_TTL_MINUTES)) else min(int(digits), MAX_TTL_MINUTES)


def _struct_to_datetime(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        return None


def _json_date(value: object) -> datetime | None:
    """RFC 3339 as JSON Feed requires; RFC 822 as some feeds write anyway."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _language(value: object) -> str | None:
    value = _clean(value)
    return value.replace("_", "-") if value else None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None
