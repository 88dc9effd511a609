"""When feeds' entries were published and first seen: what a feed's publication rhythm is learnt from; how
long after publication they were stored, what its freshness is read from; and whether their pages gave
their text."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar, cast

from sqlalchemy import Row, Table, and_, bindparam, func, select
from sqlalchemy.orm import Session

from monitor.store.models import Article, ArticleFeed, Feed

_CHUNK = 500  # feed ids per statement: well under every database's limit on bound parameters
T = TypeVar("T")

Sighting = tuple[datetime | None, datetime]
"""An entry's stated publication date (None when it has none) and when its feed first listed it."""


_articles = cast(Table, Article.__table__)
_links = cast(Table, ArticleFeed.__table__)


def _listed_since(*columns):
    """The feed and ``columns`` of each entry of the feeds asked (``feeds``) first listed after ``since``,
    with its article."""
    return (
        select(_links.c.feed_id, *columns)
        .join(_articles, _articles.c.id == _links.c.article_id)
        .where(
            _links.c.feed_id.in_(bindparam("feeds", expanding=True)),
            _links.c.first_seen_at > bindparam("since"),
        )
    )


_SIGHTINGS = _listed_since(_articles.c.published_at, _links.c.first_seen_at)
"""One statement for every call (table columns, not ORM entities): the pipeline asks once per feed polled,
and building and compiling an ORM query each time cost as much as the lookup."""


def sightings_since(
    session: Session, *, feed_ids: Sequence[int], since: datetime
) -> dict[int, list[Sighting]]:
    """Per feed of ``feed_ids``, the entries it first listed after ``since``.

    Only the first sighting bounds the query: an entry published within a window was first seen after the
    window began, so whatever else the schedule needs to judge (its date) comes with it.
    """
    rows = _by_feed(session, _SIGHTINGS, feed_ids, since)
    return _grouped((row.feed_id, (row.published_at, row.first_seen_at)) for row in rows)


_feeds = cast(Table, Feed.__table__)
_older = _links.alias("older")
_since = bindparam("since", type_=_links.c.first_seen_at.type)
_NTH_LATEST = (
    select(_older.c.first_seen_at)
    .where(_older.c.feed_id == _feeds.c.id, _older.c.first_seen_at > _since)
    .order_by(_older.c.first_seen_at.desc())
    .limit(1)
    .offset(bindparam("skip"))
    .scalar_subquery()
)
_BOUNDS = (
    select(_feeds.c.id.label("feed_id"), func.coalesce(_NTH_LATEST, _since).label("bound"))
    .where(_feeds.c.id.in_(bindparam("feeds", expanding=True)))
    .subquery()
)
_PUBLISHED = select(_articles.c.published_at).where(_articles.c.id == _links.c.article_id).scalar_subquery()
_LATEST = select(_links.c.feed_id, _PUBLISHED.label("published_at"), _links.c.first_seen_at).join_from(
    _BOUNDS,
    _links,
    and_(
        _links.c.feed_id == _BOUNDS.c.feed_id,
        _links.c.first_seen_at >= _BOUNDS.c.bound,
        _links.c.first_seen_at > _since,
    ),
)
"""Each feed's bound first (the first sighting of its ``most``-th latest entry), then its entries from there,
each with its article's date: index searches all. Ranking the entries with a window function read all of a
busy feed's year to keep 30; a join to the articles made PostgreSQL, which cannot foresee the bounds, scan
the whole table."""


def latest_sightings(
    session: Session, *, feed_ids: Sequence[int], since: datetime, most: int
) -> dict[int, list[Sighting]]:
    """Per feed of ``feed_ids``, the ``most`` entries it listed last, of those first listed after ``since``:
    a feed's recent pace, whether it publishes hourly or monthly, in a bounded number of rows."""
    rows = _by_feed(session, _LATEST, feed_ids, since, skip=max(most - 1, 0))
    return _grouped((row.feed_id, (row.published_at, row.first_seen_at)) for row in rows)


_DELAYS = select(_links.c.feed_id, _links.c.delay_seconds).where(
    _links.c.feed_id.in_(bindparam("feeds", expanding=True)),
    _links.c.first_seen_at > bindparam("since"),
    _links.c.delay_seconds.is_not(None),
)


def news_delays_since(session: Session, *, feed_ids: Sequence[int], since: datetime) -> dict[int, list[int]]:
    """Per feed of ``feed_ids``, the news delays (seconds from publication to storage) of the articles it
    brought in after ``since``, where they were recorded (``ArticleFeed.delay_seconds``)."""
    rows = _by_feed(session, _DELAYS, feed_ids, since)
    return _grouped((row.feed_id, row.delay_seconds) for row in rows)


_BODIES = _listed_since(_articles.c.body_source, _articles.c.body_note)


def bodies_since(
    session: Session, *, feed_ids: Sequence[int], since: datetime
) -> dict[int, list[tuple[str, str | None]]]:
    """Per feed of ``feed_ids``, where the body of each article it listed after ``since`` came from (its
    ``body_source``) and why not from its page, if so (its ``body_note``)."""
    rows = _by_feed(session, _BODIES, feed_ids, since)
    return _grouped((row.feed_id, (row.body_source, row.body_note)) for row in rows)


_WEEK_LINKS = select(_links.c.feed_id, _links.c.article_id).where(
    _links.c.feed_id.in_(bindparam("feeds", expanding=True)),
    _links.c.first_seen_at > bindparam("since"),
)
_LINKS_OF = select(_links.c.article_id, _links.c.feed_id).where(
    _links.c.article_id.in_(bindparam("articles", expanding=True))
)


def shared_since(session: Session, *, feed_ids: Sequence[int], since: datetime) -> dict[int, dict[int, int]]:
    """Per feed of ``feed_ids``, of the articles it listed after ``since``, how many each other feed lists
    too (feed id: count): one article under one address, whichever feed brought it in.

    Two index searches rather than a join: the feeds' articles since then, then those articles' links by
    article (a join let PostgreSQL hash every link of the table, a year's history read for a week)."""
    listed = _grouped(
        (row.article_id, row.feed_id) for row in _by_feed(session, _WEEK_LINKS, feed_ids, since)
    )
    links = _in_chunks(session, _LINKS_OF, "articles", list(listed))
    feeds_of = _grouped((row.article_id, row.feed_id) for row in links)
    shared: dict[int, Counter[int]] = defaultdict(Counter)
    for article_id, feeds in listed.items():
        for feed_id in feeds:
            shared[feed_id].update(other for other in feeds_of[article_id] if other != feed_id)
    return {feed_id: dict(counts) for feed_id, counts in shared.items()}


def _by_feed(
    session: Session, statement, feed_ids: Sequence[int], since: datetime, **values: object
) -> Iterator[Row]:
    """The rows of ``statement`` for ``feed_ids`` (in chunks of ``_CHUNK``), ``since`` and ``values``."""
    return _in_chunks(session, statement, "feeds", feed_ids, since=since, **values)


def _in_chunks(session: Session, statement, name: str, ids: Sequence[int], **values: object) -> Iterator[Row]:
    """The rows of ``statement`` with ``ids`` bound to its expanding parameter ``name``, ``_CHUNK`` at a
    time, and ``values``."""
    connection = session.connection()
    for start in range(0, len(ids), _CHUNK):
        yield from connection.execute(statement, {name: list(ids[start : start + _CHUNK]), **values})


def _grouped(pairs: Iterable[tuple[int, T]]) -> dict[int, list[T]]:
    found: dict[int, list[T]] = defaultdict(list)
    for feed_id, value in pairs:
        found[feed_id].append(value)
    return found
