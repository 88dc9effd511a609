"""Watchlist matches: storing them with their evidence, replacing them on a retag, reading them back;
and stored articles as the matcher reads them, in batches."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.articles import article_at
from monitor.store.models import Article, ArticleFeed, ArticleMatch, Feed
from monitor.store.records import ArticleText

BATCH = 500


class MarkedEvidence(Protocol):
    def marked(self) -> str:
        """The snippet with the matched words marked."""
        ...


class StorableMatch(Protocol):
    """What is stored of a watchlist match (``monitor.watchlist.Match`` fits): the store reads no more."""

    @property
    def topic(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def evidence(self) -> MarkedEvidence: ...
    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StoredArticle:
    id: int
    url: str
    fetched_at: datetime
    text: ArticleText


@dataclass(frozen=True)
class StoredMatch:
    article_id: int
    title: str | None
    url: str
    matched_at: datetime
    watchlist: str
    match_json: dict[str, Any]
    """The match in its JSON form (topic, score, evidence): ``monitor.watchlist.Match.from_json`` reads it."""


def save_matches(
    session: Session, *, article_id: int, matches: Sequence[StorableMatch], watchlist: str, now: datetime
) -> None:
    """Store the matches of a newly stored article."""
    for match in matches:
        session.add(_row(article_id, match, watchlist, now))
    if matches:
        session.flush()


def replace_matches(
    session: Session, *, article_id: int, matches: Sequence[StorableMatch], watchlist: str, now: datetime
) -> None:
    """Make ``matches`` the article's matches: new topics added, others updated, the rest removed.

    A topic that still matches keeps its ``matched_at``, so digests do not announce it again.
    """
    existing = {
        row.topic: row
        for row in session.scalars(select(ArticleMatch).where(ArticleMatch.article_id == article_id))
    }
    wanted = {match.topic: match for match in matches}
    for topic, row in existing.items():
        if topic not in wanted:
            session.delete(row)
    for topic, match in wanted.items():
        stored = existing.get(topic)
        if stored is None:
            session.add(_row(article_id, match, watchlist, now))
        else:
            stored.score, stored.snippet = match.score, match.evidence.marked()
            stored.evidence, stored.watchlist = _evidence_json(match), watchlist
    session.flush()


def _row(article_id: int, match: StorableMatch, watchlist: str, now: datetime) -> ArticleMatch:
    return ArticleMatch(
        article_id=article_id,
        topic=match.topic,
        score=match.score,
        snippet=match.evidence.marked(),
        evidence=_evidence_json(match),
        watchlist=watchlist,
        matched_at=now,
    )


def _evidence_json(match: StorableMatch) -> str:
    return json.dumps(match.to_json()["evidence"], ensure_ascii=False, separators=(",", ":"))


def stored_topics(session: Session, *, article_ids: Iterable[int]) -> dict[int, set[str]]:
    """The topics stored for each of ``article_ids`` (articles without any are left out)."""
    found: dict[int, set[str]] = {}
    ids = sorted(set(article_ids))
    for start in range(0, len(ids), BATCH):
        query = select(ArticleMatch.article_id, ArticleMatch.topic).where(
            ArticleMatch.article_id.in_(ids[start : start + BATCH])
        )
        for article_id, topic in session.execute(query):
            found.setdefault(article_id, set()).add(topic)
    return found


def feed_names(session: Session, *, article_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The names of the feeds that carried each article."""
    names: dict[int, list[str]] = {}
    query = (
        select(ArticleFeed.article_id, Feed.name)
        .join(Feed, Feed.id == ArticleFeed.feed_id)
        .where(ArticleFeed.article_id.in_(list(article_ids)))
        .order_by(Feed.name)
    )
    for article_id, name in session.execute(query):
        names.setdefault(article_id, []).append(name)
    return {article_id: tuple(dict.fromkeys(found)) for article_id, found in names.items()}


def stored_articles(
    session: Session, *, since: datetime | None = None, batch: int = BATCH
) -> Iterator[list[StoredArticle]]:
    """Stored articles (fetched since ``since``), oldest first, in batches: memory stays bounded."""
    last_id = 0
    if since is not None:
        # From the first article of the window, found by the fetch time's index: paging by id from the start
        # read every older article, body and all, before the window (a year's worth for a 2-day backtest).
        # ``id + 0``: the least id itself would be looked for in id order, the same walk from the start.
        first = session.scalar(select(func.min(Article.id + 0)).where(Article.fetched_at >= since))
        if first is None:
            return
        last_id = first - 1
    while True:
        query = select(Article).where(Article.id > last_id).order_by(Article.id).limit(batch)
        if since is not None:
            query = query.where(Article.fetched_at >= since)
        rows = list(session.scalars(query))
        if not rows:
            return
        sources = feed_names(session, article_ids=[row.id for row in rows])
        yield [_stored(row, sources.get(row.id, ())) for row in rows]
        last_id = rows[-1].id


def find_article(session: Session, *, url: str, canonical: str | None = None) -> StoredArticle | None:
    """The stored article at ``url`` (its canonical address ``canonical``, or as fetched)."""
    row = article_at(session, url=url, canonical=canonical)
    if row is None:
        return None
    return _stored(row, feed_names(session, article_ids=[row.id]).get(row.id, ()))


def _stored(row: Article, sources: tuple[str, ...]) -> StoredArticle:
    text = ArticleText(row.title or "", row.body or "", row.url, row.language or "", sources)
    return StoredArticle(row.id, row.url, row.fetched_at, text)


def list_matches(
    session: Session,
    *,
    article_id: int | None = None,
    topic: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[StoredMatch]:
    """Stored matches, newest first, with their evidence."""
    query = select(ArticleMatch, Article.title, Article.url).join(
        Article, Article.id == ArticleMatch.article_id
    )
    if article_id is not None:
        query = query.where(ArticleMatch.article_id == article_id)
    if topic is not None:
        query = query.where(ArticleMatch.topic == topic)
    if since is not None:
        query = query.where(ArticleMatch.matched_at >= since)
    query = query.order_by(ArticleMatch.matched_at.desc(), ArticleMatch.id.desc()).limit(limit)
    found = []
    for row, title, url in session.execute(query):
        match = {"topic": row.topic, "score": row.score, "evidence": json.loads(row.evidence)}
        found.append(StoredMatch(row.article_id, title, url, row.matched_at, row.watchlist, match))
    return found
