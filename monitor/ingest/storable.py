"""Values made fit to store: text every database takes, no longer than its column.

Feeds and pages are written by strangers. PostgreSQL refuses a NUL character in text and a value longer
than its column, both databases refuse a lone surrogate (``\\ud800`` in JSON, ``&#xD800;`` in XML, which
Python decodes but UTF-8 cannot encode), and one refused value would fail the whole feed's transaction. So
every value the pipeline is about to store passes through here first: text cleaned, fields cut to their
columns, and values that mean nothing once cut (a language tag, an ETag) dropped.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from typing import TypeVar, overload

from monitor.ingest.feeditems import FeedItem, ParsedFeed
from monitor.store.models import SITE_NAME_LENGTH, URL_LENGTH
from monitor.store.records import Article, ExtractedPage

T = TypeVar("T")

LANGUAGE_LENGTH = 20  # models.Article.language
ETAG_LENGTH = 1024  # models.Feed.etag
LAST_MODIFIED_LENGTH = 200  # models.Feed.last_modified

# NUL and the other control characters (C0 and C1) but tab, newline and carriage return; lone surrogates.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _replacement(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"  # a character was there, and it was broken: say so, as a decoder would
    return " " if char in "\x0b\x0c" else ""  # vertical tab and form feed separate words


def clean_text(value: str) -> str:
    """``value`` without NUL and control characters, its lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub(_replacement, value) if _UNSTORABLE.search(value) else value


def clean(value: T) -> T:
    """``value`` with every string in it cleaned: a string, or a frozen dataclass, tuple or dict of them."""
    if isinstance(value, str):
        return clean_text(value)  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(clean(item) for item in value)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for name in _init_fields(type(value)):
            old = getattr(value, name)
            new = clean(old)
            if new is not old:
                changes[name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


@functools.cache
def _init_fields(kind: type) -> tuple[str, ...]:
    # Read once per class: ``dataclasses.fields`` builds its tuple anew at every call, and every page and
    # feed entry is cleaned.
    return tuple(field.name for field in dataclasses.fields(kind) if field.init)


@overload
def cut(value: str, length: int) -> str: ...
@overload
def cut(value: str | None, length: int) -> str | None: ...
def cut(value: str | None, length: int) -> str | None:
    """``value`` cut to ``length`` characters (None stays None)."""
    return value if value is None or len(value) <= length else value[:length]


def fitting(value: str | None, length: int) -> str | None:
    """``value`` if it fits ``length``, else None: for values that mean nothing once cut."""
    return value if value is None or len(value) <= length else None


def storable_feed(parsed: ParsedFeed) -> ParsedFeed:
    """A parsed feed whose entries can be stored: text cleaned, keys and links that fit their columns."""
    parsed = clean(parsed)
    items = tuple(_storable_item(item) for item in parsed.items)
    return dataclasses.replace(parsed, items=items, language=cut(parsed.language, LANGUAGE_LENGTH))


def _storable_item(item: FeedItem) -> FeedItem:
    key = item.key
    if len(key) > URL_LENGTH:
        # A key must stay the same from poll to poll and fit its column: a long one is known by its hash.
        key = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return dataclasses.replace(
        item,
        key=key,
        url=fitting(item.url, URL_LENGTH),
        guid=fitting(item.guid, URL_LENGTH),
        language=cut(item.language, LANGUAGE_LENGTH),
    )


def storable_page(page: ExtractedPage | None) -> ExtractedPage | None:
    """An extracted page whose metadata can be stored; a canonical URL too long to store is not used."""
    if page is None:
        return None
    page = clean(page)
    return dataclasses.replace(
        page,
        language=cut(page.language, LANGUAGE_LENGTH),
        canonical_url=fitting(page.canonical_url, URL_LENGTH),
        site_name=cut(page.site_name, SITE_NAME_LENGTH),
    )


def storable_article(article: Article) -> Article:
    """An article whose every field fits its column (the last guard: its parts were cleaned before)."""
    article = clean(article)
    return dataclasses.replace(
        article,
        url=cut(article.url, URL_LENGTH),
        canonical_url=cut(article.canonical_url, URL_LENGTH),
        guid=fitting(article.guid, URL_LENGTH),
        entry_key=cut(article.entry_key, URL_LENGTH),
        language=cut(article.language, LANGUAGE_LENGTH),
        site_name=cut(article.site_name, SITE_NAME_LENGTH),
    )


def storable_validators(etag: str | None, last_modified: str | None) -> tuple[str | None, str | None]:
    """The conditional-GET validators to keep: a cut one would never match, so one too long is dropped."""
    etag, last_modified = clean(etag), clean(last_modified)
    return fitting(etag, ETAG_LENGTH), fitting(last_modified, LAST_MODIFIED_LENGTH)
