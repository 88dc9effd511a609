"""From a delivery's items (article, topic) to the values a digest is rendered from: grouped by topic, then
by story (an article without a story stands alone), ranked by score, outlet count and recency, capped.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.notify.render import DigestContent, DigestItem, Excerpt, Outlet, TopicSection
from monitor.notify.settings import DigestConfig
from monitor.store.deliveries import ItemRef
from monitor.store.matches import feed_names
from monitor.store.models import Article, ArticleMatch, Story

EXCERPT_CHARS = 360
MAX_SENTENCES = 3
MAX_STORY_MEMBERS = 200  # articles read per story for its outlets; enough to name them
_SENTENCE_END = re.compile(r"(?<=[.!?…؟۔])\s+")


@dataclass(frozen=True)
class _Matched:
    article: Article
    topic: str
    score: float
    evidence: dict


def build_content(session: Session, *, digest: DigestConfig, kind: str, items: Sequence[ItemRef],
                  period: datetime) -> DigestContent:
    """The digest's sections for ``items`` (matches that were deleted since are left out)."""
    wanted = {(item.article_id, item.topic) for item in items}
    ids = sorted({article_id for article_id, _ in wanted})
    matched: list[_Matched] = []
    for start in range(0, len(ids), 500):
        query = (select(ArticleMatch, Article).join(Article, Article.id == ArticleMatch.article_id)
                 .where(ArticleMatch.article_id.in_(ids[start:start + 500])))
        for match, article in session.execute(query):
            if (match.article_id, match.topic) in wanted:
                matched.append(_Matched(article, match.topic, match.score, _evidence(match.evidence)))

    story_ids = sorted({m.article.story_id for m in matched if m.article.story_id is not None})
    members = _story_members(session, story_ids)
    representatives = {story: lead for story, lead in session.execute(
        select(Story.id, Story.representative_id).where(Story.id.in_(story_ids)))} if story_ids else {}
    everyone = {m.article.id: m.article for m in matched}
    everyone |= {a.id: a for arts in members.values() for a in arts}
    outlets = feed_names(session, article_ids=sorted(everyone)) if everyone else {}

    groups: dict[str, dict[tuple[str, int], list[_Matched]]] = defaultdict(lambda: defaultdict(list))
    for m in matched:
        key = ("story", m.article.story_id) if m.article.story_id is not None else ("article", m.article.id)
        groups[m.topic][key].append(m)

    sections = []
    for topic in sorted(groups, key=lambda t: (-max(m.score for g in groups[t].values() for m in g), t)):
        built = [_item(key, group, members, representatives, outlets) for key, group in groups[topic].items()]
        built.sort(key=lambda item: (-item.score, -(len(item.also) + 1), -_epoch(item.published_at),
                                     item.headline))
        shown, rest = built[: digest.max_items], built[digest.max_items:]
        sections.append(TopicSection(topic, tuple(shown), len(rest),
                                     tuple(i for item in rest for i in item.article_ids)))
    return DigestContent(digest.name, kind, period, digest.timezone, tuple(sections))


def _item(key, group: list[_Matched], members, representatives, outlets) -> DigestItem:
    kind, ident = key
    best = max(group, key=lambda m: (m.score, -m.article.id))
    lead = next((m for m in group if kind == "story" and m.article.id == representatives.get(ident)), best)
    article = lead.article
    carried = members.get(ident, []) if kind == "story" else [article]
    carried = carried or [m.article for m in group]
    own = outlet_name(article, outlets)
    # Every feed of every member is an outlet (one text in several feeds counts for each).
    pairs = [(name, other.url) for other in [article, *sorted(carried, key=lambda a: a.id)]
             for name in (outlets.get(other.id) or (outlet_name(other, outlets),))]
    also, seen = [], {own}
    for name, url in pairs:
        if name not in seen:
            seen.add(name)
            also.append(Outlet(name, url))
    return DigestItem(
        headline=article.title or article.url,
        url=article.url,
        outlet=own,
        published_at=article.published_at or article.fetched_at,
        excerpt=excerpt(article, lead.evidence),
        score=round(max(m.score for m in group), 3),
        also=tuple(also),
        article_ids=tuple(sorted({m.article.id for m in group})),
        story_id=ident if kind == "story" else None,
    )


def _story_members(session: Session, story_ids: Sequence[int]) -> dict[int, list[Article]]:
    found: dict[int, list[Article]] = defaultdict(list)
    for story_id in story_ids:
        query = (select(Article).where(Article.story_id == story_id).order_by(Article.id)
                 .limit(MAX_STORY_MEMBERS))
        found[story_id] = list(session.scalars(query))
    return found


def outlet_name(article: Article, outlets: dict[int, tuple[str, ...]]) -> str:
    """The first feed that carried the article, else its host."""
    names = outlets.get(article.id, ())
    if names:
        return names[0]
    return (urlsplit(article.url).hostname or article.url).removeprefix("www.")


def excerpt(article: Article, evidence: dict) -> Excerpt:
    """Two or three sentences of the article with the matched words marked; the stored snippet (centred on
    the densest matches) when the opening sentences hold none of them."""
    text = " ".join((article.body or article.summary or "").split())
    if article.title and text.startswith(article.title):
        text = text[len(article.title):].lstrip(" .:-–—")
    sentences, lead = _SENTENCE_END.split(text), ""
    for sentence in sentences[:MAX_SENTENCES]:
        if lead and len(lead) + len(sentence) + 1 > EXCERPT_CHARS:
            break
        lead = f"{lead} {sentence}".strip()
    if len(lead) > EXCERPT_CHARS:
        lead = lead[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…"
    words = {hit["text"] for term in evidence.get("terms", ()) for hit in term.get("hits", ())
             if hit.get("text")}
    spans = _find(lead, words)
    if not spans and evidence.get("snippet"):
        snippet = " ".join(str(evidence["snippet"]).split("\n"))
        marks = tuple(tuple(span) for span in evidence.get("highlights", ()) if len(span) == 2)
        return Excerpt(snippet, tuple(s for s in marks if 0 <= s[0] < s[1] <= len(snippet)))
    return Excerpt(lead, spans)


def _find(text: str, words: set[str]) -> tuple[tuple[int, int], ...]:
    """Where ``words`` occur in ``text`` (ignoring case), merged where they overlap."""
    spans = []
    folded = text.casefold() if len(text.casefold()) == len(text) else text
    for word in words:
        needle = word.casefold()
        if not needle.strip() or len(needle) != len(word):
            continue  # casefolding changed its length ("ß"): positions would not line up
        start = folded.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = folded.find(needle, start + len(needle))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _evidence(raw: str) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0
