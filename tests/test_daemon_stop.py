"""A stop lets the work under way finish: the scheduler's jobs (a digest being sent, the daily prune, a tick)
end within the grace, and none is logged as an error for having been stopped."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config import load_config
from monitor.daemon.scheduler import Daemon
from monitor.pipeline import Pipeline
from monitor.store.db import open_database

JOB_TAKES = 1.0


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
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
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
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
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
