"""Checks shared by the sections of feeds.yaml: names (feeds, digests, topics) and http(s) URLs.

A name is shown in listings, logs, digests and Slack messages and is stored in the database, so it may
hold no control characters (a NUL cannot be stored in PostgreSQL text; an ESC would be obeyed by a
terminal). A URL must be one the fetcher can use: a port in 1-65535 and a well-formed IPv6 literal, so
that a mistake is reported by ``monitor check`` at its line rather than by every poll.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from urllib.parse import SplitResult, urlsplit

from monitor.config.errors import InvalidValue


def check_name(value: str, *, max_chars: int, hint: str, extra: str = "") -> str:
    """``value`` stripped, if it is 1 to ``max_chars`` characters without control characters (and without
    the characters of ``extra``); InvalidValue otherwise."""
    value = value.strip()
    if not value or len(value) > max_chars or any(char in value for char in extra):
        without = f", without {' '.join(repr(char) for char in extra)}" if extra else ""
        raise InvalidValue(f"name must be 1 to {max_chars} characters{without}", hint)
    control = next((char for char in value if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        raise InvalidValue(
            f"name holds the control character U+{ord(control):04X}",
            "names are shown and stored: use letters, digits, spaces and punctuation",
        )
    return value


def split_url(value: str) -> SplitResult | None:
    """``urlsplit(value)``, or None where it refuses (an unclosed ``[``, an IPv6 literal that is none)."""
    try:
        return urlsplit(value)
    except ValueError:
        return None


def url_problem(parts: SplitResult) -> str | None:
    """What makes an http(s) URL unusable despite a scheme and a host: its port or its IPv6 literal."""
    try:
        port = parts.port  # raises for a port that is not a number or is over 65535
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if port == 0:
        return "its port is not a number from 1 to 65535"
    if "[" in parts.netloc.rpartition("@")[2]:
        try:
            ipaddress.IPv6Address((parts.hostname or "").split("%", 1)[0])
        except ValueError:
            return "the address in [ ] is not an IPv6 address"
    if any(unicodedata.category(char) == "Cc" or char.isspace() for char in parts.netloc):
        return "its host holds a space or a control character"
    return invisible_problem(parts.geturl())


# Joiners shape the letters of words (Persian, Indic scripts) and may stand in a URL's words; the other format
# characters never mean anything there, and a copy from a web page, an email or a chat brings them along.
_WORD_JOINERS = {"\u200c", "\u200d"}


def invisible_problem(url: str) -> str | None:
    """What makes ``url`` fail at every fetch while it looks right: an invisible character in it."""
    for index, char in enumerate(url):
        if unicodedata.category(char) == "Cf" and char not in _WORD_JOINERS:
            name = unicodedata.name(char, "format character").lower()
            after = f" after {url[max(0, index - 20) : index]!r}" if index else " at its start"
            return f"it holds the invisible U+{ord(char):04X} ({name}){after}"
    return None
