"""Stories: their profiles, the term keys that find them, and the reading of them for `monitor stories` and
`monitor explain`: the story level's queries (``monitor.dedupe.stage``). None commits.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.orm import Session, defer, selectinload

from monitor.store.hotpath import LatestPerKey, epoch, insert_many, run_compiled
from monitor.store.models import (
    Article,
    ArticleFeed,
    Story,
    StoryKey,
    UTCDateTime,
    WireCluster,
)
from monitor.store.results import new_id

_CHUNK = 500


# --- Stories ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryProfile:
    id: int
    size: int
    profile: dict[str, float]
    first_seen_at: datetime
    last_seen_at: datetime


_keys = cast(Table, StoryKey.__table__)
_stories = cast(Table, Story.__table__)
_LOOKUP_STEP = 10
"""Key lookups on SQLite are padded to a multiple of this many terms (at most ``QUERY_TERMS``, 100): a
statement for each size (``LatestPerKey``)."""


ROWS_PER_TERM = 20
"""Rows of one key term read per story lookup, the latest within the window. A term that many stories of the
window share (a country, a leader, a kind of event) had a row for each, and every lookup counted them all:
placing an article cost more with every story the window gathered (``bench/dedup.py --stage``: a lookup took
1.7 ms over the first thousand articles and 10.3 ms over the sixth, and went on growing; read this way it
stays at about 4 ms). The story an article belongs to shares its rarer terms too, which few stories hold, and
its keys follow its latest member, so the latest rows of each term find it; a story that only the commonest
terms link to would not reach the threshold on them. The evaluation on ECB+ places every article as before."""


# The latest ROWS_PER_TERM rows of each term (the primary key is term, time, story), as band keys are read.
_LATEST_KEYS = LatestPerKey(_keys, key="term", value="story_id", rows=ROWS_PER_TERM, step=_LOOKUP_STEP)


_ACTIVE_PROFILES = select(
    _stories.c.id, _stories.c.size, _stories.c.profile, _stories.c.first_seen_at, _stories.c.last_seen_at
).where(
    _stories.c.id.in_(bindparam("ids", expanding=True)), _stories.c.last_seen_at >= bindparam("active_since")
)


def story_candidates(
    session: Session,
    *,
    terms: Sequence[str],
    since: datetime,
    until: datetime,
    limit: int,
    key_lag: timedelta = timedelta(0),
) -> list[StoryProfile]:
    """Stories active within the window (a member at ``since`` or later, keys no later than ``until``) that
    share a key term, most shared first, with their profiles, at most ``limit``.

    ``key_lag`` is how far a story's key times may lag its latest member (the stage moves them forward only
    now and then): keys are read that far before ``since``, and the stories whose latest member is before
    ``since`` are left out by the lookup itself, so a lag costs rows read, never a story or a place among
    the ``limit``.
    """
    if not terms:
        return []
    # Most shared first, then the older story. Keys may lag their story's latest member (read from further
    # back, ``key_lag``), so the story's own latest time says whether it is active: that is read for the best
    # ranked only, with their profiles. Joined on stories in SQL for every row read (a thousand or more once
    # the window fills), it was half of the lookup (``bench/dedup.py --stage``).
    shared = _LATEST_KEYS.most_shared(
        session, sorted(set(terms)), since=epoch(since - key_lag), until=epoch(until)
    )
    ranked = [story_id for story_id, _ in shared]
    found: dict[int, StoryProfile] = {}
    for start in range(0, len(ranked), limit):
        wanted = ranked[start : start + limit]
        rows = session.connection().execute(_ACTIVE_PROFILES, {"ids": wanted, "active_since": since})
        for row in rows:
            found[row.id] = StoryProfile(
                row.id, row.size, parse_profile(row.profile), row.first_seen_at, row.last_seen_at
            )
        if len(found) >= limit:
            break
    return [found[story_id] for story_id in ranked if story_id in found][:limit]


def index_story(session: Session, *, story_id: int, terms: Sequence[str], at: datetime) -> None:
    """Index a new story under its key terms (``reindex_story`` keeps them up as its profile changes)."""
    seen = epoch(at)
    rows = [{"term": term, "seen_epoch": seen, "story_id": story_id} for term in sorted(set(terms))]
    insert_many(session, _keys, rows)


_DROP_KEYS = _keys.delete().where(
    _keys.c.story_id == bindparam("story"), _keys.c.term.in_(bindparam("terms", expanding=True))
)


def reindex_story(
    session: Session, *, story_id: int, before: Collection[str], after: Collection[str], at: datetime
) -> None:
    """A story's key terms after its profile changed from ``before`` to ``after``: the terms it lost are
    dropped, those it gained added at ``at`` (the story's latest time); the others keep their rows, whose
    times ``move_story_keys`` keeps up with the story's latest member.

    Not every row rewritten: a profile moves by a few terms when a write-up joins, and rewriting its hundred
    keys was a tenth of what placing an article cost; it also set them back to the time of an older
    write-up joining late, out of reach of the window of the story's later articles.
    """
    gone, gained = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    if gone:
        session.connection().execute(_DROP_KEYS, {"story": story_id, "terms": gone})
    rows = [{"term": term, "seen_epoch": epoch(at), "story_id": story_id} for term in gained]
    insert_many(session, _keys, rows)


_TOUCH_KEYS = (
    _keys.update()
    .where(_keys.c.story_id == bindparam("story"), _keys.c.seen_epoch < bindparam("at"))
    .values(seen_epoch=bindparam("at"))
)


def move_story_keys(session: Session, *, story_id: int, at: datetime) -> None:
    """Move a story's key times forward to ``at`` (those already later stay): the stage decides when."""
    run_compiled(session, "touch_keys", _TOUCH_KEYS, [{"story": story_id, "at": epoch(at)}], many=False)


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


_NEW_STORY = _stories.insert().values(size=1)
"""Built once: most articles of a poll of distinct news start a story each."""


def new_story(
    session: Session, *, at: datetime, title: str | None, article_id: int, profile: dict[str, float]
) -> int:
    result = session.connection().execute(
        _NEW_STORY,
        {
            "title": title,
            "representative_id": article_id,
            "first_seen_at": at,
            "last_seen_at": at,
            "profile": json.dumps(profile, separators=(",", ":")),
        },
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


# --- Regrouping (monitor.dedupe.regrouping) -----------------------------------------------------------------


@dataclass(frozen=True)
class WindowCluster:
    """A wire cluster of a story active in the window, with its representative's text."""

    cluster_id: int
    story_id: int
    article_id: int
    title: str | None
    body: str
    first_seen_at: datetime
    last_seen_at: datetime


def window_clusters(session: Session, *, since: datetime, limit: int) -> list[WindowCluster]:
    """The wire clusters of the stories whose latest member is at ``since`` or later, the most recently
    active stories first, at most ``limit`` clusters and whole stories only."""
    query = (
        select(
            WireCluster.id,
            WireCluster.story_id,
            WireCluster.representative_id,
            Article.title,
            Article.body,
            WireCluster.first_seen_at,
            WireCluster.last_seen_at,
        )
        .join(Story, Story.id == WireCluster.story_id)
        .join(Article, Article.id == WireCluster.representative_id)
        .where(Story.last_seen_at >= since)
        .order_by(Story.last_seen_at.desc(), Story.id.desc(), WireCluster.id)
        .limit(limit + 1)
    )
    rows = [
        WindowCluster(cluster, story, article, title, body, first, last)
        for cluster, story, article, title, body, first, last in session.execute(query)
        if story is not None and article is not None  # the joins ensure it: the test is for the type checker
    ]
    if len(rows) > limit:  # the last story may be cut short: leave it out whole
        last = rows[limit].story_id
        rows = [row for row in rows[:limit] if row.story_id != last]
    return rows


def clusters_of_stories(session: Session, *, story_ids: Sequence[int]) -> dict[int, set[int]]:
    """Story id -> the ids of the wire clusters in it now (stories without any are left out)."""
    found: dict[int, set[int]] = {}
    for start in range(0, len(story_ids), _CHUNK):
        chunk = list(story_ids[start : start + _CHUNK])
        query = select(WireCluster.story_id, WireCluster.id).where(WireCluster.story_id.in_(chunk))
        for story_id, cluster_id in session.execute(query):
            if story_id is not None:  # the filter ensures it: the test is for the type checker
                found.setdefault(story_id, set()).add(cluster_id)
    return found


def move_clusters(session: Session, *, cluster_ids: Sequence[int], story_id: int) -> None:
    """Put wire clusters, and every article in them, in another story."""
    for start in range(0, len(cluster_ids), _CHUNK):
        chunk = list(cluster_ids[start : start + _CHUNK])
        session.execute(update(WireCluster).where(WireCluster.id.in_(chunk)).values(story_id=story_id))
        session.execute(update(Article).where(Article.wire_cluster_id.in_(chunk)).values(story_id=story_id))


def rebuild_story(
    session: Session,
    *,
    story_id: int,
    profile: dict[str, float],
    title: str | None,
    representative_id: int,
) -> None:
    """A story after members moved in or out: its profile, headline and representative as given; its size
    and span counted from its articles and clusters; its key terms those of the profile, at its latest time."""
    size = select(func.count()).select_from(Article).where(Article.story_id == story_id).scalar_subquery()
    first = select(func.min(WireCluster.first_seen_at)).where(WireCluster.story_id == story_id)
    last = select(func.max(WireCluster.last_seen_at)).where(WireCluster.story_id == story_id)
    session.execute(
        update(Story)
        .where(Story.id == story_id)
        .values(
            size=size,
            first_seen_at=first.scalar_subquery(),
            last_seen_at=last.scalar_subquery(),
            title=title,
            representative_id=representative_id,
            profile=json.dumps(profile, separators=(",", ":")),
        )
    )
    latest = session.scalar(select(Story.last_seen_at).where(Story.id == story_id))
    session.execute(_keys.delete().where(_keys.c.story_id == story_id))
    if latest is not None:
        index_story(session, story_id=story_id, terms=tuple(profile), at=latest)


def note_regrouped(session: Session, *, cluster_ids: Sequence[int], evidence: dict) -> None:
    """Record on the write-ups (not the copies) of moved clusters why they are where they are now: no
    score decided it, the regrouping did (``monitor explain`` prints ``evidence``)."""
    text = json.dumps(evidence, separators=(",", ":"))
    for start in range(0, len(cluster_ids), _CHUNK):
        chunk = list(cluster_ids[start : start + _CHUNK])
        session.execute(
            update(Article)
            .where(Article.wire_cluster_id.in_(chunk), Article.wire_method.not_in(("exact", "minhash")))
            .values(story_score=None, story_evidence=text)
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


def story(session: Session, *, story_id: int) -> Story | None:
    return session.get(Story, story_id)


def article(session: Session, *, article_id: int) -> Article | None:
    return session.get(Article, article_id)
