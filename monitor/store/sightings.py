"""When feeds' entries were published and first seen: what a feed's publication rhythm is learnt from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Article, ArticleFeed

_CHUNK = 500  # feed ids per statement: well under every database's limit on bound parameters

Sighting = tuple[datetime | None, datetime]
"""An entry's stated publication date (None when it has none) and when its feed first listed it."""


def sightings_since(
    session: Session, *, feed_ids: Sequence[int], since: datetime
) -> dict[int, list[Sighting]]:
    """Per feed of ``feed_ids``, the entries it first listed after ``since``.

    Only the first sighting bounds the query: an entry published within a window was first seen after the
    window began, so whatever else the schedule needs to judge (its date) comes with it.
    """
    found: dict[int, list[Sighting]] = defaultdict(list)
    for start in range(0, len(feed_ids), _CHUNK):
        query = (
            select(ArticleFeed.feed_id, Article.published_at, ArticleFeed.first_seen_at)
            .join(Article, Article.id == ArticleFeed.article_id)
            .where(
                ArticleFeed.feed_id.in_(list(feed_ids[start : start + _CHUNK])),
                ArticleFeed.first_seen_at > since,
            )
        )
        for feed_id, published_at, first_seen_at in session.execute(query):
            found[feed_id].append((published_at, first_seen_at))
    return found
