"""What digests read: the matches and story follow-ups a delivery may carry, and the stored material a digest
is composed from (articles, their matches, wire representatives, what each channel already received).

No policy lives here: which scores count, which kinds of delivery make an article "already sent", how far
back to look and how many rows to read are the caller's arguments (``monitor.digest.runner`` decides them).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from monitor.store.deliveries import ItemRef
from monitor.store.models import Article, ArticleMatch, Delivery, DeliveryItem, Story, WireCluster
from monitor.store.results import values

BATCH = 500


@dataclass(frozen=True)
class Carried:
    """Which deliveries count as having sent an article: those of ``digest`` on ``channel`` of these
    ``kinds`` that the channel accepted (or that are being sent now)."""

    digest: str
    channel: str
    kinds: tuple[str, ...]
    earlier: tuple[str, ...] = ()  # the names the digest had before: their deliveries count as its own


@dataclass(frozen=True)
class StoredArticle:
    """An article as a digest shows it."""

    id: int
    url: str
    title: str | None
    site_name: str | None
    published_at: datetime | None
    fetched_at: datetime
    body: str  # its opening, TEXT_CHARS at most
    story_id: int | None
    wire_cluster_id: int | None


@dataclass(frozen=True)
class StoredMatch:
    article_id: int
    topic: str
    score: float
    evidence: dict


@dataclass(frozen=True)
class Sent:
    """One earlier delivery of an article."""

    kind: str
    channel: str
    at: datetime


@dataclass(frozen=True)
class Material:
    """Everything stored that a digest of some articles is composed from."""

    articles: dict[int, StoredArticle] = field(default_factory=dict)
    """The articles to show and every stored member of their stories (bounded per story)."""
    matches: tuple[StoredMatch, ...] = ()
    """The matches of those articles, on the topics asked for."""
    representatives: dict[int, int] = field(default_factory=dict)
    """Wire cluster -> the article that stands for it."""
    story_sizes: dict[int, int] = field(default_factory=dict)
    """Story -> its number of articles (all of them, not only those read)."""
    sent: dict[int, tuple[Sent, ...]] = field(default_factory=dict)
    """Article -> its earlier deliveries by this digest (accepted by the channel), oldest first."""


def _carried(rule: Carried, article_id: QueryableAttribute[int]) -> ColumnElement[bool]:
    """SQL: ``article_id`` went out under ``rule`` already, or is on its way in a delivery being sent (or
    retried after an attempt that may have arrived)."""
    delivered = DeliveryItem.delivered_at.is_not(None)
    # Items of an attempt that may have arrived stay with it: only its retry carries them. Not those of a
    # name the digest had (``earlier``): nothing retries its deliveries any more, and what they still owe
    # would never go out.
    on_its_way = (Delivery.digest == rule.digest) & Delivery.status.in_(("sending", "unconfirmed"))
    return exists(
        select(DeliveryItem.id)
        .join(Delivery, Delivery.id == DeliveryItem.delivery_id)
        .where(
            Delivery.digest.in_((rule.digest, *rule.earlier)),
            Delivery.channel == rule.channel,
            Delivery.kind.in_(rule.kinds),
            DeliveryItem.article_id == article_id,
            delivered | on_its_way,
        )
    )


@dataclass(frozen=True)
class CopyOfCarried:
    """An article whose text went out before as other articles of its wire cluster."""

    url: str
    title: str | None
    carried: frozenset[tuple[str, str | None]]  # the carried articles' (URL, title)


def copies_of_carried(
    session: Session, *, carried: Carried, article_ids: Collection[int]
) -> dict[int, CopyOfCarried]:
    """Of ``article_ids``, those whose wire cluster holds another article that went out under ``carried``:
    copies (reprints, or the same text under another address) of a text already sent."""
    sent = aliased(Article)
    found: dict[int, CopyOfCarried] = {}
    ids = sorted(set(article_ids))
    for start in range(0, len(ids), BATCH):
        query = (
            select(Article.id, Article.url, Article.title, sent.url, sent.title)
            .distinct()
            .join(sent, sent.wire_cluster_id == Article.wire_cluster_id)
            .where(
                Article.id.in_(ids[start : start + BATCH]),
                Article.wire_cluster_id.is_not(None),
                sent.id != Article.id,
                _carried(carried, sent.id),
            )
        )
        for article_id, url, title, carried_url, carried_title in session.execute(query):
            known = found.get(article_id)
            earlier = known.carried if known else frozenset()
            found[article_id] = CopyOfCarried(url, title, earlier | {(carried_url, carried_title)})
    return found


def published_before(session: Session, *, article_ids: Collection[int], before: datetime) -> set[int]:
    """Of ``article_ids``, those whose stated publication is before ``before`` (undated ones are not)."""
    found: set[int] = set()
    ids = sorted(set(article_ids))
    for start in range(0, len(ids), BATCH):
        query = select(Article.id).where(
            Article.id.in_(ids[start : start + BATCH]), Article.published_at < before
        )
        found.update(session.scalars(query))
    return found


def stories_alerted_since(
    session: Session, *, carried: Carried, story_ids: Collection[int], since: datetime
) -> set[int]:
    """Of ``story_ids``, those an article of which went out in an alert under ``carried`` at ``since`` or
    later. Read by story, then the few deliveries by id (``_deliveries_by_id``)."""
    items: list[tuple[int, int]] = []
    ids = sorted(set(story_ids))
    for start in range(0, len(ids), BATCH):
        query = (
            select(Article.story_id, DeliveryItem.delivery_id)
            .join(DeliveryItem, DeliveryItem.article_id == Article.id)
            .where(Article.story_id.in_(ids[start : start + BATCH]), DeliveryItem.delivered_at >= since)
        )
        items += [(story, delivery) for story, delivery in session.execute(query) if story is not None]
    names = (carried.digest, *carried.earlier)
    deliveries = _deliveries_by_id(session, {delivery for _, delivery in items}, names=names)
    alerted = {
        delivery
        for delivery, (kind, channel) in deliveries.items()
        if kind == "alert" and channel == carried.channel
    }
    return {story for story, delivery in items if delivery in alerted}


def failed_items(session: Session, *, digest: str, kind: str, channel: str) -> list[ItemRef]:
    """The items of failed deliveries of (digest, kind, channel) that the channel has not accepted."""
    query = (
        select(DeliveryItem.article_id, DeliveryItem.story_id, DeliveryItem.topic)
        .join(Delivery, Delivery.id == DeliveryItem.delivery_id)
        .where(
            Delivery.digest == digest,
            Delivery.kind == kind,
            Delivery.channel == channel,
            Delivery.status == "failed",
            DeliveryItem.delivered_at.is_(None),
        )
        .order_by(DeliveryItem.id)
    )
    return [ItemRef(*row) for row in session.execute(query)]


def new_matches(
    session: Session,
    *,
    carried: Carried,
    topics: Collection[str],
    min_score: float,
    since: datetime,
    limit: int,
) -> list[ItemRef]:
    """Matches since ``since`` scoring at least ``min_score`` (on ``topics``, or every topic when empty)
    whose article was not carried yet, oldest first."""
    query = (
        select(ArticleMatch.article_id, Article.story_id, ArticleMatch.topic)
        .join(Article, Article.id == ArticleMatch.article_id)
        .where(
            ArticleMatch.score >= min_score,
            ArticleMatch.matched_at >= since,
            ~_carried(carried, ArticleMatch.article_id),
        )
        .order_by(ArticleMatch.matched_at, ArticleMatch.id)
        .limit(limit)
    )
    if topics:
        query = query.where(ArticleMatch.topic.in_(list(topics)))
    return [ItemRef(*row) for row in session.execute(query)]


def story_followups(
    session: Session,
    *,
    carried: Carried,
    topics: Collection[str],
    min_score: float,
    since: datetime,
    limit: int,
) -> list[tuple[int, int]]:
    """(article id, story id) of articles stored since ``since`` that were not carried yet and belong to a
    story with a match (on ``topics``, scoring at least ``min_score``) and news since ``since``."""
    # From the stories with news since ``since`` (few, by their index) to whether one of their articles
    # matched: asked the other way round, every article ever placed in a story was read to find the few
    # stories active now, a statement that grew with the history and ran at every alert check.
    match = (
        select(ArticleMatch.id)
        .join(Article, Article.id == ArticleMatch.article_id)
        .where(Article.story_id == Story.id, ArticleMatch.score >= min_score)
    )
    if topics:
        # Compared as an expression, not the indexed column: given the column, SQLite answered each story's
        # question from the topic's index, every match of the topic since the database began, for each
        # story active now (2.4 s for a day's digest after a year, against 6 ms without topics). Through
        # the story's articles, each of them has its own few matches (``uq_article_matches_article_id_topic``).
        match = match.where(ArticleMatch.topic.concat("").in_(list(topics)))
    matched = select(Story.id).where(Story.last_seen_at >= since, exists(match))
    query = (
        select(Article.id, Article.story_id)
        .where(
            Article.story_id.in_(matched.scalar_subquery()),
            Article.fetched_at >= since,
            ~_carried(carried, Article.id),
        )
        .order_by(Article.fetched_at, Article.id)
        .limit(limit)
    )
    # story_id is never None here (the IN above): the test is for the type checker.
    return [(article_id, story_id) for article_id, story_id in session.execute(query) if story_id is not None]


def material(
    session: Session,
    *,
    article_ids: Collection[int],
    topics: Collection[str],
    digest: str,
    channel: str | None,
    members_per_story: int,
    earlier: tuple[str, ...] = (),
) -> Material:
    """What a digest of ``article_ids`` is composed from: the articles, the stored members of their stories
    (at most ``members_per_story`` each, earliest first), the matches of all of them on ``topics`` (every topic
    when empty), the wire representatives, and what ``digest`` already delivered of them on any channel
    (``channel`` None: nothing counts as delivered, as for a preview), under its name or the ``earlier``
    ones it had."""
    articles = _articles(session, sorted(set(article_ids)))
    story_ids = sorted({a.story_id for a in articles.values() if a.story_id is not None})
    for chunk in _chunks(story_ids):  # the earliest members of each story, in one query per chunk of stories
        rank = func.row_number().over(
            partition_by=Article.story_id, order_by=(Article.fetched_at, Article.id)
        )
        ranked = select(*_ARTICLE_COLUMNS, rank.label("rank")).where(Article.story_id.in_(chunk)).subquery()
        query = select(*(column for column in ranked.c if column.name != "rank")).where(
            ranked.c.rank <= members_per_story
        )
        articles.update((row[0], StoredArticle(*values(row))) for row in session.execute(query))
    ids = sorted(articles)
    matches = []
    for chunk in _chunks(ids):
        query = select(
            ArticleMatch.article_id, ArticleMatch.topic, ArticleMatch.score, ArticleMatch.evidence
        ).where(ArticleMatch.article_id.in_(chunk))
        if topics:
            query = query.where(ArticleMatch.topic.in_(list(topics)))
        matches += [StoredMatch(a, t, s, _evidence(e)) for a, t, s, e in session.execute(query)]
    clusters = sorted({a.wire_cluster_id for a in articles.values() if a.wire_cluster_id is not None})
    representatives: dict[int, int] = {}
    for chunk in _chunks(clusters):
        query = select(WireCluster.id, WireCluster.representative_id).where(WireCluster.id.in_(chunk))
        representatives.update((c, r) for c, r in session.execute(query) if r is not None)
    missing = sorted(set(representatives.values()) - set(articles))
    articles.update(_articles(session, missing))  # an original from before the window
    sizes: dict[int, int] = {}
    for chunk in _chunks(story_ids):
        query = (
            select(Article.story_id, func.count())
            .where(Article.story_id.in_(chunk))
            .group_by(Article.story_id)
        )
        sizes.update((story_id, count) for story_id, count in session.execute(query) if story_id is not None)
    sent: dict[int, list[Sent]] = defaultdict(list)
    if channel is not None:
        for article_id, kind, sent_on, at in _delivered(session, sorted(articles), names=(digest, *earlier)):
            sent[article_id].append(Sent(kind, sent_on, at))
    return Material(
        articles,
        tuple(matches),
        representatives,
        sizes,
        {article_id: tuple(found) for article_id, found in sent.items()},
    )


def _delivered(
    session: Session, article_ids: list[int], *, names: Sequence[str]
) -> list[tuple[int, str, str, datetime]]:
    """(article, kind, channel, when) of each accepted delivery of ``article_ids`` by a digest of ``names``,
    earliest first.

    The articles' items are read first, by article, then their deliveries by id. Joined in one statement,
    SQLite (which has no statistics) walked every delivery the digest ever made, a year of daily digests and
    of alerts, probing each for the articles: 1.7 s for 500 articles after a year with six alerts a day.
    """
    items: list[tuple[int, int, datetime]] = []
    for chunk in _chunks(article_ids):
        of_articles = select(
            DeliveryItem.article_id, DeliveryItem.delivery_id, DeliveryItem.delivered_at
        ).where(DeliveryItem.article_id.in_(chunk), DeliveryItem.delivered_at.is_not(None))
        # delivered_at is never None here (the query asks for delivered items): the test is for the type checker.
        items += [
            (article_id, delivery, at) for article_id, delivery, at in session.execute(of_articles) if at
        ]
    deliveries = _deliveries_by_id(session, {delivery for _, delivery, _ in items}, names=names)
    found = [
        (article_id, *deliveries[delivery], at)
        for article_id, delivery, at in items
        if delivery in deliveries
    ]
    return sorted(found, key=lambda one: one[3])


def _deliveries_by_id(
    session: Session, delivery_ids: Collection[int], *, names: Sequence[str]
) -> dict[int, tuple[str, str]]:
    """Delivery id -> (kind, channel), of those of ``delivery_ids`` made by a digest of ``names``.

    Found by their ids alone, the digest told apart here: asked in the statement, SQLite went through the
    digest's index, every delivery it ever made, rather than find these few by their ids."""
    found: dict[int, tuple[str, str]] = {}
    for chunk in _chunks(sorted(delivery_ids)):
        query = select(Delivery.id, Delivery.digest, Delivery.kind, Delivery.channel).where(
            Delivery.id.in_(chunk)
        )
        found.update(
            (delivery, (kind, channel))
            for delivery, name, kind, channel in session.execute(query)
            if name in names
        )
    return found


TEXT_CHARS = 4000
"""Of each article's text, what a digest reads: its opening, for the excerpt (outlet boilerplate at the top
included, which the excerpt leaves out). A story's members are read by the hundred; their whole bodies
would be megabytes."""

_ARTICLE_COLUMNS = (
    Article.id,
    Article.url,
    Article.title,
    Article.site_name,
    Article.published_at,
    Article.fetched_at,
    func.substr(func.coalesce(func.nullif(Article.body, ""), Article.summary, ""), 1, TEXT_CHARS).label(
        "text"
    ),
    Article.story_id,
    Article.wire_cluster_id,
)


def _articles(session: Session, ids: Sequence[int]) -> dict[int, StoredArticle]:
    found: dict[int, StoredArticle] = {}
    for chunk in _chunks(list(ids)):
        for row in session.execute(select(*_ARTICLE_COLUMNS).where(Article.id.in_(chunk))):
            found[row[0]] = StoredArticle(*values(row))
    return found


def _chunks(values: list[int]):
    for start in range(0, len(values), BATCH):
        yield values[start : start + BATCH]


def _evidence(raw: str | None) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
