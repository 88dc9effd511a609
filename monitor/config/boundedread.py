"""Reading a file the user named, up to a size: never more than the limit in memory, whatever the file.

``stat`` says nothing about ``/dev/zero``, a FIFO or ``/proc`` files (size 0, endless or growing), so the
limit is kept by the read itself: at most one byte more than the limit is read, and that byte means the
file is too large.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import MonitorError


class FileTooLarge(MonitorError, OSError):
    """The file holds more than the limit; an OSError too, so the handlers of unreadable files catch it."""

    hint = "is this the right file? it is larger than any file of its kind should be"

    def __init__(self, path: Path | str, limit: int) -> None:
        super().__init__(f"{path} is larger than {describe_size(limit)}")
        self.limit = limit


def read_bounded(path: Path | str, limit: int) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them.

    Raises:
        FileTooLarge: the file holds more than ``limit`` bytes (or never ends).
        OSError: it cannot be opened or read.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)  # loops until that many bytes or the end, for pipes too
    if len(data) > limit:
        raise FileTooLarge(path, limit)
    return data


def describe_size(size: int) -> str:
    """``5242880`` -> ``5 MB`` (binary megabytes, as the limits are written)."""
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size / 1024:g} KB"
