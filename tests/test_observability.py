"""What an operator sees: redacted log lines (text and JSON), /healthz and /metrics of a running daemon."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from conftest import PG_URL
from prometheus_client.parser import text_string_to_metric_families
from support.httpserver import Route
from support.news import article_html, make_entries, paragraphs_for, rss
from support.waiting import wait_for

from monitor.daemon.observe import MIN_STALE_AFTER, Health, Listener
from monitor.runtime import logs
from monitor.runtime.logs import JsonFormatter, RedactingFilter, TextFormatter, redact
from monitor.runtime.metrics import PrometheusMetrics
from monitor.store import deliveries as ledger
from monitor.store.db import Database

SLACK_TOKEN = "xoxbT0KENzz9f8g7h6"


# --- redaction -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, secret",
    [
        (f"POST https://hooks.slack.com/services/T0001/B0002/{SLACK_TOKEN} failed", SLACK_TOKEN),
        (f"slack said 404 for http://127.0.0.1:8080/services/T1/B2/{SLACK_TOKEN}", SLACK_TOKEN),
        ("connecting to postgresql://monitor:s3cr3t-pw@db.internal/monitor", "s3cr3t-pw"),
        ("GET https://ghp_abcdef123456@example.org/feed.xml", "ghp_abcdef123456"),
        ("fetch https://example.org/rss?token=abc123xyz&lang=en", "abc123xyz"),
        ("fetch https://example.org/rss?lang=en&api_key=K3Y-VALUE", "K3Y-VALUE"),
        ("fetch https://cdn.example.org/a.xml?X-Amz-Signature=deadbeef01&X-Amz-Date=1", "deadbeef01"),
        ("fetch https://example.org/feed?sig=0a1b2c3d", "0a1b2c3d"),
        ("fetch https://example.org/feed?secret=hush-hush", "hush-hush"),
        ("fetch https://example.org/feed?password=pa55word", "pa55word"),
        ("SMTP login failed: user=alerts password=hunter2-smtp", "hunter2-smtp"),
        ("smtp_password: 'quoted secret'", "quoted secret"),
        ("sent with Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
    ],
)
def test_redact_hides_secrets(text, secret):
    redacted = redact(text)
    assert secret not in redacted
    assert "***" in redacted


def test_redact_keeps_what_is_not_secret():
    text = (
        "poll feed=BBC outcome=ok url=https://example.org/rss.xml?lang=en&page=2 keyword=monkey "
        "db postgresql+psycopg://postgres@127.0.0.1:5432/test "
        # A site's own /services/ pages are not a Slack webhook's path.
        "url=https://rss.example.com/services/xml/rss/nyt/HomePage.xml"
    )
    assert redact(text) == text


def test_registered_secrets_are_hidden_in_any_form(monkeypatch):
    monkeypatch.setattr(logs, "_known_secrets", ())
    logs.register_secrets(["correct-horse-battery", "", "ab"])  # empty and tiny values are ignored
    assert redact("the SMTP server refused correct-horse-battery") == "the SMTP server refused ***"
    assert redact("ab cd") == "ab cd"


def _emit(formatter, message, *args, exc=None, **extra):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("monitor.test.redaction")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        if exc is not None:
            try:
                raise exc
            except Exception:
                logger.exception(message, *args, extra=extra)
        else:
            logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_filter_redacts_message_args_extra_fields_and_tracebacks():
    url = f"https://hooks.slack.com/services/T1/B2/{SLACK_TOKEN}"
    line = _emit(
        JsonFormatter(),
        "slack %s failed",
        url,
        exc=RuntimeError(f"status 500 from {url}"),
        url=url,
        headers={"Authorization": "Bearer abcdefghijklmnop"},
        feed="Team",
    )
    assert SLACK_TOKEN not in line and "abcdefghijklmnop" not in line
    entry = json.loads(line)
    assert entry["message"] == "slack https://hooks.slack.com/services/*** failed"
    assert entry["url"] == "https://hooks.slack.com/services/***"
    assert (
        entry["feed"] == "Team" and entry["level"] == "ERROR" and entry["logger"] == "monitor.test.redaction"
    )
    assert "RuntimeError" in entry["exception"] and "time" in entry


def test_text_lines_show_feed_and_url():
    line = _emit(
        TextFormatter(), "poll outcome=ok", feed="Daily", url="https://example.org/d.xml?token=t0ps3cret"
    )
    assert "poll outcome=ok feed=Daily url=https://example.org/d.xml?token=***" in line
    # Not twice when the message names them already.
    line = _emit(TextFormatter(), "poll feed=%s", "Daily", feed="Daily", url="https://example.org/d.xml")
    assert line.count("feed=") == 1 and "url=https://example.org/d.xml" in line


def test_text_lines_escape_control_characters_from_outside():
    title = "Harbour\x1b]0;owned\x07 news\n2026-01-01 00:00:00 ERROR monitor: forged line\r\u202e"
    url = "https://example.org/\x1b[2Jfeed.xml\nfake=1"
    line = _emit(
        TextFormatter(),
        "feed title %s",
        title,
        feed=title,
        url=url,
        exc=RuntimeError("server said \x1b[31mred\x1b[0m\nand more"),
    )
    head, _, traceback = line.rstrip("\n").partition("\n")  # the record's line, then its traceback
    for control in ("\x1b", "\x07", "\r", "\u202e"):
        assert control not in line
    assert "feed title Harbour\\x1b]0;owned\\x07 news\\x0a2026-01-01 00:00:00 ERROR" in head
    assert "url=https://example.org/\\x1b[2Jfeed.xml\\x0afake=1" in head
    assert "forged line" not in traceback  # the message's line break stayed on its line
    # A traceback keeps its own lines; what it quotes is escaped like the rest.
    assert traceback.startswith("Traceback") and "RuntimeError: server said \\x1b[31mred" in traceback
    assert len(line.rstrip("\n").splitlines()) == len(traceback.splitlines()) + 1
    # JSON lines were already safe: json escapes every control character.
    entry = json.loads(_emit(JsonFormatter(), "feed title %s", title, url=url))
    assert entry["message"] == f"feed title {title}" and entry["url"] == url


# --- /healthz, unit ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_health_answers_ok_while_ticking_then_names_a_stale_tick(db):
    clock = Clock()
    metrics = PrometheusMetrics()
    health = Health(db=db, metrics=metrics, tick_every=1.0, clock=clock)
    healthy, body = health.check()
    assert healthy and body["status"] == "ok" and body["database"] == "ok" and body["last_tick"] is None

    metrics.ticked(due=2)
    clock.now = metrics.last_tick_at + 5  # within the limit (at least MIN_STALE_AFTER)
    assert health.check()[0]
    clock.now = metrics.last_tick_at + MIN_STALE_AFTER + 1
    healthy, body = health.check()
    assert not healthy and body["status"] == "unhealthy" and "no scheduler tick" in body["reason"]


def _scraped(metrics: PrometheusMetrics, families: tuple[str, ...]) -> dict:
    """The samples of ``families`` in one scrape of ``metrics``, by (name, sorted labels)."""
    text = metrics.exposition()[0].decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.name in families
    }


def test_metrics_tell_the_deliveries_owed_and_the_oldest_of_each_channel(db):
    # Two deliveries failed on email (the older is what an alert on a digest that is not getting out reads),
    # one is being sent on Slack, one went out: the owed ones are counted by status, the sent one is not.
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    with db.session() as session:
        for days, channel, end in (
            (2, "email", "fail"),
            (1, "email", "fail"),
            (1, "slack", None),
            (0, "email", "sent"),
        ):
            slot = ledger.Slot("morning", "digest", channel)
            claimed = ledger.claim_new(
                session,
                slot=slot,
                period=now - timedelta(days=days),
                owner="t",
                now=now,
                lease=timedelta(minutes=15),
            )
            if end == "fail":
                ledger.fail(session, delivery_id=claimed.id, error="refused", next_attempt_at=now)
            elif end == "sent":
                ledger.finish(session, delivery_id=claimed.id, status="sent", now=now, message_id=None)

    def owed():
        with db.session() as session:
            return ledger.owed(session)

    owed_families = ("monitor_deliveries_owed", "monitor_deliveries_owed_oldest_period_timestamp_seconds")
    assert _scraped(PrometheusMetrics(deliveries_owed=owed), owed_families) == {
        ("monitor_deliveries_owed", (("channel", "email"), ("kind", "digest"), ("status", "failed"))): 2,
        ("monitor_deliveries_owed", (("channel", "slack"), ("kind", "digest"), ("status", "sending"))): 1,
        (
            "monitor_deliveries_owed_oldest_period_timestamp_seconds",
            (("channel", "email"), ("kind", "digest")),
        ): (now - timedelta(days=2)).timestamp(),
        (
            "monitor_deliveries_owed_oldest_period_timestamp_seconds",
            (("channel", "slack"), ("kind", "digest")),
        ): (now - timedelta(days=1)).timestamp(),
    }

    # A database that cannot be read leaves the families empty; the scrape goes on.
    def unreadable():
        raise OSError("database away")

    text = PrometheusMetrics(deliveries_owed=unreadable).exposition()[0].decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["monitor_deliveries_owed"].samples == [] and "monitor_writer_queue_depth" in families


def test_metrics_tell_the_feeds_by_state_and_the_polls_waiting_for_an_instance(db):
    from monitor.config import FeedConfig
    from monitor.store import feeds as feed_store

    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    names = ["ok", "late", "failing", "gone", "new", "held", "silent", "moved", "dropped"]
    with db.session() as session:
        feed_store.sync_feeds(
            session, feeds=[FeedConfig(name=n, url=f"http://127.0.0.1/{n}.xml") for n in names], now=now
        )
    with db.session() as session:
        claimed = {
            f.name: f.id
            for f in feed_store.claim_feeds(
                session,
                now=now,
                owner="t",
                lease=timedelta(minutes=1),
                due_only=False,
                names=[*names[:4], "held", "silent", "moved"],
            )
        }
        ok = {"succeeded": True, "status": 200, "polled_at": now}
        failed = {"succeeded": False, "polled_at": now, "next_poll_at": now + timedelta(hours=1)}
        feed_store.record_polls(
            session,
            owner="t",
            records=[
                (claimed["ok"], feed_store.PollRecord(next_poll_at=now + timedelta(minutes=30), **ok)),
                # Due 20 minutes ago, and no instance has taken it: the schedule is behind.
                (claimed["late"], feed_store.PollRecord(next_poll_at=now - timedelta(minutes=20), **ok)),
                (
                    claimed["failing"],
                    feed_store.PollRecord(status=500, error="server error", error_kind="http", **failed),
                ),
                (claimed["gone"], feed_store.PollRecord(next_poll_at=now, gone=True, **ok | {"status": 410})),
                # It answers, but has published nothing for ten days.
                (
                    claimed["silent"],
                    feed_store.PollRecord(
                        next_poll_at=now + timedelta(hours=4), silent_since=now - timedelta(days=10), **ok
                    ),
                ),
                # It answers through a permanent redirect.
                (
                    claimed["moved"],
                    feed_store.PollRecord(
                        next_poll_at=now + timedelta(hours=1),
                        moved_to="http://127.0.0.2/moved.xml",
                        moved_since=now,
                        **ok,
                    ),
                ),
                # Failing too, and waiting on the server's Retry-After rather than for an instance.
                (
                    claimed["held"],
                    feed_store.PollRecord(
                        status=429,
                        error="too many",
                        error_kind="http",
                        retry_after_until=now + timedelta(hours=1),
                        **failed,
                    ),
                ),
            ],
        )
    with db.session() as session:  # "dropped" left the configuration
        feed_store.sync_feeds(
            session, feeds=[FeedConfig(name=n, url=f"http://127.0.0.1/{n}.xml") for n in names[:-1]], now=now
        )

    def schedule():
        with db.session() as session:
            return feed_store.schedule_state(session, now=now)

    schedule_families = (
        "monitor_feeds",
        "monitor_feeds_waiting",
        "monitor_feeds_waiting_oldest_due_timestamp_seconds",
    )
    assert _scraped(PrometheusMetrics(feed_schedule=schedule), schedule_families) == {
        ("monitor_feeds", (("state", "ok"),)): 2,
        ("monitor_feeds", (("state", "silent"),)): 1,
        ("monitor_feeds", (("state", "moved"),)): 1,
        ("monitor_feeds", (("state", "failing"),)): 2,
        ("monitor_feeds", (("state", "gone"),)): 1,
        ("monitor_feeds", (("state", "new"),)): 1,
        ("monitor_feeds", (("state", "disabled"),)): 1,
        # "late", and "new" (never polled, so due at once: it has no due time of its own).
        ("monitor_feeds_waiting", ()): 2,
        ("monitor_feeds_waiting_oldest_due_timestamp_seconds", ()): (now - timedelta(minutes=20)).timestamp(),
    }

    def unreadable():
        raise OSError("database away")

    text = PrometheusMetrics(feed_schedule=unreadable).exposition()[0].decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["monitor_feeds"].samples == [] and "monitor_writer_queue_depth" in families


def test_health_fails_when_postgresql_does_not_answer():
    with socket.socket() as probe:  # a port nobody listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = Database(f"postgresql+psycopg://monitor:pw-not-shown@127.0.0.1:{port}/monitor")
    try:
        healthy, body = Health(db=db, metrics=PrometheusMetrics(), tick_every=30).check()
    finally:
        db.dispose()
    assert not healthy and body["database"] == "unreachable"
    assert "database unreachable" in body["reason"] and "pw-not-shown" not in body["reason"]


# --- the daemon, as operators run it -------------------------------------------------------------------------


def start_daemon(workspace, database_url, stdout_path, stderr_path, *options):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("MONITOR_LOG_FORMAT", None)
    with open(stdout_path, "ab") as out, open(stderr_path, "ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "--config",
                str(workspace.config_path),
                "--db",
                database_url,
                *options,
                "run",
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=out,
            stderr=err,
            env=env,
        )


def listener_url(log_path):
    match = re.search(r"serving /healthz and /metrics at (http://127\.0\.0\.1:\d+)", log_path.read_text())
    return match.group(1) if match else None


def get(url):
    """(status, body) of a GET; never through a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def polls_counted(base):
    status, text = get(base + "/metrics")
    assert status == 200
    families = {family.name: family for family in text_string_to_metric_families(text)}
    return sum(
        sample.value for sample in families["monitor_polls"].samples if sample.name == "monitor_polls_total"
    )


def serve_feed(web, slug="o", count=2):
    # Published in the last hours: a feed that publishes (one whose news is over a year old is silent).
    entries = [
        replace(entry, published=datetime.now(UTC) - timedelta(hours=n + 1))
        for n, entry in enumerate(make_entries(web, slug, count))
    ]
    web.set(
        f"/{slug}.xml",
        Route(rss("O", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}),
    )
    return {"name": "Often", "url": web.url(f"/{slug}.xml"), "interval": "1s"}


def test_healthz_and_metrics_of_a_running_daemon(web, workspace, tmp_path):
    workspace.write_config([serve_feed(web)], poll_tick="1s", extract_workers=0)
    if PG_URL:
        database_url = workspace.database_url
    else:  # a directory of its own, so that it can be taken away
        database_url = f"sqlite:///{tmp_path / 'data' / 'monitor.db'}"
    out, err = tmp_path / "daemon.out", tmp_path / "daemon.err"
    daemon = start_daemon(workspace, database_url, out, err)
    try:
        base = wait_for(lambda: listener_url(err))
        assert base, err.read_text()
        # Healthy from the start (a daemon gets a grace period before its first tick); the tick shows once run.
        _, body = wait_for(
            lambda: (
                (answer := get(base + "/healthz"))[0] == 200
                and json.loads(answer[1]).get("last_tick")
                and answer
            )
        )
        health = json.loads(body)
        assert health["status"] == "ok" and health["database"] == "ok" and health["last_tick"]

        first = wait_for(lambda: polls_counted(base))
        assert first >= 1
        assert wait_for(lambda: polls_counted(base) > first), "the poll counter did not grow"
        _, text = get(base + "/metrics")
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {
            "monitor_articles_stored",
            "monitor_fetch_duration_seconds",
            "monitor_feeds_due",
            "monitor_feeds_in_flight",
            "monitor_hosts_slowed",
            "monitor_writer_queue_depth",
            "monitor_database_size_bytes",
            "monitor_deliveries_owed",
            "monitor_feeds",
            "monitor_feeds_waiting",
            "monitor_last_successful_poll_timestamp_seconds",
            "monitor_pages_extracted",
        } <= names
        # The feeds by state, read from the database by the running daemon: its one feed polled, none failing.
        assert 'monitor_feeds{state="ok"} 1.0' in text and 'monitor_feeds{state="failing"} 0.0' in text
        assert 'monitor_polls_total{error_kind="",outcome="ok"}' in text
        assert json.loads(get(base + "/healthz")[1])["last_successful_poll"]
        assert get(base + "/nothing")[0] == 404
        assert "HTTP Request:" not in err.read_text()  # httpx's own lines wait for -vv

        if not PG_URL:
            # The database's directory goes away: the next connection would fail, and /healthz says so.
            data, hidden = tmp_path / "data", tmp_path / "data-away"
            data.rename(hidden)
            try:
                _, body = wait_for(lambda: (answer := get(base + "/healthz"))[0] == 503 and answer)
                assert "database unreachable" in json.loads(body)["reason"]
            finally:
                hidden.rename(data)
            assert wait_for(lambda: get(base + "/healthz")[0] == 200)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    assert code == 0, err.read_text()


def hosts_slowed(base) -> float:
    _, text = get(base + "/metrics")
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "monitor_hosts_slowed"
        for sample in family.samples
    )


def test_a_site_that_slows_down_and_recovers_under_a_running_daemon(web, workspace, tmp_path):
    # The outlet takes 3 s to answer anything for a while, then answers at once again. The daemon, polling
    # its feed every second, holds the host to a slower pace, says so once in its log and in /metrics,
    # and says once that it answers in time again when it has recovered.
    entries = [
        replace(entry, published=datetime.now(UTC) - timedelta(hours=n + 1))
        for n, entry in enumerate(make_entries(web, "o", 2))
    ]
    feed_route = Route(rss("O", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"})
    web.set("/o.xml", replace(feed_route, delay=3.0))
    web.set("/robots.txt", Route(body="User-agent: *\nAllow: /\n", delay=3.0))
    for n, entry in enumerate(entries):
        web.set(f"/o/{n}", Route(body=article_html(entry.title, paragraphs_for(entry.slug)), delay=3.0))
    feed = {"name": "Often", "url": web.url("/o.xml"), "interval": "1s"}
    workspace.write_config([feed], poll_tick="1s", extract_workers=0, host_delay="0.2s")
    out, err = tmp_path / "daemon.out", tmp_path / "daemon.err"
    daemon = start_daemon(workspace, workspace.database_url, out, err)
    try:
        base = wait_for(lambda: listener_url(err))
        assert base, err.read_text()
        assert wait_for(lambda: "takes" in err.read_text() and "to answer" in err.read_text(), timeout=60)
        assert wait_for(lambda: hosts_slowed(base) == 1)
        web.set("/o.xml", feed_route)
        assert wait_for(lambda: "answers in time again" in err.read_text(), timeout=60), err.read_text()
        assert wait_for(lambda: hosts_slowed(base) == 0)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    log = err.read_text()
    assert code == 0, log
    host = web.hosts[0]
    assert log.count(f"host {host} takes") == 1, log
    assert log.count(f"host {host} answers in time again") == 1, log


def test_json_logs_carry_fields_and_no_secret(web, workspace, tmp_path):
    feed = serve_feed(web, "news", 2)
    feed["interval"] = "1h"
    workspace.write_config([feed], poll_tick="1s", extract_workers=1)
    slack_path = f"/services/T0000/B0000/{SLACK_TOKEN}"
    web.set(slack_path, Route(body="ok"))
    digest = {
        "name": "desk",
        "lookback": "7d",
        "channels": {"slack": {"webhook_url": web.url(slack_path)}},
        "alerts": {"min_score": 0, "channels": ["slack"], "every": "1s"},
    }
    watchlist = {"topics": [{"name": "everything", "query": "the OR a OR of OR and"}]}
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False))
    out, err = tmp_path / "daemon.out", tmp_path / "daemon.err"
    daemon = start_daemon(workspace, workspace.database_url, out, err, "--log-format", "json", "-vv")
    try:
        assert wait_for(lambda: web.requests_for(slack_path)), err.read_text()[-3000:]
        assert wait_for(lambda: "alert sent on slack" in err.read_text())
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    assert code == 0, err.read_text()[-3000:]
    lines = [line for path in (out, err) for line in path.read_text().splitlines()]
    entries = [json.loads(line) for line in lines]  # every line, stdout and stderr, is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    polls = [entry for entry in entries if entry["message"].startswith("poll ")]
    assert polls and all(entry["feed"] == "Often" and entry["url"] == feed["url"] for entry in polls)
    assert any(entry["logger"].startswith("httpx") for entry in entries)  # -vv: the libraries speak too
    assert not any(SLACK_TOKEN in line for line in lines)


def test_listen_setting_is_validated_and_shown(workspace):
    workspace.write_config([{"name": "A", "url": "http://127.0.0.1:9/a.xml"}], listen="127.0.0.1:9100")
    assert workspace.json("check")["settings"]["listen"] == "127.0.0.1:9100"
    workspace.write_config([{"name": "A", "url": "http://127.0.0.1:9/a.xml"}], listen="localhost")
    result = workspace.cli("check", expect=2)
    assert "settings.listen: listen address 'localhost' is not HOST:PORT" in result.stderr


def test_a_taken_port_is_a_clean_error(workspace):
    workspace.write_config([{"name": "A", "url": "http://127.0.0.1:9/a.xml"}])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = workspace.cli("run", "--listen", f"127.0.0.1:{port}", expect=2)
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_listener_that_never_started_stops_at_once(db):
    metrics = PrometheusMetrics()
    listener = Listener(
        ("127.0.0.1", 0), health=Health(db=db, metrics=metrics, tick_every=1), metrics=metrics
    )
    listener.stop()  # the daemon failed before it started serving: stopping must not hang


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@contextlib.contextmanager
def _listening(db):
    """A listener serving on a free loopback port, its address, stopped at the end."""
    metrics = PrometheusMetrics()
    listener = Listener(
        ("127.0.0.1", 0), health=Health(db=db, metrics=metrics, tick_every=1), metrics=metrics
    )
    listener.start()
    try:
        host, port = listener.url.removeprefix("http://").split(":")
        yield listener, (host, int(port))
    finally:
        listener.stop()


def test_a_connection_that_sends_nothing_is_closed(db, monkeypatch):
    # With WebSub the listener faces the hubs, so anyone: a connection left silent must not hold a thread.
    from monitor.daemon import observe

    assert observe._Handler.timeout == observe.REQUEST_TIMEOUT  # socketserver's timeout, else None: none
    monkeypatch.setattr(observe._Handler, "timeout", 0.3)  # the same, sooner
    with _listening(db) as (_, address), socket.create_connection(address) as silent:
        silent.sendall(b"GET /healthz HTTP/1.1\r\n")  # and nothing more
        assert _closed_by_server(silent, within=5)


def test_connections_past_the_limit_are_closed_and_served_again_once_others_go(db, monkeypatch):
    from monitor.daemon import observe

    monkeypatch.setattr(observe, "MAX_CONNECTIONS", 3)
    with _listening(db) as (listener, address):
        held = [socket.create_connection(address) for _ in range(3)]
        try:
            with socket.create_connection(address) as extra:
                assert _closed_by_server(extra, within=5)
        finally:
            for sock in held:
                sock.close()

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{listener.url}/metrics", timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, ConnectionError):
                return False

        assert wait_for(answers, timeout=10)


def test_a_connection_that_sends_its_head_a_byte_at_a_time_is_closed_at_its_deadline(db, monkeypatch):
    # Slowloris: a byte every so often, never the whole head. Held past REQUEST_TIMEOUT, MAX_CONNECTIONS of
    # them would keep /healthz and the hubs' pushes out for as long as the client cares to send bytes.
    from monitor.daemon import observe

    monkeypatch.setattr(observe._Handler, "timeout", 1.0)  # REQUEST_TIMEOUT, sooner
    with _listening(db) as (_, address), socket.create_connection(address) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        slow.settimeout(0.3)
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 6:
            try:
                slow.sendall(b"X")  # a header line that never ends, well within each read's timeout
                closed = slow.recv(1) == b""
            except TimeoutError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                closed = True
        assert closed, "a head sent a byte at a time held its connection past REQUEST_TIMEOUT"


def test_connections_refused_past_the_limit_are_not_a_log_line_each(db, monkeypatch, caplog):
    from monitor.daemon import observe

    monkeypatch.setattr(observe, "MAX_CONNECTIONS", 1)
    with _listening(db) as (_, address), socket.create_connection(address) as held:
        held.sendall(b"GET /healthz HTTP/1.1\r\n")  # holds the one slot
        with caplog.at_level(logging.WARNING, logger="monitor.daemon.observe"):
            for _ in range(20):
                with socket.create_connection(address) as extra:
                    assert _closed_by_server(extra, within=5)
    refusals = [r for r in caplog.records if "connections already" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]


def test_every_origin_of_an_articles_text_is_a_series_of_the_bodies_counter():
    from monitor.runtime.metrics import BODY_SOURCES
    from monitor.store.records import NO_LINK, PAGES_OFF, BodySource, body_origin

    origins = {
        body_origin(source, note)
        for source in BodySource
        for note in (None, "page fetch failed (http_5xx): Service Unavailable", NO_LINK, PAGES_OFF)
    }
    assert origins == set(BODY_SOURCES)
    metrics = PrometheusMetrics()
    assert all(
        metrics.registry.get_sample_value("monitor_article_bodies_total", {"source": source}) == 0
        for source in BODY_SOURCES
    )
