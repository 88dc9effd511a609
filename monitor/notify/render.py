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
class Outlet:
    name: str
    url: str


@dataclass(frozen=True)
class DigestItem:
    """One story (or one article, where no story is known) under one topic."""

    headline: str
    url: str
    outlet: str
    published_at: datetime | None
    excerpt: Excerpt
    score: float
    also: tuple[Outlet, ...]  # the other outlets that carried the story
    article_ids: tuple[int, ...]  # every matched article the item stands for
    story_id: int | None = None


@dataclass(frozen=True)
class TopicSection:
    topic: str
    items: tuple[DigestItem, ...]
    more: int = 0  # stories past the cap, told as "and N more"
    more_article_ids: tuple[int, ...] = ()


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


def local_time(moment: datetime | None, zone: str) -> str:
    """"21 Nov 07:40" in the digest's time zone."""
    return "" if moment is None else moment.astimezone(ZoneInfo(zone)).strftime("%-d %b %H:%M")


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
                "topic": section.topic,
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
                        "also": [{"outlet": o.name, "url": o.url} for o in item.also],
                    }
                    for item in section.items
                ],
            }
            for section in content.sections
        ],
    }


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
    env.filters["one_line"] = one_line
    env.filters["safe_url"] = safe_url
    return env


def safe_url(url: str) -> str:
    """``url`` if it is http(s), else "#": a feed could hand us javascript: links."""
    return url if re.match(r"(?i)^https?://", url or "") else "#"
