"""Feeds and article pages written by the tests: made-up text, realistic shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

BASE_TIME = datetime(2024, 9, 9, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    slug: str
    title: str
    summary: str
    url: str
    guid: str | None = None
    published: datetime | None = None


def rss(title: str, link: str, entries: list[Entry], *, ttl: int | None = None) -> str:
    items = []
    for entry in entries:
        parts = [
            f"<title>{escape(entry.title)}</title>",
            f"<link>{escape(entry.url)}</link>",
            f"<description>{escape(entry.summary)}</description>",
        ]
        if entry.guid:
            parts.append(f'<guid isPermaLink="false">{escape(entry.guid)}</guid>')
        if entry.published:
            parts.append(f"<pubDate>{format_datetime(entry.published)}</pubDate>")
        items.append("<item>" + "".join(parts) + "</item>")
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>{escape(link)}</link>{ttl_tag}{''.join(items)}</channel></rss>"
    )


def article_html(
    title: str,
    paragraphs: list[str],
    *,
    canonical: str | None = None,
    lang: str = "en",
    site_name: str | None = None,
) -> str:
    head = f"<title>{escape(title)} | {escape(site_name or 'The Daily Test')}</title>"
    if site_name:
        head += f'<meta property="og:site_name" content="{escape(site_name)}">'
    if canonical:
        head += f'<link rel="canonical" href="{escape(canonical)}">'
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">{head}</head><body>'
        '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>'
        f"<main><article><h1>{escape(title)}</h1>{body}</article></main>"
        "<footer><p>Copyright The Daily Test. All rights reserved.</p></footer></body></html>"
    )


def paragraphs_for(slug: str, n: int = 6) -> list[str]:
    """Distinct, article-like paragraphs: every slug gets its own text."""
    return [
        f"Officials in the capital said on Monday that the {slug} talks would continue next week, "
        f"despite objections raised by several delegations during the closed session number {i}. "
        f"Observers described the atmosphere of meeting {i} on {slug} as tense but constructive."
        for i in range(n)
    ]


def make_entries(
    web, prefix: str, count: int, *, host: str | None = None, start: int = 0, since: datetime = BASE_TIME
) -> list[Entry]:
    """``count`` entries whose pages are served by ``web`` under /prefix/N, published a minute apart from
    ``since``."""
    entries = []
    for i in range(start, start + count):
        slug = f"{prefix}-{i}"
        url = web.url(f"/{prefix}/{i}", host=host)
        entry = Entry(
            slug=slug,
            title=f"Report {slug}",
            summary=f"Short summary of {slug}.",
            url=url,
            guid=f"urn:test:{slug}",
            published=since + timedelta(minutes=i),
        )
        web.set(f"/{prefix}/{i}", article_html(entry.title, paragraphs_for(slug)), host=host)
        entries.append(entry)
    return entries
