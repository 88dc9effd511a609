"""The deduplication queries on a real database (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from monitor.store import clusters as store
from monitor.store import counts as counts_store
from monitor.store import stories as stories_store
from monitor.store.db import open_database
from monitor.store.hotpath import add_counts
from monitor.store.models import Article, ParagraphCount

T0 = datetime(2024, 9, 9, 12, tzinfo=UTC)


def test_cluster_times_widen_and_agency_is_kept(database_url):
    db = open_database(database_url)
    with db.session() as session:
        cluster = store.new_cluster(session, at=T0, article_id=1, agency=None)
        store.grow_cluster(session, cluster_id=cluster, at=T0 + timedelta(hours=2), agency="AP")
        store.grow_cluster(session, cluster_id=cluster, at=T0 - timedelta(hours=1), agency="Reuters")
    with db.session() as session:
        row = store.cluster_of(session, cluster_id=cluster)
        assert row.size == 3
        assert row.first_seen_at == T0 - timedelta(hours=1)
        assert row.last_seen_at == T0 + timedelta(hours=2)
        assert row.agency == "AP"  # the first credit found stays
    db.dispose()


def add_articles(session, fetched: list[datetime]) -> None:
    """Articles 1, 2, ... fetched at the given times: rows for band keys to point at."""
    for n, at in enumerate(fetched, start=1):
        session.add(
            Article(
                id=n,
                url=f"https://x.test/{n}",
                canonical_url=f"https://x.test/{n}",
                fetched_at=at,
                body="b",
                body_source="extracted",
                content_hash=str(n),
            )
        )
    session.flush()


def test_band_lookup_is_bounded_by_the_window(database_url):
    db = open_database(database_url)
    with db.session() as session:
        add_articles(session, [T0, T0 - timedelta(days=30)])
        store.add_bands(session, article_id=1, keys=[5, 6, -7], seen_at=T0)
        store.add_bands(session, article_id=2, keys=[5, 6], seen_at=T0 - timedelta(days=30))
    with db.session() as session:
        window = {"since": T0 - timedelta(days=14), "until": T0 + timedelta(days=14)}
        assert store.band_candidates(
            session, keys=[5, 6, -7, 2**62], exclude_id=None, limit=10, **window
        ) == [(1, 3)]
        assert store.band_candidates(session, keys=[5], exclude_id=1, limit=10, **window) == []
        wide = {"since": T0 - timedelta(days=60), "until": T0}
        assert store.band_candidates(session, keys=[5, 6], exclude_id=None, limit=10, **wide) == [
            (1, 2),
            (2, 2),
        ]
    db.dispose()


def test_term_and_paragraph_counts_add_up(database_url):
    db = open_database(database_url)
    with db.session() as session:
        counts_store.count_terms(session, terms=["iran", "missile"])
        counts_store.count_terms(session, terms=["iran"])
        counts_store.count_paragraphs(session, keys=[11, -12])
        counts_store.count_paragraphs(session, keys=[11])
    with db.session() as session:
        counts, total = counts_store.document_frequencies(session, terms=["iran", "missile", "unseen"])
        assert counts == {"iran": 2, "missile": 1} and total == 2
        assert counts_store.boilerplate_keys(session, keys=[11, -12, 13], min_clusters=2) == frozenset({11})
    db.dispose()


def test_counts_are_read_for_more_keys_than_one_statement_takes(database_url):
    # An article's hundreds of terms (a long text's paragraphs) are read in chunks on SQLite, as one array
    # on PostgreSQL: every key is answered once, whichever way.
    db = open_database(database_url)
    terms = [f"term{n:04d}" for n in range(1300)]
    keys = list(range(-400, 400, 2))
    with db.session() as session:
        counts_store.count_terms(session, terms=terms[::2])
        counts_store.count_terms(session, terms=terms[::4])
        counts_store.count_paragraphs(session, keys=keys)
        counts_store.count_paragraphs(session, keys=keys[::3])
    with db.session() as session:
        counts, total = counts_store.document_frequencies(session, terms=[*terms, "unseen"])
        assert total == 2
        assert counts == {term: 2 if n % 4 == 0 else 1 for n, term in enumerate(terms) if n % 2 == 0}
        asked = [*keys, 1, 3, 5]  # 403 keys: a chunk of 256 and one of 147 on SQLite
        assert counts_store.boilerplate_keys(session, keys=asked, min_clusters=2) == frozenset(keys[::3])
        assert counts_store.boilerplate_keys(session, keys=[], min_clusters=2) == frozenset()
    db.dispose()


def test_instances_adding_to_the_same_counts_in_opposite_orders_never_wait_in_a_circle(database_url):
    # Two instances write counts for the same keys at the same moment, each holding its rows' locks until it
    # commits: were the rows written in the order each was given, each would wait for a row the other holds
    # and PostgreSQL would fail one of them. The store writes them in the order of their key: every upsert
    # succeeds and every count arrives.
    keys = list(range(-1500, 1500))
    rounds = 30
    dbs = [open_database(database_url) for _ in range(2)]
    errors: list[Exception] = []

    def write(db, order: int) -> None:
        try:
            for n in range(rounds):
                rows = [{"key": key, "clusters": 1, "last_counted": n} for key in keys[::order]]
                with db.write_session() as session:
                    add_counts(session, ParagraphCount.__table__, "clusters", rows)
        except Exception as error:  # noqa: BLE001 - reported by the test's thread
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(db, order)) for db, order in zip(dbs, (1, -1), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with dbs[0].session() as session:
        assert counts_store.boilerplate_keys(session, keys=keys, min_clusters=2 * rounds) == frozenset(keys)
        assert counts_store.boilerplate_keys(session, keys=keys, min_clusters=2 * rounds + 1) == frozenset()
    for db in dbs:
        db.dispose()


def test_term_lookups_of_any_length_find_exactly_the_counted_terms(database_url):
    # Lookups are padded to a step of keys and cut into chunks: lists of every length around a step and a
    # chunk find the counted terms among them, each once, and the total.
    db = open_database(database_url)
    counted = [f"term{n:04d}" for n in range(0, 1200, 2)]
    with db.session() as session:
        counts_store.count_terms(session, terms=counted)
        counts_store.count_terms(session, terms=counted[:10])
    with db.session() as session:
        for length in (1, 63, 64, 65, 511, 512, 513, 1100):
            asked = [f"term{n:04d}" for n in range(length)]
            counts, total = counts_store.document_frequencies(session, terms=asked)
            expected = {term: 2 if term in counted[:10] else 1 for term in asked if term in set(counted)}
            assert counts == expected and total == 2, length
    db.dispose()


def test_story_keys_move_forward_once_a_day_not_at_every_member(database_url):
    from sqlalchemy import func, select

    from monitor.dedupe.stage import grow_story
    from monitor.store.models import StoryKey

    def key_times(session, story):
        return set(session.scalars(select(StoryKey.seen_epoch).where(StoryKey.story_id == story)))

    db = open_database(database_url)
    start = datetime(2024, 9, 9, 12, 5, tzinfo=UTC)
    with db.session() as session:
        story = stories_store.new_story(
            session, at=start, title="Quake", article_id=1, profile={"quake": 1.0}
        )
        stories_store.index_story(session, story_id=story, terms=("quake", "rescue"), at=start)
        for hours in (1, 6, 11):  # the same day: the keys stay
            grow_story(session, story_id=story, at=start + timedelta(hours=hours), profile=None)
        assert key_times(session, story) == {store.epoch(start)}
        later = start + timedelta(hours=12)  # a later day: the keys follow
        grow_story(session, story_id=story, at=later, profile=None)
        assert key_times(session, story) == {store.epoch(later)}
        grow_story(session, story_id=story, at=start, profile=None)  # an older member moves nothing
        assert key_times(session, story) == {store.epoch(later)}
        assert session.scalar(select(func.count()).select_from(StoryKey)) == 2
    db.dispose()


def test_story_lookup_reads_lagging_keys_and_leaves_out_stories_that_ended_before_the_window(database_url):
    """Keys may lag a story's latest member by up to a day: a story active in the window is found through
    them, and one whose latest member is before the window is not, though its keys are as recent."""
    from monitor.dedupe.stage import grow_story

    db = open_database(database_url)
    start = datetime(2024, 9, 9, 0, 30, tzinfo=UTC)
    lag = timedelta(days=1)
    with db.session() as session:
        running = stories_store.new_story(session, at=start, title="Quake", article_id=1, profile={"q": 1.0})
        stories_store.index_story(session, story_id=running, terms=("quake",), at=start)
        grow_story(session, story_id=running, at=start + timedelta(hours=20), profile=None)  # keys stay
        ended = stories_store.new_story(session, at=start, title="Flood", article_id=2, profile={"q": 1.0})
        stories_store.index_story(session, story_id=ended, terms=("quake",), at=start)
        since = start + timedelta(hours=10)  # after both stories' keys; before only the running one's end

        def found(**options):
            return [
                story.id
                for story in stories_store.story_candidates(
                    session, terms=["quake"], since=since, until=since + lag, limit=5, **options
                )
            ]

        assert found(key_lag=lag) == [running]
        assert found() == []  # without the lag, keys before the window find nothing
    db.dispose()


def test_band_lookup_reads_the_latest_rows_of_each_key_only(database_url):
    # A flood of near-identical texts gives its keys thousands of rows: a lookup reads the latest
    # ROWS_PER_KEY of each key within the window, so its cost stops growing with the flood.
    db = open_database(database_url)
    flood = store.ROWS_PER_KEY + 50
    with db.session() as session:
        add_articles(session, [T0] * flood)
        for n in range(1, flood + 1):
            # Article 1, the oldest, also holds a key of its own.
            store.add_bands(
                session, article_id=n, keys=[5, 6] if n == 1 else [5], seen_at=T0 + timedelta(minutes=n)
            )
    with db.session() as session:
        window = {"since": T0 - timedelta(days=14), "until": T0 + timedelta(days=14)}
        found = store.band_candidates(session, keys=[5, 6], exclude_id=None, limit=1000, **window)
        latest = range(flood - store.ROWS_PER_KEY + 1, flood + 1)
        assert found == [(1, 1)] + [(n, 1) for n in latest]
        # The window's end cuts first: the latest rows before it are read.
        earlier = {**window, "until": T0 + timedelta(minutes=flood - 10)}
        found = store.band_candidates(session, keys=[5], exclude_id=None, limit=1000, **earlier)
        assert [n for n, _ in found] == list(range(flood - 10 - store.ROWS_PER_KEY + 1, flood - 10 + 1))
    db.dispose()


def test_story_lookup_reads_the_latest_rows_of_each_term_only(database_url):
    """A term that many stories of the window share had a row for each, which every lookup counted: placing
    an article cost more with every story the window gathered. A lookup reads the latest ROWS_PER_TERM rows
    of each term; a story that the common term no longer reaches is still found by a rarer term it shares."""
    db = open_database(database_url)
    crowd = stories_store.ROWS_PER_TERM + 5
    window = {"since": T0 - timedelta(days=14), "until": T0 + timedelta(days=14)}
    with db.session() as session:
        oldest = stories_store.new_story(session, at=T0, title="Old", article_id=1, profile={"a": 1.0})
        stories_store.index_story(session, story_id=oldest, terms=("election", "okonjo"), at=T0)
        later = []
        for n in range(crowd):
            at = T0 + timedelta(minutes=n + 1)
            story = stories_store.new_story(
                session, at=at, title=f"S{n}", article_id=n + 2, profile={"a": 1.0}
            )
            stories_store.index_story(session, story_id=story, terms=("election",), at=at)
            later.append(story)
    with db.session() as session:

        def found(terms):
            candidates = stories_store.story_candidates(session, terms=terms, limit=1000, **window)
            return [story.id for story in candidates]

        # The latest ROWS_PER_TERM stories of the common term, newest first among equals; not the oldest.
        assert sorted(found(["election"])) == sorted(later[-stories_store.ROWS_PER_TERM :])
        # Its rare term finds it, and first: it shares two terms where the others share one.
        assert found(["election", "okonjo"])[0] == oldest
    db.dispose()


def test_story_lookup_counts_each_term_once_whatever_the_padding(database_url):
    # Lookups are padded to a step of terms; a padded place must not count as the first term again.
    db = open_database(database_url)
    window = {"since": T0 - timedelta(days=14), "until": T0 + timedelta(days=14)}
    with db.session() as session:
        first = stories_store.new_story(session, at=T0, title="A", article_id=1, profile={"a": 1.0})
        stories_store.index_story(session, story_id=first, terms=("alpha",), at=T0)
        both = stories_store.new_story(session, at=T0, title="B", article_id=2, profile={"a": 1.0})
        stories_store.index_story(session, story_id=both, terms=("beta", "gamma"), at=T0)
    with db.session() as session:
        candidates = stories_store.story_candidates(
            session, terms=["alpha", "beta", "gamma"], limit=10, **window
        )
        assert [story.id for story in candidates] == [both, first]  # two shared terms before one
    db.dispose()


def test_story_lookup_fills_its_limit_with_active_stories_past_ended_ones_that_share_more(database_url):
    """Stories are ranked by the terms they share, then the older first; those that ended before the window
    are left out, and the limit is filled from the stories ranked after them."""
    from monitor.dedupe.stage import grow_story

    db = open_database(database_url)
    lag = timedelta(days=1)
    since = T0 + timedelta(hours=10)
    terms = ("quake", "aftershock", "tsunami")
    with db.session() as session:

        def story(shared: int, *, active: bool) -> int:
            story_id = stories_store.new_story(session, at=T0, title="S", article_id=1, profile={"q": 1.0})
            stories_store.index_story(session, story_id=story_id, terms=terms[:shared], at=T0)
            if active:  # a member inside the window; its keys keep their time (they may lag a day)
                grow_story(session, story_id=story_id, at=since + timedelta(hours=1), profile=None)
            return story_id

        ended = [story(3, active=False) for _ in range(3)]
        one, two, two_later = story(1, active=True), story(2, active=True), story(2, active=True)
    with db.session() as session:
        window = {"since": since, "until": since + lag, "key_lag": lag}
        found = stories_store.story_candidates(session, terms=list(terms), limit=2, **window)
        assert [s.id for s in found] == [two, two_later]
        everything = stories_store.story_candidates(session, terms=list(terms), limit=10, **window)
        assert [s.id for s in everything] == [two, two_later, one]
        assert not set(ended) & {s.id for s in everything}
    db.dispose()
