"""Term counts written behind (``monitor.dedupe.tally``): the same counts as written at once, seen by the
process that gathered them, and taken back with the transaction or savepoint that rolls back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from support.articles import extracted_article, stored_and_placed, stored_row

from monitor.config import DedupSettings
from monitor.dedupe.stage import story_vector
from monitor.dedupe.stories import SCORING
from monitor.dedupe.tally import TermTally
from monitor.store import counts as counts_store
from monitor.store.db import open_database
from monitor.store.models import TermCount

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEXTS = [
    "Engineers restored power to the grain terminal of Pivdennyi after a storm halted loading of cargo ships.",
    "A regional orchestra opened its summer season with folk songs arranged for strings in the riverside park.",
    "The port director said forty thousand tonnes of wheat waited on the quay while crews repaired the lines.",
    "Volunteers handed out blankets at the riverside concert when the evening grew cold behind the hills.",
]


def articles():
    return [
        extracted_article(
            f"https://outlet{n}.example/story/{n}",
            f"{text}\n\n{text.upper()} again.",
            T0 + timedelta(hours=n),
        )
        for n, text in enumerate(TEXTS)
    ]


def stored_counts(db) -> dict[str, tuple[int, int]]:
    with db.session() as session:
        rows = session.execute(select(TermCount.term, TermCount.documents, TermCount.last_counted))
        return {term: (documents, last) for term, documents, last in rows}


def test_counts_written_behind_are_those_written_at_once(tmp_path, database_url):
    at_once = open_database(f"sqlite:///{tmp_path}/at_once.db")
    behind = open_database(database_url)
    tally = TermTally()
    for article in articles():
        with at_once.session() as session:
            stored_and_placed(session, article, DedupSettings())
        with behind.session() as session:
            stored_and_placed(session, article, DedupSettings(), tally=tally)
    assert stored_counts(behind) == {}  # nothing written yet
    assert tally.waiting_articles == len(TEXTS)
    with tally.transaction(), behind.session() as session:
        tally.write(session)
    assert tally.waiting_articles == 0
    expected = stored_counts(at_once)
    assert expected[counts_store.TOTAL_TERM][0] == len(TEXTS)
    assert stored_counts(behind) == expected
    at_once.dispose()
    behind.dispose()


def test_the_gathering_process_reads_its_waiting_counts(database_url):
    """The IDF an article is weighed with is the same whether the counts before it were written or wait."""
    db = open_database(database_url)
    tally = TermTally()
    first, second = articles()[:2]
    with db.session() as session:
        stored_and_placed(session, first, DedupSettings(), tally=tally)

        def read(tally):
            return story_vector(
                session, title=None, body=second.body, count=False, scoring=SCORING, tally=tally
            )

        waiting = read(tally)
        tally.write(session)
        written = read(None)
    assert waiting == written and waiting[2] == 1
    db.dispose()


def test_a_rolled_back_transaction_takes_its_counts_back_and_what_it_wrote_waits_again(database_url):
    db = open_database(database_url)
    tally = TermTally()
    first, second, third = articles()[:3]
    with db.session() as session:
        stored_and_placed(session, first, DedupSettings(), tally=tally)
    with pytest.raises(RuntimeError), tally.transaction(), db.session() as session:
        stored_and_placed(session, second, DedupSettings(), tally=tally)
        tally.write(session)
        raise RuntimeError("the transaction fails after writing")
    # The first article's counts wait again; the second's are gone.
    assert stored_counts(db) == {} and tally.waiting_articles == 1
    assert tally.waiting({"grain", "orchestra"}) == ({"grain": 1}, 1)
    with tally.transaction(), db.session() as session:
        stored_and_placed(session, third, DedupSettings(), tally=tally)
        with pytest.raises(RuntimeError), tally.savepoint():  # a savepoint that counted an article rolls back
            tally.add({"savepoint", "rolled", "back"}, at=T0)
            assert tally.waiting({"savepoint", "port"}) == ({"savepoint": 1, "port": 1}, 3)
            raise RuntimeError("the savepoint fails")
        assert tally.waiting({"savepoint", "port"}) == ({"port": 1}, 2)
        tally.write(session)
    assert tally.waiting_articles == 0
    counted = stored_counts(db)
    assert counted[counts_store.TOTAL_TERM][0] == 2 and "savepoint" not in counted
    db.dispose()


def test_a_placement_that_fails_takes_its_counts_back(database_url, monkeypatch):
    """Deduplication failing after it counted an article's terms leaves the article stored, unplaced and
    uncounted, as its savepoint leaves the store."""
    from monitor.dedupe.stage import place
    from monitor.store import stories as stories_store

    db = open_database(database_url)
    tally = TermTally()
    first, second = articles()[:2]

    def refused(*args, **kwargs):
        raise RuntimeError("the story could not be stored")

    with db.session() as session:
        stored_and_placed(session, first, DedupSettings(), tally=tally)
        row = stored_row(session, second)
        monkeypatch.setattr(stories_store, "new_story", refused)
        assert (
            place(session, article_id=row.id, article=second, settings=DedupSettings(), tally=tally) is None
        )
    assert tally.waiting_articles == 1
    assert tally.waiting({"orchestra", "grain"}) == ({"grain": 1}, 1)
    db.dispose()


def test_counts_are_due_after_a_few_seconds_or_when_many_wait():
    now = [100.0]
    tally = TermTally(flush_every=2.0, max_waiting=3, clock=lambda: now[0])
    assert not tally.due()
    tally.add({"a"}, at=T0)
    assert not tally.due()
    now[0] += 2.0
    assert tally.due()  # the oldest waited long enough
    tally = TermTally(flush_every=2.0, max_waiting=3, clock=lambda: now[0])
    for _ in range(3):
        tally.add({"b"}, at=T0)
    assert tally.due()  # many wait
