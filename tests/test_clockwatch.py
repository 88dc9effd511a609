"""A wall clock stepped back: the schedule is reckoned again from the new time, not frozen for the step."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.daemon.clockwatch import ClockWatch
from monitor.daemon.observe import Health

MINUTE = timedelta(minutes=1)


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


def test_a_step_back_moves_the_stored_next_polls_and_retries_with_it(database_url):
    """A feed due a quarter of an hour after its poll, the clock stepped back half an hour: it waited the
    quarter and the whole step besides, as did every delivery's and page's next try."""
    from sqlalchemy import select

    from monitor.store.db import open_database
    from monitor.store.models import Feed
    from monitor.store.timeshift import later_times_moved

    db = open_database(database_url)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        with db.session() as session:
            for name, due in (("Soon", 45 * MINUTE), ("Later", 180 * MINUTE), ("Due", -MINUTE)):
                session.add(
                    Feed(
                        name=name,
                        url=f"http://127.0.0.1:9/{name}.xml",
                        next_poll_at=now + due,
                        created_at=now,
                    )
                )
        with db.write_session() as session:
            assert later_times_moved(session, by=timedelta(minutes=-30), now=now) == 2
        with db.session() as session:
            due = dict(session.execute(select(Feed.name, Feed.next_poll_at)).all())
    finally:
        db.dispose()
    assert due["Soon"] == now + timedelta(minutes=15)
    assert due["Later"] == now + timedelta(hours=2, minutes=30)
    assert due["Due"] == now - timedelta(minutes=1)  # already due: left as it is


def test_the_watch_hands_the_step_to_what_holds_stored_times():
    clocks = Clocks()
    moved: list[tuple[timedelta, datetime]] = []

    async def run() -> None:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        watch = ClockWatch(
            scheduler,
            every=10,
            wall=lambda: clocks.wall,
            monotonic=lambda: clocks.monotonic,
            on_step_back=lambda step, now: moved.append((step, now)),
        )
        clocks.step(-1800)
        watch.look()
        clocks.step(+1800)  # forward: the stored times are simply due sooner
        watch.look()

    asyncio.run(run())
    [(step, _)] = moved
    assert timedelta(minutes=-31) < step < timedelta(minutes=-29)
