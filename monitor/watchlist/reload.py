"""Reloading the watchlist in a running daemon when its file changes.

The daemon checks the files' modification times every ``watchlist.reload_every``. A changed watchlist is
validated as a whole (feeds.yaml is read again, and the watchlist file it names); only a valid one
replaces the one in force, in a single reference swap. An invalid one is logged with every problem and
the old one stays; the next change is tried again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monitor.errors import MonitorError
from monitor.tag import Tagger
from monitor.watchlist.model import load_watchlist, watchlist_file

log = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int] | None, ...]


class WatchlistReloader:
    """Call ``check`` now and then; it swaps ``tagger``'s watchlist when the files changed and are valid."""

    def __init__(self, config, tagger: Tagger) -> None:
        self.config_path: Path | None = config.source  # None for a config built in code: nothing to watch
        self.tagger = tagger
        self.files = self._files(config)
        self.stamp = self._stamp()

    @staticmethod
    def _files(config) -> list[Path]:
        if config.source is None:
            return []
        extra = watchlist_file(config)
        return [config.source] + ([extra] if extra else [])

    def _stamp(self) -> Stamp:
        stamps = []
        for path in self.files:
            try:
                stat = path.stat()
                stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append(None)  # a file being replaced; the next check sees the new one
        return tuple(stamps)

    def check(self) -> bool:
        """Reload if the files changed. Returns whether a new watchlist took effect."""
        from monitor.config import load_config

        stamp = self._stamp()
        if stamp == self.stamp or self.config_path is None:
            return False
        self.stamp = stamp
        try:
            config = load_config(self.config_path)
            watchlist = load_watchlist(config)
        except MonitorError as error:
            log.error(
                "watchlist not reloaded, the one in force stays (%d topics, version %s): %s",
                len(self.tagger.watchlist.topics),
                self.tagger.watchlist.fingerprint or "-",
                error,
                extra={"url": str(self.config_path)},
            )
            return False
        except Exception:  # noqa: BLE001 - a bug in reloading must not stop the daemon
            log.exception("watchlist not reloaded, the one in force stays")
            return False
        self.files = self._files(config)
        self.stamp = self._stamp()
        old = self.tagger.watchlist
        if watchlist.fingerprint == old.fingerprint:
            return False
        self.tagger.replace(watchlist)
        log.info(
            "watchlist reloaded: %d topics, version %s (was %s)",
            len(watchlist.topics),
            watchlist.fingerprint,
            old.fingerprint or "-",
            extra={"url": str(self.config_path)},
        )
        return True
