"""The store's side of a feed's rhythm: which entries each feed listed in a window, with their dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import FeedConfig
from monitor.store import feeds as feed_store
from monitor.store.models import Article, ArticleFeed, Feed
from monitor.store.sightings import latest_sightings, sightings_since

NOW = datetime(2024, 9, 9, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _feeds(session, count: int) -> list[int]:
    """``count`` configured feeds, their ids in the order of their names."""
    feed_store.sync_feeds(
        session,
        feeds=[FeedConfig(name=f"feed {i:04}", url=f"https://n{i}.example/rss") for i in range(count)],
        now=NOW,
    )
    return [feed.id for feed in session.query(Feed).order_by(Feed.name)]


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
        a, b, c = _feeds(session, 3)
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
        ids = _feeds(session, 1200)
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


def test_latest_sightings_are_each_feeds_last_entries_within_the_lookback_however_busy_it_is(db):
    with db.session() as session:
        busy, rare, old, empty = _feeds(session, 4)
        links = []
        for i in range(50):  # hourly: only its latest five are wanted
            article = _article(session, f"busy-{i}", NOW - i * HOUR - HOUR if i % 2 else None)
            links.append(
                ArticleFeed(
                    article_id=article.id, feed_id=busy, entry_key=f"b{i}", first_seen_at=NOW - i * HOUR
                )
            )
        for i in range(3):  # monthly: fewer than wanted, all of them
            article = _article(session, f"rare-{i}", NOW - i * 30 * 24 * HOUR)
            links.append(
                ArticleFeed(
                    article_id=article.id,
                    feed_id=rare,
                    entry_key=f"r{i}",
                    first_seen_at=NOW - i * 30 * 24 * HOUR,
                )
            )
        ancient = _article(session, "ancient", NOW - 400 * 24 * HOUR)
        links.append(
            ArticleFeed(
                article_id=ancient.id, feed_id=old, entry_key="a", first_seen_at=NOW - 400 * 24 * HOUR
            )
        )
        session.add_all(links)
    with db.session() as session:
        found = latest_sightings(
            session, feed_ids=[busy, rare, old, empty], since=NOW - 365 * 24 * HOUR, most=5
        )
    assert sorted(found[busy], key=lambda s: s[1], reverse=True) == [
        (None if i % 2 == 0 else NOW - i * HOUR - HOUR, NOW - i * HOUR) for i in range(5)
    ]
    assert sorted(found[rare], key=lambda s: s[1]) == [
        (NOW - i * 30 * 24 * HOUR, NOW - i * 30 * 24 * HOUR) for i in (2, 1, 0)
    ]
    assert old not in found and empty not in found  # out of the lookback, or nothing listed


def test_latest_sightings_of_thousands_of_feeds_are_read_in_chunks(db):
    with db.session() as session:
        ids = _feeds(session, 1200)
        first, second = _article(session, "first", NOW - 2 * HOUR), _article(session, "second", NOW - HOUR)
        session.add_all(
            [
                ArticleFeed(article_id=article.id, feed_id=feed_id, entry_key=key, first_seen_at=seen)
                for feed_id in ids
                for article, key, seen in ((first, "f", NOW - HOUR), (second, "s", NOW))
            ]
        )
    with db.session() as session:
        found = latest_sightings(session, feed_ids=ids, since=NOW - 24 * HOUR, most=1)
    assert len(found) == 1200 and all(found[i] == [(NOW - HOUR, NOW)] for i in ids)
