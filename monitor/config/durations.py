"""Durations as people write them in feeds.yaml and on the command line ("15m", "1h30m", "2d").

``parse_duration`` and ``format_duration`` are inverses, so a config dumped with ``format_duration``
loads back to the same values. ``Duration`` plugs both into pydantic models.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from monitor.config.errors import InvalidValue

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*")
_CLOCK = re.compile(r"\s*(\d+):(\d+)(?::(\d+))?\s*")  # 1:30, 1:30:00: a clock's reading, not a duration
_DURATION_HINT = "use a number with s, m, h, d or w, e.g. 15m"


def parse_duration(value: object) -> timedelta:
    """Read seconds (int/float), a timedelta, or text like "90s", "1h30m", "500ms", "30"."""
    # bool is an int subclass; "interval: true" is a mistake, not one second.
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise InvalidValue(f"invalid duration {value!r}", _DURATION_HINT)
    if not math.isfinite(seconds):
        raise InvalidValue(f"invalid duration {value!r}", _DURATION_HINT)
    if seconds < 0:
        raise InvalidValue(f"invalid duration {value!r}", "durations cannot be negative")
    if isinstance(value, timedelta):
        return value
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidValue(f"invalid duration {value!r}", "that is far too long") from None


def _parse_text(text: str) -> float:
    """Seconds in a duration string, or InvalidValue."""
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    unsigned = text.strip().removeprefix("-")
    if unsigned != text.strip() and (_PLAIN_NUMBER.fullmatch(unsigned) or _is_duration_text(unsigned)):
        raise InvalidValue(f"invalid duration {text!r}", "durations cannot be negative")
    if clock := _CLOCK.fullmatch(text):
        raise InvalidValue(f"invalid duration {text!r}", _units_for(*clock.groups()))
    if not _is_duration_text(text):
        raise InvalidValue(f"invalid duration {text!r}", _DURATION_HINT)
    return sum(float(number) * _UNIT_SECONDS[unit.lower()] for number, unit in _PART.findall(text))


def _units_for(first: str, second: str, third: str | None) -> str:
    """The hint for a duration written as a clock reads it ("1:30": 1h30m or 1m30s?)."""
    if third is not None:
        parts = zip((first, second, third), "hms", strict=True)
        return "write it with units, e.g. " + (
            "".join(f"{int(n)}{unit}" for n, unit in parts if int(n)) or "0s"
        )
    return (
        f"write it with units: {int(first)}h{int(second)}m (hours and minutes) "
        f"or {int(first)}m{int(second)}s (minutes and seconds)"
    )


def _is_duration_text(text: str) -> bool:
    """Whether text is one or more number+unit parts and nothing else."""
    position = 0
    for part in _PART.finditer(text):
        if part.start() != position:
            return False
        position = part.end()
    return position > 0 and not text[position:].strip()


def format_duration(value: timedelta) -> str:
    """Write a timedelta compactly ("1h30m", "45s", "2d"); ``parse_duration`` reads it back exactly."""
    if value < timedelta(0):
        return "-" + format_duration(-value)
    # Whole microseconds, so no float rounding can make the round trip lossy.
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    seconds, micros = divmod(micros, 1_000_000)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    if micros:
        millis, rest = divmod(micros, 1000)
        parts.append(f"{millis}ms" if not rest else f"{millis}.{rest:03d}".rstrip("0") + "ms")
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, when_used="json-unless-none"),
]
"""A timedelta field that accepts "15m" and friends and dumps back to that form in JSON."""


def parse_since(value: str, now: datetime) -> datetime:
    """Read ``--since``: a duration back from ``now`` ("2d") or an ISO date/datetime; aware UTC.

    A bare number is refused: "--since 2024" is far more likely a year than 2024 seconds.
    Naive dates and datetimes are taken as UTC.
    """
    text = value.strip()
    try:
        if _is_duration_text(text):
            now = now if now.tzinfo else now.replace(tzinfo=UTC)
            return (now - parse_duration(text)).astimezone(UTC)
        try:
            moment = datetime.fromisoformat(text)  # also takes a bare date ("2024-09-01") and a "Z" suffix
        except ValueError:
            raise InvalidValue(
                f"invalid --since {value!r}",
                "use a duration back from now like 2d or 12h, or a date like 2024-09-01 or 2024-09-01T10:00Z",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except OverflowError:
        # "9999999d" reaches back before the year 1, "0001-01-01T00:00+05:00" too once in UTC: a
        # traceback said nothing of the value.
        raise InvalidValue(
            f"invalid --since {value!r}: before the year 1",
            "use a shorter duration, or a date like 2024-09-01",
        ) from None
