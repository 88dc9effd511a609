"""`monitor articles --feed NAME`: a feed's latest articles, read newest first to the limit, not every article the
feed ever brought (a busy feed brings tens of thousands in the year retention keeps)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from support.queryplans import watched_statements

from monitor.store.articles import list_articles
from monitor.store.models import Article, ArticleFeed, Feed

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def two_feeds(db):
    """A busy feed with ten articles an hour apart and a quiet one that also lists every third of them."""
    with db.session() as session:
        busy = Feed(name="Busy", url="http://127.0.0.1:9/busy.xml", created_at=NOW)
        quiet = Feed(name="Quiet", url="http://127.0.0.1:9/quiet.xml", created_at=NOW)
        session.add_all([busy, quiet])
        session.flush()
        for n in range(10):
            at = NOW - timedelta(hours=10 - n)
            article = Article(
                url=f"http://127.0.0.1:9/{n}",
                canonical_url=f"http://127.0.0.1:9/{n}",
                title=f"Report {n}",
                fetched_at=at,
                body_source="feed",
                content_hash=f"{n:064x}",
            )
            session.add(article)
            session.flush()
            session.add(
                ArticleFeed(article_id=article.id, feed_id=busy.id, entry_key=f"b{n}", first_seen_at=at)
            )
            if n % 3 == 0:
                session.add(
                    ArticleFeed(article_id=article.id, feed_id=quiet.id, entry_key=f"q{n}", first_seen_at=at)
                )
    return db


def test_a_feeds_articles_are_listed_newest_first_within_the_limit(two_feeds):
    with two_feeds.session() as session:
        assert [a.title for a in list_articles(session, feed_name="Quiet", limit=2)] == [
            "Report 9",
            "Report 6",
        ]
        assert [a.title for a in list_articles(session, feed_name="Quiet")] == [
            "Report 9",
            "Report 6",
            "Report 3",
            "Report 0",
        ]
        since = NOW - timedelta(hours=5)
        assert [a.title for a in list_articles(session, feed_name="Busy", since=since)] == [
            f"Report {n}" for n in (9, 8, 7, 6, 5)
        ]


def test_a_feeds_latest_articles_are_read_newest_first_not_all_of_them_sorted(two_feeds):
    # The feed's articles, found by their ids, were every one the feed brought in a year, read whole and
    # sorted for the latest hundred: 1 to 2 s for a busy feed (bench/year_of_data.py).
    if two_feeds.sqlite_path is None:
        pytest.skip("SQLite's query plan; PostgreSQL plans by its statistics")
    with watched_statements() as statements, two_feeds.session() as session:
        list_articles(session, feed_name="Busy", limit=100)
    [(statement, parameters)] = [seen for key, seen in statements.seen.items() if "FROM articles" in key]
    with sqlite3.connect(two_feeds.sqlite_path) as connection:
        plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert plan[0].startswith("SCAN articles USING INDEX ix_articles_fetched_at"), plan
    assert not [step for step in plan if "TEMP B-TREE" in step], plan
