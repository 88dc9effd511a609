"""Several instances on one database: due feeds are leased so that no feed is polled twice at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from monitor.config import FeedConfig
from monitor.store import feeds as feed_store
from monitor.store.db import open_database
from monitor.store.models import Feed

NOW = datetime(2024, 9, 9, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=30)


def setup(database_url, n=6):
    db = open_database(database_url)
    configs = [FeedConfig(name=f"feed {i}", url=f"https://news{i}.example/rss") for i in range(n)]
    with db.session() as session:
        feed_store.sync_feeds(session, feeds=configs, now=NOW)
    return db


def claim(db, owner, now=NOW, **kwargs):
    with db.session() as session:
        return feed_store.claim_feeds(session, now=now, owner=owner, lease=LEASE, **kwargs)


def test_a_leased_feed_is_not_claimed_by_another_instance_until_the_lease_ends(database_url):
    db = setup(database_url)
    first = claim(db, "a")
    assert len(first) == 6
    assert claim(db, "b") == []
    # The lease of a crashed instance runs out; then another takes over.
    assert len(claim(db, "b", now=NOW + LEASE + timedelta(seconds=1))) == 6
    db.dispose()


def test_recording_a_poll_releases_the_lease_and_sets_the_next_time(database_url):
    db = setup(database_url, n=1)
    (feed,) = claim(db, "a")
    record = feed_store.PollRecord(
        polled_at=NOW, next_poll_at=NOW + timedelta(minutes=30), status=200, succeeded=True, etag='"v1"'
    )
    with db.session() as session:
        feed_store.record_polls(session, owner="a", records=[(feed.id, record)])
    assert claim(db, "b") == []  # not due yet
    (again,) = claim(db, "b", now=NOW + timedelta(minutes=31))
    assert again.etag == '"v1"'
    db.dispose()


def test_limit_and_due_only(database_url):
    db = setup(database_url)
    assert len(claim(db, "a", limit=2)) == 2
    assert len(claim(db, "b", names=["feed 5"])) == 1
    assert {f.name for f in claim(db, "c", due_only=False)} == {"feed 2", "feed 3", "feed 4"}
    db.dispose()


def test_release_on_shutdown_frees_the_feeds(database_url):
    db = setup(database_url, n=3)
    claim(db, "a")
    with db.session() as session:
        feed_store.release_leases(session, owner="a")
    assert len(claim(db, "b")) == 3
    db.dispose()


def test_concurrent_claims_never_share_a_feed(database_url):
    db = setup(database_url, n=40)
    results: dict[str, list] = {}
    barrier = threading.Barrier(4)

    def worker(owner):
        barrier.wait()
        got = []
        for _ in range(20):
            got += claim(db, owner, limit=3)
        results[owner] = [f.name for f in got]

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [name for names in results.values() for name in names]
    assert len(claimed) == len(set(claimed)) == 40
    db.dispose()


def test_removed_feeds_are_disabled_and_a_changed_url_starts_afresh(database_url):
    db = setup(database_url, n=2)
    (feed,) = claim(db, "a", names=["feed 0"])
    with db.session() as session:
        feed_store.record_polls(
            session,
            owner="a",
            records=[
                (
                    feed.id,
                    feed_store.PollRecord(
                        polled_at=NOW,
                        next_poll_at=NOW + timedelta(days=1),
                        status=410,
                        succeeded=False,
                        error="gone",
                        error_kind="gone",
                        gone=True,
                    ),
                )
            ],
        )
        feed_store.sync_feeds(
            session, feeds=[FeedConfig(name="feed 0", url="https://moved.example/rss")], now=NOW
        )
    with db.session() as session:
        rows = {s.feed.name: s.feed for s in feed_store.feed_statuses(session)}
    assert rows["feed 1"].enabled is False
    moved = rows["feed 0"]
    assert moved.url == "https://moved.example/rss" and moved.gone_at is None and moved.next_poll_at == NOW
    db.dispose()


def test_many_outcomes_recorded_at_once_each_land_on_their_own_row(database_url):
    db = setup(database_url, n=5)
    feeds = {f.name: f for f in claim(db, "a")}
    later = NOW + timedelta(minutes=30)
    ok = {"polled_at": NOW, "next_poll_at": later, "succeeded": True}
    records = [
        (
            feeds["feed 0"].id,
            feed_store.PollRecord(status=200, etag='"e0"', title="Zero", warning="odd", **ok),
        ),
        (
            feeds["feed 1"].id,
            feed_store.PollRecord(status=304, etag='"e1"', last_modified="Mon, 09 Sep 2024", **ok),
        ),
        (
            feeds["feed 2"].id,
            feed_store.PollRecord(
                polled_at=NOW,
                next_poll_at=later,
                status=503,
                succeeded=False,
                error="busy",
                error_kind="http_5xx",
                retry_after_until=NOW + timedelta(minutes=5),
            ),
        ),
        (
            feeds["feed 3"].id,
            feed_store.PollRecord(
                polled_at=NOW,
                next_poll_at=later,
                status=410,
                succeeded=False,
                error="gone",
                error_kind="gone",
                gone=True,
            ),
        ),
    ]
    with db.session() as session:
        session.get(Feed, feeds["feed 1"].id).title = "Known title"
        feed_store.record_polls(session, owner="a", records=records)
    with db.session() as session:
        rows = {s.feed.name: s.feed for s in feed_store.feed_statuses(session)}
    zero, one, two, three, four = (rows[f"feed {i}"] for i in range(5))
    assert (zero.title, zero.etag, zero.last_warning, zero.last_status) == ("Zero", '"e0"', "odd", 200)
    assert zero.last_success_at == NOW and zero.next_poll_at == later and zero.lease_owner is None
    assert (one.title, one.etag, one.last_modified) == ("Known title", '"e1"', "Mon, 09 Sep 2024")  # kept
    assert (two.consecutive_failures, two.last_error_kind, two.last_success_at) == (1, "http_5xx", None)
    assert two.retry_after_until == NOW + timedelta(minutes=5) and two.gone_at is None
    assert three.gone_at == NOW and three.last_error == "gone" and three.lease_until is None
    assert (
        four.last_polled_at is None and four.lease_owner == "a"
    )  # not in the batch: still leased, untouched
    db.dispose()


def test_recording_keeps_a_lease_another_instance_took_over(database_url):
    db = setup(database_url, n=1)
    (feed,) = claim(db, "a")
    assert claim(db, "b", now=NOW + LEASE + timedelta(seconds=1))  # a's lease ran out: b takes it
    with db.session() as session:
        feed_store.record_polls(
            session,
            owner="a",
            records=[
                (
                    feed.id,
                    feed_store.PollRecord(
                        polled_at=NOW, next_poll_at=NOW + timedelta(hours=1), status=200, succeeded=True
                    ),
                )
            ],
        )
    assert claim(db, "c", now=NOW + LEASE + timedelta(seconds=2), due_only=False) == []  # still b's
    db.dispose()


def test_instances_writing_a_new_feed_at_the_same_moment_take_turns(database_url):
    # An edit adding a feed, then SIGHUP to every instance: each wrote the configured feeds at once, found the
    # new one missing and inserted it, and all but the first failed on its unique name (their reload then
    # waited for the next check, with a traceback in the log).
    db = setup(database_url, n=2)
    second_db = open_database(database_url)
    configs = [FeedConfig(name=f"feed {i}", url=f"https://news{i}.example/rss") for i in range(3)]
    failures: list[BaseException] = []

    def other_instance():
        try:
            with second_db.write_session() as session:
                feed_store.sync_feeds(session, feeds=configs, now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    with db.write_session() as session:
        feed_store.sync_feeds(session, feeds=configs, now=NOW)
        session.flush()  # the new feed inserted, not yet committed
        other = threading.Thread(target=other_instance)
        other.start()
        other.join(timeout=1.0)
        assert other.is_alive()  # it waits for this transaction
    other.join(timeout=30)
    assert not other.is_alive() and failures == []
    with db.session() as session:
        assert sorted(row.name for row in session.query(Feed)) == ["feed 0", "feed 1", "feed 2"]
    second_db.dispose()
    db.dispose()


def test_a_poll_records_the_unwatched_spells_and_the_next_claim_reads_them_back(database_url):
    db = setup(database_url, n=2)
    (first, second) = claim(db, "a")
    spells = ((NOW - timedelta(days=3), NOW - timedelta(days=1)), (NOW - timedelta(hours=5), NOW))
    with db.session() as session:
        feed_store.record_polls(
            session,
            owner="a",
            records=[
                (first.id, feed_store.PollRecord(NOW, NOW, 200, True, unwatched=spells)),
                (second.id, feed_store.PollRecord(NOW, NOW, 200, True)),
            ],
        )
    again = {feed.name: feed for feed in claim(db, "a", now=NOW + timedelta(minutes=1))}
    assert again[first.name].unwatched == spells
    assert again[first.name].due_at == NOW
    assert again[second.name].unwatched == ()
    # A later poll without a new spell keeps them.
    with db.session() as session:
        feed_store.record_polls(
            session, owner="a", records=[(first.id, feed_store.PollRecord(NOW, NOW, 200, True))]
        )
    (kept,) = claim(db, "a", now=NOW + timedelta(minutes=2), names=[first.name])
    assert kept.unwatched == spells
    db.dispose()


def test_spells_that_cannot_be_read_count_as_none():
    # A row edited by hand, or by a later version: the feed goes on, its rate a little rougher for a week.
    for text in ("", "not json", "{}", '[["2024-01-01", 3]]', '[["yesterday", "today"]]', "[1, 2]", "null"):
        assert feed_store.decode_spells(text) == ()
    stored = feed_store.encode_spells([(NOW, NOW + timedelta(hours=1))])
    assert feed_store.decode_spells(stored) == ((NOW, NOW + timedelta(hours=1)),)
    # Written without a zone: taken as UTC, as the store keeps every time.
    assert feed_store.decode_spells('[["2024-09-09T12:00:00", "2024-09-09T13:00"]]') == (
        (NOW, NOW + timedelta(hours=1)),
    )
