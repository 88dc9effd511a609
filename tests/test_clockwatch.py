"""A wall clock stepped back: the schedule is reckoned again from the new time, not frozen for the step."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.daemon.clockwatch import ClockWatch
from monitor.daemon.observe import Health


class Clocks:
    def __init__(self) -> None:
        self.wall, self.monotonic = datetime.now(UTC).timestamp(), 1000.0

    def step(self, seconds: float, *, passing: float = 30.0) -> None:
        self.wall += seconds + passing
        self.monotonic += passing


def test_a_step_back_brings_every_job_s_next_run_to_the_new_time(caplog):
    clocks = Clocks()

    async def run() -> dict[str, datetime]:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        scheduler.add_job(lambda: None, "interval", seconds=60, id="tick")
        scheduler.add_job(lambda: None, "cron", hour="*", minute=0, id="digest")
        scheduler.start()
        try:
            watch = ClockWatch(
                scheduler, every=10, wall=lambda: clocks.wall, monotonic=lambda: clocks.monotonic
            )
            # The clock stepped back by half an hour: the jobs' next runs, reckoned before, lie that far off.
            clocks.step(-1800)
            assert watch.look() < -1700
            return {job.id: job.next_run_time for job in scheduler.get_jobs()}
        finally:
            scheduler.shutdown(wait=False)

    caplog.set_level(logging.WARNING, logger="monitor")
    after = asyncio.run(run())
    now = datetime.fromtimestamp(clocks.wall, UTC)
    assert after["tick"] - now <= timedelta(seconds=60)  # not 31 minutes
    assert after["digest"] - now <= timedelta(hours=1)
    assert any("the system clock stepped back by 30m" in r.getMessage() for r in caplog.records)


def test_time_passing_is_no_step():
    clocks = Clocks()

    async def run() -> float:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        watch = ClockWatch(scheduler, every=10, wall=lambda: clocks.wall, monotonic=lambda: clocks.monotonic)
        clocks.step(0, passing=3600)
        return watch.look()

    assert asyncio.run(run()) == 0.0


class _Ticked:
    last_tick_at: float | None = None
    last_poll_success_at: float | None = None


def test_healthz_is_unhealthy_while_the_last_tick_lies_ahead_of_a_clock_stepped_back(tmp_path):
    from monitor.store.db import open_database

    db = open_database(f"sqlite:///{tmp_path / 'h.db'}")
    metrics = _Ticked()
    now = datetime.now(UTC).timestamp()
    metrics.last_tick_at = now + 1800  # ticked, then the clock went back half an hour
    health = Health(db=db, metrics=metrics, tick_every=60, clock=lambda: now)  # type: ignore[arg-type]
    healthy, body = health.check()
    db.dispose()
    assert not healthy and "no scheduler tick for 1800s" in body["reason"]
