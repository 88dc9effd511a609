"""Articles, stories and watchlist matches written straight into the store, for digest tests: made-up
text, in English, Russian and Persian, with evidence shaped as the matcher stores it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Article, ArticleFeed, ArticleMatch, Feed, Story, WireCluster

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Copy:
    outlet: str  # the feed's name
    url: str
    title: str | None = None  # defaults to the story's


def feed(session: Session, name: str) -> Feed:
    found = session.scalars(select(Feed).where(Feed.name == name)).first()
    if found is None:
        found = Feed(
            name=name,
            url=f"http://127.0.0.1:9/{hashlib.sha1(name.encode()).hexdigest()[:8]}.xml",
            created_at=NOW - timedelta(days=30),
        )
        session.add(found)
        session.flush()
    return found


def evidence(text: str, terms: list[str]) -> str:
    """Evidence as stored: each term's first occurrence in ``text``, and a snippet with highlights."""
    found = []
    for term in terms:
        start = text.casefold().find(term.casefold())
        if start >= 0:
            found.append(
                {
                    "term": term,
                    "count": 1,
                    "weight": None,
                    "hits": [
                        {
                            "field": "body",
                            "word": 0,
                            "start": start,
                            "end": start + len(term),
                            "text": text[start : start + len(term)],
                        }
                    ],
                }
            )
    highlights = sorted([hit["start"], hit["end"]] for term in found for hit in term["hits"])
    return json.dumps(
        {
            "clauses": terms,
            "terms": found,
            "snippet": text,
            "highlights": highlights,
            "snippet_field": "body",
        },
        ensure_ascii=False,
    )


def add_story(
    session: Session,
    *,
    title: str,
    body: str,
    copies: list[Copy],
    topic: str = "arms",
    score: float = 5.0,
    terms: list[str] = (),
    story: bool = True,
    published: datetime | None = None,
    matched_at: datetime | None = None,
    wire: bool = False,
    site: str | None = None,
) -> list[int]:
    """A story carried by ``copies`` (one article each), every article matching ``topic``: separate
    write-ups, or with ``wire`` copies of one text (the first is the original). ``site``: the pages'
    own site name."""
    published = published or NOW - timedelta(hours=2)
    story_row = None
    if story:
        story_row = Story(title=title, size=len(copies), first_seen_at=published, last_seen_at=published)
        session.add(story_row)
        session.flush()
    ids = []
    for copy in copies:
        canonical = copy.url
        article = Article(
            url=copy.url,
            canonical_url=canonical,
            title=copy.title or title,
            body=body,
            published_at=published,
            fetched_at=published + timedelta(minutes=5),
            body_source="extracted",
            content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
            story_id=story_row.id if story_row else None,
            site_name=site,
        )
        session.add(article)
        session.flush()
        session.add(
            ArticleFeed(
                article_id=article.id,
                feed_id=feed(session, copy.outlet).id,
                entry_key=copy.url,
                entry_url=copy.url,
                first_seen_at=published,
            )
        )
        session.add(
            ArticleMatch(
                article_id=article.id,
                topic=topic,
                score=score,
                snippet=body[:200],
                evidence=evidence(body, list(terms)),
                watchlist="test",
                matched_at=matched_at or published + timedelta(minutes=6),
            )
        )
        ids.append(article.id)
    if story_row is not None:
        story_row.representative_id = ids[0]
    if wire:
        cluster = WireCluster(
            story_id=story_row.id if story_row else None,
            representative_id=ids[0],
            size=len(ids),
            first_seen_at=published,
            last_seen_at=published,
        )
        session.add(cluster)
        session.flush()
        for article_id in ids:
            session.get(Article, article_id).wire_cluster_id = cluster.id
    session.flush()
    return ids
