"""When feeds' entries were published and first seen: what a feed's publication rhythm is learnt from; and
how long after publication they were stored, what its freshness is read from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from monitor.store.models import Article, ArticleFeed

_CHUNK = 500  # feed ids per statement: well under every database's limit on bound parameters

Sighting = tuple[datetime | None, datetime]
"""An entry's stated publication date (None when it has none) and when its feed first listed it."""


_articles = cast(Table, Article.__table__)
_links = cast(Table, ArticleFeed.__table__)
_SIGHTINGS = (
    select(_links.c.feed_id, _articles.c.published_at, _links.c.first_seen_at)
    .join(_articles, _articles.c.id == _links.c.article_id)
    .where(
        _links.c.feed_id.in_(bindparam("feeds", expanding=True)), _links.c.first_seen_at > bindparam("since")
    )
)
"""One statement for every call (table columns, not ORM entities): the pipeline asks once per feed polled,
and building and compiling an ORM query each time cost as much as the lookup."""


def sightings_since(
    session: Session, *, feed_ids: Sequence[int], since: datetime
) -> dict[int, list[Sighting]]:
    """Per feed of ``feed_ids``, the entries it first listed after ``since``.

    Only the first sighting bounds the query: an entry published within a window was first seen after the
    window began, so whatever else the schedule needs to judge (its date) comes with it.
    """
    found: dict[int, list[Sighting]] = defaultdict(list)
    connection = session.connection()
    for start in range(0, len(feed_ids), _CHUNK):
        rows = connection.execute(
            _SIGHTINGS, {"feeds": list(feed_ids[start : start + _CHUNK]), "since": since}
        )
        for row in rows:
            found[row.feed_id].append((row.published_at, row.first_seen_at))
    return found


_DELAYS = select(_links.c.feed_id, _links.c.delay_seconds).where(
    _links.c.feed_id.in_(bindparam("feeds", expanding=True)),
    _links.c.first_seen_at > bindparam("since"),
    _links.c.delay_seconds.is_not(None),
)


def news_delays_since(session: Session, *, feed_ids: Sequence[int], since: datetime) -> dict[int, list[int]]:
    """Per feed of ``feed_ids``, the news delays (seconds from publication to storage) of the articles it
    brought in after ``since``, where they were recorded (``ArticleFeed.delay_seconds``)."""
    found: dict[int, list[int]] = defaultdict(list)
    connection = session.connection()
    for start in range(0, len(feed_ids), _CHUNK):
        rows = connection.execute(_DELAYS, {"feeds": list(feed_ids[start : start + _CHUNK]), "since": since})
        for row in rows:
            found[row.feed_id].append(row.delay_seconds)
    return found
