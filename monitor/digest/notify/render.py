"""Rendering a digest: plain values in, a ``Digest`` out (HTML and text for email, Slack blocks, JSON).

Pure: no database, no network, no clock. ``monitor.digest.runner`` gathers the values; the channels send the
result. Everything here that came from a feed is untrusted: Jinja2 autoescapes it in HTML, the Slack
builder escapes it for mrkdwn, and titles are flattened to one line and trimmed before any use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.digest.notify.content import (
    Coverage,
    Digest,
    DigestContent,
    DigestItem,
    Excerpt,
    Report,
    SlackMessage,
    SourceHealth,
    TopicSection,
)
from monitor.digest.notify.slack_blocks import slack_messages
from monitor.digest.notify.wording import (
    carried_note,
    coverage_line,
    inbox_preview,
    local_day,
    local_time,
    one_line,
    outlet_name,
    plural,
    quiet_source_line,
    quiet_sources_heading,
    quiet_sources_more,
    safe_url,
    shown_url,
    wrapped,
)

# The digest's values and wording helpers are still importable from here, where their users found them first.
__all__ = [
    "Coverage",
    "Digest",
    "DigestContent",
    "DigestItem",
    "Excerpt",
    "Report",
    "SlackMessage",
    "TopicSection",
    "coverage_line",
    "local_day",
    "local_time",
    "one_line",
    "plural",
    "render",
    "safe_url",
    "subject_of",
    "to_json",
]


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
    subject = subject_of(content)
    values = {"content": content, "subject": subject}
    return Digest(
        content=content,
        subject=subject,
        html=email_html(content, subject),
        text=_environment().get_template("digest.txt.j2").render(values),
        slack=slack_messages(content, subject),
        json=to_json(content),
    )


# Gmail shows no more than about 102 KB of an email's HTML and hides the rest behind "View entire message",
# the stories last in the digest and the feeds not heard from with it; Outlook and phones grow slow well before.
HTML_BUDGET = 96_000  # bytes of UTF-8, a margin below Gmail's limit


@dataclass(frozen=True)
class EmailDetail:
    """How many of each story's write-ups and wire copies the HTML email links (None: all it was given);
    past ``HTML_BUDGET`` the lists are cut, and what is cut is counted."""

    writeups: int | None = None
    copies: int | None = None

    def left_out(self, content: DigestContent) -> int:
        """The links to write-ups and wire copies that ``content`` has and this HTML does not show."""
        return sum(
            len(item.writeups)
            - len(item.writeups[: self.writeups])
            + len(item.copies)
            - len(item.copies[: self.copies])
            for section in content.sections
            for item in section.items
        )


# From all of it to the headline, the excerpt and the counts: wire copies go first (the same text again),
# then the write-ups past the first few.
EMAIL_DETAILS = (EmailDetail(), EmailDetail(copies=0), EmailDetail(writeups=3, copies=0), EmailDetail(0, 0))


def email_html(content: DigestContent, subject: str) -> str:
    """The digest's HTML, with as much of each story as fits ``HTML_BUDGET``; a shortened one says so."""
    template = _environment().get_template("digest.html.j2")
    for detail in EMAIL_DETAILS:
        html = template.render(
            content=content, subject=subject, detail=detail, left_out=detail.left_out(content)
        )
        if len(html.encode()) <= HTML_BUDGET:
            break
    return html  # the leanest, when even that is over: clipped, but past the most stories it can show


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
                        "undated": item.undated,
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
                        "coverage": None
                        if item.coverage is None
                        else {
                            "first_reported": item.coverage.first_reported.isoformat(),
                            "reports": item.coverage.reports,
                            "outlets": item.coverage.outlets,
                            "last_sent": item.coverage.last_sent.isoformat()
                            if item.coverage.last_sent
                            else None,
                        },
                        "alerted_at": item.alerted_at.isoformat() if item.alerted_at else None,
                        "article_ids": list(item.article_ids),
                    }
                    for item in section.items
                ],
            }
            for section in content.sections
        ],
        "sources": _sources_json(content.sources),
    }


def _sources_json(health: SourceHealth | None) -> dict[str, Any] | None:
    """The feeds not heard from (None when there is nothing to say)."""
    if health is None or not health.quiet:
        return None
    return {
        "feeds": health.feeds,
        "quiet": [
            {
                "name": source.name,
                "state": source.state,
                "since": source.since.isoformat() if source.since else None,
                "detail": source.detail,
            }
            for source in health.quiet
        ],
        "more": health.more,
    }


def _report_json(report: Report) -> dict[str, Any]:
    return {
        "outlet": report.outlet,
        "url": report.url,
        "title": report.title,
        "published_at": report.published_at.isoformat() if report.published_at else None,
        "carried_by": report.carried_by,
        "sent_before": report.sent_before,
    }


@cache
def _environment() -> Environment:
    # Autoescape for HTML only; the text template must not turn "&" into "&amp;".
    env = Environment(
        loader=PackageLoader("monitor.digest.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = local_time
    env.filters["day"] = local_day
    env.globals["coverage_line"] = coverage_line
    env.globals["inbox_preview"] = inbox_preview
    env.globals["quiet_source_line"] = quiet_source_line
    env.globals["quiet_sources_heading"] = quiet_sources_heading
    env.globals["quiet_sources_more"] = quiet_sources_more
    env.globals["plural"] = plural
    env.globals["carried_note"] = carried_note
    env.filters["one_line"] = one_line
    env.filters["outlet_name"] = outlet_name
    env.filters["safe_url"] = safe_url
    env.filters["shown_url"] = shown_url
    env.filters["wrapped"] = wrapped
    return env
