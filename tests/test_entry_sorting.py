"""Sorting feeds' entries into known, known elsewhere, pruned, changed and new, several feeds at once
(``monitor.store.articles``), on a real database (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from support.articles import extracted_article

from monitor.store import articles as store
from monitor.store import feeds as feed_store
from monitor.store.articles import EntryRef, KnownEntries
from monitor.store.db import open_database
from monitor.store.models import ArticleFeed, Feed, PrunedEntry

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)


@pytest.fixture
def stored(database_url):
    """Feeds a, b and c, and what they gave before: a gave "one" (hash h1) and "two" (no hash kept yet),
    b gave "three"; retention removed what c gave as "gone"."""
    db = open_database(database_url)
    with db.write_session() as session:
        feed_store.sync_feeds(
            session,
            feeds=[
                SimpleNamespace(name=n, url=f"https://{n}.test/feed", kind="rss", enabled=True) for n in "abc"
            ],
            now=T0,
        )
    with db.write_session() as session:
        ids = {name: feed_id for name, feed_id in session.execute(select(Feed.name, Feed.id))}

        def save(feed: str, key: str, url: str, entry_hash: str | None, guid: str | None = None) -> int:
            article = extracted_article(url, f"Text of {url}.", T0, entry_key=key, guid=guid)
            return store.save_article(
                session, article=article, feed_id=ids[feed], now=T0, entry_hash=entry_hash
            )[0]

        articles = {
            "one": save("a", "one", "https://news.test/1", "h1"),
            "two": save("a", "two", "https://news.test/2", None),
            "three": save("b", "three", "https://news.test/3", "h3", guid="urn:three"),
        }
        session.add(
            PrunedEntry(
                feed_id=ids["c"],
                entry_key="gone",
                guid=None,
                canonical_url="https://news.test/gone",
                seen_at=T0,
            )
        )
    yield SimpleNamespace(db=db, feeds=ids, articles=articles)
    db.dispose()


def test_each_feed_of_a_batch_gets_what_a_sort_of_its_own_gives(stored):
    asked = [
        # a: "one" and "two" it gave; "three" it did not, but b did (same canonical URL); "new" is new.
        (
            stored.feeds["a"],
            [
                EntryRef("one", None, "https://news.test/1"),
                EntryRef("two", None, "https://news.test/2"),
                EntryRef("three-in-a", None, "https://news.test/3"),
                EntryRef("new", None, "https://news.test/new"),
            ],
        ),
        # b: its own "three"; a key "one" that a gave, which is not b's.
        (
            stored.feeds["b"],
            [
                EntryRef("three", "urn:three", "https://news.test/3"),
                EntryRef("one", None, "https://news.test/b1"),
            ],
        ),
        # c: the pruned "gone" by its key; a's "one" by its canonical URL.
        (
            stored.feeds["c"],
            [
                EntryRef("gone", None, "https://elsewhere.test/gone"),
                EntryRef("c-one", None, "https://news.test/1"),
            ],
        ),
    ]
    with stored.db.session() as session:
        together = store.find_known(session, asked)
        alone = [store.find_known(session, [feed])[0] for feed in asked]
    assert together == alone
    pruned = together[2].pruned
    assert together == [
        KnownEntries(frozenset({"one", "two"}), {"three-in-a": stored.articles["three"]}),
        KnownEntries(frozenset({"three"}), {}),
        KnownEntries(frozenset({"gone"}), {"c-one": stored.articles["one"]}, pruned),
    ]
    assert len(pruned) == 1


def test_changed_entries_of_feeds_read_together(stored):
    with stored.db.write_session() as session:
        changed = store.changed_entries(
            session,
            [
                (stored.feeds["a"], {"one": "h1-edited", "two": "h2"}),
                (stored.feeds["b"], {"three": "h3", "one": "other"}),
                (stored.feeds["c"], {}),
            ],
        )
    assert changed == [{"one": stored.articles["one"]}, {}, {}]
    with stored.db.session() as session:
        rows = session.execute(
            select(ArticleFeed.entry_key, ArticleFeed.entry_hash).where(
                ArticleFeed.feed_id == stored.feeds["a"]
            )
        )
        hashes = {key: entry_hash for key, entry_hash in rows}
    # "two" was stored before its hash was kept: the hash is recorded now, and the entry is not changed.
    assert hashes == {"one": "h1", "two": "h2"}


def test_a_batch_with_one_feed_twice_is_refused(stored):
    refs = [EntryRef("one", None, "https://news.test/1")]
    with stored.db.session() as session, pytest.raises(ValueError):
        store.find_known(session, [(stored.feeds["a"], refs), (stored.feeds["a"], refs)])
