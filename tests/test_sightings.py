"""The store's side of a feed's rhythm: which entries each feed listed in a window, with their dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import FeedConfig
from monitor.store import feeds as feed_store
from monitor.store.models import Article, ArticleFeed, Feed
from monitor.store.sightings import sightings_since

NOW = datetime(2024, 9, 9, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _article(session, key: str, published: datetime | None) -> Article:
    article = Article(
        url=f"https://news.example/{key}",
        canonical_url=f"https://news.example/{key}",
        published_at=published,
        fetched_at=NOW,
        body_source="feed",
        content_hash="0" * 64,
    )
    session.add(article)
    session.flush()
    return article


def test_sightings_are_each_feeds_entries_first_listed_after_the_start_of_the_window(db):
    with db.session() as session:
        feed_store.sync_feeds(
            session,
            feeds=[FeedConfig(name=f"feed {i}", url=f"https://n{i}.example/rss") for i in range(3)],
            now=NOW,
        )
        a, b, c = (feed.id for feed in session.query(Feed).order_by(Feed.name))
        shared = _article(session, "shared", NOW - 5 * HOUR)
        undated = _article(session, "undated", None)
        old = _article(session, "old", NOW - 30 * 24 * HOUR)
        session.add_all(
            [
                ArticleFeed(article_id=shared.id, feed_id=a, entry_key="s", first_seen_at=NOW - 4 * HOUR),
                # One article in two feeds: each feed saw it when it listed it.
                ArticleFeed(article_id=shared.id, feed_id=b, entry_key="s", first_seen_at=NOW - HOUR),
                ArticleFeed(article_id=undated.id, feed_id=a, entry_key="u", first_seen_at=NOW - 2 * HOUR),
                ArticleFeed(article_id=old.id, feed_id=a, entry_key="o", first_seen_at=NOW - 8 * 24 * HOUR),
            ]
        )
    with db.session() as session:
        found = sightings_since(session, feed_ids=[a, b, c], since=NOW - 7 * 24 * HOUR)
        assert sorted(found[a], key=lambda s: s[1]) == [
            (NOW - 5 * HOUR, NOW - 4 * HOUR),
            (None, NOW - 2 * HOUR),
        ]
        assert found[b] == [(NOW - 5 * HOUR, NOW - HOUR)]
        assert found[c] == []
        assert sightings_since(session, feed_ids=[], since=NOW) == {}


def test_sightings_of_thousands_of_feeds_are_read_in_chunks(db):
    with db.session() as session:
        feed_store.sync_feeds(
            session,
            feeds=[FeedConfig(name=f"feed {i}", url=f"https://n{i}.example/rss") for i in range(1200)],
            now=NOW,
        )
        ids = [feed.id for feed in session.query(Feed)]
        article = _article(session, "everywhere", NOW - HOUR)
        session.add_all(
            [
                ArticleFeed(article_id=article.id, feed_id=feed_id, entry_key="e", first_seen_at=NOW)
                for feed_id in ids
            ]
        )
    with db.session() as session:
        found = sightings_since(session, feed_ids=ids, since=NOW - HOUR)
    assert len(found) == 1200 and all(found[i] == [(NOW - HOUR, NOW)] for i in ids)
