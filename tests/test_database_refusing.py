"""A database that answers and yet refuses the daemon's work: a full disk, a PostgreSQL server that takes
no writes. Polling pauses behind a probe that backs off (monitor.daemon.database), /healthz answers 503 with
the cause, nothing is blamed on a feed, and once the database takes work again every entry is stored.

The full disks are real: a tmpfs of a few megabytes, mounted by the test (which needs root, as CI has; the
tests skip without it)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import errors as pg_errors
from sqlalchemy import create_engine, event, func, make_url, select, text
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from support.httpserver import Route
from support.news import article_html, make_entries, paragraphs_for, rss
from support.waiting import wait_for
from test_observability import get, listener_url, start_daemon

from monitor.daemon.database import MAX_PAUSE, DatabaseOutage, DiskWatch, low_disk_bytes
from monitor.store.db import open_database, remedy, unavailability
from monitor.store.models import Article, Feed

PG_URL = os.environ.get("MONITOR_TEST_DATABASE_URL")


# --- the pause, unit -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def ticks(outage: DatabaseOutage, count: int) -> list[int | None]:
    return [outage.may_poll() for _ in range(count)]


def test_a_refusing_database_is_probed_with_one_feed_at_the_next_tick_then_ever_more_seldom(caplog):
    clock = Clock()
    outage = DatabaseOutage(tick=30.0, clock=clock)
    assert outage.may_poll() is None and not outage.active
    with caplog.at_level(logging.INFO, logger="monitor.daemon.database"):
        outage.failed("the database is unavailable (database or disk is full)", hint="free space")
        assert outage.active and outage.cause.endswith("(database or disk is full)")
        # Polls that were in flight fail too: they change nothing.
        outage.failed("the database is unavailable (database or disk is full)")
        assert ticks(outage, 3) == [1, 0, 0], "the next tick probes with one feed, then waits for it"
        outage.failed("again")  # the probe failed: one tick passes before the next
        assert ticks(outage, 3) == [0, 1, 0]
        outage.failed("again")
        assert ticks(outage, 5) == [0, 0, 0, 1, 0]
        for _ in range(6):
            ticks(outage, 20)
            outage.failed("again")
        # At most MAX_PAUSE between two probes: ten ticks of 30 s.
        assert ticks(outage, 11) == [0] * 9 + [1, 0]
        clock.now += 400
        outage.worked()
        assert not outage.active and outage.may_poll() is None
        outage.worked()  # and again: said once
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[0] == (
        "ERROR",
        "polling pauses while the database refuses work: the database is unavailable (database or disk is "
        "full); one due feed is tried in 30s. Hint: free space",
    )
    assert lines[1:] == [("INFO", "the database works again after 6m40s: polling resumes")]


def test_a_database_that_refuses_again_soon_after_it_came_back_is_probed_as_seldom_as_before():
    """One that takes small writes and refuses large ones (a disk with a little room): the probe's poll of
    an unchanged feed passes, every due feed is then claimed and fails. The waits go on growing."""
    clock = Clock()
    outage = DatabaseOutage(tick=30.0, clock=clock)
    outage.failed("full")
    assert ticks(outage, 1) == [1]
    outage.failed("full")  # the probe failed
    assert ticks(outage, 2) == [0, 1]
    outage.worked()  # that probe passed
    clock.now += 60
    outage.failed("full")
    assert ticks(outage, 4) == [0, 0, 0, 1], "the wait it had reached, doubled"
    outage.worked()
    clock.now += MAX_PAUSE + 1  # long enough without trouble: the next starts afresh
    outage.failed("full")
    assert ticks(outage, 1) == [1]


def test_the_disk_running_low_is_said_once_and_its_room_once_back(caplog):
    free = [5 * 2**30, 900 * 2**20, 800 * 2**20, 1500 * 2**20, 2100 * 2**20, 700 * 2**20]
    watch = DiskWatch(Path("/srv/monitor/monitor.db"), space=lambda _: (free.pop(0), 100 * 2**30))
    with caplog.at_level(logging.INFO, logger="monitor.daemon.database"):
        for _ in range(6):
            watch.check()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "INFO", "WARNING"]
    assert lines[0][1].startswith(
        "the disk holding the database /srv/monitor/monitor.db is running low: 900.0MiB free"
    )
    assert lines[1][1] == "the disk holding the database /srv/monitor/monitor.db has room again: 2.1GiB free"
    assert low_disk_bytes(4 * 2**30) == 4 * 2**30 // 10  # a tenth of a small disk
    assert low_disk_bytes(500 * 2**30) == 2**30  # at most 1 GiB


# --- what the store tells of a refusal -------------------------------------------------------------------------


def test_a_full_transaction_that_sqlite_rolled_back_whole_is_a_full_disk_not_a_bug(tmp_path):
    """SQLite rolls the whole transaction back on a full disk: the savepoints around the failed statement
    are gone, and rolling back to them fails with "no such savepoint", raised while the first was handled.
    The full disk is what happened (before, the poll was taken for a bug and its feed blamed)."""
    path = tmp_path / "small.db"
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    # SQLite's own limit on the file's pages: "database or disk is full", as on a full disk.
    event.listen(engine, "connect", lambda connection, _: connection.execute("PRAGMA max_page_count = 12"))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
    with pytest.raises(OperationalError) as raised, Session(engine) as session, session.begin():
        with session.begin_nested(), session.begin_nested():
            for _ in range(100):
                session.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000})
    assert "no such savepoint" in str(raised.value)
    assert unavailability(raised.value) == "database or disk is full"
    # The disk holding it has room: the full one is then likely that of SQLite's temporary files.
    assert "temporary files" in remedy(raised.value, path)
    engine.dispose()


def test_a_statement_sqlite_cannot_run_stays_a_bug(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", poolclass=NullPool)
    with pytest.raises(OperationalError) as raised, engine.begin() as connection:
        connection.exec_driver_sql("SELECT nothing FROM nowhere")
    assert unavailability(raised.value) is None and remedy(raised.value, None) is None
    engine.dispose()


@pytest.mark.parametrize(
    ("error", "wrapper", "advice"),
    [
        (pg_errors.DiskFull("could not extend file"), OperationalError, "the database server's disk is full"),
        (
            pg_errors.ReadOnlySqlTransaction("cannot execute UPDATE in a read-only transaction"),
            InternalError,
            "the server takes no writes",
        ),
    ],
)
def test_postgresql_full_or_taking_no_writes_is_the_database_s_state_with_advice(error, wrapper, advice):
    wrapped = wrapper("UPDATE feeds SET ...", {}, error)
    assert unavailability(wrapped) is not None, "no bug of the statement: one line, no traceback"
    assert remedy(wrapped, None).startswith(advice)


def test_a_postgresql_database_not_created_is_named_with_the_command_that_creates_it():
    # What psycopg raises, word for word, when the server has no such database (no SQLSTATE with it).
    refused = pg_errors.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        'FATAL:  database "newsroom" does not exist'
    )
    advice = remedy(OperationalError("connect", {}, refused), None)
    assert advice is not None and "`createdb newsroom`" in advice


# --- real full disks --------------------------------------------------------------------------------------------


@dataclass
class SmallDisk:
    """A directory on a tmpfs of 4 MiB of its own."""

    path: Path

    def fill(self, room: int | None) -> None:
        """Take all the room left but ``room`` bytes with a file of zeros (None: remove that file)."""
        filler = self.path / "filler"
        filler.unlink(missing_ok=True)
        if room is None:
            return
        found = os.statvfs(self.path)
        with open(filler, "wb") as out:
            out.write(b"\0" * max(0, found.f_bavail * found.f_frsize - room))


@pytest.fixture
def small_disk(tmp_path):
    """A ``SmallDisk``, unmounted at the end."""
    if PG_URL:
        pytest.skip("an SQLite database's disk; the PostgreSQL run has its own test")
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(disk)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def serve_news(web, slug: str, count: int, paragraphs: int = 40) -> dict:
    """A feed of ``count`` articles of long pages, published in the last hours."""
    entries = [
        replace(entry, published=datetime.now(UTC) - timedelta(minutes=n + 1))
        for n, entry in enumerate(make_entries(web, slug, count))
    ]
    for n, entry in enumerate(entries):
        web.set(f"/{slug}/{n}", Route(body=article_html(entry.title, paragraphs_for(entry.slug, paragraphs))))
    web.set(
        f"/{slug}.xml",
        Route(rss(slug, web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}),
    )
    return {"name": slug.title(), "url": web.url(f"/{slug}.xml"), "interval": "1h"}


def stored(database_url: str) -> tuple[int, list[tuple]]:
    """(articles stored, each feed's name, consecutive failures and last error)."""
    db = open_database(database_url, migrate=False)
    try:
        with db.session() as session:
            count = session.scalar(select(func.count()).select_from(Article))
            feeds = [
                tuple(row)
                for row in session.execute(select(Feed.name, Feed.consecutive_failures, Feed.last_error))
            ]
            return count, feeds
    finally:
        db.dispose()


def test_a_poll_on_a_full_disk_blames_no_feed_says_what_to_do_and_stores_everything_once_there_is_room(
    web, workspace, small_disk
):
    database_url = f"sqlite:///{small_disk.path / 'monitor.db'}"
    workspace.write_config([serve_news(web, "wire", 30)], extract_workers=0, host_delay="0s")
    workspace.database_url = database_url
    workspace.cli("db", "upgrade")
    small_disk.fill(256 * 1024)  # room for the feed's state, not for its thirty long articles

    result = workspace.cli("poll", expect=1)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("hint: the disk holding") == 1, result.stderr
    assert f"{small_disk.path} is full" in result.stderr
    (report,) = workspace.json("poll", expect=1)
    assert report["error_kind"] == "database" and report["error"].endswith("(database or disk is full)")
    assert report["hint"].startswith(f"the disk holding {small_disk.path} is full")
    small_disk.fill(None)  # the disk is read once it has room again
    count, feeds = stored(database_url)
    assert count == 0 and feeds == [("Wire", 0, None)], "the database failed, not the feed"
    workspace.cli("poll")
    assert stored(database_url)[0] == 30


def test_a_command_on_a_disk_without_any_room_ends_in_one_line_naming_the_disk(web, workspace, small_disk):
    database_url = f"sqlite:///{small_disk.path / 'monitor.db'}"
    workspace.write_config([serve_news(web, "wire", 2)], extract_workers=0)
    workspace.database_url = database_url
    workspace.cli("db", "upgrade")
    small_disk.fill(0)
    for command in (["feeds"], ["poll"]):
        result = workspace.cli(*command, expect=2)
        assert "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith("error: ") and lines[-1].startswith(
            f"hint: the disk holding {small_disk.path} is full"
        )


def test_the_daemon_pauses_on_a_full_disk_and_stores_everything_once_space_is_freed(
    web, workspace, small_disk, tmp_path
):
    database_url = f"sqlite:///{small_disk.path / 'monitor.db'}"
    feed = serve_news(web, "wire", 30)
    workspace.write_config([feed], poll_tick="1s", extract_workers=0, host_delay="0s")
    workspace.database_url = database_url
    workspace.cli("db", "upgrade")
    small_disk.fill(256 * 1024)
    out, err = tmp_path / "daemon.out", tmp_path / "daemon.err"
    daemon = start_daemon(workspace, database_url, out, err)
    try:
        base = wait_for(lambda: listener_url(err))
        assert base, err.read_text()
        _, body = wait_for(lambda: (answer := get(base + "/healthz"))[0] == 503 and answer)
        health = json.loads(body)
        assert health["database"] == "failing" and "database or disk is full" in health["reason"], health
        _, metrics = get(base + "/metrics")
        assert "monitor_database_failing 1.0" in metrics
        assert "monitor_database_disk_free_bytes " in metrics  # the disk's room, as the daemon reads it
        # Paused: over the next six seconds (six ticks) the feed is asked for by probes alone, ever more
        # seldom (ticks 1, 3 and 7 after the first failure), not at every tick.
        asked = len(web.requests_for("/wire.xml"))
        time.sleep(6)
        assert len(web.requests_for("/wire.xml")) - asked <= 3
        small_disk.fill(None)
        assert wait_for(lambda: stored(database_url)[0] == 30, timeout=90), err.read_text()
        assert wait_for(lambda: get(base + "/healthz")[0] == 200, timeout=30)
        assert "monitor_database_failing 0.0" in get(base + "/metrics")[1]
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    log = err.read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert (
        log.count(
            "polling pauses while the database refuses work: the database is unavailable (database or disk is full)"
        )
        == 1
    ), log
    assert "Hint: the disk holding" in log
    assert log.count("the database works again after") == 1, log
    assert stored(database_url)[1] == [("Wire", 0, None)]


# --- PostgreSQL taking no writes (a standby the address leads to after a failover) -----------------------------


def test_the_daemon_pauses_while_postgresql_takes_no_writes_and_resumes_with_the_primary(
    web, workspace, tmp_path
):
    if not PG_URL:
        pytest.skip("a PostgreSQL database set read-only")
    name = make_url(workspace.database_url).database
    maintenance = create_engine(make_url(workspace.database_url).set(database="postgres"), poolclass=NullPool)

    def read_only(on: bool) -> None:
        with maintenance.begin() as connection:
            setting = (
                "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
            )
            connection.execute(text(f'ALTER DATABASE "{name}" {setting}'))
            # Sessions take the setting when they start: the daemon's are cut, as a failover cuts them.
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )

    feed = serve_news(web, "wire", 3, paragraphs=6) | {"interval": "1s"}
    workspace.write_config([feed], poll_tick="1s", extract_workers=0, host_delay="0s")
    out, err = tmp_path / "daemon.out", tmp_path / "daemon.err"
    daemon = start_daemon(workspace, workspace.database_url, out, err)
    try:
        base = wait_for(lambda: listener_url(err))
        assert base, err.read_text()
        assert wait_for(lambda: stored(workspace.database_url)[0] == 3), err.read_text()
        read_only(True)
        try:
            _, body = wait_for(lambda: (answer := get(base + "/healthz"))[0] == 503 and answer)
            health = json.loads(body)
            assert health["database"] == "failing" and "read-only transaction" in health["reason"], health
            more = serve_news(web, "wire", 5, paragraphs=6)  # news meanwhile
            assert more["url"] == feed["url"]
        finally:
            read_only(False)
        assert wait_for(lambda: stored(workspace.database_url)[0] == 5, timeout=90), err.read_text()
        assert wait_for(lambda: get(base + "/healthz")[0] == 200, timeout=30)
    finally:
        read_only(False)
        maintenance.dispose()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    log = err.read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert "Hint: the server takes no writes" in log
    assert "the database works again after" in log
    assert stored(workspace.database_url)[1] == [("Wire", 0, None)]


def test_a_probe_that_finds_nothing_to_claim_is_made_again_at_the_next_tick():
    outage = DatabaseOutage(tick=30.0, clock=Clock())
    outage.failed("full")
    assert ticks(outage, 1) == [1]
    outage.probe_found_nothing()  # a poll from before the pause held the feed
    assert outage.active and ticks(outage, 2) == [1, 0]


def test_a_postgresql_server_that_never_answers_fails_a_connection_in_seconds_not_minutes():
    """A server that takes the TCP connection and says nothing (hung, or a half-open route): libpq waited
    for it without limit, and every job of the daemon behind it, without a word."""
    import socket

    from monitor.store.db import Database

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever answers
    try:
        db = Database(f"postgresql+psycopg://monitor@127.0.0.1:{silent.getsockname()[1]}/news")
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised, db.session() as session:
            session.execute(text("SELECT 1"))
        assert time.monotonic() - started < 30  # connect_timeout 10 s; without it, for ever
        assert unavailability(raised.value) is not None
        db.dispose()
    finally:
        silent.close()
