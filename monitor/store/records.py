"""Plain values that the store returns and the stages reason about.

They live beneath both so that the store never imports a stage: a stage's rule takes these values, and the
store's queries build them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class ArticleText:
    """What a watchlist topic is matched against (``monitor.watchlist.matcher``), stored or fetched."""

    title: str = ""
    body: str = ""
    url: str = ""
    language: str = ""
    sources: tuple[str, ...] = ()  # names of the feeds that carried the article


@dataclass(frozen=True)
class Member:
    """What the representative rule (``monitor.dedupe.representative``) needs to know of one cluster member."""

    id: int
    url: str
    at: datetime
    """Publication time, else fetch time."""
    body_length: int


# --- An article, as extraction makes it and the store keeps it ----------------------------------------------


class BodySource(StrEnum):
    """Where an article's body text came from."""

    EXTRACTED = "extracted"
    FEED = "feed"
    FAILED = "failed"


@dataclass(frozen=True)
class ExtractedPage:
    text: str
    title: str | None
    author: str | None
    published: datetime | None
    language: str | None
    canonical_url: str | None
    site_name: str | None = None
    """The publisher's name as the page gives it (og:site_name, schema.org publisher)."""


@dataclass(frozen=True)
class Body:
    text: str
    source: BodySource
    note: str | None = None


NO_LINK = "entry has no link"
PAGES_OFF = "page fetching is off for this feed"
NO_PAGE_WANTED = frozenset({NO_LINK, PAGES_OFF})
"""The notes of an article that had no page to fetch: its feed's text is all there was, and nothing failed."""
WITHOUT_PAGE_TEXT = frozenset({"feed_fallback", "failed"})
"""The ``body_origin`` of an article whose page did not give its text."""


def body_origin(source: str, note: str | None) -> str:
    """Where an article's text came from: its ``page``; the feed's text standing in for a page that failed or
    gave too little (``feed_fallback``); neither (``failed``); or the feed's text where there was no page to
    fetch (``no_page``). The values of /metrics' ``monitor_article_bodies_total{source}``."""
    if source == BodySource.EXTRACTED:
        return "page"
    if note in NO_PAGE_WANTED:
        return "no_page"
    return "feed_fallback" if source == BodySource.FEED else "failed"


def content_hash(text: str) -> str:
    """A hash of the body with case and whitespace folded, so trivial reformatting does not change it."""
    folded = " ".join(text.casefold().split())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """A feed entry made whole: what the pipeline stores."""

    entry_key: str
    url: str
    canonical_url: str
    guid: str | None
    title: str | None
    author: str | None
    published: datetime | None
    fetched_at: datetime
    language: str | None
    body: str
    summary: str | None
    body_source: BodySource
    body_note: str | None
    content_hash: str
    page_retry_at: datetime | None = None
    """When to fetch the page again, its first fetch having failed for a passing reason."""
    site_name: str | None = None
