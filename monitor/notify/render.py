"""Rendering a digest: plain values in, a ``Digest`` out (HTML and text for email, Slack blocks, JSON).

Pure: no database, no network, no clock. ``monitor.digest`` gathers the values; the channels send the
result. Everything here that came from a feed is untrusted: Jinja2 autoescapes it in HTML, the Slack
builder escapes it for mrkdwn, and titles are flattened to one line and trimmed before any use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

MAX_HEADLINE = 200  # characters; longer titles are cut with "…"
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
class DigestContent:
    name: str
    kind: str  # digest | alert
    period: datetime
    timezone: str
    sections: tuple[TopicSection, ...]

    @property
    def stories(self) -> int:
        return sum(len(section.items) + section.more for section in self.sections)

    @property
    def updates(self) -> int:
        """Stories shown that the channel carried before (the rest are new)."""
        return sum(item.is_update for section in self.sections for item in section.items)

    def headline_count(self) -> str:
        """"3 new stories, 1 update" (stories past a section's cap count as new)."""
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


def one_line(text: str | None, limit: int = MAX_HEADLINE) -> str:
    """``text`` on one line (no CR/LF, tabs or control characters), cut at ``limit`` with "…"."""
    flat = " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def local_time(moment: datetime | None, zone: str, now: datetime | None = None) -> str:
    """"21 Nov 07:40" in the digest's time zone; "21 Nov 2025 07:40" when not in the year of ``now``."""
    return _local(moment, zone, now, "%-d %b{year} %H:%M")


def local_day(moment: datetime | None, zone: str, now: datetime | None = None) -> str:
    """"Mon 2 Dec" in the digest's time zone; "Mon 2 Dec 2025" when not in the year of ``now``."""
    return _local(moment, zone, now, "%a %-d %b{year}")


def _local(moment: datetime | None, zone: str, now: datetime | None, pattern: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    same_year = now is None or now.astimezone(ZoneInfo(zone)).year == local.year
    return local.strftime(pattern.format(year="" if same_year else " %Y"))


def coverage_line(item: DigestItem, zone: str, now: datetime) -> str:
    """"Update · first reported Mon 2 Dec; 7 reports from 5 outlets so far", or "" without earlier reports."""
    coverage = item.coverage
    if coverage is None:
        return ""
    reports = f"{coverage.reports} report{'s' if coverage.reports != 1 else ''}"
    outlets = f"{coverage.outlets} outlet{'s' if coverage.outlets != 1 else ''}"
    line = f"first reported {local_day(coverage.first_reported, zone, now)}; {reports} from {outlets} so far"
    if coverage.last_sent is not None:
        line = f"Update · {line}; last sent {local_day(coverage.last_sent, zone, now)}"
    return line


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def subject_of(content: DigestContent) -> str:
    stories = content.stories
    label = "Alert" if content.kind == "alert" else "Digest"
    if not stories:
        return f"{label} {content.name}: nothing new"
    first = next(item for section in content.sections for item in section.items)
    rest = f" and {stories - 1} more" if stories > 1 else ""
    return one_line(f"{label} {content.name}: {one_line(first.headline, 90)}{rest}", 200)


def render(content: DigestContent) -> Digest:
    """The digest in every form a channel sends.

    Args:
        content: the topics, stories and their details, already selected and ranked.

    Returns:
        A Digest: subject, HTML, plain text, Slack messages (split to Slack's limits) and JSON.
    """
    from monitor.notify.slack_blocks import slack_messages

    values = {"content": content, "subject": subject_of(content)}
    return Digest(
        content=content,
        subject=values["subject"],
        html=_environment().get_template("digest.html.j2").render(values),
        text=_environment().get_template("digest.txt.j2").render(values),
        slack=slack_messages(content, values["subject"]),
        json=to_json(content),
    )


def to_json(content: DigestContent) -> dict[str, Any]:
    """The digest as JSON-able data, for webhooks."""
    return {
        "digest": content.name,
        "kind": content.kind,
        "period": content.period.isoformat(),
        "stories": content.stories,
        "topics": [
            {
                "topic": section.name or section.topic,
                "title": section.topic,
                "more": section.more,
                "items": [
                    {
                        "headline": item.headline,
                        "url": item.url,
                        "outlet": item.outlet,
                        "published_at": item.published_at.isoformat() if item.published_at else None,
                        "excerpt": item.excerpt.text,
                        "highlights": [list(span) for span in item.excerpt.highlights],
                        "score": item.score,
                        "story_id": item.story_id,
                        "topics": list(item.topics),
                        "writeups": [_report_json(r) for r in item.writeups],
                        "copies": [_report_json(r) for r in item.copies],
                        "more_writeups": item.more_writeups,
                        "more_copies": item.more_copies,
                        "update": item.is_update,
                        "coverage": None if item.coverage is None else {
                            "first_reported": item.coverage.first_reported.isoformat(),
                            "reports": item.coverage.reports,
                            "outlets": item.coverage.outlets,
                            "last_sent": item.coverage.last_sent.isoformat() if item.coverage.last_sent else None,
                        },
                        "alerted_at": item.alerted_at.isoformat() if item.alerted_at else None,
                        "article_ids": list(item.article_ids),
                    }
                    for item in section.items
                ],
            }
            for section in content.sections
        ],
    }


def _report_json(report: Report) -> dict[str, Any]:
    return {"outlet": report.outlet, "url": report.url, "title": report.title,
            "published_at": report.published_at.isoformat() if report.published_at else None}


@cache
def _environment() -> Environment:
    # Autoescape for HTML only; the text template must not turn "&" into "&amp;".
    env = Environment(
        loader=PackageLoader("monitor.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = local_time
    env.filters["day"] = local_day
    env.globals["coverage_line"] = coverage_line
    env.globals["plural"] = plural
    env.filters["one_line"] = one_line
    env.filters["safe_url"] = safe_url
    return env


def safe_url(url: str) -> str:
    """``url`` if it is http(s), else "#": a feed could hand us javascript: links."""
    return url if re.match(r"(?i)^https?://", url or "") else "#"
