"""WebSub: feeds that name a hub are subscribed; what the hub pushes, signed, is stored as a poll would store
it; forged pushes are ignored; subscriptions are renewed; polling goes on at the fallback interval.

The hub is a real one on a loopback address (tests/support/websubhub.py); the daemon's listener is real too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import signal
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from prometheus_client.parser import text_string_to_metric_families
from support.httpserver import Route
from support.news import Entry, make_entries, rss
from support.waiting import wait_for
from support.websubhub import LocalHub
from test_addressguard import test_guard as declared_public_guard
from test_daemon import start_daemon

from monitor.config import ConfigError, load_config
from monitor.daemon.observe import Health, Listener
from monitor.ingest.fetch import FetchResult
from monitor.ingest.parse import parse_feed
from monitor.ingest.websub import Subscriber, discover, needs_request, signature_matches, token_of
from monitor.pipeline import Pipeline
from monitor.runtime.metrics import PrometheusMetrics
from monitor.store import websub as websub_store
from monitor.store.db import open_database

SECRET = "0123456789abcdef"


# --- the protocol's small parts ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_a_signature_by_any_method_of_the_spec_matches(method):
    body = b"<rss>pushed</rss>"
    signature = hmac.new(SECRET.encode(), body, getattr(hashlib, method)).hexdigest()
    assert signature_matches(SECRET, body, f"{method}={signature}")
    assert signature_matches(SECRET, body, f"{method.upper()}={signature.upper()}")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256",
        "sha256=",
        "md5=" + hashlib.md5(b"x").hexdigest(),
        "sha256=" + hmac.new(b"another secret", b"<rss>pushed</rss>", hashlib.sha256).hexdigest(),
        "sha256=" + hmac.new(SECRET.encode(), b"<rss>other</rss>", hashlib.sha256).hexdigest(),
        "sha256=\x00\x1b[31m",
        "=" * 5000,
    ],
)
def test_a_missing_or_wrong_signature_does_not_match(header):
    assert not signature_matches(SECRET, b"<rss>pushed</rss>", header)


@pytest.mark.parametrize(
    "path, token",
    [
        ("/websub/abc_DEF-123", "abc_DEF-123"),
        ("/websub/abc?hub.mode=subscribe&hub.challenge=x", "abc"),
        ("/websub/abc/", "abc"),
        ("/websub/", None),
        ("/websub", None),
        ("/healthz", None),
        ("/other/abc", None),
        ("/websub/a/b", None),
        ("/websub/../etc", None),
        ("/websub/" + "a" * 65, None),
        ("/websub/a%00b", None),
    ],
)
def test_the_callback_path_names_a_token(path, token):
    assert token_of(path) == token


def _parsed(document: str, url: str = "http://127.0.0.1/feed.xml"):
    return parse_feed(document.encode(), url=url)


ATOM_WITH_HUB = """<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<link rel="hub" href="/hub"/><link rel="self" href="http://127.0.0.1/atom.xml"/>
<entry><id>1</id><title>One</title></entry></feed>"""


def test_the_hub_and_topic_are_discovered_from_the_document_or_the_link_header():
    parsed = _parsed(ATOM_WITH_HUB)
    plain = FetchResult("http://127.0.0.1/feed.xml", "http://127.0.0.1/feed.xml", 200, {})
    assert discover(parsed, plain) == ("http://127.0.0.1/hub", "http://127.0.0.1/atom.xml")
    # The Link header comes first, as the spec says.
    headed = FetchResult(
        plain.url,
        plain.final_url,
        200,
        {"link": '<https://hub.example.org/>; rel="hub", </canonical.xml>; rel="self"'},
    )
    assert discover(parsed, headed) == ("https://hub.example.org/", "http://127.0.0.1/canonical.xml")
    # No hub, no subscription; a hub of another scheme is none.
    assert discover(_parsed(rss("T", "http://127.0.0.1/", [])), plain) is None
    assert discover(_parsed(ATOM_WITH_HUB.replace('href="/hub"', 'href="ftp://h/"')), plain) is None
    assert (
        discover(
            _parsed(rss("T", "http://127.0.0.1/", [])),
            FetchResult(plain.url, plain.final_url, 200, {"link": "<javascript:x>; rel=hub"}),
        )
        is None
    )


def test_a_json_feed_names_its_hub_in_hubs():
    document = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "feed_url": "http://127.0.0.1/j",'
        ' "hubs": [{"type": "rssCloud", "url": "http://c/"}, {"type": "WebSub", "url": "http://127.0.0.1/h"}],'
        ' "items": [{"id": "1", "content_text": "x"}]}'
    )
    parsed = parse_feed(
        document.encode(), url="http://127.0.0.1/j", headers={"content-type": "application/json"}
    )
    assert (parsed.hub, parsed.self_url) == ("http://127.0.0.1/h", "http://127.0.0.1/j")


def _subscription(state, *, requested, lease_until=None, hub="http://h/", topic="http://t/"):
    return websub_store.Subscription(1, 1, "F", hub, topic, "tok", SECRET, state, lease_until, requested)


def test_when_to_ask_the_hub_again():
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert needs_request(None, "http://h/", "http://t/", now)
    active = _subscription("active", requested=now - timedelta(days=2), lease_until=now + timedelta(days=5))
    assert not needs_request(active, "http://h/", "http://t/", now)  # 2 of 7 days gone
    assert needs_request(active, "http://h/", "http://t/", now + timedelta(days=2))  # half gone: renew
    assert needs_request(active, "http://other-hub/", "http://t/", now)  # the feed moved to another hub
    pending = _subscription("pending", requested=now - timedelta(minutes=10))
    assert not needs_request(pending, "http://h/", "http://t/", now)  # the hub may still verify
    assert needs_request(pending, "http://h/", "http://t/", now + timedelta(hours=1))
    denied = _subscription("denied", requested=now - timedelta(hours=2))
    assert not needs_request(denied, "http://h/", "http://t/", now)
    assert needs_request(denied, "http://h/", "http://t/", now + timedelta(days=1))


@pytest.mark.parametrize(
    "websub, listen, message",
    [
        ({"callback_url": "https://monitor.example.org/websub"}, None, "nothing listens"),
        ({"callback_url": "monitor.example.org/websub"}, "127.0.0.1:9100", "not an absolute http(s) URL"),
        ({"callback_url": "https://monitor.example.org/websub?x=1"}, "127.0.0.1:9100", "query or fragment"),
        ({"callback_url": "https://m.example.org/websub", "lease": "-1d"}, "127.0.0.1:9100", "lease"),
    ],
)
def test_websub_settings_are_checked(workspace, websub, listen, message):
    settings = {"websub": websub} | ({"listen": listen} if listen else {})
    workspace.write_config([], **settings)
    with pytest.raises(ConfigError) as raised:
        load_config(workspace.config_path)
    assert message in str(raised.value)


# --- a feed, its hub and the daemon's listener, in one process ----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hub_feed(web, hub: LocalHub, entries: list[Entry], *, path: str = "/news.xml") -> str:
    """An RSS feed on ``web`` that names ``hub`` and itself."""
    topic = web.url(path)
    links = f'<atom:link rel="hub" href="{hub.url}"/><atom:link rel="self" href="{topic}"/>'
    document = (
        rss("Harbour news", web.url("/"), entries)
        .replace('<rss version="2.0">', '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">')
        .replace("<channel>", "<channel>" + links, 1)
    )
    web.set(path, Route(document, headers={"Content-Type": "application/rss+xml"}))
    return topic


def stored_titles(database_url: str) -> set[str]:
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(sqlalchemy.text("SELECT title FROM articles")))
    finally:
        engine.dispose()


async def _in_daemon(workspace, body, *, clock: Clock, guard=None):
    """Run ``body(pipeline, subscriber, listener_port)`` with a pipeline, a listener and a subscriber wired as the
    daemon wires them (monitor.daemon.scheduler)."""
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)
    loop = asyncio.get_running_loop()
    metrics = PrometheusMetrics()
    host, port = config.settings.listen.rsplit(":", 1)
    listener = Listener(
        (host, int(port)), health=Health(db=db, metrics=metrics, tick_every=1), metrics=metrics
    )
    try:
        async with Pipeline(config, db, guard=guard, metrics=metrics) as pipeline:
            pipeline.sync_feeds()
            pushes: list = []

            def accept(subscription, content, headers):
                pushes.append(
                    asyncio.run_coroutine_threadsafe(
                        pipeline.accept_push(subscription, content, headers), loop
                    )
                )

            subscriber = Subscriber(config.settings.websub, db, accept=accept, clock=clock)
            pipeline.websub = listener.websub = subscriber
            listener.start()
            return await body(pipeline, subscriber, pushes)
    finally:
        listener.stop()
        db.dispose()


def _config(workspace, web, *, port: int, **websub):
    # A fixed interval, so that what WebSub changes in the schedule is all there is to see.
    workspace.write_config(
        [{"name": "Harbour", "url": web.url("/news.xml"), "interval": "30m"}],
        fetch_pages=False,
        listen=f"127.0.0.1:{port}",
        websub={"callback_url": f"http://127.0.0.1:{port}/websub", **websub},
    )


def test_a_feed_is_subscribed_and_what_its_hub_pushes_is_stored_without_a_poll(web, workspace):
    port = clock_port = free_port()
    clock = Clock()
    with LocalHub("127.0.0.3") as hub:
        topic = hub_feed(web, hub, make_entries(web, "first", 2))
        _config(workspace, web, port=port)

        async def body(pipeline, subscriber, pushes):
            [report] = await pipeline.poll(due_only=False)
            assert report.new_articles == 2
            # The hub was asked, at our callback, and verified our intent.
            assert await asyncio.to_thread(wait_for, hub.verified, 30)
            [asked] = hub.verified()
            assert asked.topic == topic and asked.callback.startswith(
                f"http://127.0.0.1:{clock_port}/websub/"
            )
            assert asked.lease_seconds == 7 * 86400 and len(asked.secret) >= 32
            with pipeline.db.session() as session:
                [row] = websub_store.all_subscriptions(session)
            assert row.state == "active" and row.lease_until > clock() + timedelta(days=6)
            # The hub verified after that poll: the next one cannot tell whether the hub pushes what it finds,
            # and the one after it comes at the feed's 30 minutes; from then on, while the hub pushes, the
            # fallback: hours away.
            [judging] = await pipeline.poll(due_only=False)
            assert judging.next_poll_at <= clock() + timedelta(minutes=31)
            [again] = await pipeline.poll(due_only=False)
            assert again.next_poll_at > clock() + timedelta(hours=5)

            feed_fetches = len(web.requests_for("/news.xml"))
            await asyncio.sleep(1.1)  # published after the polls, to the second a feed's dates are given in
            news = [replace(entry, published=datetime.now(UTC)) for entry in make_entries(web, "pushed", 1)]
            pushed = rss("Harbour news", web.url("/"), news + make_entries(web, "first", 2))
            statuses = await asyncio.to_thread(hub.publish, topic, pushed.encode())
            assert statuses == [202]
            await asyncio.wrap_future(pushes[-1])
            assert "Report pushed-0" in stored_titles(workspace.database_url)
            assert len(web.requests_for("/news.xml")) == feed_fetches  # pushed, not polled
            # Stored seconds after it was published, and counted as pushed news.
            delays = {
                (sample.name, sample.labels["via"]): sample.value
                for family in text_string_to_metric_families(pipeline.metrics.exposition()[0].decode())
                if family.name == "monitor_news_delay_seconds"
                for sample in family.samples
            }
            assert delays[("monitor_news_delay_seconds_count", "push")] == 1
            assert delays[("monitor_news_delay_seconds_sum", "push")] < 60
            assert delays[("monitor_news_delay_seconds_count", "poll")] == 0  # the first poll: a backlog

            # Content signed with another secret is answered 2xx (the spec) and ignored.
            forged = rss("Harbour news", web.url("/"), make_entries(web, "forged", 1))
            assert await asyncio.to_thread(hub.publish, topic, forged.encode(), secret="guessed") == [202]
            assert len(pushes) == 1 and "Report forged-0" not in stored_titles(workspace.database_url)
            return True

        assert asyncio.run(_in_daemon(workspace, body, clock=clock))
    # The operator sees it: the feed is pushed, by which hub, how often.
    [row] = workspace.json("feeds")
    assert (
        row["websub"]["state"] == "active"
        and row["websub"]["hub"] == hub.url
        and row["websub"]["pushes"] == 1
    )
    assert "pushed" in workspace.cli("feeds").stdout


def test_a_subscription_is_renewed_with_the_same_callback_once_half_its_lease_is_gone(web, workspace):
    port, clock = free_port(), Clock()
    with LocalHub("127.0.0.3", grant_lease=3600) as hub:
        hub_feed(web, hub, make_entries(web, "r", 1))
        _config(workspace, web, port=port)

        async def body(pipeline, subscriber, pushes):
            [first] = await pipeline.poll(due_only=False)
            assert await asyncio.to_thread(wait_for, hub.verified, 30)
            # The hub granted an hour: the fallback poll comes before the renewal is due, not 6 hours later.
            [polled] = await pipeline.poll(due_only=False)
            assert polled.next_poll_at <= clock() + timedelta(minutes=31)
            clock.shift = timedelta(minutes=31)
            await pipeline.poll(due_only=False)
            [subscription] = hub.subscriptions.values()
            assert subscription.requests == 2  # renewed, at the same callback (one subscription at the hub)
            assert await asyncio.to_thread(wait_for, lambda: hub.verified() and subscription.verified, 30)
            return True

        assert asyncio.run(_in_daemon(workspace, body, clock=clock))


def test_a_hub_that_refuses_costs_the_feed_nothing(web, workspace):
    port = free_port()
    with LocalHub("127.0.0.3") as hub:
        hub.refuse = True
        hub_feed(web, hub, make_entries(web, "x", 2))
        _config(workspace, web, port=port)

        async def body(pipeline, subscriber, pushes):
            [report] = await pipeline.poll(due_only=False)
            assert str(report.outcome) == "ok" and report.new_articles == 2
            assert report.next_poll_at < datetime.now(UTC) + timedelta(minutes=31)  # polled as usual
            with pipeline.db.session() as session:
                [row] = websub_store.all_subscriptions(session)
            assert row.state == "denied"
            return True

        assert asyncio.run(_in_daemon(workspace, body, clock=Clock()))


def test_a_hub_on_a_private_address_named_by_a_public_feed_is_never_asked(web, workspace):
    port = free_port()
    with LocalHub("127.0.0.2") as hub:  # 127.0.0.1 is declared public for the test; 127.0.0.2 is private
        hub_feed(web, hub, make_entries(web, "p", 1, host="127.0.0.1"))
        workspace.write_config(
            [{"name": "Harbour", "url": web.url("/news.xml").replace("127.0.0.1", "public.test")}],
            fetch_pages=False,
            listen=f"127.0.0.1:{port}",
            websub={"callback_url": f"http://127.0.0.1:{port}/websub"},
        )

        async def body(pipeline, subscriber, pushes):
            [report] = await pipeline.poll(due_only=False)
            assert str(report.outcome) == "ok"
            assert hub.subscriptions == {}
            with pipeline.db.session() as session:
                [row] = websub_store.all_subscriptions(session)
            assert row.state == "denied" and "127.0.0.2 is a loopback address" in row.error
            return True

        assert asyncio.run(_in_daemon(workspace, body, clock=Clock(), guard=declared_public_guard()))


def test_pushes_the_listener_refuses(web, workspace):
    port = free_port()
    with LocalHub("127.0.0.3") as hub:
        hub_feed(web, hub, make_entries(web, "y", 1))
        _config(workspace, web, port=port)

        async def body(pipeline, subscriber, pushes):
            import urllib.error
            import urllib.request

            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

            def post(path, data=b"<rss/>", headers=None):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}", data=data, method="POST", headers=headers or {}
                )
                try:
                    with opener.open(request, timeout=10) as response:
                        return response.status
                except urllib.error.HTTPError as error:
                    return error.code

            assert await asyncio.to_thread(post, "/websub/unknown-token") == 410
            assert await asyncio.to_thread(post, "/metrics") == 404

            # A verification for a subscription never asked for is refused.
            def get(path):
                try:
                    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                        return response.status
                except urllib.error.HTTPError as error:
                    return error.code

            assert (
                await asyncio.to_thread(get, "/websub/nope?hub.mode=subscribe&hub.topic=x&hub.challenge=c")
                == 404
            )
            assert pushes == []
            return True

        assert asyncio.run(_in_daemon(workspace, body, clock=Clock()))


def _raw_post(port: int, path: str, head: str, body: bytes = b"", hang_up: bool = False) -> int:
    """The status a POST written by hand gets: for heads no well-behaved client writes (``hang_up``: its
    side closed after ``body``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() + body)
        if hang_up:
            connection.shutdown(socket.SHUT_WR)
        return int(connection.recv(64).split()[1])


def test_hostile_pushes_cost_nothing_and_the_next_good_one_is_stored(web, workspace, caplog):
    port = free_port()
    with LocalHub("127.0.0.3") as hub:
        topic = hub_feed(web, hub, make_entries(web, "h", 1))
        _config(workspace, web, port=port)

        async def body(pipeline, subscriber, pushes):
            await pipeline.poll(due_only=False)
            assert await asyncio.to_thread(wait_for, hub.verified, 30)
            with pipeline.db.session() as session:
                [row] = websub_store.all_subscriptions(session)
            path = f"/websub/{row.token}"

            def signed(content: bytes) -> str:
                digest = hmac.new(row.secret.encode(), content, hashlib.sha256).hexdigest()
                return f"Content-Length: {len(content)}\r\nX-Hub-Signature: sha256={digest}\r\n"

            # No length: refused before anything is read; a length over max_bytes: refused unread.
            assert await asyncio.to_thread(_raw_post, port, path, "") == 411
            assert await asyncio.to_thread(_raw_post, port, path, "Content-Length: 99999999999\r\n") == 413
            assert await asyncio.to_thread(_raw_post, port, path, "Content-Length: -5\r\n") == 411
            # A body cut short (the hub closed its side after 3 bytes of 100): refused, never verified.
            before = len(pushes)
            assert (
                await asyncio.to_thread(_raw_post, port, path, "Content-Length: 100\r\n", b"abc", True) == 400
            )
            assert len(pushes) == before
            # Signed, but not a feed: taken (the hub did its part), a warning naming the feed, nothing stored.
            garbage = b"\x00\xff<html><body>not a feed</body></html>"
            assert await asyncio.to_thread(_raw_post, port, path, signed(garbage), garbage) == 202
            assert await asyncio.wrap_future(pushes[-1]) is None
            assert any(
                "feed=Harbour" in r.getMessage() and "not a feed" in r.getMessage() for r in caplog.records
            )
            # The lease the bad push took is given back: the next push and the next poll go ahead.
            good = rss("Harbour news", web.url("/"), make_entries(web, "after", 1)).encode()
            assert await asyncio.to_thread(hub.publish, topic, good) == [202]
            report = await asyncio.wrap_future(pushes[-1])
            assert report is not None and report.new_articles == 1
            [polled] = await pipeline.poll(due_only=False)
            assert str(polled.outcome) in ("ok", "unchanged")
            return True

        assert asyncio.run(_in_daemon(workspace, body, clock=Clock()))
    assert {"Report h-0", "Report after-0"} <= stored_titles(workspace.database_url)


@contextlib.contextmanager
def _listening_to_hubs(db):
    """A listener on a free loopback port taking pushes for feed "F" (token "tok", pending), and its port."""
    _, subscriber = _asked_subscription(db, datetime.now(UTC))
    metrics = PrometheusMetrics()
    listener = Listener(
        ("127.0.0.1", 0), health=Health(db=db, metrics=metrics, tick_every=1), metrics=metrics
    )
    listener.websub = subscriber
    listener.start()
    try:
        yield int(listener.url.rsplit(":", 1)[1])
    finally:
        listener.stop()


def test_a_push_to_a_token_of_no_subscription_is_refused_before_its_body_is_read(db):
    # Anyone can name a token: a body of max_bytes read for each of MAX_CONNECTIONS such pushes held the
    # daemon's memory (640MB at the defaults) before the token was even looked up.
    with _listening_to_hubs(db) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as push:
        push.sendall(b"POST /websub/no-such-token HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n")
        assert push.recv(64).split()[1] == b"410"  # at once: no body came, none was waited for


def test_a_push_whose_body_dribbles_in_is_closed_at_its_deadline(db, monkeypatch):
    from monitor.daemon import observe

    monkeypatch.setattr(observe, "PUSH_DEADLINE", 1.0)
    with _listening_to_hubs(db) as port, socket.create_connection(("127.0.0.1", port)) as push:
        push.sendall(b"POST /websub/tok HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        push.settimeout(0.3)
        started, closed = time.monotonic(), False
        while not closed and time.monotonic() - started < 6:
            try:
                push.sendall(b"<")  # a byte well within each read's timeout, the whole never
                closed = push.recv(1) == b""
            except TimeoutError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                closed = True
        assert closed, "a push body sent a byte at a time held its connection past PUSH_DEADLINE"


# --- the daemon as it runs --------------------------------------------------------------------------------


def test_the_daemon_subscribes_and_stores_pushed_entries(web, workspace, tmp_path):
    port = free_port()
    with LocalHub("127.0.0.3") as hub:
        topic = hub_feed(web, hub, make_entries(web, "d", 1))
        workspace.write_config(
            [{"name": "Harbour", "url": web.url("/news.xml")}],
            fetch_pages=False,
            poll_tick="1s",
            extract_workers=0,
            listen=f"127.0.0.1:{port}",
            websub={"callback_url": f"http://127.0.0.1:{port}/websub"},
        )
        err = tmp_path / "daemon.err"
        daemon = start_daemon(workspace, err)
        try:
            assert wait_for(hub.verified, 60), err.read_text()
            pushed = rss("Harbour news", web.url("/"), make_entries(web, "live", 1))
            assert hub.publish(topic, pushed.encode()) == [202]
            assert wait_for(lambda: "Report live-0" in stored_titles(workspace.database_url), 60), (
                err.read_text()
            )
            assert "push feed=Harbour new=1" in err.read_text()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        assert daemon.returncode == 0, err.read_text()


def _asked_subscription(db, now: datetime) -> tuple[int, Subscriber]:
    """A feed "F" whose subscription (token "tok") was asked of a hub at ``now`` and not verified yet, and a
    subscriber whose clock stands at ``now``."""
    from monitor.config import FeedConfig, WebSubSettings
    from monitor.store import feeds as feed_store

    with db.session() as session:
        feed_store.sync_feeds(session, feeds=[FeedConfig(name="F", url="http://127.0.0.1/f.xml")], now=now)
    with db.session() as session:
        [feed] = feed_store.claim_feeds(
            session, now=now, owner="t", lease=timedelta(minutes=1), due_only=False
        )
        websub_store.request(
            session, feed_id=feed.id, hub="http://h/", topic="http://t/", token="tok", secret=SECRET, now=now
        )
    return feed.id, Subscriber(
        WebSubSettings(callback_url="http://127.0.0.1:9/websub"), db, clock=lambda: now
    )


def test_a_pushed_feeds_next_poll_is_the_fallback_but_never_after_its_renewal(db):
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    feed_id, subscriber = _asked_subscription(db, now)
    planned = now + timedelta(minutes=20)
    assert subscriber.next_poll(feed_id, now, planned) == planned  # not verified yet: polled as planned
    with db.session() as session:
        websub_store.verified(session, token="tok", lease_until=now + timedelta(days=2), now=now)
    # Verified after the previous poll (hubs verify after they answer): this poll cannot judge the hub, the
    # next can, and comes as planned.
    assert subscriber.next_poll(feed_id, now, planned, since=now - timedelta(minutes=1)) == planned
    assert subscriber.next_poll(feed_id, now, planned, since=now) == now + timedelta(hours=6)  # the fallback
    # A quiet feed's rhythm may plan days ahead: the renewal, at half the lease, comes first.
    assert subscriber.next_poll(feed_id, now, now + timedelta(days=3), since=now) == now + timedelta(days=1)
    # Late in a lease, never a rush of polls.
    late = now + timedelta(days=1, hours=23, minutes=59)
    assert subscriber.next_poll(feed_id, late, late + timedelta(minutes=1), since=now) == late + timedelta(
        minutes=5
    )


def test_a_feed_whose_hub_missed_news_is_polled_at_its_own_rhythm_until_the_hub_pushes_again(db, caplog):
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    feed_id, subscriber = _asked_subscription(db, now)
    with db.session() as session:
        websub_store.verified(session, token="tok", lease_until=now + timedelta(days=7), now=now)

    def next_poll(at: datetime, *, found: int, since: datetime) -> timedelta:
        return subscriber.next_poll(feed_id, at, at + timedelta(minutes=20), found=found, since=since) - at

    def subscription() -> websub_store.Subscription:
        with db.session() as session:
            found = websub_store.of_feed(session, feed_id)
        assert found is not None
        return found

    # The previous poll came before the hub verified: what this one found may predate the subscription, and
    # the next poll, at the feed's rhythm, is the one to judge the hub.
    assert next_poll(now + timedelta(hours=1), found=2, since=now - timedelta(minutes=1)) == timedelta(
        minutes=20
    )
    assert subscription().trusted and subscription().missed == 0
    # Nothing new since a poll made under the subscription: the hub pushed it all, or there was nothing.
    assert next_poll(now + timedelta(hours=7), found=0, since=now + timedelta(hours=1)) == timedelta(hours=6)
    # News the hub did not push: the feed goes back to its own rhythm, and says why.
    missed_at = now + timedelta(hours=13)
    with caplog.at_level("WARNING", logger="monitor.ingest.websub"):
        assert next_poll(missed_at, found=3, since=now + timedelta(hours=7)) == timedelta(minutes=20)
        # Still no push: the rhythm holds, whether or not the next polls find more (warned of once).
        later = missed_at + timedelta(minutes=20)
        assert next_poll(later, found=0, since=missed_at) == timedelta(minutes=20)
        assert next_poll(later + timedelta(minutes=20), found=1, since=later) == timedelta(minutes=20)
    assert [r.getMessage() for r in caplog.records] == [
        "websub: feed=F: a poll found 3 new entries that its hub http://h/ had not pushed; "
        "polling the feed at its own rhythm until the hub pushes again"
    ]
    state = subscription()
    assert not state.trusted and state.missed == 4 and state.missed_at == later + timedelta(minutes=20)
    # The hub pushes again: it is trusted, and the fallback is back.
    pushed_at = later + timedelta(minutes=30)
    with db.session() as session:
        websub_store.pushed(session, token="tok", now=pushed_at)
    assert subscription().trusted
    assert next_poll(pushed_at + timedelta(minutes=1), found=0, since=later) == timedelta(hours=6)
    # A push that came while a poll ran: what that poll found came by push as well.
    during = pushed_at + timedelta(hours=6)
    with db.session() as session:
        websub_store.pushed(session, token="tok", now=during)
    began = during - timedelta(seconds=1)
    assert subscriber.next_poll(
        feed_id,
        during + timedelta(seconds=1),
        during + timedelta(minutes=21),
        found=1,
        since=pushed_at,
        began=began,
    ) == during + timedelta(hours=6, seconds=1)
    assert subscription().trusted and subscription().missed == 4


def test_a_hub_that_verifies_while_the_subscribing_poll_stores_is_judged_from_the_next_poll(
    web, workspace, monkeypatch
):
    """The hub verifies the subscription before the poll that asked for it has finished storing: that poll's
    document came before it, so the next poll cannot judge the hub yet (a poll's time on record is when it
    began), and the feed keeps its own rhythm one poll more."""
    port, clock = free_port(), Clock()
    finish = Pipeline._finish_ok
    waited: list[bool] = []

    with LocalHub("127.0.0.3") as hub:

        async def finish_after_verification(self, *args, **kwargs):
            if not waited:  # the subscribing poll: it ends only once the hub has verified
                waited.append(bool(await asyncio.to_thread(wait_for, hub.verified, 30)))
            return await finish(self, *args, **kwargs)

        monkeypatch.setattr(Pipeline, "_finish_ok", finish_after_verification)
        hub_feed(web, hub, make_entries(web, "first", 2))
        _config(workspace, web, port=port)

        async def verified_during_the_first(pipeline, subscriber, pushes):
            await pipeline.poll(due_only=False)
            assert waited == [True]
            [judging] = await pipeline.poll(due_only=False)
            return judging.next_poll_at

        next_poll_at = asyncio.run(_in_daemon(workspace, verified_during_the_first, clock=clock))
        assert next_poll_at <= clock() + timedelta(minutes=31)  # its own 30 minutes, not the 6-hour fallback


def test_a_daemon_whose_hub_stops_pushing_polls_the_feed_at_its_rhythm_and_shows_it(web, workspace):
    port, clock = free_port(), Clock()
    with LocalHub("127.0.0.3") as hub:
        topic = hub_feed(web, hub, make_entries(web, "first", 2))
        _config(workspace, web, port=port)

        async def unpushed(pipeline, subscriber, pushes):
            await pipeline.poll(due_only=False)
            assert await asyncio.to_thread(wait_for, hub.verified, 30)
            # The hub verified after the first poll: this one cannot judge it; the next, at the feed's rhythm, can.
            [judging] = await pipeline.poll(due_only=False)
            assert judging.next_poll_at <= clock() + timedelta(minutes=31)
            [quiet] = await pipeline.poll(due_only=False)
            assert quiet.next_poll_at > clock() + timedelta(hours=5)  # the fallback: the hub pushes
            # The publisher stops pinging its hub: the feed has news the hub never pushes.
            hub_feed(web, hub, make_entries(web, "unpushed", 1) + make_entries(web, "first", 2))
            [found] = await pipeline.poll(due_only=False)
            assert found.new_articles == 1
            return found.next_poll_at

        next_poll_at = asyncio.run(_in_daemon(workspace, unpushed, clock=clock))
        assert next_poll_at <= clock() + timedelta(minutes=31)  # the feed's own 30 minutes, not 6 hours
        [row] = workspace.json("feeds")
        assert row["websub"]["trusted"] is False and row["websub"]["missed"] == 1
        assert "missed" in workspace.cli("feeds").stdout

        async def pushed_again(pipeline, subscriber, pushes):
            pushed = rss("Harbour news", web.url("/"), make_entries(web, "pushed", 1))
            assert await asyncio.to_thread(hub.publish, topic, pushed.encode()) == [202]
            await asyncio.wrap_future(pushes[-1])
            hub_feed(web, hub, make_entries(web, "pushed", 1) + make_entries(web, "unpushed", 1))
            [after] = await pipeline.poll(due_only=False)
            assert after.new_articles == 0
            return after.next_poll_at

        assert asyncio.run(_in_daemon(workspace, pushed_again, clock=clock)) > clock() + timedelta(hours=5)
    [row] = workspace.json("feeds")
    assert row["websub"]["trusted"] is True and row["websub"]["pushes"] == 1
    assert "pushed" in workspace.cli("feeds").stdout


def test_a_lease_shorter_than_the_feeds_interval_is_renewed_before_it_runs_out(db):
    """The subscribing poll planned the next one an hour ahead; the hub then grants a 20-minute lease: the
    feed is polled (and the subscription renewed) at half the lease, not after it has run out."""
    from monitor.store.models import Feed

    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    feed_id, subscriber = _asked_subscription(db, now)
    with db.session() as session:
        session.execute(sqlalchemy.update(Feed).values(next_poll_at=now + timedelta(hours=1)))
    query = {
        "hub.mode": "subscribe",
        "hub.topic": "http://t/",
        "hub.challenge": "c",
        "hub.lease_seconds": "1200",
    }
    assert subscriber.verify("tok", query).status == 200
    with db.session() as session:
        next_poll_at = session.get(Feed, feed_id).next_poll_at
    assert next_poll_at == now + timedelta(minutes=10)


def test_a_client_hanging_up_is_a_log_line_not_a_traceback_on_stderr(caplog, capsys):
    # socketserver printed the traceback to stderr, outside the logs and their JSON form.
    from monitor.daemon.observe import _Server

    caplog.set_level(logging.INFO, logger="monitor")
    try:
        raise BrokenPipeError(32, "Broken pipe")
    except BrokenPipeError:
        _Server.handle_error(None, None, ("127.0.0.9", 4242))  # type: ignore[arg-type]
    assert capsys.readouterr().err == ""
    assert any("connection from 127.0.0.9 ended" in r.getMessage() for r in caplog.records)
