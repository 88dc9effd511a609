"""The root of monitor's own errors.

Every error a user can cause (a broken config, an unreachable database, a bad argument) is a
``MonitorError``; it carries a ``hint`` that says what to do about it. The CLI prints the message and
the hint and exits non-zero, without a traceback. Anything else is a bug and keeps its traceback.

    MonitorError
     ├── ConfigError       feeds.yaml could not be read or is invalid (lists every problem with its place)
     └── StoreError        the database cannot be opened or migrated
"""

from __future__ import annotations


class MonitorError(Exception):
    """An error the user can act on."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class StoreError(MonitorError):
    """The database cannot be opened, created or migrated."""
