"""Wire clusters, stories, LSH band keys and term counts: the queries of the deduplication stage.

Every function takes the session and keyword arguments only; none commits (the caller's transaction
stores an article and its clusters together, or neither).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer, selectinload

from monitor.store.models import (
    Article,
    ArticleFeed,
    LshBand,
    ParagraphCount,
    Story,
    StoryKey,
    TermCount,
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
TOTAL_TERM = ""
"""The ``term_counts`` row whose count is the number of articles counted (the N of IDF)."""


# --- LSH band keys ----------------------------------------------------------------------------------------

# Built once: statements made per call spend more time in SQLAlchemy than in the database.
_ADD_BANDS = _bands.insert()
_shared = func.count().label("shared")


def _numbered(prefix: str, values: Sequence) -> dict:
    """``values`` as the parameters ``{prefix}0`` ... of a lookup by keys.

    One placeholder per key, not an expanding IN list (rendered again at every execution), so each statement
    is compiled once per number of keys (see ``_raw``). The stage looks up by a bounded number of keys (its
    band count, its query terms), nearly always the same number for band keys: the statements stay few.
    """
    return {f"{prefix}{n}": value for n, value in enumerate(values)}


@functools.cache
def _candidates(slots: int):
    return (
        select(_bands.c.article_id, _shared)
        .where(
            _bands.c.band_key.in_([bindparam(f"k{n}") for n in range(slots)]),
            _bands.c.seen_epoch >= bindparam("since"),
            _bands.c.seen_epoch <= bindparam("until"),
            _bands.c.article_id != bindparam("exclude"),
        )
        .group_by(_bands.c.article_id)
        .order_by(_shared.desc(), _bands.c.article_id)
        .limit(bindparam("most"))
    )


def epoch(at: datetime) -> int:
    """Unix seconds of an aware datetime: the time column of ``lsh_bands``."""
    return int(at.timestamp())


def add_bands(session: Session, *, article_id: int, keys: Iterable[int], seen_at: datetime) -> None:
    """Index an article under its band keys (forty-odd rows, see ``_executemany``)."""
    keys = sorted(set(keys))
    if not keys:
        return
    values = {"article_id": article_id, "seen_epoch": epoch(seen_at)}
    _executemany(session, "bands", _ADD_BANDS, [{**values, "band_key": key} for key in keys])


_compiled: dict[tuple[str, str], tuple] = {}


def _raw(session: Session, name: str, statement, rows: list[dict], *, many: bool):
    """Run ``statement`` through the driver directly, compiled once per dialect.

    For the statements of the hot path: tens of rows per article (band keys, term counts, story keys), or
    one lookup per article, where SQLAlchemy's per-execution and per-row work would cost as much as the
    database's. The values must need no type conversion (integers and strings only).
    """
    connection = session.connection()
    key = (connection.dialect.name, name)
    if key not in _compiled:
        compiled = statement.compile(dialect=connection.dialect)
        # Constants in the statement (the 1 of "count + 1") are parameters too: keep their values.
        constants = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
        _compiled[key] = (compiled.string, compiled.positiontup, constants)
    sql, order, constants = _compiled[key]
    params: list[tuple[Any, ...]] | list[dict[str, Any]]
    if order:  # positional parameters (SQLite): tuples in the compiled order
        params = [tuple(row[c] if c in row else constants[c] for c in order) for row in rows]
    else:  # named parameters (psycopg)
        params = [{**constants, **row} for row in rows]
    return connection.exec_driver_sql(sql, params if many else params[0])


def _executemany(session: Session, name: str, statement, rows: list[dict]) -> None:
    """Write many rows with ``statement`` (see ``_raw``)."""
    if rows:
        _raw(session, name, statement, rows, many=True)


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
    distinct = sorted(set(keys))
    if not distinct:
        return []
    params = _numbered("k", distinct)
    params.update(
        since=epoch(since), until=epoch(until), exclude=-1 if exclude_id is None else exclude_id, most=limit
    )
    rows = _raw(session, f"candidates{len(distinct)}", _candidates(len(distinct)), [params], many=False)
    return [(row[0], row[1]) for row in rows]


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
    _raw(
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


def new_cluster(session: Session, *, at: datetime, article_id: int, agency: str | None) -> int:
    """A cluster of one: the article is its only member and its representative."""
    result = session.connection().execute(
        _NEW_CLUSTER,
        {
            "size": 1,
            "first_seen_at": at,
            "last_seen_at": at,
            "representative_id": article_id,
            "agency": agency,
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


_CLUSTER_HEAD = select(_clusters.c.representative_id, _clusters.c.agency).where(
    _clusters.c.id == bindparam("cluster")
)


def cluster_head(session: Session, *, cluster_id: int) -> ClusterHead | None:
    row = session.connection().execute(_CLUSTER_HEAD, {"cluster": cluster_id}).first()
    return ClusterHead(row[0], row[1]) if row else None


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


_MEMBERS = select(
    _articles.c.id,
    _articles.c.url,
    _articles.c.published_at,
    _articles.c.fetched_at,
    func.length(_articles.c.body),
).where(_articles.c.wire_cluster_id == bindparam("cluster"))


def cluster_members(session: Session, *, cluster_id: int) -> tuple[Member, ...]:
    """What the representative rule needs of every member."""
    rows = session.connection().execute(_MEMBERS, {"cluster": cluster_id})
    return tuple(Member(row[0], row[1], row[2] or row[3], row[4] or 0) for row in rows)


def set_cluster(session: Session, *, cluster_id: int, **values) -> None:
    session.connection().execute(_clusters.update().where(_clusters.c.id == cluster_id).values(**values))


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


# --- Stories ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryProfile:
    id: int
    size: int
    profile: dict[str, float]
    first_seen_at: datetime
    last_seen_at: datetime


_keys = cast(Table, StoryKey.__table__)
_key_shared = func.count().label("shared")


@functools.cache
def _story_candidates(slots: int):
    # As for band keys: one placeholder per key term (see ``_numbered``).
    return (
        select(_keys.c.story_id, _key_shared)
        .where(
            _keys.c.term.in_([bindparam(f"t{n}") for n in range(slots)]),
            _keys.c.seen_epoch >= bindparam("since"),
            _keys.c.seen_epoch <= bindparam("until"),
        )
        .group_by(_keys.c.story_id)
        .order_by(_key_shared.desc(), _keys.c.story_id)
        .limit(bindparam("most"))
    )


_stories = cast(Table, Story.__table__)
_PROFILES = select(
    _stories.c.id, _stories.c.size, _stories.c.profile, _stories.c.first_seen_at, _stories.c.last_seen_at
).where(_stories.c.id.in_(bindparam("ids", expanding=True)))


def story_candidates(
    session: Session, *, terms: Sequence[str], since: datetime, until: datetime, limit: int
) -> list[StoryProfile]:
    """Stories active within the window that share a key term, most shared first, with their profiles."""
    if not terms:
        return []
    distinct = sorted(set(terms))
    params = _numbered("t", distinct)
    params.update(since=epoch(since), until=epoch(until), most=limit)
    rows = _raw(
        session, f"story_candidates{len(distinct)}", _story_candidates(len(distinct)), [params], many=False
    ).all()
    if not rows:
        return []
    order = {row[0]: n for n, row in enumerate(rows)}
    found = session.connection().execute(_PROFILES, {"ids": list(order)})
    return sorted(
        (
            StoryProfile(row.id, row.size, parse_profile(row.profile), row.first_seen_at, row.last_seen_at)
            for row in found
        ),
        key=lambda story: order[story.id],
    )


_ADD_KEYS = _keys.insert()


def index_story(session: Session, *, story_id: int, terms: Sequence[str], at: datetime) -> None:
    """Replace a story's key terms (after its profile changed)."""
    session.connection().execute(_keys.delete().where(_keys.c.story_id == story_id))
    rows = [{"term": term, "seen_epoch": epoch(at), "story_id": story_id} for term in sorted(set(terms))]
    _executemany(session, "story_keys", _ADD_KEYS, rows)


_TOUCH_KEYS = (
    _keys.update()
    .where(_keys.c.story_id == bindparam("story"), _keys.c.seen_epoch < bindparam("at"))
    .values(seen_epoch=bindparam("at"))
)


def move_story_keys(session: Session, *, story_id: int, at: datetime) -> None:
    """Move a story's key times forward to ``at`` (those already later stay): the stage decides when."""
    _raw(session, "touch_keys", _TOUCH_KEYS, [{"story": story_id, "at": epoch(at)}], many=False)


def parse_profile(text: str | None) -> dict[str, float]:
    """A stored profile as a dict (an unreadable one as empty). The dict is shared: read it, never change it.

    Cached: a story's profile text changes only when a write-up (not a copy) joins it, and the same few
    active stories are compared with every new article.
    """
    return _parse_profile(text or "{}")


@functools.lru_cache(maxsize=2048)
def _parse_profile(text: str) -> dict[str, float]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, int | float) for v in value.values()):
        return {}
    return value


def new_story(
    session: Session, *, at: datetime, title: str | None, article_id: int, profile: dict[str, float]
) -> int:
    result = session.connection().execute(
        _stories.insert().values(
            title=title,
            representative_id=article_id,
            size=1,
            first_seen_at=at,
            last_seen_at=at,
            profile=json.dumps(profile, separators=(",", ":")),
        )
    )
    return new_id(result)


_when = bindparam("at", type_=UTCDateTime())
_GROW_STORY = (
    _stories.update()
    .where(_stories.c.id == bindparam("story"))
    .values(
        size=_stories.c.size + 1,
        last_seen_at=case((_stories.c.last_seen_at < _when, _when), else_=_stories.c.last_seen_at),
        first_seen_at=case((_stories.c.first_seen_at > _when, _when), else_=_stories.c.first_seen_at),
    )
)
_GROW_STORY_PROFILE = _GROW_STORY.values(profile=bindparam("profile"))


_STORY_LATEST = select(_stories.c.last_seen_at).where(_stories.c.id == bindparam("story"))


def story_last_seen(session: Session, *, story_id: int) -> datetime | None:
    """The time of the story's latest member."""
    return session.connection().scalar(_STORY_LATEST, {"story": story_id})


def grow_story(session: Session, *, story_id: int, at: datetime, profile: dict[str, float] | None) -> None:
    """Count one more member, in one statement; replace the profile when given."""
    if profile is None:
        session.connection().execute(_GROW_STORY, {"story": story_id, "at": at})
    else:
        session.connection().execute(
            _GROW_STORY_PROFILE,
            {"story": story_id, "at": at, "profile": json.dumps(profile, separators=(",", ":"))},
        )


# --- Term counts (IDF) --------------------------------------------------------------------------------------

_terms = cast(Table, TermCount.__table__)
_FREQUENCIES = select(_terms.c.term, _terms.c.documents).where(
    _terms.c.term.in_(bindparam("terms", expanding=True))
)


def document_frequencies(session: Session, *, terms: Iterable[str]) -> tuple[dict[str, int], int]:
    """How many counted articles hold each term, and how many articles were counted."""
    wanted = sorted(set(terms) | {TOTAL_TERM})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = session.connection().execute(_FREQUENCIES, {"terms": wanted[start : start + _CHUNK]})
        found.update({row[0]: row[1] for row in rows})
    total = found.pop(TOTAL_TERM, 0)
    return found, total


def count_terms(session: Session, *, terms: Iterable[str], at: datetime | None = None) -> None:
    """Count one more article holding ``terms`` (an upsert, safe against concurrent instances), fetched
    ``at`` (default now): the time retention reads to know when no kept article counted a term."""
    counted = epoch(at or datetime.now(UTC))
    rows = [
        {"term": term, "documents": 1, "last_counted": counted} for term in sorted(set(terms) | {TOTAL_TERM})
    ]
    _increment(session, _terms, "documents", rows)


def _increment(session: Session, table, column: str, rows: list[dict]) -> None:
    """Insert rows with a count of 1, or add 1 to the count of those that exist (an upsert); the latest
    ``last_counted`` stays."""
    _executemany(session, table.name, _upsert(session.get_bind().dialect.name, table, column), rows)


@functools.cache
def _upsert(dialect: str, table, column: str):
    # Built once per table: building it (its ``excluded`` columns above all) costs more than running it.
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    latest = case(
        (table.c.last_counted > statement.excluded.last_counted, table.c.last_counted),
        else_=statement.excluded.last_counted,
    )
    return statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={column: table.c[column] + 1, "last_counted": latest},
    )


_paragraphs = cast(Table, ParagraphCount.__table__)
_COMMON = select(_paragraphs.c.key).where(
    _paragraphs.c.key.in_(bindparam("keys", expanding=True)), _paragraphs.c.clusters >= bindparam("least")
)


def common_paragraphs(session: Session, *, keys: Sequence[int], min_clusters: int) -> frozenset[int]:
    """The paragraph keys already seen in at least ``min_clusters`` wire clusters."""
    if not keys:
        return frozenset()
    return frozenset(
        session.connection().scalars(_COMMON, {"keys": sorted(set(keys)), "least": min_clusters})
    )


# The wire level asks for every article, so these are hot statements with a fixed number of placeholders,
# each compiled once (see ``_raw``): sixteen keys for an article's paragraphs, 256 for its candidates' (or a
# long text's); a shorter list is padded with a repeated key.
_BOILERPLATE = {
    size: select(_paragraphs.c.key).where(
        _paragraphs.c.key.in_([bindparam(f"p{n}") for n in range(size)]),
        _paragraphs.c.clusters >= bindparam("least"),
    )
    for size in (16, 256)
}


def boilerplate_keys(session: Session, *, keys: Collection[int], min_clusters: int) -> set[int]:
    """Which of these paragraph keys are counted under at least ``min_clusters`` wire clusters (the caller's
    rule for boilerplate: ``monitor.dedupe.boilerplate.BOILERPLATE_CLUSTERS``)."""
    distinct = sorted(set(keys))
    found: set[int] = set()
    start = 0
    while start < len(distinct):
        size = 16 if len(distinct) - start <= 16 else 256
        chunk = distinct[start : start + size]
        params = {f"p{n}": chunk[n % len(chunk)] for n in range(size)}
        params["least"] = min_clusters
        found.update(
            row[0] for row in _raw(session, f"boilerplate{size}", _BOILERPLATE[size], [params], many=False)
        )
        start += size
    return found


def count_paragraphs(session: Session, *, keys: Iterable[int], at: datetime | None = None) -> None:
    """Count one more wire cluster holding these paragraphs, by an article fetched ``at`` (default now; see
    ``count_terms``)."""
    counted = epoch(at or datetime.now(UTC))
    _increment(
        session,
        _paragraphs,
        "clusters",
        [{"key": k, "clusters": 1, "last_counted": counted} for k in sorted(set(keys))],
    )


# --- Reading: monitor stories, monitor explain --------------------------------------------------------------


def list_stories(session: Session, *, since: datetime | None = None, limit: int | None = None) -> list[Story]:
    """Stories seen since ``since``, the most recently active first."""
    query = select(Story).order_by(Story.last_seen_at.desc(), Story.id.desc()).limit(limit)
    if since is not None:
        query = query.where(Story.last_seen_at >= since)
    return list(session.scalars(query))


def story_articles(session: Session, *, story_ids: Sequence[int]) -> list[Article]:
    """The articles of the given stories, with their feeds loaded."""
    found: list[Article] = []
    for start in range(0, len(story_ids), _CHUNK):
        query = (
            select(Article)
            .where(Article.story_id.in_(story_ids[start : start + _CHUNK]))
            .options(
                defer(Article.body),
                defer(Article.summary),  # listings need neither
                selectinload(Article.feeds).selectinload(ArticleFeed.feed),
            )
            .order_by(Article.id)
        )
        found.extend(session.scalars(query))
    return found


def clusters_by_id(session: Session, *, ids: Sequence[int]) -> dict[int, WireCluster]:
    found: dict[int, WireCluster] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update(
            {
                c.id: c
                for c in session.scalars(
                    select(WireCluster).where(WireCluster.id.in_(ids[start : start + _CHUNK]))
                )
            }
        )
    return found


def article_by_url(session: Session, *, url: str, canonical: str) -> Article | None:
    """The article stored under this URL (as given, or canonical)."""
    return session.scalar(
        select(Article)
        .where((Article.canonical_url == canonical) | (Article.url == url))
        .order_by(Article.id)
        .limit(1)
    )


def story(session: Session, *, story_id: int) -> Story | None:
    return session.get(Story, story_id)


def article(session: Session, *, article_id: int) -> Article | None:
    return session.get(Article, article_id)
