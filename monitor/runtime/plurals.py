"""Counts in words: "1 story", "2 stories", for every message that says how many."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, the word in the plural unless the count is one: ``many`` when given (for
    "story", "stories"), else ``word`` with an s."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
