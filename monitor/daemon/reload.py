"""Reloading the configuration of a running daemon: feeds.yaml and the watchlist file it names.

The daemon asks every ``settings.config_check_every`` whether the files changed (which file each path
names, its modification and change times and size), and at once on SIGHUP. A changed configuration is read
and validated whole (feeds, settings, digests, the watchlist) before anything of it is used: an invalid one
is logged with every problem at its file and line, and the one in force stays; the same files are not tried
again until they change (or the next SIGHUP). What a valid one changes is told by ``ConfigChange``; the
daemon applies it (monitor.daemon.scheduler).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from monitor.config import Config, FeedConfig, load_config
from monitor.errors import MonitorError
from monitor.runtime.plurals import plural
from monitor.watchlist.model import Watchlist, load_watchlist, watchlist_file

log = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int, int, int] | None, ...]

# Settings that only a restart puts in force: the listener's socket is bound once, when the daemon starts.
# (The database is not in feeds.yaml at all: --db or MONITOR_DB.) Those built into the fetcher and the
# extractor are rebuilt on reload (monitor.ingest.fetchtools).
RESTART_SETTINGS = ("listen",)

SETTLE = 0.5
"""Seconds a reload waits, after files that it read were invalid, to see whether they were being written. Many
editors and tools save by emptying the file, then writing it: read in between (a SIGHUP or the timed check
at that moment), it was an empty configuration, logged as an error ("config file is empty", with a hint to
add feeds) while the save was a moment from done. Their stamps tell: changed meanwhile, they are read again."""
READS = 3
"""Times a reload reads files that change under it before it reports what the last read found."""


@dataclass(frozen=True)
class Loaded:
    """A configuration read from its files and found valid, with its compiled watchlist."""

    config: Config
    watchlist: Watchlist


class ConfigReloader:
    """Call ``load`` now and then (``force`` on SIGHUP); it returns the configuration when it changed."""

    def __init__(self, config: Config) -> None:
        self.path: Path | None = config.source  # None for a config built in code: nothing to watch
        self.files = _files(config)
        self.stamp = self._stamp()

    def _stamp(self) -> Stamp:
        return tuple(_stamp_of(path) for path in self.files)

    def load(self, *, force: bool = False) -> Loaded | None:
        """The configuration as its files say now, if they changed since the last load (or ``force``).

        Returns:
            None when nothing changed, or when the files are invalid (logged: the configuration in force stays).
        """
        if self.path is None:
            return None
        stamp = self._stamp()
        if stamp == self.stamp and not force:
            return None
        for attempt in range(1, READS + 1):
            self.stamp = stamp
            try:
                config = load_config(self.path)
                watchlist = load_watchlist(config)
                break
            except MonitorError as error:
                if attempt < READS:
                    time.sleep(SETTLE)
                    if (now := self._stamp()) != stamp:
                        # Written while it was read: what a save said half-way is no mistake of the user's.
                        stamp = now
                        continue
                self._refused(error)
                return None
            except Exception:  # noqa: BLE001 - a bug in reloading must not stop the daemon
                log.exception(
                    "configuration not reloaded, the one in force stays", extra={"url": str(self.path)}
                )
                return None
        # The stamps taken before the read stand for what was read: a file written again meanwhile (the rest
        # of a save that came in parts) is seen changed at the next check and read again. Stamped after the
        # read, the rest passed for loaded, and a first part valid on its own stayed in force.
        read = {str(path): entry for path, entry in zip(self.files, stamp, strict=True)}
        self.files = _files(config)  # the watchlist file may have been renamed
        self.stamp = tuple(read[str(path)] if str(path) in read else _stamp_of(path) for path in self.files)
        return Loaded(config, watchlist)

    def _refused(self, error: MonitorError) -> None:
        # A line for each problem: joined in one, their line breaks came out as "\x0a" escapes.
        problems = str(error).splitlines() or [str(error)]
        log.error(
            "configuration not reloaded, the one in force stays: %s%s",
            problems[0],
            f" (and {plural(len(problems) - 1, 'more problem')}, below)" if len(problems) > 1 else "",
            extra={"url": str(self.path)},
        )
        for problem in problems[1:]:
            log.error("configuration not reloaded: %s", problem, extra={"url": str(self.path)})

    def retry_later(self) -> None:
        """Forget the files' stamps, so that the next ``load`` reads them again (applying one failed)."""
        self.stamp = ()


def _stamp_of(path: Path) -> tuple[str, int, int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # a file being replaced; the next check sees the new one
    # The inode and the change time too: a file put in place by a rename (an editor's save, a Kubernetes
    # ConfigMap's swapped link) or copied with its times kept (cp -p, rsync -a) may have the old size and
    # modification time, and a file system may count these in whole seconds.
    return (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)


def _files(config: Config) -> list[Path]:
    if config.source is None:
        return []
    extra = watchlist_file(config)
    return [config.source] + ([extra] if extra else [])


@dataclass(frozen=True)
class ConfigChange:
    """What a new configuration changes against the one in force."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]  # feeds in both whose settings (as they take effect) differ
    due_by: dict[
        str, timedelta
    ]  # feeds whose interval changed: polled at most that long after their last poll
    digests_changed: bool
    restart_needed: tuple[str, ...]  # settings that keep their old values until a restart

    def summary(self) -> str:
        parts = [
            f"{len(names)} {what}"
            for what, names in (("added", self.added), ("removed", self.removed), ("changed", self.changed))
            if names
        ]
        if self.digests_changed:
            parts.append("digests rescheduled")
        return ", ".join(parts) or "no feed changed"


def describe_change(old: Config, new: Config) -> ConfigChange:
    before = {feed.name: _effective(old, feed) for feed in old.feeds}
    after = {feed.name: _effective(new, feed) for feed in new.feeds}
    common = [name for name in after if name in before]
    intervals = {
        name: after[name]["interval"]
        for name in common
        if after[name]["interval"] != before[name]["interval"]
    }
    return ConfigChange(
        added=tuple(name for name in after if name not in before),
        removed=tuple(name for name in before if name not in after),
        changed=tuple(name for name in common if after[name] != before[name]),
        due_by=intervals,
        digests_changed=old.digests != new.digests,
        restart_needed=tuple(
            key for key in RESTART_SETTINGS if getattr(old.settings, key) != getattr(new.settings, key)
        ),
    )


def _effective(config: Config, feed: FeedConfig) -> dict:
    """A feed's settings as they take effect: its own, else the configuration's defaults."""
    # A feed whose rhythm decides waits at most max_interval: a shorter one brings its next poll forward.
    interval = config.fixed_interval_for(feed) or config.settings.max_interval
    return {**feed.model_dump(), "interval": interval, "fetch_pages": config.fetch_pages_for(feed)}
