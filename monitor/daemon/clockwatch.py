"""Noticing the system clock step backwards, and reckoning the schedule again from the new time.

APScheduler 3 turns the wall-clock time until a job's next run into an event-loop timer, which runs on
monotonic time. When the wall clock steps back (an NTP correction, a virtual machine resumed with a wrong
clock) by half an hour, every job's next run is half an hour further away than it should be: the daemon
stopped polling, sending digests and retrying deliveries for as long as the step, without a word, and
setting the clock right again did not wake it. A step forward makes jobs late, which the scheduler runs at
once (or counts as missed, and the digests make up for: ``monitor.digest.runner``).

The database holds wall times too, reckoned by the clock before the step: each feed's next poll, each
delivery's and page's next try. They are moved by the step as well (``on_step_back``); otherwise a feed due
a quarter of an hour after its poll would wait the quarter and the whole step besides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config.durations import format_duration

log = logging.getLogger(__name__)

TOLERANCE = 60.0
"""Seconds the wall clock may drift from the monotonic one between two looks before it counts as a step."""


class ClockWatch:
    """Looks every ``every`` seconds whether the wall clock moved other than time passed; after a step back,
    each job's next run is reckoned again from the new time, and the scheduler woken."""

    def __init__(
        self,
        scheduler: BaseScheduler,
        *,
        every: float,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_step_back: Callable[[timedelta, datetime], None] | None = None,
    ) -> None:
        self.scheduler, self.every = scheduler, every
        # What else holds wall times reckoned before the step (the database's next polls and retries): moved
        # by the step too, with the time now.
        self._on_step_back = on_step_back
        self._wall, self._monotonic = wall, monotonic
        self._last = (wall(), monotonic())

    async def run(self, stopping: asyncio.Event) -> None:
        """Look until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), self.every)
            except TimeoutError:
                self.look()

    def look(self) -> float:
        """Compare the clocks once; returns by how many seconds the wall clock stepped (0: it did not)."""
        wall, monotonic = self._wall(), self._monotonic()
        stepped = (wall - self._last[0]) - (monotonic - self._last[1])
        self._last = (wall, monotonic)
        if abs(stepped) <= TOLERANCE:
            return 0.0
        way = "back" if stepped < 0 else "forward"
        log.warning(
            "the system clock stepped %s by %s%s",
            way,
            format_duration(timedelta(seconds=round(abs(stepped)))),
            ": every job's next run is reckoned again from now" if stepped < 0 else "",
        )
        if stepped < 0:
            self.realign(timedelta(seconds=stepped))
            if self._on_step_back is not None:
                try:
                    self._on_step_back(timedelta(seconds=stepped), datetime.fromtimestamp(wall, UTC))
                except Exception:  # noqa: BLE001 - the jobs run again; the stored times come due in time
                    log.warning(
                        "the stored next polls and retries were not moved with the clock", exc_info=True
                    )
        return stepped

    def realign(self, step: timedelta) -> None:
        """After the wall clock stepped back by ``step`` (negative): a job on an interval runs as far from
        now as it was due to before the step; a job at wall times (a digest's schedule) at the first of them
        from now (a period it already sent is not sent again: the ledger holds it)."""
        now = datetime.fromtimestamp(self._wall(), UTC)
        for job in self.scheduler.get_jobs():
            if job.next_run_time is None:  # paused
                continue
            if isinstance(job.trigger, IntervalTrigger):
                due = job.next_run_time + step
            else:
                due = job.trigger.get_next_fire_time(None, now)
            if due is not None and due < job.next_run_time:
                job.modify(next_run_time=max(due, now))
        self.scheduler.wakeup()
