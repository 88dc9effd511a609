"""A digest as Slack Block Kit messages, split to Slack's limits (pure, like ``render``).

Slack reads ``&``, ``<`` and ``>`` as markup (``<!channel>`` pings everyone, ``<url|text>`` is a link), so
they are escaped in every text that came from a feed. ``*``, ``_``, ``~`` and backticks would format; a
zero-width space after each keeps them literal without changing what the reader sees.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from monitor.digest.notify.content import DigestContent, DigestItem, SlackMessage
from monitor.digest.notify.wording import (
    carried_note,
    coverage_line,
    local_time,
    one_line,
    outlet_name,
    plural,
    quiet_source_line,
    quiet_sources_heading,
    quiet_sources_more,
    safe_url,
    without_bidi_controls,
)

MAX_BLOCKS = 50  # per message
MAX_TEXT = 3000  # per text field of a section block
MAX_HEADER = 150  # a header block's plain text
MAX_MESSAGE_CHARS = 30_000  # all texts of one message together, well below what the webhook takes
_FORMATTING = re.compile(r"([*_~`])")


def escape_entities(text: str) -> str:
    """The three characters Slack reads as markup in any text, plain_text included."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape(text: str) -> str:
    """Feed-derived text made inert for mrkdwn (and for the direction of the text around it)."""
    return _FORMATTING.sub("\\1\u200b", escape_entities(without_bidi_controls(text)))


def _link(url: str, label: str) -> str:
    # In <url|label> the URL must not contain "|" or ">"; percent-encode them rather than trust the feed.
    # Not an http(s) address: the label alone ("<#|label>" is the syntax of a link to a channel).
    if safe_url(url) == "#":
        return escape(label)
    url = safe_url(url).replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{url}|{escape(label)}>"


def item_text(item: DigestItem, zone: str, now: datetime | None = None) -> str:
    """One story as mrkdwn, never over MAX_TEXT: the links to write-ups and copies give way first, then the
    excerpt."""
    head = ("*Update* · " if item.is_update else "") + f"*{_link(item.url, one_line(item.headline))}*"
    if len(head) > MAX_TEXT // 2:
        # A headline's address of thousands of characters ("|" encoded thrice): cut at MAX_TEXT in the
        # middle of "<url|", the whole item read as a broken link. The headline goes without it.
        head = ("*Update* · " if item.is_update else "") + f"*{escape(one_line(item.headline))}*"
    meta = escape(outlet_name(item.outlet)) + (
        f" · {'found ' if item.undated else ''}{local_time(item.published_at, zone, now)}"
        if item.published_at
        else ""
    )
    if item.alerted_at:
        # The story's: the alert may have carried another of its write-ups than the headline.
        meta += f" · story alerted {local_time(item.alerted_at, zone, now)}"
    if len(item.topics) > 1:
        meta += " · topics: " + escape(one_line(", ".join(item.topics)))
    coverage = escape(coverage_line(item, zone, now)) if item.coverage and now else ""
    excerpt = item.excerpt.marked("*", "*", escape) if item.excerpt.text else ""
    label = "New write-ups" if item.is_update else "Other write-ups"
    writeups = "\n".join(
        f"• {escape(outlet_name(r.outlet))}: {_link(r.url, one_line(r.title or r.url, 140))}"
        + (f" ({carried_note(r)})" if r.carried_by else "")
        for r in item.writeups
    )
    if item.more_writeups:
        writeups += f"\n• and {plural(item.more_writeups, 'more write-up')}"
    writeups = f"{label}:\n{writeups}" if writeups else ""
    copies = ""
    if item.copies:
        links = ", ".join(_link(copy.url, outlet_name(copy.outlet)) for copy in item.copies)
        more = f" and {item.more_copies} more" if item.more_copies else ""
        copies = f"Wire copy carried by {plural(item.copy_count, 'more outlet')}: {links}{more}"
    text = "\n".join(part for part in (head, meta, coverage, excerpt, writeups, copies) if part)
    if len(text) <= MAX_TEXT:
        return text
    # Too long (hundreds of outlets, or a hostile title): count write-ups and copies without links.
    counts = []
    if item.writeups:
        counts.append(f"{label}: {len(item.writeups) + item.more_writeups}")
    if item.copies:
        counts.append(f"Wire copy carried by {plural(item.copy_count, 'more outlet')}")
    summary = "; ".join(counts)
    text = "\n".join(part for part in (head, meta, coverage, excerpt, summary) if part)
    if len(text) <= MAX_TEXT:
        return text
    text = "\n".join(part for part in (head, meta, coverage, summary) if part)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_messages(content: DigestContent, subject: str) -> tuple[SlackMessage, ...]:
    """The digest as one or more webhook payloads, each within MAX_BLOCKS and MAX_MESSAGE_CHARS.

    Every message starts with a header naming the digest (and "2/3" when split), so a reader who sees
    only one of them knows what it is part of.
    """
    # (blocks, article ids) units: a topic's title, each story, and "and N more".
    # Each unit also carries the heading a message needs above it when it opens a message: a reader of
    # "2/3" sees under which topic its first stories are.
    units: list[tuple[list[dict[str, Any]], tuple[int, ...], dict[str, Any] | None]] = []
    for number, section in enumerate(content.sections):
        title = _section(f"*{escape(one_line(section.topic))}*")
        continued = _section(f"*{escape(one_line(section.topic))}* (continued)")
        units.append(([{"type": "divider"}, title] if number else [title], (), None))
        for item in section.items:
            units.append(
                ([_section(item_text(item, content.timezone, content.period))], item.article_ids, continued)
            )
        if section.more:
            more = f"and {section.more} more {'story' if section.more == 1 else 'stories'} on {section.topic}"
            context = {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(one_line(more))}]}
            units.append(([context], section.more_article_ids, continued))
    if content.sources and content.sources.quiet:
        units.append(([{"type": "divider"}, _quiet_sources(content)], (), None))

    pages: list[tuple[list[dict[str, Any]], list[int]]] = [([], [])]
    budget_blocks, budget_chars = MAX_BLOCKS - 1, MAX_MESSAGE_CHARS - MAX_HEADER  # the header is added last
    for blocks, ids, topic_again in units:
        size = sum(len(str(block)) for block in blocks)
        page_blocks, page_ids = pages[-1]
        used = sum(len(str(block)) for block in page_blocks)
        if page_blocks and (
            len(page_blocks) + len(blocks) + 1 > budget_blocks
            or used + size + len(str(topic_again)) > budget_chars
        ):
            pages.append(([], []))
            page_blocks, page_ids = pages[-1]
            if topic_again is not None:
                page_blocks.append(topic_again)
        page_blocks.extend(blocks)
        page_ids.extend(ids)

    total = len(pages)
    messages = []
    for number, (page_blocks, page_ids) in enumerate(pages, start=1):
        part = f" ({number}/{total})" if total > 1 else ""
        heading = one_line(subject, MAX_HEADER - len(part))
        # Escaping lengthens "&" to "&amp;": the subject is cut until it fits, never the part number after it
        # (cut off, every part of a split digest had the same header, "… P&O ferr…").
        while (excess := len(escape_entities(heading)) + len(part) - MAX_HEADER) > 0:
            heading = one_line(heading, len(heading) - excess)
        heading += part
        header = {
            "type": "header",
            "text": {"type": "plain_text", "text": escape_entities(heading), "emoji": False},
        }
        payload = {
            "text": escape(heading),
            "blocks": [header, *page_blocks],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        messages.append(SlackMessage(payload, tuple(dict.fromkeys(page_ids))))
    return tuple(messages)


def _quiet_sources(content: DigestContent) -> dict[str, Any]:
    """The feeds not heard from, as one context block (small print, under the stories)."""
    health = content.sources
    assert health is not None
    lines = [quiet_sources_heading(health)]
    lines += [f"• {quiet_source_line(source, content.timezone, content.period)}" for source in health.quiet]
    if health.more:
        lines.append(f"• {quiet_sources_more(health)}")
    # A few lines of names cut to one line each: well within a context text's 3,000 characters.
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape("\n".join(lines))}]}
