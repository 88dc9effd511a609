"""A cron trigger that fires once at each wall time, through the changes of daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger


class OnceAtEachWallTime(CronTrigger):
    """APScheduler's ``CronTrigger``, but a wall time that the clocks go back over fires once, as cron does: on
    the night summer time ends, a digest scheduled at 02:30 is sent at the first 02:30, not again an hour
    later with an hour's news. (When the clocks go forward, an 02:30 that does not exist fires at 03:30,
    once, as APScheduler already does.)"""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        # The second pass through a wall time has fold 1 in its zone (PEP 495). Asked again from within that
        # pass, CronTrigger answers the same time: the search goes on from the first minute after it.
        if fire is None or not fire.astimezone(self.timezone).fold:
            return fire
        after = fire.astimezone(UTC)  # in UTC: adding to a zone's wall time would step back over the change
        while after.astimezone(self.timezone).fold:
            after += _MINUTE
        return self.get_next_fire_time(fire, after)


_MINUTE = timedelta(minutes=1)  # cron's resolution, and that of every zone's changes
