"""The root of monitor's own errors.

Every error a user can cause (a broken config, an unreachable database, a bad argument, a feed that is not
one) is a ``MonitorError``; it carries a ``hint`` that says what to do about it. The CLI prints the message
and the hint and exits non-zero, without a traceback. Anything else is a bug and keeps its traceback.

Errors that pydantic must see as validation failures are ValueErrors too, and a file that cannot be read
stays an OSError, so the handlers written for those keep catching them.

    MonitorError
     ├── ConfigError        feeds.yaml could not be read or is invalid (lists every problem with its place)
     ├── StoreError         the database cannot be opened or migrated
     │    └── SchemaError   the database's schema is missing, behind or ahead of this version
     ├── OpmlError          an OPML subscription list cannot be read
     ├── DeliveryError      a channel did not take a message (retried later)
     ├── NotAFeed           a document holds no feed, sitemap or listing page
     ├── SourceFailed       a source could not be read at all (every sitemap of an index failed)
     ├── ResponseTooLarge   a response passed the size cap, before or after decompression
     ├── BlockedAddress     a link led to an address it may not reach; nothing was sent
     ├── ExtractionFailed   a page's extraction workers ended under it, or it took too long (tried again later)
     ├── FileTooLarge       (also OSError) a local file holds more than its limit
     ├── InvalidValue       (also ValueError) a value of feeds.yaml, a duration or a date that cannot be read
     └── QuerySyntaxError   (also ValueError) a watchlist query that cannot be read, with its column
"""

from __future__ import annotations


class MonitorError(Exception):
    """An error the user can act on."""

    #: What to do about it in general; a raise site that knows better passes its own ``hint``.
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # str() shows only a hint given here: the class's general hint would otherwise change texts that are
        # stored and compared (a feed's last error, a validator's message), while the CLI prints ``hint`` itself.
        self.given_hint = hint
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.given_hint else f"{self.message}\n  hint: {self.given_hint}"

    def one_line(self) -> str:
        """The message and its given hint on one line, for a log line (a text log escapes the newline)."""
        return self.message if not self.given_hint else f"{self.message}; hint: {self.given_hint}"


class StoreError(MonitorError):
    """The database cannot be opened, created or migrated."""
