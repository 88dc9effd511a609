"""The daemon's watch over its database: polling pauses while the database refuses work, and a disk running
low is said before it is full.

**Refused work.** A full disk, a database file monitor may not write, a server gone or restarting: every
poll would fetch its feed and its pages from the sites, then fail to store them. So once a poll or a claim
fails for the database's sake (``monitor.store.db.unavailability``), the daemon stops claiming feeds: at
the next tick it polls one due feed as a probe, and while probes fail, it waits twice as many ticks before
the next (one at first, five minutes' worth at most). The first probe that stores, or a claim that finds nothing
due, ends the pause. The sites see one request now and then, not every due feed at every tick, and
/healthz answers 503 meanwhile. A database that fails again soon after it came back resumes the longer
waits where they were, so one that takes small writes and refuses large ones does not bring every feed
back at every other tick.

**A disk running low.** For an SQLite database, each tick reads the free space of its file system (one
``statvfs``) and warns once when it falls under ``low_disk_bytes`` (a tenth of the file system, at most
1 GiB), and once more when it has room again; /metrics exposes it as ``monitor_database_disk_free_bytes``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ByteSize

from monitor.config.durations import format_duration
from monitor.store.db import disk_space

log = logging.getLogger(__name__)

MAX_PAUSE = 300.0
"""Seconds between two probes of a database that keeps refusing work, at most."""
LOW_DISK_SHARE = 0.1
LOW_DISK_MAX = 2**30
"""A disk is low with less than a tenth of it free, or less than 1 GiB on a disk of more than 10 GiB."""
ROOM_AGAIN = 2
"""A low disk has room again with twice the low mark free: a disk that hovers at the mark warns once."""


class DatabaseOutage:
    """Whether the daemon's database refuses its work, and whether a tick may poll now.

    Used from the event loop's thread (ticks and the polls' ends) and the scheduler's threads (regrouping,
    retention): each call sets a few attributes, which the GIL keeps whole. The waits are counted in ticks:
    the first probe is the next tick's, then one tick in two, four, eight... up to ``MAX_PAUSE``.

    Args:
        tick: seconds between two ticks (``settings.poll_tick``).
        clock: ``time.monotonic``, or a stand-in for tests.
    """

    def __init__(self, *, tick: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.tick = tick
        self.clock = clock
        self.since: datetime | None = None  # when the database first refused work, while it does
        self.cause: str | None = None
        self._started = 0.0
        self._level = 0  # probes failed in a row
        self._skip = 0  # ticks to let pass before the next probe
        self._probing = False
        self._recovered: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, cause: str, *, hint: str | None = None) -> None:
        """Work failed for the database's sake: a poll, a claim, retention's or the regrouping's transaction."""
        now = self.clock()
        self.cause = cause
        if not self.active:
            # Came back only lately: go on from the waits it had reached.
            lately = self._recovered is not None and now - self._recovered < MAX_PAUSE
            self._level = self._level + 1 if lately else 0
            self.since, self._started, self._probing = datetime.now(UTC), now, False
            self._skip = self._ticks_to_skip()
            log.error(
                "polling pauses while the database refuses work: %s; one due feed is tried in %s%s",
                cause,
                format_duration(timedelta(seconds=round((self._skip + 1) * self.tick))),
                f". Hint: {hint}" if hint else "",
            )
        elif self._probing:
            # The probe failed (polls that were in flight when the trouble began change nothing here).
            self._probing = False
            self._level += 1
            self._skip = self._ticks_to_skip()

    def worked(self) -> None:
        """Work reached the database: a poll stored what it fetched, or a claim answered with nothing due."""
        if not self.active:
            return
        now = self.clock()
        log.info(
            "the database works again after %s: polling resumes",
            format_duration(timedelta(seconds=round(now - self._started))),
        )
        self.since, self.cause, self._probing = None, None, False
        self._recovered = now

    def probe_found_nothing(self) -> None:
        """The probe's claim took no feed while polls were in flight: the next tick probes again."""
        self._probing = False

    def may_poll(self) -> int | None:
        """How many feeds this tick may claim: None for all of them, 1 for a probe, 0 to wait."""
        if not self.active:
            return None
        if self._probing:
            return 0  # the probe's poll has not ended
        if self._skip > 0:
            self._skip -= 1
            return 0
        self._probing = True
        return 1

    def _ticks_to_skip(self) -> int:
        most = max(0, int(MAX_PAUSE // self.tick) - 1) if self.tick > 0 else 0
        return min(2**self._level - 1, most)


def low_disk_bytes(total: int) -> int:
    """The free space under which a disk of ``total`` bytes is low."""
    return min(int(total * LOW_DISK_SHARE), LOW_DISK_MAX)


class DiskWatch:
    """Warns once when the file system holding an SQLite database runs low, and says when it has room again.

    Args:
        sqlite_path: the database's file.
        space: ``monitor.store.db.disk_space``, or a stand-in for tests: (bytes free, bytes in all), or None.
    """

    def __init__(
        self, sqlite_path: Path, *, space: Callable[[Path], tuple[int, int] | None] = disk_space
    ) -> None:
        self.sqlite_path = sqlite_path
        self.space = space
        self.low = False

    def check(self) -> None:
        """Read the free space now; say so when it went under the low mark, or back over twice that."""
        found = self.space(self.sqlite_path)
        if found is None:
            return
        free, total = found
        mark = low_disk_bytes(total)
        if not self.low and free < mark:
            self.low = True
            log.warning(
                "the disk holding the database %s is running low: %s free of %s. When it is full, polls "
                "store nothing until space is freed; shorter retention windows (`monitor prune`) keep the "
                "database smaller",
                self.sqlite_path,
                _size(free),
                _size(total),
                extra={"url": str(self.sqlite_path)},
            )
        elif self.low and free >= ROOM_AGAIN * mark:
            self.low = False
            log.info(
                "the disk holding the database %s has room again: %s free",
                self.sqlite_path,
                _size(free),
                extra={"url": str(self.sqlite_path)},
            )


def _size(count: int) -> str:
    return ByteSize(count).human_readable()
