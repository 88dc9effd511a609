"""A stop lets the work under way finish: the scheduler's jobs (a digest being sent, the daily prune, a tick)
end within the grace, and none is logged as an error for having been stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import yaml
from sqlalchemy import select
from support.httpserver import LocalWebServer, Route
from support.news import make_entries, rss
from support.waiting import wait_for
from test_daemon import start_daemon, stop

from monitor.config import load_config
from monitor.daemon.scheduler import Daemon, job_scheduler
from monitor.pipeline import Pipeline
from monitor.store.db import open_database
from monitor.store.models import Feed

JOB_TAKES = 1.0
HOOK_TAKES = 2.0
"""Seconds the webhook takes to answer: the daemon is stopped while it waits."""


def test_a_stop_lets_the_scheduled_jobs_under_way_finish_and_logs_no_error(workspace, caplog):
    # APScheduler's shutdown cancelled what it ran: a job in a thread went on anyway, and each was logged at
    # ERROR with a traceback ("Error running job", "raised an exception") at every restart that met one.
    workspace.write_config([])
    config = load_config(workspace.config_path)
    db = open_database(workspace.database_url)
    started = {"thread": threading.Event(), "loop": threading.Event()}
    finished = {"thread": threading.Event(), "loop": threading.Event()}

    def in_a_thread() -> None:
        started["thread"].set()
        time.sleep(JOB_TAKES)
        finished["thread"].set()

    async def in_the_loop() -> None:
        started["loop"].set()
        await asyncio.sleep(JOB_TAKES)
        finished["loop"].set()

    async def scenario() -> float:
        scheduler = job_scheduler(asyncio.get_running_loop())
        async with Pipeline(config, db) as pipeline:
            daemon = Daemon(config, db, pipeline, scheduler=scheduler)
            for job in (in_a_thread, in_the_loop):
                scheduler.add_job(
                    daemon.jobs.tracked(job), "date", run_date=datetime.now(UTC), id=job.__name__
                )
            scheduler.start()
            while not all(event.is_set() for event in started.values()):
                await asyncio.sleep(0.01)
            assert daemon.jobs.running == 2
            asked = time.monotonic()
            await daemon.stop()
            assert all(event.is_set() for event in finished.values()), "the jobs under way finished first"
            assert daemon.jobs.running == 0
            await asyncio.sleep(0.1)  # AsyncIOScheduler shuts down at the loop's next turn
            assert not scheduler.running
            return time.monotonic() - asked

    with caplog.at_level(logging.INFO):
        took = asyncio.run(scenario())
    db.dispose()
    assert took < config.settings.shutdown_grace.total_seconds()  # within the grace, not after it
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not errors, caplog.text
    assert "waiting for 2 scheduled jobs under way" in caplog.text


def test_a_stop_gives_up_waiting_for_a_job_at_the_end_of_the_grace(workspace, caplog):
    workspace.write_config([], shutdown_grace="1s")
    config = load_config(workspace.config_path)
    db = open_database(workspace.database_url)
    release = threading.Event()

    def stuck() -> None:
        release.wait(30)

    async def scenario() -> float:
        scheduler = job_scheduler(asyncio.get_running_loop())
        async with Pipeline(config, db) as pipeline:
            daemon = Daemon(config, db, pipeline, scheduler=scheduler)
            scheduler.add_job(daemon.jobs.tracked(stuck), "date", run_date=datetime.now(UTC), id="stuck")
            scheduler.start()
            while not daemon.jobs.running:
                await asyncio.sleep(0.01)
            asked = time.monotonic()
            await daemon.stop()
            took = time.monotonic() - asked
            release.set()
            return took

    with caplog.at_level(logging.INFO):
        took = asyncio.run(scenario())
    db.dispose()
    assert 0.9 < took < 10
    assert "1 scheduled jobs still running after 1s" in caplog.text


def test_sigterm_while_an_alert_is_being_delivered_lets_it_finish_and_it_is_not_sent_again(
    web, workspace, tmp_path
):
    # The real daemon, stopped while its alert job waits on a slow webhook: the stop waits for the delivery,
    # logs no error, and the daemon started again does not send the same alert twice.
    entries = make_entries(web, "talks", 2, since=datetime.now(UTC) - timedelta(hours=1))  # news: alerted
    web.set(
        "/talks.xml",
        Route(rss("Talks", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}),
    )
    with LocalWebServer(["127.0.0.1"]) as hook:
        hook.set("/hooks/slack", Route(body=b"ok", delay=HOOK_TAKES))
        workspace.write_config([{"name": "Talks", "url": web.url("/talks.xml"), "interval": "1h"}])
        digest = {
            "name": "desk",
            # Its digest is not what is tested: on New Year's Day alone, so no late run of it (made by the
            # retry job within hours of its time) can come into the test whatever the hour.
            "schedule": "0 7 1 1 *",
            "channels": {"slack": {"webhook_url": hook.url("/hooks/slack")}},
            "alerts": {"min_score": 0, "channels": ["slack"], "every": "1s"},
        }
        watchlist = {"topics": [{"name": "talks", "query": "delegations"}]}
        with workspace.config_path.open("a", encoding="utf-8") as file:
            file.write(yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False))
        log = tmp_path / "daemon.log"
        daemon = start_daemon(workspace, log)
        try:
            # The alert's request is in flight once the hook holds a connection (it answers after HOOK_TAKES).
            assert wait_for(lambda: hook.open_connections() > 0, timeout=60), log.read_text()
            assert stop(daemon) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
        text = log.read_text()
        assert "waiting for 1 scheduled jobs under way" in text, text
        assert " ERROR " not in text and "Traceback" not in text, text
        assert len(hook.requests_for("/hooks/slack")) == 1  # delivered, in full, before the daemon ended

        again = start_daemon(workspace, log)
        try:
            assert wait_for(lambda: log.read_text().count("daemon started") == 2, timeout=60)
            time.sleep(3)  # three alert checks
        finally:
            assert stop(again) == 0
        assert len(hook.requests_for("/hooks/slack")) == 1, "the alert was recorded as sent: not sent again"


def test_sigterm_while_slack_asks_to_wait_ends_the_wait_and_the_rest_goes_at_the_next_start(
    web, workspace, tmp_path
):
    # Slack answers 429, Retry-After 100 s: the alert's sender waits it out (up to three times a message).
    # Stopped then, the daemon logged "daemon stopped" and went on waiting and posting for five minutes,
    # past its grace (and systemd's TimeoutStopSec), then logged APScheduler's CancelledError traceback.
    entries = make_entries(web, "talks", 2, since=datetime.now(UTC) - timedelta(hours=1))  # news: alerted
    web.set(
        "/talks.xml",
        Route(rss("Talks", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}),
    )
    with LocalWebServer(["127.0.0.1"]) as hook:
        hook.set("/hooks/slack", Route(status=429, headers={"Retry-After": "100"}, body=b"rate_limited"))
        workspace.write_config([{"name": "Talks", "url": web.url("/talks.xml"), "interval": "1h"}])
        digest = {
            "name": "desk",
            "schedule": "0 7 1 1 *",  # New Year's Day alone: only the alert is tested
            "channels": {"slack": {"webhook_url": hook.url("/hooks/slack")}},
            "alerts": {"min_score": 0, "channels": ["slack"], "every": "1s"},
        }
        watchlist = {"topics": [{"name": "talks", "query": "delegations"}]}
        with workspace.config_path.open("a", encoding="utf-8") as file:
            file.write(yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False))
        log = tmp_path / "daemon.log"
        daemon = start_daemon(workspace, log)
        try:
            assert wait_for(lambda: "waiting 100s as asked" in log.read_text(), timeout=60), log.read_text()
            asked = time.monotonic()
            assert stop(daemon) == 0
            assert time.monotonic() - asked < 15  # within the grace (20 s), not after Slack's waits
        finally:
            if daemon.poll() is None:
                daemon.kill()
        text = log.read_text()
        assert "the daemon stopped while the channel asked to wait" in text, text
        assert " ERROR " not in text and "Traceback" not in text, text
        assert len(hook.requests_for("/hooks/slack")) == 1

        hook.set("/hooks/slack", Route(body=b"ok"))
        again = start_daemon(workspace, log)
        try:
            assert wait_for(lambda: "alert sent on slack" in log.read_text(), timeout=120), log.read_text()
        finally:
            assert stop(again) == 0
    assert [r.status for r in hook.requests_for("/hooks/slack")] == [429, 200]


def test_ctrl_c_at_a_terminal_stops_the_daemon_and_its_workers_without_a_traceback(web, workspace, tmp_path):
    """A terminal sends SIGINT to its whole foreground group: the daemon and its extraction workers alike.
    The daemon stops cleanly; each worker printed a KeyboardInterrupt traceback (they now ignore it, and
    end with the daemon)."""
    web.set("/c.xml", rss("C", web.url("/"), make_entries(web, "c", 2)))
    workspace.write_config([{"name": "C", "url": web.url("/c.xml")}], poll_tick="1s", extract_workers=2)
    log_path = tmp_path / "daemon.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workspace.config_path)]
            + ["--db", workspace.database_url, "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a group of its own, as a terminal's foreground job
        )
    try:
        # The workers are up once a page was extracted.
        assert wait_for(lambda: "poll feed=C outcome=ok" in log_path.read_text()), log_path.read_text()
        os.killpg(daemon.pid, signal.SIGINT)
        code = daemon.wait(timeout=60)
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
    text = log_path.read_text()
    assert code == 0, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "daemon stopped" in text


def test_ctrl_c_pressed_again_cuts_the_stop_short_and_releases_the_leases(web, workspace, tmp_path):
    # The first Ctrl-C waits up to the grace for a poll whose page takes a minute; pressed again, it exited
    # at once with status 130, not a line said, and the feed's lease held for 30 minutes.
    web.set("/s.xml", rss("S", web.url("/"), make_entries(web, "s", 1)))
    web.set("/s/0", Route(f"<html><body><p>{'slow text ' * 80}</p></body></html>", delay=60))
    workspace.write_config(
        [{"name": "S", "url": web.url("/s.xml")}], poll_tick="1s", timeout="90s", shutdown_grace="45s"
    )
    log_path = tmp_path / "daemon.log"
    daemon = start_daemon(workspace, log_path)
    try:
        # A request is recorded once answered: the page's, a minute away, is under way once robots.txt is in.
        assert wait_for(lambda: web.requests_for("/robots.txt"), timeout=60), log_path.read_text()
        time.sleep(1)
        daemon.send_signal(signal.SIGINT)
        assert wait_for(lambda: "stopping: waiting up to 45s" in log_path.read_text(), timeout=30)
        asked = time.monotonic()
        daemon.send_signal(signal.SIGINT)
        code = daemon.wait(timeout=40)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = log_path.read_text()
    assert code == 0, text
    assert time.monotonic() - asked < 30  # not the rest of the 45 s grace
    assert "a second stop signal: what is still under way is cut short now" in text
    assert "cut short (poll S)" in text and "Traceback" not in text
    db = open_database(workspace.database_url, migrate=False)
    with db.session() as session:
        assert session.scalars(select(Feed.lease_owner)).all() == [None]  # given back, not left to expire
    db.dispose()
    web.set("/s/0", "<html><body><p>" + "fast text " * 80 + "</p></body></html>")
    [report] = workspace.json("poll")
    assert report["outcome"] == "ok" and report["new_articles"] == 1  # not held by a lease left behind
