"""Wire clusters and the LSH band keys that find them: the wire level's queries (``monitor.dedupe.stage``).

Every function takes the session and keyword arguments only; none commits (the caller's transaction
stores an article and its clusters together, or neither).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Integer, String, Table, bindparam, case, delete, func, select, update
from sqlalchemy.orm import Session

from monitor.store.hotpath import LatestPerKey, epoch, insert_many, run_compiled
from monitor.store.models import (
    Article,
    LshBand,
    Story,
    UTCDateTime,
    WireCluster,
)
from monitor.store.records import Member
from monitor.store.results import new_id

_CHUNK = 500
# The hot path (every stored article) uses the tables, not the ORM classes: Core statements skip the ORM's
# per-statement work, which would otherwise cost more than the fingerprinting itself.
# Declarative types ``__table__`` as any FromClause; these are Tables, and typed so their columns and DML are.
_articles = cast(Table, Article.__table__)
_bands = cast(Table, LshBand.__table__)
_clusters = cast(Table, WireCluster.__table__)


# --- LSH band keys ----------------------------------------------------------------------------------------

ROWS_PER_KEY = 100
"""Rows of one band key read per lookup, the latest within the window. A key is shared only by texts alike in
that band; a flood of mutually near-identical texts (a robot-written market or weather report, reprinted all
day) gives each of its keys thousands of rows, which a lookup would otherwise count every time, and the
flood's hundredth latest copy is as good a candidate as its thousandth."""


# The latest ROWS_PER_KEY rows of each key (the primary key is band key, time, article).
_LATEST_BANDS = LatestPerKey(
    _bands, key="band_key", value="article_id", rows=ROWS_PER_KEY, where="article_id != :exclude"
)


def add_bands(session: Session, *, article_id: int, keys: Iterable[int], seen_at: datetime) -> None:
    """Index an article under its band keys (forty-odd rows, see ``insert_many``)."""
    keys = sorted(set(keys))
    if not keys:
        return
    values = {"article_id": article_id, "seen_epoch": epoch(seen_at)}
    insert_many(session, _bands, [{**values, "band_key": key} for key in keys])


def remove_bands(session: Session, *, article_id: int) -> None:
    session.connection().execute(_bands.delete().where(_bands.c.article_id == article_id))


def _copies_of(article_id: int):
    return (_articles.c.wire_method == "exact") & (_articles.c.wire_match_id == article_id)


def exact_copies(session: Session, *, article_id: int) -> list[int]:
    """The articles placed as exact copies of this one (which hold no band keys of their own), oldest first."""
    query = select(_articles.c.id).where(_copies_of(article_id)).order_by(_articles.c.id)
    return list(session.connection().scalars(query))


def hand_over_bands(session: Session, *, article_id: int, heir: int | None) -> None:
    """Give an article's band keys to ``heir``, one of its exact copies, and make that copy the original of
    the others; with no heir the keys are removed. The stage chooses the heir."""
    if heir is None:
        remove_bands(session, article_id=article_id)
        return
    connection = session.connection()
    connection.execute(_bands.update().where(_bands.c.article_id == article_id).values(article_id=heir))
    connection.execute(
        _articles.update().where(_copies_of(article_id), _articles.c.id != heir).values(wire_match_id=heir)
    )


def band_candidates(
    session: Session,
    *,
    keys: Sequence[int],
    since: datetime,
    until: datetime,
    exclude_id: int | None,
    limit: int,
) -> list[tuple[int, int]]:
    """Articles sharing at least one band key within the window: (article id, bands shared), most first."""
    exclude = -1 if exclude_id is None else exclude_id
    shared = _LATEST_BANDS.most_shared(
        session, sorted(set(keys)), since=epoch(since), until=epoch(until), exclude=exclude
    )
    return shared[:limit]


# --- Articles as the stage sees them -----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredText:
    id: int
    body: str
    wire_cluster_id: int | None
    url: str


_BODIES = select(_articles.c.id, _articles.c.body, _articles.c.wire_cluster_id, _articles.c.url).where(
    _articles.c.id.in_(bindparam("ids", expanding=True))
)


def bodies(session: Session, *, ids: Sequence[int]) -> dict[int, StoredText]:
    """The bodies, clusters and addresses of the given articles."""
    found: dict[int, StoredText] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.connection().execute(_BODIES, {"ids": list(ids[start : start + _CHUNK])})
        found.update(
            {row.id: StoredText(row.id, row.body or "", row.wire_cluster_id, row.url) for row in rows}
        )
    return found


_SAME_CONTENT = (
    select(_articles.c.id, _articles.c.wire_cluster_id)
    .where(
        _articles.c.content_hash == bindparam("hash"),
        _articles.c.id != bindparam("exclude"),
        _articles.c.wire_cluster_id.is_not(None),
        _articles.c.fetched_at >= bindparam("since"),
    )
    .order_by(_articles.c.id)
    .limit(1)
)


def same_content(
    session: Session, *, content_hash: str, exclude_id: int, since: datetime
) -> tuple[int, int] | None:
    """The first clustered article with this content hash, fetched within the window: (id, cluster id)."""
    row = (
        session.connection()
        .execute(_SAME_CONTENT, {"hash": content_hash, "exclude": exclude_id, "since": since})
        .first()
    )
    return (row[0], row[1]) if row else None


_RECORD = (
    _articles.update()
    .where(_articles.c.id == bindparam("article"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "wire_cluster_id",
                "story_id",
                "wire_method",
                "wire_match_id",
                "wire_score",
                "story_score",
                "story_evidence",
                "agency",
                "agency_evidence",
            )
        }
    )
)


def record_dedup(
    session: Session,
    *,
    article_id: int,
    wire_cluster_id: int,
    story_id: int | None,
    method: str,
    match_id: int | None,
    wire_score: float | None,
    story_score: float | None,
    agency: str | None,
    agency_evidence: str | None,
    story_evidence: dict | None = None,
) -> None:
    """Write an article's place in the clusters and why it is there (``story_evidence`` is kept as JSON)."""
    run_compiled(
        session,
        "record",
        _RECORD,
        [
            {
                "article": article_id,
                "wire_cluster_id": wire_cluster_id,
                "story_id": story_id,
                "wire_method": method,
                "wire_match_id": match_id,
                "wire_score": wire_score,
                "story_score": story_score,
                "story_evidence": None
                if story_evidence is None
                else json.dumps(story_evidence, separators=(",", ":")),
                "agency": agency,
                "agency_evidence": agency_evidence,
            }
        ],
        many=False,
    )


# --- Wire clusters ------------------------------------------------------------------------------------------

_NEW_CLUSTER = _clusters.insert()


def new_cluster(
    session: Session, *, at: datetime, article_id: int, agency: str | None, body_length: int | None = None
) -> int:
    """A cluster of one: the article is its only member and its representative (``body_length`` long)."""
    result = session.connection().execute(
        _NEW_CLUSTER,
        {
            "size": 1,
            "first_seen_at": at,
            "last_seen_at": at,
            "representative_id": article_id,
            "agency": agency,
            "longest_body": body_length,
        },
    )
    return new_id(result)


def cluster_of(session: Session, *, cluster_id: int) -> WireCluster | None:
    return session.get(WireCluster, cluster_id)


_CLUSTER_STORY = select(_clusters.c.story_id).where(_clusters.c.id == bindparam("cluster"))


def cluster_story(session: Session, *, cluster_id: int) -> int | None:
    return session.connection().scalar(_CLUSTER_STORY, {"cluster": cluster_id})


@dataclass(frozen=True)
class ClusterHead:
    """What choosing a cluster's representative needs of the cluster itself."""

    representative_id: int | None
    agency: str | None
    longest_body: int | None
    """The body length of its longest member; None when not known."""


_CLUSTER_HEAD = select(_clusters.c.representative_id, _clusters.c.agency, _clusters.c.longest_body).where(
    _clusters.c.id == bindparam("cluster")
)


def cluster_head(session: Session, *, cluster_id: int) -> ClusterHead | None:
    row = session.connection().execute(_CLUSTER_HEAD, {"cluster": cluster_id}).first()
    return ClusterHead(row[0], row[1], row[2]) if row else None


_at = bindparam("at", type_=UTCDateTime())
_GROW_CLUSTER = (
    _clusters.update()
    .where(_clusters.c.id == bindparam("cluster"))
    .values(
        size=_clusters.c.size + 1,
        last_seen_at=case((_clusters.c.last_seen_at < _at, _at), else_=_clusters.c.last_seen_at),
        first_seen_at=case((_clusters.c.first_seen_at > _at, _at), else_=_clusters.c.first_seen_at),
        agency=func.coalesce(_clusters.c.agency, bindparam("new_agency", type_=String())),
    )
)


def grow_cluster(session: Session, *, cluster_id: int, at: datetime, agency: str | None) -> None:
    """Count one more member, in one statement (other instances may add members at the same time)."""
    session.connection().execute(_GROW_CLUSTER, {"cluster": cluster_id, "at": at, "new_agency": agency})


_MEMBER_VALUES = select(
    _articles.c.id,
    _articles.c.url,
    _articles.c.published_at,
    _articles.c.fetched_at,
    func.length(_articles.c.body),
)
_MEMBERS = _MEMBER_VALUES.where(_articles.c.wire_cluster_id == bindparam("cluster"))
_MEMBER = _MEMBER_VALUES.where(_articles.c.id == bindparam("article"))


def cluster_members(session: Session, *, cluster_id: int) -> tuple[Member, ...]:
    """What the representative rule needs of every member (each one's text is read for its length)."""
    rows = session.connection().execute(_MEMBERS, {"cluster": cluster_id})
    return tuple(_member(row) for row in rows)


def member(session: Session, *, article_id: int) -> Member | None:
    """What the representative rule needs of one article."""
    row = session.connection().execute(_MEMBER, {"article": article_id}).first()
    return _member(row) if row else None


def _member(row) -> Member:
    return Member(row[0], row[1], row[2] or row[3], row[4] or 0)


def set_cluster(session: Session, *, cluster_id: int, **values) -> None:
    session.connection().execute(_clusters.update().where(_clusters.c.id == cluster_id).values(**values))


_JOINED = (
    _clusters.update()
    .where(_clusters.c.id == bindparam("cluster"))
    .values(
        representative_id=bindparam("representative"),
        longest_body=case(
            (
                _clusters.c.longest_body < bindparam("length", type_=Integer()),
                bindparam("length", type_=Integer()),
            ),
            else_=_clusters.c.longest_body,
        ),
    )
)


def record_join(session: Session, *, cluster_id: int, representative_id: int, body_length: int) -> None:
    """A copy ``body_length`` long joined the cluster, which ``representative_id`` now stands for: its
    longest length grows in the statement itself, so a longer copy another instance added meanwhile is kept."""
    session.connection().execute(
        _JOINED, {"cluster": cluster_id, "representative": representative_id, "length": body_length}
    )


_SET_CLUSTER_STORY = (
    _clusters.update().where(_clusters.c.id == bindparam("cluster")).values(story_id=bindparam("story"))
)


def set_cluster_story(session: Session, *, cluster_id: int, story_id: int) -> None:
    """Put a wire cluster in a story: once per article placed, so the statement is built once."""
    session.connection().execute(_SET_CLUSTER_STORY, {"cluster": cluster_id, "story": story_id})


def detach(session: Session, *, article_id: int) -> tuple[int | None, int | None]:
    """Take an article out of its cluster and story (before it is clustered again); drop them when empty.

    Returns:
        The former cluster and story ids.
    """
    row = session.execute(
        select(Article.wire_cluster_id, Article.story_id).where(Article.id == article_id)
    ).one()
    cluster_id, story_id = row
    session.execute(
        update(Article).where(Article.id == article_id).values(wire_cluster_id=None, story_id=None)
    )
    if cluster_id is not None:
        session.execute(
            update(WireCluster).where(WireCluster.id == cluster_id).values(size=WireCluster.size - 1)
        )
        # None: another instance removed the cluster meanwhile; it is gone either way.
        size = session.scalar(select(WireCluster.size).where(WireCluster.id == cluster_id))
        if size is None or size <= 0:
            session.execute(delete(WireCluster).where(WireCluster.id == cluster_id))
            cluster_id = None
    if story_id is not None:
        session.execute(update(Story).where(Story.id == story_id).values(size=Story.size - 1))
        size = session.scalar(select(Story.size).where(Story.id == story_id))
        if size is None or size <= 0:
            session.execute(delete(Story).where(Story.id == story_id))
            story_id = None
    return cluster_id, story_id
