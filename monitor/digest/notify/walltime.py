"""A cron trigger that fires once at each wall time, through the changes of daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger


class OnceAtEachWallTime(CronTrigger):
    """APScheduler's ``CronTrigger``, but a wall time that the clocks go back over fires once, as cron does: on
    the night summer time ends, a digest scheduled at 02:30 is sent at the first 02:30, not again an hour
    later with an hour's news. (When the clocks go forward, an 02:30 that does not exist fires at 03:30,
    once, as APScheduler already does.) And no day is skipped after a short one (``_increment_field_value``)."""

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

    def _increment_field_value(self, dateval: datetime, fieldnum: int) -> tuple[datetime, int]:
        # APScheduler moves to the next day (hour, month...) by adding the step between the two wall times in
        # UTC: across a day the clocks went forward on, 23 hours long, that lands an hour past the wall time
        # it aimed at (01:00 instead of 00:00), and a daily digest at midnight, or at any time before the
        # change's size, skipped the next day (a weekly one the next week). The step is taken on the wall
        # clock instead: the first instant at or after the wall time aimed at (where that time does not
        # exist, the end of the gap, as for any time the clocks skip).
        moved, fieldnum = super()._increment_field_value(dateval, fieldnum)
        aimed = dateval.replace(tzinfo=None) + (moved.astimezone(UTC) - dateval.astimezone(UTC))
        after = dateval.astimezone(UTC)
        candidates = []
        for fold in (0, 1):
            local = aimed.replace(tzinfo=self.timezone, fold=fold)
            at = local.astimezone(UTC)
            # Reached, not before: the wall time itself (once or twice), or past it where it does not exist.
            if at > after and at.astimezone(self.timezone).replace(tzinfo=None) >= aimed:
                candidates.append((at, local))
        if not candidates:
            return moved, fieldnum
        return min(candidates, key=lambda candidate: candidate[0])[1], fieldnum


_MINUTE = timedelta(minutes=1)  # cron's resolution, and that of every zone's changes
