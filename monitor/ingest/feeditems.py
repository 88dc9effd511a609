"""What a parsed feed is (``ParsedFeed`` of ``FeedItem`` values, or ``NotAFeed``), its bounds, and the helpers
every reader of a format uses to make entries: keys, cuts, absolute links, clean text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from monitor.errors import MonitorError

MAX_ITEMS = 10_000  # entries read from one document; the pipeline takes them max_entries_per_poll at a time
MAX_TITLE_CHARS = 2_000  # an entry's title, author; the feed's title
MAX_TEXT_CHARS = 500_000  # an entry's summary and content, as plain text
MAX_MARKUP_CHARS = 4 * MAX_TEXT_CHARS  # markup read to make that text
MAX_KEY_LENGTH = 500
# Before the web's news: a date earlier is a feed's placeholder ("0001-01-01") or garbage, and is not kept.
EARLIEST_PUBLISHED = datetime(1990, 1, 1, tzinfo=UTC)
# A written date that names a time of day has "hh:mm" in it; "2024-09-01" and "Sun, 01 Sep 2024" have none.
_TIME_OF_DAY = re.compile(r"\d:\d")
# As feedparser decides for RSS text: HTML only with a closing tag or an entity reference in it.
HTMLISH = re.compile(r"</\w+>|&#?\w+;")


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
    title_from_link: bool = False
    """The title is the text of a link to the page (a front page's), not a headline the source gave: often
    a teaser, "Read more" or a single word. The page's own title wins over it."""

    def __post_init__(self) -> None:
        # Every reader of a format makes its entries here: the date is checked once for all of them.
        object.__setattr__(self, "published", plausible_published(self.published))

    @property
    def feed_text(self) -> str:
        """The longest text the feed itself offers for this entry."""
        return max((self.content or "", self.summary or ""), key=len)

    @property
    def says_anything(self) -> bool:
        """Whether the entry has a link, a title or text: one without is noise, never stored."""
        return bool(self.url or self.title or self.feed_text)


def plausible_published(value: datetime | None) -> datetime | None:
    """``value`` in UTC (a naive one taken as UTC), or None when it is no publication time: before
    ``EARLIEST_PUBLISHED``, or out of the calendar once in UTC. "0001-01-01T00:00:00+01:00" is a year 0 in
    UTC: the database refused the entry (an OverflowError) at every poll, and a year 1 stored broke its
    deduplication (its window reached before the calendar's start)."""
    if value is None:
        return None
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        return None
    return utc if utc >= EARLIEST_PUBLISHED else None


def placed_in_its_day(parsed: datetime, written: str) -> datetime:
    """``parsed`` (read from ``written``), or the day's noon UTC when ``written`` gave the day alone.

    A day alone is read as its midnight UTC, which shows as the day before from Washington to Honolulu and
    sorts the entry under news a day older. Noon UTC reads as that day from UTC-11 to UTC+11. A day not over
    yet may then lie ahead of the clock: whoever stores it clamps it to when it was fetched.
    """
    if _TIME_OF_DAY.search(written) or (parsed.hour, parsed.minute, parsed.second) != (0, 0, 0):
        return parsed
    return parsed.replace(hour=12)


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


def entry_key(guid: str | None, link: str | None, title: str | None, text: str | None) -> str:
    """A stable identity for an entry: its GUID, else its link, else a hash of what it says."""
    for identity in (guid, link):
        if identity:
            # Keys are indexed; a hostile feed's megabyte-long GUID is stored by its hash.
            if len(identity) <= MAX_KEY_LENGTH:
                return identity
            return "sha256:" + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    digest = hashlib.sha256(f"{title or ''}\n{text or ''}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"sha256:{digest}"


@dataclass(frozen=True)
class UniqueItems:
    """A document's entries as read: each key once, at most ``MAX_ITEMS``."""

    items: tuple[FeedItem, ...]
    warnings: tuple[str, ...]  # entries past MAX_ITEMS left, entries told apart or not to be stored, named


def unique_items(items: Iterable[FeedItem]) -> UniqueItems:
    """The first ``MAX_ITEMS`` entries, each key once, their fields cut.

    An entry repeating an earlier one's GUID with another link is another entry whose feed reuses ids: it
    is keyed by its link (five entries under one ``<guid>same</guid>`` were stored as one, without a word).
    An entry with no link, title or text (a JSON Feed item whose fields are all of the wrong type) is
    named: the pipeline will not store it. A repeat of an earlier entry, link and all, is left out.
    """
    first_link: dict[str, str | None] = {}
    kept: list[FeedItem] = []
    rekeyed: list[str] = []
    empty: list[str] = []
    for item in items:
        if not item.says_anything:
            empty.append(item.key)  # kept here, and left out by the pipeline: noise, said once here
        if item.key in first_link:
            if not (item.guid and item.url and item.url != first_link[item.key]):
                continue
            rekeyed.append(item.key)
            item = replace(item, key=entry_key(None, item.url, None, None))
            if item.key in first_link:
                continue
        if len(kept) >= MAX_ITEMS:
            return UniqueItems(tuple(kept), _unique_warnings(rekeyed, empty, more=True))
        first_link[item.key] = item.url
        kept.append(bounded_item(item))
    return UniqueItems(tuple(kept), _unique_warnings(rekeyed, empty, more=False))


def _unique_warnings(rekeyed: list[str], empty: list[str], *, more: bool) -> tuple[str, ...]:
    def some(keys: list[str]) -> str:
        # Each key once, before any is counted as "more": ten empty entries share one key, and read as
        # "('sha256:...' and 5 more)" for one.
        distinct = list(dict.fromkeys(keys))
        shown = ", ".join(repr(cut(key, 80)) for key in distinct[:5])
        return shown + (f" and {len(distinct) - 5} more" if len(distinct) > 5 else "")

    warnings = [f"feed has more than {MAX_ITEMS} entries; the first {MAX_ITEMS} are read"] if more else []
    if rekeyed:
        warnings.append(
            f"{_entries(len(rekeyed), 'reuses', 'reuse')} the id of an earlier entry with another link "
            f"({some(rekeyed)}): told apart by their links"
        )
    if empty:
        warnings.append(
            f"{_entries(len(empty), 'has', 'have')} no usable link, title or text ({some(empty)}): not stored"
        )
    return tuple(warnings)


def _entries(count: int, one: str, many: str) -> str:
    return f"1 entry {one}" if count == 1 else f"{count} entries {many}"


def bounded_item(item: FeedItem) -> FeedItem:
    """``item`` with its text fields cut to their maxima (the key was made from them whole)."""
    return replace(
        item,
        title=cut(item.title, MAX_TITLE_CHARS),
        author=cut(item.author, MAX_TITLE_CHARS),
        summary=cut(item.summary, MAX_TEXT_CHARS),
        content=cut(item.content, MAX_TEXT_CHARS),
    )


def cut(value: str | None, length: int) -> str | None:
    return value if value is None or len(value) <= length else value[:length]


def absolute_link(link: object, base: str) -> str | None:
    link = clean_text(link)
    if not link:
        return None
    try:
        joined = urljoin(base, link)
        scheme = urlsplit(joined).scheme
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    return joined if scheme in ("http", "https") else None


def language_tag(value: object) -> str | None:
    value = clean_text(value)
    return value.replace("_", "-") if value else None


def clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None
