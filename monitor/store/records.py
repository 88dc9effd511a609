"""Plain values that the store returns and the stages reason about.

They live beneath both so that the store never imports a stage: a stage's rule takes these values, and the
store's queries build them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ArticleText:
    """What a watchlist topic is matched against (``monitor.watchlist.matcher``), stored or fetched."""

    title: str = ""
    body: str = ""
    url: str = ""
    language: str = ""
    sources: tuple[str, ...] = ()  # names of the feeds that carried the article


@dataclass(frozen=True)
class Member:
    """What the representative rule (``monitor.dedupe.representative``) needs to know of one cluster member."""

    id: int
    url: str
    at: datetime
    """Publication time, else fetch time."""
    body_length: int
