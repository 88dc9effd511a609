"""Matches in the database (SQLite, or PostgreSQL when MONITOR_TEST_DATABASE_URL is set): stored by the
tagger with their evidence, replaced when an article's text changes, read back whole, gone with their
article; stored articles read in batches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from support.queryplans import watched_statements

from monitor.config import Config, FeedConfig
from monitor.pipeline import tag_stored
from monitor.store import articles as article_store
from monitor.store import feeds as feed_store
from monitor.store import matches as match_store
from monitor.store.db import open_database
from monitor.store.models import Article as ArticleRow
from monitor.store.models import Feed
from monitor.store.records import Article, BodySource, content_hash
from monitor.watchlist import Match
from monitor.watchlist.model import WatchlistConfig, compile_watchlist
from monitor.watchlist.tag import Tagger

NOW = datetime(2024, 9, 9, 12, 0, tzinfo=UTC)


def watchlist(**topics: str):
    section = WatchlistConfig(topics=[{"name": name, "query": query} for name, query in topics.items()])
    compiled, problems = compile_watchlist(section)
    assert not problems
    return compiled


def article(n: int, body: str, title: str = "") -> Article:
    url = f"https://news.example/{n}"
    return Article(
        f"k{n}",
        url,
        url,
        None,
        title or f"Article {n}",
        None,
        None,
        NOW + timedelta(minutes=n),
        "en",
        body,
        None,
        BodySource.EXTRACTED,
        None,
        content_hash(body),
    )


def setup(database_url):
    db = open_database(database_url)
    config = Config(feeds=[FeedConfig(name="Wire", url="https://news.example/feed")])
    with db.session() as session:
        feed_store.sync_feeds(session, feeds=config.feeds, now=NOW)
    return db


def match_of(stored) -> Match:
    return Match.from_json(stored.match_json)


def store(db, tagger: Tagger, value: Article) -> int:
    with db.session() as session:
        feed_id = session.scalar(select(Feed.id).where(Feed.name == "Wire"))
        article_id, created = article_store.save_article(session, article=value, feed_id=feed_id, now=NOW)
        assert created
        tag_stored(session, tagger, article_id, value)
    return article_id


def test_tagger_stores_matches_with_evidence_and_replaces_them_when_the_text_changes(database_url):
    db = setup(database_url)
    tagger = Tagger(watchlist(arms="iran AND missil*", drones="drone*", sources="source:wire"))
    first = store(db, tagger, article(1, "Iran sent missiles and drones to Russia."))
    second = store(db, tagger, article(2, "Weather: sunny."))

    with db.session() as session:
        stored = match_store.list_matches(session)
        assert {(m.article_id, match_of(m).topic) for m in stored} == {
            (first, "arms"),
            (first, "drones"),
            (first, "sources"),
            (second, "sources"),  # source: is the feed's name or the site's host
        }
        arms = next(m for m in stored if match_of(m).topic == "arms")
        assert arms.title == "Article 1" and arms.watchlist == tagger.watchlist.fingerprint
        assert {t.term for t in match_of(arms).evidence.terms} == {"iran", "missil*"}
        assert match_of(arms).evidence.marked() == "**Iran** sent **missiles** and drones to Russia."
        assert match_of(arms).evidence.terms[1].hits[0].text == "missiles"
        kept_since = arms.matched_at

    changed = replace(article(1, "Iran denied sending missiles."), fetched_at=NOW + timedelta(hours=1))
    with db.session() as session:
        tag_stored(session, tagger, first, changed, replace=True)
    with db.session() as session:
        after = {match_of(m).topic: m for m in match_store.list_matches(session, article_id=first)}
        assert set(after) == {"arms", "sources"}  # drones lost
        assert after["arms"].matched_at == kept_since  # still matching: not announced again
        assert match_of(after["arms"]).evidence.marked() == "**Iran** denied sending **missiles**."

    with db.session() as session:
        session.execute(delete(ArticleRow).where(ArticleRow.id == first))
    with db.session() as session:
        assert [m.article_id for m in match_store.list_matches(session)] == [second]  # cascaded
    db.dispose()


def test_an_empty_watchlist_stores_nothing_and_stored_articles_come_in_batches(database_url):
    db = setup(database_url)
    tagger = Tagger()
    for n in range(7):
        store(db, tagger, article(n, f"Text number {n} about Iran."))
    with db.session() as session:
        assert match_store.list_matches(session) == []
        batches = list(match_store.stored_articles(session, batch=3))
        assert [len(b) for b in batches] == [3, 3, 1]
        assert batches[0][0].text.sources == ("Wire",) and batches[0][0].text.title == "Article 0"
        recent = list(match_store.stored_articles(session, since=NOW + timedelta(minutes=5)))
        assert [a.text.title for batch in recent for a in batch] == ["Article 5", "Article 6"]
        assert match_store.find_article(session, url="https://news.example/3").text.body.startswith(
            "Text number 3"
        )
        assert match_store.find_article(session, url="https://news.example/none") is None
        assert list(match_store.stored_articles(session, since=NOW + timedelta(days=1))) == []
    db.dispose()


def test_a_backtest_of_recent_days_starts_at_the_window_not_at_the_first_article(database_url):
    # Paged by id from the start, a backtest of two days read every article of a year before them (1.7 s);
    # its first article is found by the fetch time's index (and not by the least id, which SQLite looks
    # for in id order: the same walk).
    import sqlite3

    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's query plan")
    db = setup(database_url)
    tagger = Tagger()
    for n in range(3):
        store(db, tagger, article(n, f"Text number {n} about Iran."))
    with watched_statements() as statements, db.session() as session:
        list(match_store.stored_articles(session, since=NOW + timedelta(minutes=1)))
    [(statement, parameters)] = [seen for key, seen in statements.seen.items() if "min(" in key.lower()]
    with sqlite3.connect(db.sqlite_path) as connection:
        plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
    db.dispose()
    assert any("ix_articles_fetched_at" in step for step in plan), plan
