"""Control characters shown as escapes: the one rule for text from outside that reaches a terminal or a log.

A title, a URL or an error message quoting a server can carry ESC sequences (which move the cursor or
retitle a window), line breaks (which forge a log line of their own) and bidirectional overrides (which
reorder what is shown). ``visible`` writes each as a visible escape instead (``\\x1b``, ``\\x0a``,
``\\u202e``); the rest of the text, accents and scripts included, is left as it is.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode controls that reorder or hide text on screen.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_EXCEPT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` with control characters shown as escapes (``ESC`` as ``\\x1b``); with ``lines``, line
    breaks and tabs are kept as they are (messages of several lines, tracebacks)."""
    pattern = _UNSAFE_EXCEPT_LINES if lines else _UNSAFE
    return pattern.sub(_escape, text)
