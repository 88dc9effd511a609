"""Retention: old articles go with every row that hangs on them, what a feed still lists stays known, a dry
run deletes nothing, old evidence is reduced, and an alert check that finds nothing writes no row."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update
from support.httpserver import Route
from support.news import make_entries, rss

from monitor import retention as retention_module
from monitor.config import RetentionSettings
from monitor.digest.notify.settings import DigestConfig
from monitor.digest.runner import DigestRunner
from monitor.retention import prune
from monitor.store.models import (
    Article,
    ArticleFeed,
    ArticleMatch,
    Delivery,
    DeliveryItem,
    Feed,
    LshBand,
    PrunedEntry,
    Story,
    StoryKey,
    WireCluster,
)

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime(2026, 6, 1, tzinfo=UTC)
TABLES = (Article, ArticleFeed, ArticleMatch, LshBand, DeliveryItem, Story, StoryKey, WireCluster)


def _count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def _seed(db, *, article_id: int, fetched_at: datetime, feed_id: int) -> None:
    """An article with a feed link, a match with evidence, band keys, a story with keys, a wire cluster,
    and a delivered item."""
    with db.session() as s:
        story = Story(
            title="s",
            representative_id=article_id,
            size=1,
            first_seen_at=fetched_at,
            last_seen_at=fetched_at,
            profile='{"a":1}',
        )
        cluster = WireCluster(
            representative_id=article_id, size=1, first_seen_at=fetched_at, last_seen_at=fetched_at
        )
        s.add_all([story, cluster])
        s.flush()
        cluster.story_id = story.id
        s.add(
            Article(
                id=article_id,
                url=f"https://x.test/{article_id}",
                canonical_url=f"https://x.test/{article_id}",
                guid=f"g{article_id}",
                fetched_at=fetched_at,
                body="text " * 100,
                body_source="extracted",
                content_hash=f"h{article_id}",
                story_id=story.id,
                wire_cluster_id=cluster.id,
            )
        )
        s.flush()
        s.add(
            ArticleFeed(
                article_id=article_id, feed_id=feed_id, entry_key=f"k{article_id}", first_seen_at=fetched_at
            )
        )
        s.add(
            ArticleMatch(
                article_id=article_id,
                topic="t",
                score=50.0,
                snippet="**x**",
                evidence='{"a":[1,2]}',
                watchlist="w",
                matched_at=fetched_at,
            )
        )
        s.add_all(
            [
                LshBand(
                    band_key=article_id * 100 + n,
                    seen_epoch=int(fetched_at.timestamp()),
                    article_id=article_id,
                )
                for n in range(3)
            ]
        )
        s.add_all(
            [
                StoryKey(term=f"t{n}", seen_epoch=int(fetched_at.timestamp()), story_id=story.id)
                for n in range(2)
            ]
        )
        delivery = Delivery(
            digest="d",
            kind="digest",
            channel="email",
            period=fetched_at,
            status="sent",
            attempts=1,
            created_at=fetched_at,
        )
        s.add(delivery)
        s.flush()
        s.add(
            DeliveryItem(delivery_id=delivery.id, article_id=article_id, topic="t", delivered_at=fetched_at)
        )


def _feed(db) -> int:
    with db.session() as s:
        feed = Feed(name="F", url="https://x.test/feed", created_at=NOW)
        s.add(feed)
        s.flush()
        return feed.id


def _snapshot(db) -> dict[str, int]:
    with db.session() as s:
        return {model.__tablename__: _count(s, model) for model in TABLES + (Delivery, PrunedEntry)}


def test_old_articles_go_with_their_rows_and_recent_ones_stay(db):
    feed = _feed(db)
    _seed(db, article_id=1, fetched_at=NOW - timedelta(days=40), feed_id=feed)
    _seed(db, article_id=2, fetched_at=NOW - timedelta(days=5), feed_id=feed)
    report = prune(db, RetentionSettings(articles="30d", evidence="off", deliveries="off"), now=NOW, pause=0)
    assert report.rows["articles"] == 1 and report.rows["lsh_bands"] == 3 and report.rows["stories"] == 1
    with db.session() as s:
        left = {model.__tablename__: _count(s, model) for model in TABLES}
        assert left == {
            "articles": 1,
            "article_feeds": 1,
            "article_matches": 1,
            "lsh_bands": 3,
            "delivery_items": 1,
            "stories": 1,
            "story_keys": 2,
            "wire_clusters": 1,
        }
        assert s.get(Article, 2).body.startswith("text")
        assert s.get(Article, 1) is None
        entry = s.scalars(select(PrunedEntry)).one()
        assert (entry.entry_key, entry.guid, entry.canonical_url) == ("k1", "g1", "https://x.test/1")
        assert _count(s, Delivery) == 2  # the ledger rows stay (deliveries off); the pruned item went
        assert _count(s, ArticleMatch, ArticleMatch.evidence != "{}") == 1


def test_the_entries_of_a_batch_of_pruned_articles_are_remembered_in_one_statement(db):
    # One INSERT a feed link was a round trip each: a thousand and more for each batch of a thousand articles,
    # and on PostgreSQL the better part of a prune catching up on weeks (bench/year_of_data.py).
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    feed = _feed(db)
    for article_id in range(1, 11):
        _seed(db, article_id=article_id, fetched_at=NOW - timedelta(days=40, hours=article_id), feed_id=feed)
    with db.session() as s:  # another instance pruning at the same time remembered one already
        s.add(
            PrunedEntry(
                feed_id=feed, entry_key="k3", guid="g3", canonical_url="https://x.test/3", seen_at=NOW
            )
        )
    inserts = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PRUNED_ENTRIES"):
            inserts.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        report = prune(
            db, RetentionSettings(articles="30d", evidence="off", deliveries="off"), now=NOW, pause=0
        )
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert report.rows["articles"] == 10
    assert report.rows["pruned_entries"] == 9  # the one already there is not counted again
    assert len(inserts) == 1
    with db.session() as s:
        assert sorted(s.scalars(select(PrunedEntry.entry_key))) == sorted(f"k{n}" for n in range(1, 11))


def test_dry_run_deletes_nothing_and_tells_the_same(db):
    feed = _feed(db)
    _seed(db, article_id=1, fetched_at=NOW - timedelta(days=40), feed_id=feed)
    before = _snapshot(db)
    settings = RetentionSettings(articles="30d", evidence="10d", deliveries="30d")
    dry = prune(db, settings, now=NOW, dry_run=True, pause=0)
    assert _snapshot(db) == before
    real = prune(db, settings, now=NOW, pause=0)
    # A dry run rolls each step back: an item of an old article in an old delivery was counted with its
    # article and again with its delivery ("2 delivery_items would go" of the one there was).
    assert dry.rows == real.rows
    assert dry.rows["articles"] == 1 and dry.rows["deliveries"] == 1 and dry.rows["delivery_items"] == 1


def test_a_dry_run_counts_the_items_of_an_old_delivery_once_whether_their_articles_go_or_stay(db):
    feed = _feed(db)
    _seed(db, article_id=1, fetched_at=NOW - timedelta(days=40), feed_id=feed)  # goes, with its item
    _seed(db, article_id=2, fetched_at=NOW - timedelta(days=20), feed_id=feed)
    with db.session() as s:  # an item of the kept article in the old delivery: it goes with the delivery
        old = s.scalars(select(Delivery).where(Delivery.period < NOW - timedelta(days=30))).one()
        s.add(DeliveryItem(delivery_id=old.id, article_id=2, topic="t", delivered_at=old.period))
    settings = RetentionSettings(articles="30d", evidence="off", deliveries="30d")

    dry = prune(db, settings, now=NOW, dry_run=True, pause=0)
    real = prune(db, settings, now=NOW, pause=0)

    assert real.rows["delivery_items"] == 2
    assert dry.rows == real.rows


def test_a_dry_run_counts_every_batch_and_not_the_evidence_of_articles_that_go(db, monkeypatch):
    # Batches of 2: a dry run counted its first batch of evidence alone (and then stopped, since its rolled
    # back batch would come again), and counted the matches of articles that a real run deletes first.
    monkeypatch.setattr(retention_module, "ROW_BATCH", 2)
    feed = _feed(db)
    for article_id in range(1, 4):  # deleted with their matches
        _seed(db, article_id=article_id, fetched_at=NOW - timedelta(days=40, hours=article_id), feed_id=feed)
    for article_id in range(4, 9):  # kept, their evidence emptied
        _seed(db, article_id=article_id, fetched_at=NOW - timedelta(days=20, hours=article_id), feed_id=feed)
    settings = RetentionSettings(articles="30d", evidence="10d", deliveries="off")

    dry = prune(db, settings, now=NOW, dry_run=True, pause=0)
    real = prune(db, settings, now=NOW, pause=0)

    assert real.evidence_reduced == 5
    assert dry.evidence_reduced == real.evidence_reduced
    assert dry.rows["articles"] == real.rows["articles"] == 3


def test_evidence_is_reduced_and_the_match_keeps_its_score(db):
    feed = _feed(db)
    _seed(db, article_id=1, fetched_at=NOW - timedelta(days=40), feed_id=feed)
    _seed(db, article_id=2, fetched_at=NOW - timedelta(days=5), feed_id=feed)
    report = prune(db, RetentionSettings(articles="off", evidence="30d", deliveries="off"), now=NOW, pause=0)
    assert report.evidence_reduced == 1
    with db.session() as s:
        old, new = s.get(ArticleMatch, 1), s.get(ArticleMatch, 2)
        assert (old.evidence, old.score, old.snippet, old.topic) == ("{}", 50.0, "**x**", "t")
        assert new.evidence == '{"a":[1,2]}'


def test_an_alert_check_that_finds_nothing_writes_no_row(db):
    digest = DigestConfig.model_validate(
        {
            "name": "d",
            "alerts": {"min_score": 10, "channels": ["webhook"]},
            "channels": {"webhook": {"url": "http://127.0.0.1:9/hook"}},
        }
    )
    runner = DigestRunner(db, digest, owner="me")
    outcomes = runner.run(kind="alert", period=NOW, now=NOW)
    assert [o.status for o in outcomes] == ["empty"]
    with db.session() as s:
        assert _count(s, Delivery) == 0


def test_a_pruned_article_still_in_its_feed_is_not_stored_again(web, workspace):
    entries = make_entries(web, "old", 3)
    web.set("/f.xml", Route(rss("F", web.url("/"), entries), headers=RSS))
    workspace.write_config([{"name": "F", "url": web.url("/f.xml")}])
    _add_retention(workspace)
    workspace.cli("poll")
    from monitor.store.db import open_database

    db = open_database(workspace.database_url, migrate=False)
    try:
        long_ago = datetime.now(UTC) - timedelta(days=60)
        with db.session() as s:
            s.execute(update(Article).values(fetched_at=long_ago))
            s.execute(update(ArticleFeed).values(first_seen_at=long_ago))
            s.execute(
                update(Feed).values(etag=None, last_modified=None)
            )  # the next poll reads the feed again
        dry = workspace.json("prune", "--dry-run")
        assert dry["deleted"]["articles"] == 3 and len(workspace.json("articles")) == 3
        table = workspace.cli(
            "prune", *(["--vacuum"] if workspace.database_url.startswith("sqlite") else [])
        ).stdout
        assert re.search(r"articles\s+3", table), table
        assert re.search(r"pruned_entries \(added, to know the entries again\)\s+3", table), table
        if workspace.database_url.startswith("sqlite"):
            assert "rebuilt whole (VACUUM):" in table
        web.clear_requests()
        workspace.cli("poll")
        assert workspace.json("articles") == []
        assert not [r for r in web.requests if r.path.startswith("/old/")]  # no page fetched again
        with db.session() as s:
            assert _count(s, PrunedEntry) == 3
    finally:
        db.dispose()


def _add_retention(workspace) -> None:
    import yaml

    data = yaml.safe_load(workspace.config_path.read_text())
    data["retention"] = {"articles": "30d", "evidence": "10d", "deliveries": "30d"}
    workspace.config_path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_counts_that_only_pruned_articles_made_go_and_the_others_stay_whole(db):
    from monitor.store import counts as counts_store
    from monitor.store.models import ParagraphCount, TermCount

    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=5)
    with db.session() as s:
        counts_store.count_terms(s, terms=["ceasefire", "geneva"], at=old)
        counts_store.count_terms(s, terms=["geneva", "talks"], at=recent)
        counts_store.count_paragraphs(s, keys=[11, -12], at=old)  # -12: an old footer the outlet still prints
        counts_store.count_paragraphs(s, keys=[-12, 13], at=recent)
        counts_store.count_paragraphs(
            s, keys=[-12], at=old
        )  # counted late, by an article older than the last one

    def counts():
        with db.session() as s:
            return (
                {row.term: row.documents for row in s.scalars(select(TermCount))},
                {row.key: row.clusters for row in s.scalars(select(ParagraphCount))},
            )

    before = counts()
    retention = RetentionSettings(articles="30d", evidence="off", deliveries="off")
    dry = prune(db, retention, now=NOW, pause=0, dry_run=True)
    assert counts() == before
    report = prune(db, retention, now=NOW, pause=0)
    assert report.rows["term_counts"] == dry.rows["term_counts"] == 1
    assert report.rows["paragraph_counts"] == dry.rows["paragraph_counts"] == 1
    terms, paragraphs = counts()
    # The number of articles counted and the frequencies of terms still seen keep every count: a frequency
    # never exceeds the number of articles, and a paragraph still printed stays learnt as boilerplate.
    assert terms == {"": 2, "geneva": 2, "talks": 1}
    assert paragraphs == {-12: 3, 13: 1}
    assert prune(db, retention, now=NOW + timedelta(days=26), pause=0).rows["term_counts"] == 3  # all gone


def test_boilerplate_still_printed_stays_learnt_after_its_first_articles_are_pruned(db):
    """Through the real deduplication stage: the outlet's footer, counted under articles old and new, is
    still boilerplate once the old ones are pruned; what only the pruned articles said is forgotten; and no
    term is counted in more articles than the number counted."""
    from support.articles import extracted_article

    from monitor import dedupe
    from monitor.config import DedupSettings
    from monitor.dedupe.boilerplate import BOILERPLATE_CLUSTERS
    from monitor.dedupe.stories import paragraph_keys
    from monitor.store import articles as article_store
    from monitor.store import counts as counts_store
    from monitor.store.models import ParagraphCount, TermCount

    footer = "Sign in to read every story of the Harbour Gazette on all your devices today."
    topics = [
        "grain exports through the northern port rose again",
        "the river ferry strike ended after talks",
        "a new bridge over the bay opened to traffic",
        "council votes on the harbour budget for schools",
    ]
    feed = _feed(db)
    bodies = {}
    for n, topic in enumerate(topics):
        fetched = NOW - timedelta(days=40 if n < 2 else 3, hours=n)
        own = f"Reporters said {topic} this week, according to officials quoted in case number {n}x{n}."
        body = "\n".join([own, f"Further details on how {topic} emerged late on day {n}.", footer])
        bodies[n] = body
        url = f"https://gazette.test/{n}"
        article = extracted_article(
            url,
            body,
            fetched,
            guid=url,
            title=topic.capitalize(),
            summary="",
            content_hash=f"{n:064x}",
            site_name="Harbour Gazette",
        )
        with db.session() as s:
            article_id, _ = article_store.save_article(s, article=article, feed_id=feed, now=fetched)
            dedupe.place(s, article_id=article_id, article=article, settings=DedupSettings())
    footer_key = paragraph_keys(footer)[0]
    old_only = set(paragraph_keys(bodies[0])) - {footer_key}

    prune(db, RetentionSettings(articles="30d", evidence="off", deliveries="off"), now=NOW, pause=0)
    with db.session() as s:
        assert _count(s, Article) == 2
        assert counts_store.boilerplate_keys(s, keys=[footer_key], min_clusters=BOILERPLATE_CLUSTERS) == {
            footer_key
        }
        assert not {key for key in s.scalars(select(ParagraphCount.key))} & old_only
        terms = {row.term: row.documents for row in s.scalars(select(TermCount))}
    assert (
        "grain" not in terms and "ferry" not in terms and "bridge" in terms
    )  # the old articles' own words went
    assert max(terms.values()) == terms[""] == 4  # N is the articles ever counted; none exceeds it


def test_the_pages_a_prune_frees_go_back_to_the_file_system(db, monkeypatch):
    """The incremental vacuum after a prune freed one page a step (Python's sqlite3 steps a pragma once),
    at most a thousand pages a prune, with a pause after each."""
    if db.sqlite_path is None:
        return  # a server database gives its space back itself
    feed = _feed(db)
    for article_id in range(1, 41):
        _seed(
            db, article_id=article_id, fetched_at=NOW - timedelta(days=40, minutes=article_id), feed_id=feed
        )
    with db.session() as s:  # 40 articles of 40 KB: hundreds of pages to free
        s.execute(update(Article).values(body="long text " * 4000))
    pauses = []
    monkeypatch.setattr(retention_module.time, "sleep", pauses.append)
    report = prune(db, RetentionSettings(articles="30d", evidence="off", deliveries="off"), now=NOW, pause=0)
    assert report.rows["articles"] == 40 and report.vacuumed_pages > 300, report.vacuumed_pages
    assert len(pauses) <= 1  # a step of a thousand pages: one pause at most, not one a page
    with db.session() as s:
        assert s.execute(text("PRAGMA freelist_count")).scalar() == 0


def test_articles_a_failed_delivery_still_owes_are_kept_until_it_is_sent(db):
    """A channel down for longer than retention.articles lost the articles it was owed, without a word."""
    feed = _feed(db)
    _seed(db, article_id=1, fetched_at=NOW - timedelta(days=40), feed_id=feed)
    _seed(db, article_id=2, fetched_at=NOW - timedelta(days=41), feed_id=feed)
    with db.session() as s:  # article 2's delivery failed: the channel has not taken it
        item = s.scalars(select(DeliveryItem).where(DeliveryItem.article_id == 2)).one()
        item.delivered_at = None
        s.get(Delivery, item.delivery_id).status = "failed"
    settings = RetentionSettings(articles="30d", evidence="off", deliveries="off")
    report = prune(db, settings, now=NOW, pause=0)
    assert report.rows["articles"] == 1 and report.owed_kept == 1
    with db.session() as s:
        assert s.get(Article, 1) is None and s.get(Article, 2) is not None
        # Sent at last: the next prune takes it.
        s.execute(update(DeliveryItem).values(delivered_at=NOW))
        s.execute(update(Delivery).values(status="sent"))
    assert prune(db, settings, now=NOW, pause=0).rows["articles"] == 1
