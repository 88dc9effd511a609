"""The deduplication stage on a real database: levels, window, updates, and failures that cost nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import make_url
from support.articles import stored_and_placed
from support.queryplans import watched_statements

from monitor.config import DedupSettings
from monitor.dedupe import place, stage
from monitor.store import clusters as store
from monitor.store import counts as counts_store
from monitor.store import stories as stories_store
from monitor.store.models import Article as ArticleRow
from monitor.store.records import Article, BodySource, content_hash

T = datetime(2024, 9, 9, 12, tzinfo=UTC)
SETTINGS = DedupSettings()
STORY = [
    f"Part {n}. Rescuers in the mountain village reached house {n} on Wednesday after the landslide cut the "
    f"only road, and volunteers carried {n + 4} elderly residents to the school gym, the mayor said."
    for n in range(8)
]

VOLUNTEERS = (
    "The mayor said volunteers carried elderly residents of the mountain village to the school gym "
    "after the landslide cut the road; rescuers reached the last houses on Wednesday."
)


def value(
    n: int, body: str, at: datetime = T, title: str | None = None, source=BodySource.EXTRACTED
) -> Article:
    url = f"https://outlet{n}.test/story"
    return Article(
        entry_key=url,
        url=url,
        canonical_url=url,
        guid=None,
        title=title or f"Story {n}",
        author=None,
        published=at,
        fetched_at=at,
        language="en",
        body=body,
        summary=None,
        body_source=source,
        body_note=None,
        content_hash=content_hash(body),
    )


def store_and_place(session, article: Article, settings: DedupSettings = SETTINGS):
    row, placement = stored_and_placed(session, article, settings)
    return row.id, placement


def test_levels_exact_wire_and_new(db):
    body = "\n\n".join(STORY)
    with db.session() as session:
        first_id, first = store_and_place(session, value(1, body))
        _, exact = store_and_place(session, value(2, body.upper()))  # same normalized body
        _, copy = store_and_place(session, value(3, "Advertisement\n\n" + "\n\n".join(STORY[:5])))
        _, other = store_and_place(
            session,
            value(
                4,
                "\n\n".join(
                    f"Note {n}. The museum reopened gallery {n} with paintings lent by a private collector, and the "
                    f"curator expects {n * 100 + 300} visitors a day during the summer exhibition."
                    for n in range(6)
                ),
                title="Museum reopens",
            ),
        )
    assert first.method == "new" and first.story_id is not None
    assert (exact.method, exact.wire_cluster_id, exact.match_id) == ("exact", first.wire_cluster_id, first_id)
    assert (
        copy.method == "minhash" and copy.wire_cluster_id == first.wire_cluster_id and copy.wire_score > 0.9
    )
    assert copy.story_id == first.story_id  # a copy is in its original's story
    assert other.wire_cluster_id != first.wire_cluster_id
    with db.session() as session:
        cluster = store.cluster_of(session, cluster_id=first.wire_cluster_id)
        assert cluster.size == 3 and cluster.representative_id == first_id


def test_identical_short_bodies_are_not_exact_copies(db):
    notice = "Please enable JavaScript to read this article."
    with db.session() as session:
        _, a = store_and_place(session, value(1, notice))
        _, b = store_and_place(session, value(2, notice))
    assert a.wire_cluster_id != b.wire_cluster_id and b.method == "new"


def test_copies_outside_the_window_stay_apart(db):
    body = "\n\n".join(STORY)
    with db.session() as session:
        _, old = store_and_place(session, value(1, body, at=T - timedelta(days=40)))
        _, new = store_and_place(session, value(2, body + "\n\nUpdated with new figures.", at=T))
    assert old.wire_cluster_id != new.wire_cluster_id
    assert old.story_id != new.story_id


def test_a_changed_article_is_placed_again_and_never_joins_itself(db):
    body = "\n\n".join(STORY)
    with db.session() as session:
        article_id, before = store_and_place(session, value(1, body))
    changed = value(1, body + "\n\nLate on Wednesday the road was opened again for emergency vehicles.")
    with db.session() as session:
        after = place(session, article_id=article_id, article=changed, settings=SETTINGS, changed=True)
    assert after is not None and after.method == "new" and after.match_id is None
    with db.session() as session:
        from sqlalchemy import func, select

        from monitor.store.models import Story, WireCluster

        # The emptied cluster and story were dropped: one of each is left, holding the article once.
        assert session.scalar(select(func.count()).select_from(WireCluster)) == 1
        assert session.scalar(select(func.count()).select_from(Story)) == 1
        cluster = store.cluster_of(session, cluster_id=after.wire_cluster_id)
        assert cluster.size == 1 and cluster.representative_id == article_id
        assert stories_store.story(session, story_id=after.story_id).size == 1
        assert store.band_candidates(session, keys=[], since=T, until=T, exclude_id=None, limit=5) == []
    assert before.wire_cluster_id is not None


def test_a_failure_in_deduplication_costs_no_article(db, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(stage, "assign_wire_cluster", broken)
    with db.session() as session:
        row = ArticleRow(
            url="https://x.test/1",
            canonical_url="https://x.test/1",
            fetched_at=T,
            body="text",
            body_source="extracted",
            content_hash="h",
        )
        session.add(row)
        session.flush()
        assert place(session, article_id=row.id, article=value(1, "text"), settings=SETTINGS) is None
    with db.session() as session:
        stored = session.get(ArticleRow, row.id)
        assert stored is not None and stored.wire_cluster_id is None


def test_disabled_deduplication_does_nothing(db):
    off = DedupSettings(enabled=False)
    with db.session() as session:
        assert place(session, article_id=1, article=value(1, "x"), settings=off) is None


def test_stories_group_by_words_within_the_window(db):
    with db.session() as session:
        _, a = store_and_place(
            session, value(1, "\n\n".join(STORY[:3]), title="Landslide cuts mountain village")
        )
        _, b = store_and_place(
            session, value(2, VOLUNTEERS, title="Volunteers evacuate village after landslide")
        )
        _, c = store_and_place(
            session,
            value(
                3,
                "The city orchestra announced its winter programme, with three premieres and a festival of "
                "chamber music in the renovated hall.",
                title="Orchestra announces winter programme",
            ),
        )
        later = replace(
            value(4, "\n\n".join(STORY[3:6]), title="Landslide village"),
            published=T + timedelta(days=60),
            fetched_at=T + timedelta(days=60),
        )
        _, d = store_and_place(session, later)
    assert a.story_id == b.story_id and b.story_score is not None
    assert c.story_id != a.story_id
    assert d.story_id != a.story_id  # the same words two months later: another story


def test_a_write_up_published_earlier_joining_late_keeps_the_story_in_reach(db):
    # A story on day 0 and day 1, in a two-day window. A write-up published on day 0 but fetched on day 1
    # joins it; the story's key times must stay with its latest member (day 1), so that a write-up of
    # day 2.5, whose window reaches back to day 0.5, still finds it. The keys follow the profile exactly.
    from sqlalchemy import select

    from monitor.store.models import Story, StoryKey

    settings = DedupSettings(window=timedelta(days=2))
    landslide = "Landslide cuts mountain village"

    def placed(session, n: int, paragraphs: slice, published: timedelta, fetched: timedelta | None = None):
        article = replace(
            value(n, "\n\n".join(STORY[paragraphs]), title=landslide),
            published=T + published,
            fetched_at=T + (fetched or published),
        )
        return store_and_place(session, article, settings)[1]

    with db.session() as session:
        first = placed(session, 1, slice(0, 3), timedelta(0))
        second = placed(session, 2, slice(3, 6), timedelta(days=1))
        late = placed(session, 3, slice(6, 8), timedelta(0), fetched=timedelta(days=1, hours=1))
        story = session.get(Story, first.story_id)
        keys = set(session.scalars(select(StoryKey.term).where(StoryKey.story_id == first.story_id)))
        times = set(session.scalars(select(StoryKey.seen_epoch).where(StoryKey.story_id == first.story_id)))
        write_up = replace(
            value(4, VOLUNTEERS, title="Volunteers evacuate village after landslide"),
            published=T + timedelta(days=2, hours=12),
            fetched_at=T + timedelta(days=2, hours=12),
        )
        _, fourth = store_and_place(session, write_up, settings)
    assert first.story_id == second.story_id == late.story_id
    assert keys == set(stories_store.parse_profile(story.profile))
    assert min(times) >= store.epoch(T + timedelta(days=1))
    assert fourth.method == "new" and fourth.story_id == first.story_id  # found by its words, in reach


def test_a_new_story_keeps_and_is_indexed_by_its_strongest_terms(db):
    # An article of some 300 distinct words starts a story: its profile is the article's vector cut to the
    # PROFILE_TERMS strongest terms (as every later profile is), and those are its index keys, no others.
    from sqlalchemy import select

    from monitor.dedupe.stories import PROFILE_TERMS, SCORING, key_terms
    from monitor.store.models import Story, StoryKey

    syllables = ["bra", "cor", "dun", "fel", "gar", "hol", "mir", "nost", "pel", "quen", "ros", "tav"]
    words = [a + b + c for a in syllables for b in syllables for c in ("an", "ek", "ul")][:300]
    body = "\n\n".join(" ".join(words[n : n + 15]) + "." for n in range(0, len(words), 15))
    with db.session() as session:
        _, placed = store_and_place(session, value(1, body, title="Brannek corulan dunek"))
        vector = stage.story_vector(
            session, title="Brannek corulan dunek", body=body, count=False, scoring=SCORING
        )
        story = session.get(Story, placed.story_id)
        keys = set(session.scalars(select(StoryKey.term).where(StoryKey.story_id == placed.story_id)))
    profile = stories_store.parse_profile(story.profile)
    assert len(vector[0].as_dict()) > 2 * PROFILE_TERMS
    assert set(profile) == set(key_terms(vector[0].as_dict(), PROFILE_TERMS))
    assert keys == set(profile)


def _band_rows(session, article_id: int) -> int:
    from sqlalchemy import func, select

    from monitor.store.models import LshBand

    return session.scalar(select(func.count()).select_from(LshBand).where(LshBand.article_id == article_id))


def test_exact_copies_are_found_through_their_original_and_add_no_index_rows(db):
    body = "\n\n".join(STORY)
    with db.session() as session:
        first_id, first = store_and_place(session, value(1, body))
        copy_id, copy = store_and_place(session, value(2, body))
        near_id, near = store_and_place(session, value(3, "Advertisement\n\n" + "\n\n".join(STORY[:6])))
        assert _band_rows(session, first_id) > 0 and _band_rows(session, near_id) > 0
        assert _band_rows(session, copy_id) == 0
    assert copy.method == "exact" and near.method == "minhash"
    assert first.wire_cluster_id == copy.wire_cluster_id == near.wire_cluster_id


def test_an_original_that_changes_hands_its_index_to_its_oldest_exact_copy(db):
    body = "\n\n".join(STORY)
    with db.session() as session:
        original_id, original = store_and_place(session, value(1, body))
        heir_id, _ = store_and_place(session, value(2, body))
        other_id, _ = store_and_place(session, value(3, body))
        bands = _band_rows(session, original_id)
    rewritten = "\n\n".join(
        f"Item {n}. The orchestra announced concert {n} of its autumn season, with tickets from {n + 12} euros "
        f"and a matinee for schools on the first Sunday of each month, the director said."
        for n in range(8)
    )
    changed = value(1, rewritten, title="Concert season")
    with db.session() as session:
        row = session.get(ArticleRow, original_id)  # as the pipeline's revision of it leaves it
        row.body, row.content_hash, row.title = changed.body, changed.content_hash, changed.title
        moved = place(session, article_id=original_id, article=changed, settings=SETTINGS, changed=True)
        assert moved.wire_cluster_id != original.wire_cluster_id
        assert _band_rows(session, heir_id) == bands and _band_rows(session, other_id) == 0
        row = session.get(ArticleRow, other_id)
        assert (row.wire_method, row.wire_match_id) == ("exact", heir_id)
    with db.session() as session:
        # The old text is still found: a trimmed reprint joins the copies' cluster, an exact one too.
        _, near = store_and_place(session, value(4, "Advertisement\n\n" + "\n\n".join(STORY[:6])))
        _, exact = store_and_place(session, value(5, body))
    assert near.method == "minhash" and near.wire_cluster_id == original.wire_cluster_id
    assert (exact.method, exact.match_id, exact.wire_cluster_id) == (
        "exact",
        heir_id,
        original.wire_cluster_id,
    )


def test_term_counts_count_wire_clusters_not_copies(db):
    from sqlalchemy import select

    from monitor.store.models import TermCount

    def documents(session, term: str) -> int:
        return session.scalar(select(TermCount.documents).where(TermCount.term == term)) or 0

    body = "\n\n".join(STORY)
    with db.session() as session:
        store_and_place(session, value(1, body))
        store_and_place(session, value(2, body))  # exact copy
        store_and_place(session, value(3, "Advertisement\n\n" + "\n\n".join(STORY[:6])))  # wire copy
        assert documents(session, "landslide") == 1 and documents(session, counts_store.TOTAL_TERM) == 1
        store_and_place(
            session,
            value(
                4,
                "\n\n".join(
                    f"Report {n}. After the landslide the regional council voted {n + 3} million euros for a new road "
                    f"and a bridge over the river, to be finished before next winter."
                    for n in range(6)
                ),
                title="Council funds road",
            ),
        )
        assert documents(session, "landslide") == 2 and documents(session, counts_store.TOTAL_TERM) == 2


def test_a_hot_wire_story_reads_its_members_texts_only_when_a_copy_is_the_longest(db):
    """Each copy joining a cluster read every member's text to choose its representative again: placing the
    hundredth reprint of an agency story cost a hundred texts read. A copy is now weighed against the
    representative alone, and every member is read only when the copy is the longest yet or the cluster
    was pruned; the representative is still the rule's choice over every member."""
    from support.inprocess import statements_where

    from monitor.dedupe.representative import choose_representative
    from monitor.store.prune import delete_articles

    whole_reads = statements_where(
        db.engine, lambda sql: "length(articles.body)" in sql and "articles.wire_cluster_id =" in sql
    )
    body = "\n\n".join(STORY)

    def rule_and_stored(session, cluster_id):
        """The rule's choice over every member, and the representative stored; its own read not counted."""
        reads = len(whole_reads)
        members = store.cluster_members(session, cluster_id=cluster_id)
        del whole_reads[reads:]
        head = store.cluster_head(session, cluster_id=cluster_id)
        return choose_representative(members, agency=head.agency).id, head.representative_id

    with db.session() as session:
        # Reprints at later and earlier times, the earliest in the middle of the run.
        ids = [
            store_and_place(session, value(n, body, at=T + timedelta(minutes=abs(n - 12))))[0]
            for n in range(1, 30)
        ]
        cluster_id = session.get(ArticleRow, ids[0]).wire_cluster_id
        assert whole_reads == []  # twenty-eight copies joined; no member's text read for them
        assert rule_and_stored(session, cluster_id) == (ids[11], ids[11])
        # A longer reprint (its outlet's furniture added), published first: its whole cluster is read once.
        longer = "Breaking news from our desk, first with the story as it unfolds.\n\n" + body
        longer_id, placed = store_and_place(session, value(40, longer, at=T - timedelta(hours=1)))
        assert placed.wire_cluster_id == cluster_id and len(whole_reads) == 1
        assert rule_and_stored(session, cluster_id) == (longer_id, longer_id)
        store_and_place(session, value(41, body, at=T + timedelta(hours=1)))
        assert len(whole_reads) == 1
    with db.session() as session:
        delete_articles(session, article_ids=[longer_id], now=T + timedelta(days=60))
    with db.session() as session:
        # Pruned: the longest member is no longer known, so the next copy has every member read again.
        store_and_place(session, value(42, body, at=T + timedelta(hours=2)))
        assert len(whole_reads) == 2
        assert rule_and_stored(session, cluster_id) == (ids[11], ids[11])


def test_placing_and_placing_again_find_their_rows_by_index(db, database_url):
    """Placing an article, its copies and a near copy, then its changed text (its copies inherit): no
    statement reads a table that grows with history whole (``support.queryplans``)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("query plans are read from SQLite")
    body = "\n\n".join(STORY)
    with watched_statements() as statements:
        with db.session() as session:
            original_id, _ = store_and_place(session, value(1, body))
            store_and_place(session, value(2, body))
            store_and_place(session, value(3, "Advertisement\n\n" + "\n\n".join(STORY[:6])))
        changed = value(1, "\n\n".join(reversed(STORY)), title="Changed")
        with db.session() as session:
            row = session.get(ArticleRow, original_id)
            row.body, row.content_hash, row.title = changed.body, changed.content_hash, changed.title
            place(session, article_id=original_id, article=changed, settings=SETTINGS, changed=True)
    scans = statements.scans(make_url(database_url).database)
    assert not scans, "\n\n".join(f"{steps}\n{sql}" for sql, steps in scans)
