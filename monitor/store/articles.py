"""Article rows: what is already known, storing new articles once, linking repeats to their feeds, listing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from monitor.store.models import Article, ArticleFeed, Feed, PrunedEntry
from monitor.store.records import Article as ArticleValue
from monitor.store.records import BodySource
from monitor.store.results import new_id, rowcount

_CHUNK = 500  # bound the size of IN (...) lists


@dataclass(frozen=True)
class EntryRef:
    """How an entry can already be known: its key in this feed, its GUID, its canonical URL."""

    key: str
    guid: str | None
    canonical_url: str | None


@dataclass(frozen=True)
class KnownEntries:
    in_feed: frozenset[str]
    """Keys this feed has already given us: nothing to do."""
    elsewhere: dict[str, int]
    """Keys of entries stored from another feed (same GUID or canonical URL): only a link to add."""
    pruned: tuple[int, ...] = ()
    """The ``pruned_entries`` rows that made entries known: articles removed by retention, not to come back."""


_IN_FEEDS = select(ArticleFeed.feed_id, ArticleFeed.entry_key).where(
    ArticleFeed.feed_id.in_(bindparam("feeds", expanding=True)),
    ArticleFeed.entry_key.in_(bindparam("keys", expanding=True)),
)
_BY_GUID = select(Article.guid, Article.id, Article.canonical_url).where(
    Article.guid.in_(bindparam("values", expanding=True))
)
_BY_URL = select(Article.canonical_url, Article.id).where(
    Article.canonical_url.in_(bindparam("values", expanding=True))
)
_PRUNED = select(
    PrunedEntry.id, PrunedEntry.feed_id, PrunedEntry.entry_key, PrunedEntry.guid, PrunedEntry.canonical_url
).where(
    PrunedEntry.feed_id.in_(bindparam("feeds", expanding=True))
    & PrunedEntry.entry_key.in_(bindparam("keys", expanding=True))
    | PrunedEntry.guid.in_(bindparam("guids", expanding=True))
    | PrunedEntry.canonical_url.in_(bindparam("urls", expanding=True))
)
_ENTRY_HASHES = select(
    ArticleFeed.feed_id, ArticleFeed.entry_key, ArticleFeed.id, ArticleFeed.article_id, ArticleFeed.entry_hash
).where(
    ArticleFeed.feed_id.in_(bindparam("feeds", expanding=True)),
    ArticleFeed.entry_key.in_(bindparam("keys", expanding=True)),
)
_SET_ENTRY_HASH = (
    update(ArticleFeed).where(ArticleFeed.id == bindparam("link")).values(entry_hash=bindparam("hash"))
)
"""Statements built once, each asked for a batch of feeds at a time: a first poll of 2,000 one-entry feeds
sorts all their entries. The feeds' keys are looked up together and each row kept for its own feed."""


SameSite = Callable[[str, str], bool]


def same_host(url: str, other: str) -> bool:
    """Whether two addresses are on one host (the pipeline passes a registered-domain test instead)."""
    try:
        return (urlsplit(url).hostname or url) == (urlsplit(other).hostname or other)
    except ValueError:
        return False


def find_known(
    session: Session, feeds: Sequence[tuple[int, Sequence[EntryRef]]], *, same_site: SameSite = same_host
) -> list[KnownEntries]:
    """Sort each feed's entries (feed id, entries) into known in this feed, known from elsewhere, and (by
    omission) new: several feeds at once, with the same few queries for all of them.

    A GUID is a feed's own name for its entry, not a name for the article across the web: two sites may
    both call an entry "42", and a feed may use another site's coming GUIDs. A stored article (or pruned
    entry) found by an entry's GUID is the entry's only when their addresses agree (``same_guid_article``):
    else the entry of another site was linked to a stranger's article and never stored.

    Raises:
        ValueError: a feed is there twice (a feed is polled by one task at a time).
    """
    if len({feed_id for feed_id, _ in feeds}) != len(feeds):
        raise ValueError("the entries of one feed are sorted once at a time")
    connection = session.connection()
    in_feed: dict[int, set[str]] = {feed_id: set() for feed_id, _ in feeds}
    for feed_id, key in _pairs(connection, _IN_FEEDS, feeds):
        in_feed[feed_id].add(key)
    rests = {feed_id: [e for e in entries if e.key not in in_feed[feed_id]] for feed_id, entries in feeds}
    every_rest = [e for rest in rests.values() for e in rest]
    by_guid = _rows_by(session, _BY_GUID, [e.guid for e in every_rest if e.guid])
    by_url = _ids_by(session, _BY_URL, [e.canonical_url for e in every_rest if e.canonical_url])
    elsewhere: dict[int, dict[str, int]] = {feed_id: {} for feed_id in rests}
    for feed_id, rest in rests.items():
        for entry in rest:
            article_id = same_guid_article(by_guid, entry, same_site) or _found(by_url, entry.canonical_url)
            if article_id is not None:
                elsewhere[feed_id][entry.key] = article_id
    # Articles removed by retention: known by their key in this feed, or by GUID or canonical URL.
    rests = {feed_id: [e for e in rest if e.key not in elsewhere[feed_id]] for feed_id, rest in rests.items()}
    pruned: dict[int, set[int]] = {feed_id: set() for feed_id in rests}
    if any(rests.values()):
        keyed, pruned_by_guid, pruned_by_url = _pruned(session, list(rests.items()))
        for feed_id, rest in rests.items():
            for entry in rest:
                row = (
                    keyed.get((feed_id, entry.key))
                    or same_guid_article(pruned_by_guid, entry, same_site)
                    or _found(pruned_by_url, entry.canonical_url)
                )
                if row is not None:
                    in_feed[feed_id].add(entry.key)
                    pruned[feed_id].add(row)
    return [
        KnownEntries(frozenset(in_feed[feed_id]), elsewhere[feed_id], tuple(sorted(pruned[feed_id])))
        for feed_id, _ in feeds
    ]


def _pairs(connection, statement, feeds: Sequence[tuple[int, Sequence[EntryRef]]]):
    """The rows of ``statement`` (feed id and entry key first) for the feeds' own keys: the keys of all the
    feeds are asked together, a chunk at a time, and a row of one feed for another's key is left out."""
    wanted = {(feed_id, e.key) for feed_id, entries in feeds for e in entries}
    keys = sorted({key for _, key in wanted})
    feed_ids = sorted({feed_id for feed_id, _ in feeds})
    for chunk in _chunks(keys):
        for row in connection.execute(statement, {"feeds": feed_ids, "keys": chunk}):
            if (row[0], row[1]) in wanted:
                yield row


def same_guid_article(
    rows: dict[str, list[tuple[int, str | None]]], entry: EntryRef, same_site: SameSite
) -> int | None:
    """The article (or pruned entry) stored under ``entry``'s GUID that is the entry's own: one at the
    entry's address or on its site, or on the site its GUID names when that is an address (an aggregator's
    entry naming the publisher's article); None when every one is another site's."""
    if entry.guid is None:
        return None
    named = entry.guid if entry.guid.lower().startswith(("http://", "https://")) else None
    for row_id, canonical in rows.get(entry.guid, ()):
        if (
            entry.canonical_url is None
            or canonical is None
            or canonical == entry.canonical_url
            or same_site(entry.canonical_url, canonical)
            or (named is not None and same_site(named, canonical))
        ):
            return row_id
    return None


def _rows_by(session: Session, statement, values: list[str]) -> dict[str, list[tuple[int, str | None]]]:
    """Each value's rows (id, canonical URL): a GUID may be several articles'."""
    found: dict[str, list[tuple[int, str | None]]] = {}
    for chunk in _chunks(sorted(set(values))):
        for value, row_id, canonical in session.connection().execute(statement, {"values": chunk}):
            found.setdefault(cast(str, value), []).append((cast(int, row_id), cast("str | None", canonical)))
    return found


def _found(ids: dict[str, int], key: str | None) -> int | None:
    """The id found under ``key``; an entry without a GUID (or canonical URL) matches nothing by it."""
    return None if key is None else ids.get(key)


def _pruned(
    session: Session, feeds: Sequence[tuple[int, Sequence[EntryRef]]]
) -> tuple[dict[tuple[int, str], int], dict[str, list[tuple[int, str | None]]], dict[str, int]]:
    """The ``pruned_entries`` rows matching the feeds' entries, by (feed, key), by GUID and by canonical URL:
    one query a chunk of entries (the empty lists match nothing)."""
    keyed: dict[tuple[int, str], int] = {}
    by_guid: dict[str, list[tuple[int, str | None]]] = {}
    by_url: dict[str, int] = {}
    entries = [(feed_id, e) for feed_id, rest in feeds for e in rest]
    for start in range(0, len(entries), _CHUNK):
        chunk = entries[start : start + _CHUNK]
        pairs = {(feed_id, e.key) for feed_id, e in chunk}
        guids = {e.guid for _, e in chunk if e.guid}
        urls = {e.canonical_url for _, e in chunk if e.canonical_url}
        params = {
            "feeds": sorted({feed_id for feed_id, _ in pairs}),
            "keys": sorted({key for _, key in pairs}),
            "guids": sorted(guids),
            "urls": sorted(urls),
        }
        for row_id, row_feed, key, guid, url in session.connection().execute(_PRUNED, params):
            if (row_feed, key) in pairs:
                keyed[(row_feed, key)] = row_id
            if guid in guids:
                by_guid.setdefault(guid, []).append((row_id, url))
            if url in urls:
                by_url[url] = row_id
    return keyed, by_guid, by_url


def _ids_by(session: Session, statement, values: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(values))):
        found.update(session.connection().execute(statement, {"values": chunk}).all())
    return found


def _chunks(values: list[str]):
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# Storing is the hot path of a poll (every new article): Core statements built once, not ORM objects.
# Declarative types ``__table__`` as any FromClause; these are Tables, and typed so their columns and DML are.
_articles = cast(Table, Article.__table__)
_links = cast(Table, ArticleFeed.__table__)
_LINKED = select(_links.c.id).where(
    _links.c.feed_id == bindparam("feed"), _links.c.entry_key == bindparam("key")
)
_ADD_LINK = _links.insert()
_BY_CANONICAL = select(_articles.c.id).where(_articles.c.canonical_url == bindparam("canonical"))
_ADD_ARTICLE = _articles.insert()


def link_to_feed(
    session: Session,
    *,
    article_id: int,
    feed_id: int,
    entry_key: str,
    entry_url: str | None,
    now: datetime,
    entry_hash: str | None = None,
    delay: float | None = None,
) -> bool:
    """Record that a feed carried an article under ``entry_key`` (and what the feed said of it, as
    ``entry_hash``; how long after its publication the article was stored, as ``delay`` seconds); False if
    that was already recorded."""
    connection = session.connection()
    if connection.scalar(_LINKED, {"feed": feed_id, "key": entry_key}) is not None:
        return False
    connection.execute(
        _ADD_LINK,
        {
            "article_id": article_id,
            "feed_id": feed_id,
            "entry_key": entry_key,
            "entry_url": entry_url,
            "first_seen_at": now,
            "entry_hash": entry_hash,
            "delay_seconds": None if delay is None else round(delay),
        },
    )
    return True


def rename_entry(
    session: Session,
    *,
    article_id: int,
    feed_id: int,
    listed_keys: frozenset[str],
    entry_key: str,
    entry_url: str | None,
    entry_hash: str | None,
) -> bool:
    """Move the feed's link to an article from a key the feed no longer lists (not among ``listed_keys``) to
    ``entry_key``, keeping when it was first listed; False when the feed has no such link to the article."""
    connection = session.connection()
    links = connection.execute(
        select(_links.c.id, _links.c.entry_key)
        .where(_links.c.feed_id == feed_id, _links.c.article_id == article_id)
        .order_by(_links.c.id)
    ).all()
    unlisted = next((link_id for link_id, key in links if key not in listed_keys), None)
    if unlisted is None:
        return False
    connection.execute(
        update(_links)
        .where(_links.c.id == unlisted)
        .values(entry_key=entry_key, entry_url=entry_url, entry_hash=entry_hash)
    )
    return True


def save_article(
    session: Session,
    *,
    article: ArticleValue,
    feed_id: int,
    now: datetime,
    entry_hash: str | None = None,
    delay: float | None = None,
) -> tuple[int, bool]:
    """Store an article from a feed, or link the feed to the copy already stored under its canonical URL.

    Args:
        entry_hash: what the feed said of the entry (``monitor.dedupe.updates.entry_hash``), kept on the link.
        delay: seconds from the entry's publication to now, kept on the link when the article is new here.

    Returns:
        The article's id, and whether a new article row was created.
    """
    connection = session.connection()
    existing = connection.scalar(_BY_CANONICAL, {"canonical": article.canonical_url})
    created = False
    if existing is None:
        try:
            # A savepoint: another instance may store the same URL between our check and our insert.
            with session.begin_nested():
                existing = new_id(
                    connection.execute(
                        _ADD_ARTICLE,
                        {
                            "url": article.url,
                            "canonical_url": article.canonical_url,
                            "guid": article.guid,
                            "title": article.title,
                            "author": article.author,
                            "published_at": article.published,
                            "fetched_at": article.fetched_at,
                            "language": article.language,
                            "body": article.body,
                            "summary": article.summary,
                            "body_source": str(article.body_source),
                            "body_note": article.body_note,
                            "content_hash": article.content_hash,
                            "page_retry_at": article.page_retry_at,
                            "site_name": article.site_name,
                        },
                    )
                )
            created = True
        except IntegrityError:
            existing = connection.scalar(_BY_CANONICAL, {"canonical": article.canonical_url})
            if existing is None:
                raise
    linked = link_to_feed(
        session,
        article_id=existing,
        feed_id=feed_id,
        entry_key=article.entry_key,
        entry_url=article.url,
        now=now,
        entry_hash=entry_hash,
        delay=delay if created else None,  # a copy stored before was news then, not now
    )
    if not linked and entry_hash is not None:
        record_entry_hash(session, feed_id=feed_id, entry_key=article.entry_key, entry_hash=entry_hash)
    return existing, created


def article_at(session: Session, *, url: str, canonical: str | None = None) -> Article | None:
    """The article stored under ``canonical`` (its unique canonical address; ``url`` when not given), else
    the first stored under ``url`` as fetched.

    By the canonical address first, through its unique index: asked both ways in one statement, SQLite
    scanned the whole table (the address as fetched has no index), half a second after a year of articles
    for the newest one, which is the one asked about. An address no article has still costs that scan.
    """
    found = session.scalar(select(Article).where(Article.canonical_url == (canonical or url)))
    if found is not None:
        return found
    return session.scalar(select(Article).where(Article.url == url).order_by(Article.id).limit(1))


def list_articles(
    session: Session,
    *,
    since: datetime | None = None,
    feed_name: str | None = None,
    limit: int | None = None,
) -> list[Article]:
    """Stored articles, the last stored first (by the time they were fetched: ``since`` counts from it
    too), with their feeds loaded."""
    query = select(Article).options(selectinload(Article.feeds).selectinload(ArticleFeed.feed))
    if since is not None:
        query = query.where(Article.fetched_at >= since)
    if feed_name is not None:
        # ``id + 0``: the feed's articles are a set to test each article against, walking the articles newest
        # first to the limit. Asked of ``id`` itself, SQLite read every article the feed ever brought, whole,
        # to sort them: 1 to 2 s for a busy feed's 100 latest after a year, against 0.05 s now.
        query = query.where(
            (Article.id + 0).in_(select(ArticleFeed.article_id).join(Feed).where(Feed.name == feed_name))
        )
    query = query.order_by(Article.fetched_at.desc(), Article.id.desc()).limit(limit)
    return list(session.scalars(query))


def changed_entries(session: Session, feeds: Sequence[tuple[int, dict[str, str]]]) -> list[dict[str, int]]:
    """For each feed (feed id, entry key -> hash of what it says now), the entries it gave before whose feed
    text has changed since: entry key -> article id. Several feeds (distinct, as for ``find_known``) at once.

    An entry stored before its hash was kept gets its hash recorded now and is not taken as changed.
    """
    hashes = dict(feeds)
    changed: dict[int, dict[str, int]] = {feed_id: {} for feed_id in hashes}
    connection = session.connection()
    asked = [(feed_id, [EntryRef(key, None, None) for key in keys]) for feed_id, keys in feeds if keys]
    for feed_id, key, link, article_id, stored in list(_pairs(connection, _ENTRY_HASHES, asked)):
        if stored is None:
            connection.execute(_SET_ENTRY_HASH, {"link": link, "hash": hashes[feed_id][key]})
        elif stored != hashes[feed_id][key]:
            changed[feed_id][key] = article_id
    return [changed[feed_id] for feed_id, _ in feeds]


@dataclass(frozen=True)
class Carriers:
    """An article's address and the feeds that list it (id, URL), first listed first."""

    canonical_url: str
    feeds: tuple[tuple[int, str], ...]


_CARRIERS = (
    select(Article.id, Article.canonical_url, ArticleFeed.feed_id, Feed.url)
    .join(ArticleFeed, ArticleFeed.article_id == Article.id)
    .join(Feed, Feed.id == ArticleFeed.feed_id)
    .where(Article.id.in_(bindparam("ids", expanding=True)))
    .order_by(Article.id, ArticleFeed.first_seen_at, ArticleFeed.id)
)


def carriers(session: Session, article_ids: Sequence[int]) -> dict[int, Carriers]:
    """For each of ``article_ids`` still stored, its address and the feeds that list it."""
    found: dict[int, tuple[str, list[tuple[int, str]]]] = {}
    ids = sorted(set(article_ids))
    for start in range(0, len(ids), 500):
        for article_id, canonical, feed_id, feed_url in session.execute(
            _CARRIERS, {"ids": ids[start : start + 500]}
        ):
            found.setdefault(article_id, (canonical, []))[1].append((feed_id, feed_url))
    return {article_id: Carriers(canonical, tuple(feeds)) for article_id, (canonical, feeds) in found.items()}


def record_entry_hash(session: Session, *, feed_id: int, entry_key: str, entry_hash: str) -> None:
    """Remember what the feed said of an entry, to notice when it changes."""
    session.execute(
        update(ArticleFeed)
        .where(ArticleFeed.feed_id == feed_id, ArticleFeed.entry_key == entry_key)
        .values(entry_hash=entry_hash)
    )


def stored_article(session: Session, *, article_id: int) -> ArticleValue | None:
    """An article as stored, or None if it is gone. Its entry key is its URL: an article is stored once for
    the entries of every feed that carries it, and the stages after storage do not read the key."""
    row = session.get(Article, article_id)
    if row is None:
        return None
    return ArticleValue(
        entry_key=row.url,
        url=row.url,
        canonical_url=row.canonical_url,
        guid=row.guid,
        title=row.title,
        author=row.author,
        published=row.published_at,
        fetched_at=row.fetched_at,
        language=row.language,
        body=row.body,
        summary=row.summary,
        body_source=BodySource(row.body_source),
        body_note=row.body_note,
        content_hash=row.content_hash,
        page_retry_at=row.page_retry_at,
        site_name=row.site_name,
    )


def rewrite_article(
    session: Session, *, article_id: int, article: ArticleValue, now: datetime, revision: bool
) -> None:
    """Write ``article``'s text and metadata over the stored article's (its URL, canonical URL and GUID stay:
    they are what it is known by). ``revision``: a new version of the entry, counted; else the text its
    page gave at last, which ends the page's retries."""
    row = session.get(Article, article_id)
    if row is None:
        return
    row.title, row.author, row.published_at = article.title, article.author, article.published
    row.language, row.site_name = article.language, article.site_name
    row.body, row.summary = article.body, article.summary
    row.body_source, row.body_note = str(article.body_source), article.body_note
    row.content_hash = article.content_hash
    if revision:
        row.revisions = (row.revisions or 0) + 1
    else:
        row.page_retry_at = None
    row.updated_at = now
    session.flush()


# --- Pages fetched again -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRetry:
    """A stored article whose page is due to be fetched again."""

    id: int
    url: str
    attempts: int
    """Failed fetches after the first one."""
    body: str
    """The text it has now: the feed's, which the page's must beat."""
    feed_reach: str | None = None
    """How far the links of the first feed that carried it may go (where its link came from), as that
    feed's last successful poll found it (``Feed.links_reach``)."""
    feed_kind: str | None = None
    """The kind of that feed: a front page's ("page") entries are titled by their link's text, which the
    page's own headline replaces once it is fetched."""
    feed_polled: bool = False
    """That feed has had a successful poll (so ``feed_reach`` is known once it has had one since it was
    first recorded)."""


def _of_first_feed(column):
    """``column`` of the first feed that carried the article of the row at hand."""
    return (
        select(column)
        .join(ArticleFeed, ArticleFeed.feed_id == Feed.id)
        .where(ArticleFeed.article_id == _articles.c.id)
        .order_by(ArticleFeed.id)
        .limit(1)
        .correlate(_articles)
        .scalar_subquery()
    )


_DUE_RETRIES = (
    select(
        _articles.c.id,
        _articles.c.url,
        _articles.c.page_retries,
        _articles.c.page_retry_at,
        _articles.c.body,
        _of_first_feed(Feed.links_reach),
        _of_first_feed(Feed.kind),
        _of_first_feed(Feed.last_success_at),
    )
    .where(_articles.c.page_retry_at <= bindparam("now"))
    .order_by(_articles.c.page_retry_at)
    .limit(bindparam("most"))
)


def claim_page_retries(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[PageRetry]:
    """The articles whose page is due to be fetched again, each moved ``lease`` into the future with a
    compare-and-set, so that another instance does not fetch it too."""
    claimed = []
    for row in session.execute(_DUE_RETRIES, {"now": now, "most": limit}).all():
        taken = session.execute(
            update(Article)
            .where(Article.id == row[0], Article.page_retry_at == row[3])
            .values(page_retry_at=now + lease)
        )
        if rowcount(taken) == 1:
            claimed.append(
                PageRetry(row[0], row[1], row[2] or 0, row[4] or "", row[5], row[6], row[7] is not None)
            )
    return claimed


def page_failed_again(
    session: Session, *, article_id: int, attempts: int, retry_at: datetime | None, note: str
) -> None:
    """Record another failed fetch of an article's page and when (if ever) to try again."""
    session.execute(
        update(Article)
        .where(Article.id == article_id)
        .values(page_retries=attempts, page_retry_at=retry_at, body_note=note)
    )
