"""What a digest holds: its stories, their reports and coverage, and the finished forms a channel sends.

Plain values, shared by the renderer, the Slack builder and the channels, so none of them imports another for
its types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.digest.notify.wording import plural

MAX_EXCERPT = 360


@dataclass(frozen=True)
class Excerpt:
    """A few sentences of an article, with the matched terms as (start, end) spans."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()

    def pieces(self) -> tuple[tuple[str, bool], ...]:
        """The text cut into (piece, highlighted) runs, for templates."""
        runs, last = [], 0
        for start, end in sorted(self.highlights):
            if start < last or end > len(self.text):
                continue  # overlapping or out of range: never trust stored offsets blindly
            runs += [(self.text[last:start], False), (self.text[start:end], True)]
            last = end
        runs.append((self.text[last:], False))
        return tuple((piece, marked) for piece, marked in runs if piece)

    def marked(self, before: str, after: str, escape=lambda text: text) -> str:
        return "".join(f"{before}{escape(p)}{after}" if hit else escape(p) for p, hit in self.pieces())


@dataclass(frozen=True)
class Report:
    """One article of a story as a digest links it: its outlet (the publisher), address and headline."""

    outlet: str
    url: str
    title: str = ""
    published_at: datetime | None = None
    carried_by: int = 0  # a write-up: the outlets newly reprinting it (its wire copies, counted apart)
    sent_before: bool = False  # a write-up sent before, listed again for its new copies only


@dataclass(frozen=True)
class Coverage:
    """A story's coverage so far, shown on an update instead of repeating it."""

    first_reported: datetime
    reports: int  # articles, every write-up and copy, new ones included
    outlets: int
    last_sent: datetime | None = None  # when this channel last carried the story; None: never


@dataclass(frozen=True)
class DigestItem:
    """One story (or one article, where no story is known), shown once per digest.

    The headline is an original write-up (a wire cluster's representative); ``writeups`` are the story's other
    new write-ups and ``copies`` the new wire reprints, counted apart; ``coverage`` is set when the story had
    reports before these, and says whether this is an update of one the channel carried before.
    """

    headline: str
    url: str
    outlet: str
    published_at: datetime | None
    excerpt: Excerpt
    score: float
    article_ids: tuple[int, ...] = ()  # every article the item delivers
    story_id: int | None = None
    writeups: tuple[Report, ...] = ()
    copies: tuple[Report, ...] = ()
    topics: tuple[str, ...] = ()  # the titles of every topic the story matched
    coverage: Coverage | None = None
    alerted_at: datetime | None = None  # an alert carried the story before this digest
    # Its source gave no date: ``published_at`` is when it was found, and is shown as such ("found 08:51"),
    # not as a publication time (a 2018 article with a date feedparser could not read showed as today's).
    undated: bool = False
    more_writeups: int = 0  # new write-ups past those listed
    more_copies: int = 0  # new wire copies past those listed

    @property
    def copy_count(self) -> int:
        return len(self.copies) + self.more_copies

    @property
    def is_update(self) -> bool:
        return self.coverage is not None and self.coverage.last_sent is not None


@dataclass(frozen=True)
class TopicSection:
    topic: str  # the topic's title
    items: tuple[DigestItem, ...]
    more: int = 0  # stories past the cap, told as "and N more"
    more_article_ids: tuple[int, ...] = ()
    name: str = ""  # the topic's name in the watchlist


@dataclass(frozen=True)
class QuietSource:
    """A feed the digest's readers have not had news from: one that fails (since its last success), is gone
    (410), or answers but has listed nothing new (silent since its last publication)."""

    name: str
    state: str  # failing | gone | silent
    since: datetime | None  # failing: its last success (None: never); gone: when; silent: its last news
    detail: str | None = None  # failing: the kind of error


@dataclass(frozen=True)
class SourceHealth:
    """What a digest says of the feeds behind it: how many are watched, and those quiet (the first few)."""

    feeds: int
    quiet: tuple[QuietSource, ...]
    more: int = 0  # quiet feeds past those listed

    @property
    def quiet_count(self) -> int:
        return len(self.quiet) + self.more


@dataclass(frozen=True)
class DigestContent:
    name: str
    kind: str  # digest | alert
    period: datetime
    timezone: str
    sections: tuple[TopicSection, ...]
    sources: SourceHealth | None = None
    """The feeds its readers have not heard from (None, or none quiet: nothing is said)."""

    @property
    def stories(self) -> int:
        return sum(len(section.items) + section.more for section in self.sections)

    @property
    def updates(self) -> int:
        """Stories shown that the channel carried before (the rest are new)."""
        return sum(item.is_update for section in self.sections for item in section.items)

    def headline_count(self) -> str:
        """ "3 new stories, 1 update" (stories past a section's cap count as new)."""
        new = self.stories - self.updates
        parts = [f"{new} new {'story' if new == 1 else 'stories'}"] if new or not self.updates else []
        if self.updates:
            parts.append(plural(self.updates, "update"))
        return ", ".join(parts)

    @property
    def article_ids(self) -> tuple[int, ...]:
        ids = [i for s in self.sections for item in s.items for i in item.article_ids]
        ids += [i for s in self.sections for i in s.more_article_ids]
        return tuple(dict.fromkeys(ids))


@dataclass(frozen=True)
class SlackMessage:
    payload: Mapping[str, Any]
    article_ids: tuple[int, ...]  # delivered once Slack accepts this message


@dataclass(frozen=True)
class Digest:
    content: DigestContent
    subject: str
    html: str
    text: str
    slack: tuple[SlackMessage, ...]
    json: Mapping[str, Any]
