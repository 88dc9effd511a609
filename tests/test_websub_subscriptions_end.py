"""WebSub subscriptions hold only while the daemon wants them: a feed removed from feeds.yaml, read another way
now, or that names no hub any more, has its hub told 410 Gone; a verification of intent the daemon did not ask
for is refused; a lease that ran out unrenewed takes no pushes; the same push is taken once, however often it
is sent. And they follow the daemon's changes: a feed whose hub moved, a hub that denies, a new callback URL.

The hub is a real one on a loopback address (tests/support/websubhub.py); so are the listener and the daemon.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import signal
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from support.news import make_entries, rss
from support.waiting import wait_for
from support.websubhub import LocalHub
from test_daemon import start_daemon
from test_websub import SECRET, Clock, _config, _in_daemon, free_port, hub_feed, stored_titles

from monitor.config import FeedConfig, WebSubSettings
from monitor.ingest.websub import Subscriber, needs_request
from monitor.store import db as db_module
from monitor.store import feeds as feed_store
from monitor.store import websub as websub_store
from monitor.store.db import open_database
from monitor.store.models import WebSubSubscription

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_a_feed_removed_from_the_configuration_has_its_hub_told_it_is_gone(web, workspace, tmp_path):
    port = free_port()
    with LocalHub("127.0.0.3") as hub:
        topic = hub_feed(web, hub, make_entries(web, "kept", 1))
        other_topic = hub_feed(web, hub, make_entries(web, "other", 1), path="/other.xml")  # the same hub
        harbour = {"name": "Harbour", "url": web.url("/news.xml")}
        other = {"name": "Other", "url": web.url("/other.xml")}
        settings = {
            "fetch_pages": False,
            "poll_tick": "1s",
            "extract_workers": 0,
            "listen": f"127.0.0.1:{port}",
            "websub": {"callback_url": f"http://127.0.0.1:{port}/websub"},
        }
        workspace.write_config([harbour, other], **settings)
        err = tmp_path / "daemon.err"
        daemon = start_daemon(workspace, err)
        try:
            assert wait_for(lambda: len(hub.verified()) == 2, 60), err.read_text()
            workspace.write_config([other], **settings)
            daemon.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "configuration reloaded" in err.read_text(), 60), err.read_text()
            # The hub goes on pushing the feed no one wants: it is told the subscription is gone, and drops it.
            pushed = rss("Harbour news", web.url("/"), make_entries(web, "unwanted", 1))
            assert hub.publish(topic, pushed.encode()) == [410]
            assert [subscription.topic for subscription in hub.subscriptions.values()] == [other_topic]
            # The feed that stays, at the same hub, is pushed as before.
            news = rss("Other news", web.url("/"), make_entries(web, "wanted", 1))
            assert hub.publish(other_topic, news.encode()) == [202]
            assert wait_for(lambda: "Report wanted-0" in stored_titles(workspace.database_url), 30)
            assert wait_for(lambda: "told its subscription is gone" in err.read_text(), 30), err.read_text()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        assert daemon.returncode == 0, err.read_text()
    assert "Report unwanted-0" not in stored_titles(workspace.database_url)
    # Forgotten here too: the feed, configured again, subscribes anew rather than wait for pushes.
    db = open_database(workspace.database_url)
    try:
        with db.session() as session:
            assert [row.feed_name for row in websub_store.all_subscriptions(session)] == ["Other"]
    finally:
        db.dispose()


def test_a_feed_that_names_no_hub_any_more_has_its_hub_told_it_is_gone(web, workspace):
    port = free_port()
    with LocalHub("127.0.0.3") as hub:
        topic = hub_feed(web, hub, make_entries(web, "first", 1))
        _config(workspace, web, port=port)

        async def body(pipeline, subscriber, pushes):
            await pipeline.poll(due_only=False)
            assert await asyncio.to_thread(wait_for, hub.verified, 30)
            # The publisher takes the hub link out of its feed (or the feed moved to an address without one).
            web.set("/news.xml", rss("Harbour news", web.url("/"), make_entries(web, "first", 1)))
            await pipeline.poll(due_only=False)
            with pipeline.db.session() as session:
                assert websub_store.all_subscriptions(session) == []
            pushed = rss("Harbour news", web.url("/"), make_entries(web, "stale", 1))
            return await asyncio.to_thread(hub.publish, topic, pushed.encode())

        assert asyncio.run(_in_daemon(workspace, body, clock=Clock())) == [410]
    assert "Report stale-0" not in stored_titles(workspace.database_url)


class _Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _subscription_asked(db, *, accept=None) -> tuple[Subscriber, _Clock]:
    """Feed "F" whose subscription (token "tok", topic "http://t/") was asked of a hub at NOW, not verified
    yet; a subscriber asking 7-day leases, and its clock."""
    with db.session() as session:
        feed_store.sync_feeds(session, feeds=[FeedConfig(name="F", url="http://127.0.0.1/f.xml")], now=NOW)
    with db.session() as session:
        [feed] = feed_store.claim_feeds(
            session, now=NOW, owner="t", lease=timedelta(minutes=1), due_only=False
        )
        websub_store.request(
            session, feed_id=feed.id, hub="http://h/", topic="http://t/", token="tok", secret=SECRET, now=NOW
        )
    clock = _Clock()
    settings = WebSubSettings(callback_url="http://127.0.0.1:9/websub", lease=timedelta(days=7))
    return Subscriber(settings, db, accept=accept, clock=clock), clock


def _verification(lease_seconds: int, challenge: str = "c") -> dict[str, str]:
    return {
        "hub.mode": "subscribe",
        "hub.topic": "http://t/",
        "hub.challenge": challenge,
        "hub.lease_seconds": str(lease_seconds),
    }


def _lease_until(db) -> datetime | None:
    with db.session() as session:
        subscription = websub_store.by_token(session, "tok")
    assert subscription is not None
    return subscription.lease_until


def test_a_verification_of_intent_is_confirmed_only_for_a_request_the_daemon_made(db):
    subscriber, clock = _subscription_asked(db)
    # The request the daemon made: confirmed, with no longer a lease than it asked for, however long the
    # hub says (a longer one would put the renewal off for as long).
    assert subscriber.verify("tok", _verification(10 * 365 * 86400)).body == b"c"
    assert _lease_until(db) == NOW + timedelta(days=7)
    # The hub did not get that answer and verifies again, moments later: confirmed again.
    clock.now = NOW + timedelta(minutes=1)
    assert subscriber.verify("tok", _verification(86400, "again")).body == b"again"
    # Later, the daemon asked nothing: whoever learnt the callback cannot stretch the lease nor revive it,
    # however often they verify.
    clock.now = NOW + timedelta(minutes=9)
    assert subscriber.verify("tok", _verification(86400, "stretched")).status == 200
    clock.now = NOW + timedelta(minutes=15)
    assert subscriber.verify("tok", _verification(7 * 86400, "stretched")).status == 404
    clock.now = NOW + timedelta(hours=3)
    assert subscriber.verify("tok", _verification(7 * 86400, "forged")).status == 404
    assert _lease_until(db) == NOW + timedelta(minutes=9, days=1)
    # The renewal the daemon asks for is confirmed.
    with db.session() as session:
        [subscription] = websub_store.all_subscriptions(session)
        websub_store.request(
            session,
            feed_id=subscription.feed_id,
            hub="http://h/",
            topic="http://t/",
            token="tok",
            secret=SECRET,
            now=clock.now,
        )
    assert subscriber.verify("tok", _verification(7 * 86400, "renewed")).body == b"renewed"
    assert _lease_until(db) == clock.now + timedelta(days=7)
    # A feed no longer configured wants no subscription, asked for or not.
    with db.session() as session:
        websub_store.request(
            session,
            feed_id=subscription.feed_id,
            hub="http://h/",
            topic="http://t/",
            token="tok",
            secret=SECRET,
            now=clock.now,
        )
    with db.session() as session:
        feed_store.sync_feeds(session, feeds=[], now=clock.now)
    assert subscriber.verify("tok", _verification(7 * 86400)).status == 404


def _signed(body: bytes) -> dict[str, str]:
    return {"x-hub-signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def test_pushes_after_a_lease_ran_out_unrenewed_are_told_it_is_gone(db):
    subscriber, clock = _subscription_asked(db)
    assert subscriber.verify("tok", _verification(86400)).status == 200
    body = b"<rss>news</rss>"
    clock.now = NOW + timedelta(days=1, minutes=-1)
    assert subscriber.takes_pushes("tok") and subscriber.push("tok", _signed(body), body).status == 202
    clock.now = NOW + timedelta(days=1, minutes=2)  # a hub's clock a little behind ours: still taken
    assert subscriber.takes_pushes("tok")
    clock.now = NOW + timedelta(days=1, hours=1)
    assert not subscriber.takes_pushes("tok")
    assert subscriber.push("tok", _signed(b"<rss>later</rss>"), b"<rss>later</rss>").status == 410


def test_the_same_signed_push_sent_again_is_taken_once(db):
    accepted: list[bytes] = []
    subscriber, clock = _subscription_asked(
        db, accept=lambda subscription, body, headers: accepted.append(body)
    )
    assert subscriber.verify("tok", _verification(7 * 86400)).status == 200
    first, second = b"<rss>first</rss>", b"<rss>second</rss>"
    assert subscriber.push("tok", _signed(first), first).body == b"accepted\n"
    # Sent again, as overheard (or as a hub retries one whose answer it lost): answered 2xx, not processed.
    clock.now += timedelta(hours=2)
    replayed = subscriber.push("tok", _signed(first), first)
    assert replayed.status == 202 and replayed.body == b"ignored\n"
    assert subscriber.push("tok", _signed(second), second).body == b"accepted\n"
    assert accepted == [first, second]
    with db.session() as session:
        assert websub_store.by_token(session, "tok").pushes == 2


def test_a_feed_whose_hub_moved_is_polled_at_its_rhythm_until_the_new_hub_verifies(web, workspace):
    port, clock = free_port(), Clock()
    with LocalHub("127.0.0.3") as old_hub, LocalHub("127.0.0.3") as new_hub:
        topic = hub_feed(web, old_hub, make_entries(web, "first", 1))
        _config(workspace, web, port=port)

        async def body(pipeline, subscriber, pushes):
            await pipeline.poll(due_only=False)
            assert await asyncio.to_thread(wait_for, old_hub.verified, 30)
            [pushed] = await pipeline.poll(due_only=False)
            # The feed names another hub, one that refuses: no hub pushes the feed any more.
            new_hub.refuse = True
            hub_feed(web, new_hub, make_entries(web, "first", 1))
            [moved] = await pipeline.poll(due_only=False)
            news = rss("Harbour news", web.url("/"), make_entries(web, "old-hub", 1))
            return moved.next_poll_at, await asyncio.to_thread(old_hub.publish, topic, news.encode())

        next_poll_at, old_hub_told = asyncio.run(_in_daemon(workspace, body, clock=clock))
    assert next_poll_at <= clock() + timedelta(minutes=31)  # its own 30 minutes, not the 6-hour fallback
    assert old_hub_told == [410]
    [row] = workspace.json("feeds")
    assert row["websub"]["state"] == "denied" and row["websub"]["hub"] == new_hub.url


def test_a_hub_that_denies_a_subscription_it_held_for_days_is_asked_again_a_day_after_the_denial(db):
    subscriber, clock = _subscription_asked(db)
    assert subscriber.verify("tok", _verification(7 * 86400)).status == 200
    clock.now = NOW + timedelta(days=3)
    denial = {"hub.mode": "denied", "hub.topic": "http://t/", "hub.reason": "topic closed"}
    assert subscriber.verify("tok", denial).status == 200
    with db.session() as session:
        subscription = websub_store.by_token(session, "tok")
    assert subscription.state == "denied" and "topic closed" in subscription.error
    assert not subscriber.takes_pushes("tok")
    # Not at the next poll, half an hour on (the request it denied was made days ago): a day after the denial.
    assert not needs_request(subscription, "http://h/", "http://t/", clock.now + timedelta(minutes=30))
    assert needs_request(subscription, "http://h/", "http://t/", clock.now + timedelta(days=1))


def _subscribed(workspace, web, hub, *, port: int, clock) -> str:
    """A feed of ``hub``'s polled once by a daemon whose hub verified its subscription: the feed's topic."""
    topic = hub_feed(web, hub, make_entries(web, "first", 1))
    _config(workspace, web, port=port)

    async def subscribe(pipeline, subscriber, pushes):
        await pipeline.poll(due_only=False)
        return await asyncio.to_thread(wait_for, hub.verified, 30)

    assert asyncio.run(_in_daemon(workspace, subscribe, clock=clock))
    return topic


def test_a_changed_callback_url_is_given_to_the_hubs_at_the_next_poll_not_at_the_renewal(web, workspace):
    port, clock = free_port(), Clock()
    with LocalHub("127.0.0.3") as hub:
        topic = _subscribed(workspace, web, hub, port=port, clock=clock)
        # The daemon's public address moves (a new domain, another proxy): the hubs must learn it at once, not
        # at the renewal, days away, while they push to an address that no longer reaches the daemon.
        moved = f"http://localhost:{port}/websub"
        _config(workspace, web, port=port, callback_url=moved)

        async def poll_again(pipeline, subscriber, pushes):
            await pipeline.poll(due_only=False)
            assert await asyncio.to_thread(
                wait_for, lambda: [s for s in hub.verified() if s.callback.startswith(moved)], 30
            )
            pushed = rss("Harbour news", web.url("/"), make_entries(web, "moved", 1))
            await asyncio.to_thread(hub.publish, topic, pushed.encode())
            await asyncio.wrap_future(pushes[0])
            return len(pushes)

        # Both addresses reach this daemon here: the content the hub pushes to each is taken once.
        assert asyncio.run(_in_daemon(workspace, poll_again, clock=clock)) == 1
    assert "Report moved-0" in stored_titles(workspace.database_url)


def test_a_feed_now_read_as_a_sitemap_or_page_has_its_hub_told_it_is_gone(db):
    # Only feeds read as feeds are pushed: what a hub pushes for one now read another way would be dropped
    # after counting as a push, for the rest of the lease.
    subscriber, clock = _subscription_asked(db)
    assert subscriber.verify("tok", _verification(7 * 86400)).status == 200
    with db.session() as session:
        feed_store.sync_feeds(
            session, feeds=[FeedConfig(name="F", url="http://127.0.0.1/f.xml", kind="sitemap")], now=NOW
        )
    body = b"<rss>news</rss>"
    assert subscriber.push("tok", _signed(body), body).status == 410
    with db.session() as session:
        assert websub_store.all_subscriptions(session) == []


def test_a_push_the_database_could_not_take_is_taken_when_the_hub_sends_it_again(tmp_path, monkeypatch):
    # SQLite whatever the suite's database: another program's lock is the outage, outlasting the busy timeout.
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT", 0.2)
    path = tmp_path / "monitor.db"
    db = open_database(f"sqlite:///{path}")
    try:
        accepted: list[bytes] = []
        subscriber, _clock = _subscription_asked(
            db, accept=lambda subscription, body, headers: accepted.append(body)
        )
        assert subscriber.verify("tok", _verification(7 * 86400)).status == 200
        body = b"<rss>news</rss>"
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            # The hub gets no answer (the listener drops the connection) and sends the same content again.
            with pytest.raises(OperationalError):
                subscriber.push("tok", _signed(body), body)
        finally:
            locker.rollback()
            locker.close()
        again = subscriber.push("tok", _signed(body), body)
        assert (again.status, again.body) == (202, b"accepted\n")
        assert accepted == [body]
        assert subscriber.push("tok", _signed(body), body).body == b"ignored\n"
    finally:
        db.dispose()


def test_a_subscription_made_before_callbacks_were_kept_is_not_asked_for_again(web, workspace):
    # After the upgrade that keeps each subscription's callback, the ones made before have none: taken to be at
    # the callback configured, they are not asked for again at once (a hub failing that request would have
    # ended a subscription that worked), and pushes still reach them.
    port, clock = free_port(), Clock()
    with LocalHub("127.0.0.3") as hub:
        topic = _subscribed(workspace, web, hub, port=port, clock=clock)
        db = open_database(workspace.database_url)
        with db.session() as session:
            session.execute(update(WebSubSubscription).values(callback=None))
        db.dispose()
        [subscription] = hub.verified()
        asked = subscription.requests

        async def poll_again(pipeline, subscriber, pushes):
            await pipeline.poll(due_only=False)
            pushed = rss("Harbour news", web.url("/"), make_entries(web, "kept", 1))
            await asyncio.to_thread(hub.publish, topic, pushed.encode())
            await asyncio.wrap_future(pushes[0])
            return len(pushes)

        assert asyncio.run(_in_daemon(workspace, poll_again, clock=clock)) == 1
        assert subscription.requests == asked
