"""JSON Feed 1.0 and 1.1 to a ``ParsedFeed``; a truncated document is salvaged as far as its complete items go."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from monitor.ingest.feeditems import (
    HTMLISH,
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
from monitor.ingest.localdates import parse_zone_abbreviation
from monitor.ingest.text import html_to_text, normalize_whitespace

log = logging.getLogger(__name__)

_JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_JSON_ITEM_FIELDS = frozenset({"url", "content_html", "content_text"})
_TOO_DEEP = "values nested too deeply"


def parse_json_feed(body: bytes, url: str, header_language: str | None) -> ParsedFeed:
    warning = None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("utf-8-sig", errors="replace")
        warning = "JSON Feed is not valid UTF-8; undecodable bytes replaced"
    truncated = False
    try:
        document = json.loads(text, strict=False, parse_int=_json_int)
    except (json.JSONDecodeError, RecursionError) as exc:
        # The parser recurses once a level: a few thousand brackets exhaust the stack.
        problem = exc if isinstance(exc, json.JSONDecodeError) else _TOO_DEEP
        document, truncated = _salvage_json_feed(text), True
        if document is None:
            raise NotAFeed(f"not a feed: invalid JSON ({problem})") from exc
        warning = f"JSON Feed is malformed, parsed as far as possible: {problem}"
    if not _is_json_feed(document, truncated=truncated):
        raise NotAFeed("not a feed: JSON without a JSON Feed version")
    language = language_tag(document.get("language")) or header_language
    feed_authors = _json_authors(document)
    items = []
    for raw in document.get("items") or []:
        if not isinstance(raw, dict):
            continue
        link = absolute_link(raw.get("url"), url) or absolute_link(raw.get("external_url"), url)
        raw_id = raw.get("id")
        guid = (
            clean_text(str(raw_id))
            if isinstance(raw_id, str | int) and not isinstance(raw_id, bool)
            else None
        )
        title = clean_text(_json_text(raw.get("title"), html=False))
        content = _json_text(raw.get("content_html"), html=True)
        content = content or _json_text(raw.get("content_text"), html=False)
        summary = _json_text(raw.get("summary"), html=False)
        if content and summary and content == summary:
            summary = None
        items.append(
            FeedItem(
                key=entry_key(guid, link, title, summary or content),
                guid=guid,
                url=link,
                title=title,
                author=_json_authors(raw) or feed_authors,
                published=_json_date(raw.get("date_published")) or _json_date(raw.get("date_modified")),
                summary=summary,
                content=content,
                language=language_tag(raw.get("language")) or language,
            )
        )
    unique = unique_items(items)
    for text in unique.warnings:  # bounds met: the operator should know which feed
        log.warning("feed %s: %s", url, text, extra={"url": url})
    warning = "; ".join(filter(None, (warning, *unique.warnings))) or None
    return ParsedFeed(
        title=cut(clean_text(_json_text(document.get("title"), html=False)), MAX_TITLE_CHARS),
        link=absolute_link(document.get("home_page_url"), url) or url,
        language=language,
        items=unique.items,
        warning=warning,
        hub=_json_hub(document.get("hubs"), url),
        self_url=absolute_link(document.get("feed_url"), url),
    )


def _json_hub(hubs: object, base: str) -> str | None:
    """JSON Feed's ``hubs``: the first of type WebSub."""
    for hub in hubs if isinstance(hubs, list) else ():
        if isinstance(hub, dict) and str(hub.get("type", "")).lower() == "websub":
            if found := absolute_link(hub.get("url"), base):
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
    except (json.JSONDecodeError, RecursionError):
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
        except (json.JSONDecodeError, RecursionError):
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
    names = [clean_text(a.get("name")) for a in authors if isinstance(a, dict)]
    return ", ".join(dict.fromkeys(n for n in names if n)) or None


def _json_text(value: object, *, html: bool) -> str | None:
    """Plain text of a JSON Feed string; plain-text fields holding markup or entities are read as HTML."""
    if not isinstance(value, str):
        return None
    value = value[:MAX_MARKUP_CHARS]
    if html or HTMLISH.search(value):
        return html_to_text(value) or None
    return normalize_whitespace(value) or None


def _json_date(value: object) -> datetime | None:
    """RFC 3339 as JSON Feed requires; RFC 822 as some feeds write anyway."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value))
    except ValueError:
        if (zoned := parse_zone_abbreviation(value)) is not None:  # "... 19:42:40 MSK": not UTC
            return datetime(*zoned[:6], tzinfo=UTC)
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return placed_in_its_day(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), value)


def looks_like_json(body: bytes, content_type: str) -> bool:
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start in (b"{", b"["):
        return True
    return "json" in content_type.lower() and start != b"<"
