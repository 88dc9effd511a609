"""Article rows: what is already known, storing new articles once, linking repeats to their feeds, listing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from monitor.extract import Article as ArticleValue
from monitor.store.models import Article, ArticleFeed, Feed

_CHUNK = 500  # bound the size of IN (...) lists


@dataclass(frozen=True)
class EntryRef:
    """How an entry can already be known: its key in this feed, its GUID, its canonical URL."""

    key: str
    guid: str | None
    canonical_url: str | None


@dataclass(frozen=True)
class KnownEntries:
    in_feed: frozenset[str]
    """Keys this feed has already given us: nothing to do."""
    elsewhere: dict[str, int]
    """Keys of entries stored from another feed (same GUID or canonical URL): only a link to add."""


def find_known(session: Session, *, feed_id: int, entries: Sequence[EntryRef]) -> KnownEntries:
    """Sort a feed's entries into known in this feed, known from elsewhere, and (by omission) new."""
    keys = [e.key for e in entries]
    in_feed: set[str] = set()
    for chunk in _chunks(keys):
        in_feed.update(session.scalars(
            select(ArticleFeed.entry_key).where(ArticleFeed.feed_id == feed_id, ArticleFeed.entry_key.in_(chunk))
        ))
    rest = [e for e in entries if e.key not in in_feed]
    by_guid = _ids_by(session, Article.guid, [e.guid for e in rest if e.guid])
    by_url = _ids_by(session, Article.canonical_url, [e.canonical_url for e in rest if e.canonical_url])
    elsewhere = {}
    for entry in rest:
        article_id = by_guid.get(entry.guid) or by_url.get(entry.canonical_url)
        if article_id is not None:
            elsewhere[entry.key] = article_id
    return KnownEntries(frozenset(in_feed), elsewhere)


def _ids_by(session: Session, column, values: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(values))):
        found.update(session.execute(select(column, Article.id).where(column.in_(chunk))).all())
    return found


def _chunks(values: list[str]):
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def link_to_feed(session: Session, *, article_id: int, feed_id: int, entry_key: str, entry_url: str | None,
                 now: datetime) -> bool:
    """Record that a feed carried an article under ``entry_key``; False if that was already recorded."""
    known = select(ArticleFeed.id).where(ArticleFeed.feed_id == feed_id, ArticleFeed.entry_key == entry_key)
    if session.scalar(known) is not None:
        return False
    session.add(ArticleFeed(article_id=article_id, feed_id=feed_id, entry_key=entry_key, entry_url=entry_url,
                            first_seen_at=now))
    session.flush()
    return True


def save_article(session: Session, *, article: ArticleValue, feed_id: int, now: datetime) -> tuple[int, bool]:
    """Store an article from a feed, or link the feed to the copy already stored under its canonical URL.

    Returns:
        The article's id, and whether a new article row was created.
    """
    existing = session.scalar(select(Article.id).where(Article.canonical_url == article.canonical_url))
    created = False
    if existing is None:
        try:
            # A savepoint: another instance may store the same URL between our check and our insert.
            with session.begin_nested():
                row = Article(
                    url=article.url, canonical_url=article.canonical_url, guid=article.guid, title=article.title,
                    author=article.author, published_at=article.published, fetched_at=article.fetched_at,
                    language=article.language, body=article.body, summary=article.summary,
                    body_source=str(article.body_source), body_note=article.body_note,
                    content_hash=article.content_hash,
                )
                session.add(row)
                session.flush()
            existing, created = row.id, True
        except IntegrityError:
            existing = session.scalar(select(Article.id).where(Article.canonical_url == article.canonical_url))
            if existing is None:
                raise
    link_to_feed(session, article_id=existing, feed_id=feed_id, entry_key=article.entry_key, entry_url=article.url,
                 now=now)
    return existing, created


def list_articles(
    session: Session,
    *,
    since: datetime | None = None,
    feed_name: str | None = None,
    limit: int | None = None,
) -> list[Article]:
    """Stored articles, newest first (by publication time, else fetch time), with their feeds loaded."""
    query = select(Article).options(selectinload(Article.feeds).selectinload(ArticleFeed.feed))
    if since is not None:
        query = query.where(Article.fetched_at >= since)
    if feed_name is not None:
        query = query.where(Article.id.in_(
            select(ArticleFeed.article_id).join(Feed).where(Feed.name == feed_name)
        ))
    query = query.order_by(Article.fetched_at.desc(), Article.id.desc()).limit(limit)
    return list(session.scalars(query))
