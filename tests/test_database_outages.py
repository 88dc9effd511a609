"""The daemon while its database is locked by another program or gone: the event loop goes on, and each job
that cannot reach the database says so in one line and tries again at its next run."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from support.httpserver import Route
from support.news import article_html, make_entries, paragraphs_for, rss
from support.waiting import wait_for
from test_daemon import start_daemon, stop

from monitor.config import load_config
from monitor.daemon.scheduler import Daemon, job_scheduler
from monitor.pipeline import Pipeline
from monitor.store import db as db_module
from monitor.store.db import open_database
from monitor.store.models import Article, Feed

LOCKED_FOR = 2.0
"""Seconds another program holds the SQLite database: well under its busy timeout, so the claim waits."""


def feeds_yaml(tmp_path, web) -> object:
    web.set("/feed.xml", rss("Wire", web.url("/"), make_entries(web, "wire", 2)))
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  - name: wire\n    url: {web.url('/feed.xml')}\n")
    return path


@asynccontextmanager
async def daemon_of(config, db, *, sync: bool = True) -> AsyncIterator[Daemon]:
    """A daemon on a scheduler of the running loop (not started: each test drives its jobs itself)."""
    scheduler = job_scheduler(asyncio.get_running_loop())
    async with Pipeline(config, db) as pipeline:
        if sync:
            pipeline.sync_feeds()
        yield Daemon(config, db, pipeline, scheduler=scheduler)


def lock_exclusively(path) -> sqlite3.Connection:
    """Another program's exclusive lock on an SQLite file, held until it rolls back."""
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    return locker


def test_a_database_locked_by_another_program_does_not_stop_the_event_loop(tmp_path, web):
    # SQLite whatever the suite's database: the lock is what another program (a shell, a backup) holds.
    db = open_database(f"sqlite:///{tmp_path / 'monitor.db'}")
    config = load_config(feeds_yaml(tmp_path, web))
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def scenario() -> None:
        async with daemon_of(config, db) as daemon:
            locker = lock_exclusively(db.sqlite_path)
            beating = asyncio.create_task(heartbeat())
            ticking = asyncio.create_task(daemon.tick())
            await asyncio.sleep(LOCKED_FOR)
            # While the claim waited, the loop went on. (On the loop itself, the claim stopped it for the
            # whole busy timeout, 30 s: the lock's release, due from this loop, could not come first.)
            assert max(gaps) < LOCKED_FOR / 2
            assert not ticking.done()  # the claim waits for the lock...
            # The next tick returns at once rather than queue a second claim behind the first.
            await asyncio.wait_for(daemon.tick(), timeout=LOCKED_FOR / 2)
            locker.execute("ROLLBACK")
            locker.close()
            await asyncio.wait_for(ticking, timeout=30)  # ...and takes the feed once it is released
            await asyncio.wait_for(asyncio.gather(*daemon.in_flight), timeout=30)
            beating.cancel()

    asyncio.run(scenario())
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 2
    db.dispose()


def test_a_stop_while_a_tick_claims_waits_for_the_claim_and_gives_its_leases_back(tmp_path, web, caplog):
    # The tick job's claim waits for the lock in a thread, which no cancellation stops. The stop must wait
    # for it, start no poll after it, give back the leases it took, and log no error: the scheduler's
    # shutdown cancelled the job (APScheduler logged its traceback at ERROR), and the leases were given back
    # before the claim took them.
    db = open_database(f"sqlite:///{tmp_path / 'monitor.db'}")
    config = load_config(feeds_yaml(tmp_path, web))

    async def scenario() -> None:
        async with daemon_of(config, db) as daemon:
            locker = lock_exclusively(db.sqlite_path)
            daemon.scheduler.add_job(daemon.jobs.tracked(daemon.tick), "date", id="poll-tick")
            daemon.scheduler.start()
            await asyncio.wait_for(_until(lambda: daemon.jobs.running == 1), timeout=10)
            await asyncio.sleep(LOCKED_FOR / 4)  # the claim waits for the lock
            daemon.stopping.set()
            stopping = asyncio.create_task(daemon.stop())
            await asyncio.sleep(LOCKED_FOR / 4)
            assert not stopping.done()  # the stop waits for the claim under way
            locker.execute("ROLLBACK")
            locker.close()
            await asyncio.wait_for(stopping, timeout=30)
            assert daemon.jobs.running == 0
            assert not daemon.in_flight  # no poll started after the stop

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    with db.session() as session:
        feed = session.scalar(select(Feed))
        assert feed.lease_owner is None and feed.lease_until is None
        assert session.scalar(select(func.count()).select_from(Article)) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    db.dispose()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_configuration_check_waiting_on_a_locked_database_makes_the_next_return_at_once(tmp_path, web):
    db = open_database(f"sqlite:///{tmp_path / 'monitor.db'}")
    path = feeds_yaml(tmp_path, web)
    config = load_config(path)

    async def scenario() -> None:
        async with daemon_of(config, db) as daemon:
            web.set("/desk.xml", rss("Desk", web.url("/"), make_entries(web, "desk", 1)))
            path.write_text(path.read_text() + f"  - name: desk\n    url: {web.url('/desk.xml')}\n")
            locker = lock_exclusively(db.sqlite_path)
            checking = asyncio.create_task(daemon.check_config())
            await asyncio.sleep(LOCKED_FOR)
            assert not checking.done()  # writing the new feed waits for the lock
            # The next timed check returns at once: it would only read the same file again behind it.
            await asyncio.wait_for(daemon.check_config(), timeout=LOCKED_FOR / 2)
            # A SIGHUP is never dropped: it waits for the check under way, then reads the files again.
            hangup = asyncio.create_task(daemon.reload(force=True))
            await asyncio.sleep(0.2)
            assert not hangup.done()
            locker.execute("ROLLBACK")
            locker.close()
            await asyncio.wait_for(checking, timeout=30)
            assert await asyncio.wait_for(hangup, timeout=30) is True
            assert [feed.name for feed in daemon.config.feeds] == ["wire", "desk"]

    asyncio.run(scenario())
    with db.session() as session:
        assert sorted(session.scalars(select(Feed.name))) == ["desk", "wire"]
    db.dispose()


def test_sqlite_telling_its_state_from_a_statement_it_cannot_run(tmp_path):
    # sqlite3 raises OperationalError for both: a lock or a missing file is the database's state, one line in
    # the log; a syntax error or a missing table is the code's fault, and keeps its traceback.
    engine = create_engine(
        f"sqlite:///{tmp_path / 'x.db'}", connect_args={"timeout": 0.05}, poolclass=NullPool
    )
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    errors = {}

    def fails(name: str, statement: str) -> None:
        with pytest.raises(OperationalError) as raised, engine.begin() as connection:
            connection.execute(text(statement))
        errors[name] = raised.value

    fails("syntax", "SELEC 1")
    fails("no table", "SELECT * FROM missing")
    locker = lock_exclusively(tmp_path / "x.db")  # even reading the schema waits for it
    fails("locked", "INSERT INTO t VALUES (1)")
    locker.close()
    engine.dispose()
    assert db_module.unavailability(errors["locked"]) == "database is locked"
    assert db_module.unavailability(errors["syntax"]) is None
    assert db_module.unavailability(errors["no table"]) is None
    gone = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", poolclass=NullPool)
    with pytest.raises(OperationalError) as raised, gone.connect():
        pass
    assert db_module.unavailability(raised.value) == "unable to open database file"


def unreachable(kind: str, tmp_path):
    """A database that was there and is gone: a volume unmounted under SQLite, a PostgreSQL server down."""
    if kind == "postgresql":
        return open_database("postgresql+psycopg://postgres@127.0.0.1:9/monitor", migrate=False)
    folder = tmp_path / "volume"
    db = open_database(f"sqlite:///{folder / 'monitor.db'}")
    shutil.rmtree(folder)
    db.engine.dispose()  # no connection left open on the removed file
    return db


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_job_that_cannot_reach_the_database_logs_one_line_naming_the_cause(kind, tmp_path, web, caplog):
    config = load_config(feeds_yaml(tmp_path, web))
    db = unreachable(kind, tmp_path)

    async def scenario() -> None:
        async with daemon_of(config, db, sync=False) as daemon:
            with caplog.at_level(logging.ERROR, logger="monitor"):
                await daemon.tick()
                await asyncio.to_thread(daemon.regroup)

    asyncio.run(scenario())
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("monitor")]
    messages = [r.getMessage() for r in failures]
    assert any(m.startswith("could not claim due feeds: the database is unavailable (") for m in messages)
    assert any(m.startswith("regroup failed: the database is unavailable (") for m in messages)
    pausing = [m for m in messages if m.startswith("polling pauses while the database refuses work: ")]
    assert len(pausing) == 1, "the daemon's pause is said once (monitor.daemon.database)"
    assert all(
        m.endswith(("will retry at the next tick", "the next run tries again"))
        for m in messages
        if m not in pausing and "Hint: " not in m
    )
    assert all(r.exc_info is None for r in failures), "a database that is gone is no bug: no traceback"
    db.dispose()


def test_a_job_that_fails_for_another_reason_keeps_its_traceback(tmp_path, web, caplog, monkeypatch):
    import monitor.daemon.scheduler as scheduler_module

    config = load_config(feeds_yaml(tmp_path, web))
    db = open_database(f"sqlite:///{tmp_path / 'monitor.db'}")

    def broken(session, **_):
        raise ValueError("a bug in the regrouping pass")

    monkeypatch.setattr(scheduler_module, "plan_regroup", broken)

    async def scenario() -> None:
        async with daemon_of(config, db, sync=False) as daemon:
            with caplog.at_level(logging.ERROR, logger="monitor"):
                await asyncio.to_thread(daemon.regroup)

    asyncio.run(scenario())
    (failure,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failure.getMessage() == "regroup failed; the next run tries again"
    assert failure.exc_info is not None and "a bug in the regrouping pass" in str(failure.exc_info[1])
    db.dispose()


def test_a_poll_whose_database_goes_away_mid_way_is_polled_again_once_it_is_back(
    tmp_path, web, caplog, monkeypatch
):
    """The database, not the feed, failed: nothing counts against the feed, its lease is given back (not
    held for the lease's 30 minutes), and the next tick after the database is back polls it whole."""
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT", 0.3)  # fail soon rather than after 30 s
    db = open_database(f"sqlite:///{tmp_path / 'monitor.db'}")
    config = load_config(feeds_yaml(tmp_path, web))
    # The first page is slow: the database goes away while it is fetched, before anything of it is stored.
    web.set("/wire/0", Route(body=article_html("Report wire-0", paragraphs_for("wire-0")), delay=0.5))

    async def page_asked() -> None:
        while not web.requests_for("/wire/0"):
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        async with daemon_of(config, db) as daemon:
            await daemon.tick()
            (polling,) = [task for task in daemon.in_flight if task.get_name() == "poll wire"]
            await asyncio.wait_for(page_asked(), timeout=30)
            locker = lock_exclusively(db.sqlite_path)
            await asyncio.wait_for(polling, timeout=30)  # the poll ends; it does not raise
            locker.execute("ROLLBACK")
            locker.close()
            await daemon.tick()
            assert [task for task in daemon.in_flight if task.get_name() == "poll wire"], (
                "the feed is polled again at the first tick after the database is back"
            )
            await asyncio.wait_for(asyncio.gather(*daemon.in_flight), timeout=30)

    with caplog.at_level(logging.INFO, logger="monitor"):
        asyncio.run(scenario())
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 2
        feed = session.scalar(select(Feed))
        assert feed.consecutive_failures == 0 and feed.last_error is None
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures and all(r.exc_info is None for r in failures)
    assert any("the database is unavailable (database is locked)" in r.getMessage() for r in failures)
    db.dispose()


def test_the_daemon_rides_out_a_postgresql_outage_in_the_middle_of_a_poll(web, workspace, tmp_path):
    """A server going away for seconds while a poll is in flight (its pages being fetched): the database
    refuses every connection and cuts those open. The poll ends in one ERROR line; once the database is
    back, the feed is polled again and every entry is stored, and the log has no traceback."""
    if not workspace.database_url.startswith("postgresql"):
        pytest.skip("takes a PostgreSQL database away")
    entries = make_entries(web, "cut", 4)
    for n, entry in enumerate(entries):  # slow pages: the poll is in flight when the database goes
        web.set(f"/cut/{n}", Route(body=article_html(entry.title, paragraphs_for(entry.slug)), delay=1.0))
    web.set("/cut.xml", rss("Cut", web.url("/"), entries))
    workspace.write_config([{"name": "Cut", "url": web.url("/cut.xml")}], poll_tick="1s")
    log_path = tmp_path / "daemon.log"
    name = make_url(workspace.database_url).database
    # The database is taken away and given back from another one of the server, as an operator would.
    maintenance = create_engine(make_url(workspace.database_url).set(database="postgres"), poolclass=NullPool)

    def outage(on: bool) -> None:
        with maintenance.begin() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if on else "true"}'))
            if on:
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                )

    daemon = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: web.requests_for("/cut/0"))
        outage(True)
        try:
            # The poll meets the database away as it stores its first articles (before this change, it
            # crashed there and left its feed leased for 30 minutes).
            ended = ("poll feed=Cut outcome=", "poll crashed: feed=Cut")
            assert wait_for(lambda: any(e in log_path.read_text() for e in ended), timeout=30)
            time.sleep(2)  # ticks meet the database away
        finally:
            outage(False)
        db = open_database(workspace.database_url, migrate=False)
        try:

            def stored() -> int:
                with db.session() as session:
                    return session.scalar(select(func.count()).select_from(Article))

            assert wait_for(lambda: stored() == len(entries), timeout=60), log_path.read_text()
        finally:
            db.dispose()
    finally:
        code = stop(daemon)
        maintenance.dispose()
    log = log_path.read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert errors and all("the database is unavailable (" in line for line in errors), errors


def test_deduplication_gives_up_a_placement_whose_database_went_away(db):
    """The stage keeps an article it cannot place (a bug costs the article its cluster, never the article);
    a connection cut under it is another matter: the article's own transaction is gone with it, and the
    failure goes up to the poll, which ends and comes again, instead of going on in a dead transaction."""
    if db.is_sqlite:
        pytest.skip("cuts a PostgreSQL connection")
    from datetime import UTC, datetime

    from sqlalchemy.exc import OperationalError
    from support.articles import extracted_article, stored_row

    from monitor.config import DedupSettings
    from monitor.dedupe import stage

    body = " ".join(paragraphs_for("cut-placement"))
    article = extracted_article("https://news.example/cut", body, datetime.now(UTC))
    with db.session() as session:
        row = stored_row(session, article)
        backend = session.scalar(text("SELECT pg_backend_pid()"))
        with db.engine.begin() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(OperationalError):
            stage.place(session, article_id=row.id, article=article, settings=DedupSettings())
        session.rollback()
