"""The regrouping pass: stories of the window split where their articles' neighbourhoods say two events.

The stage places each article as it arrives (``monitor.dedupe.stage``); two events of one kind that share
their names and frame can end up in one story, since the first write-ups of the second event look like the
first event's. Hours later, with both events' write-ups in, their neighbourhoods tell them apart
(``monitor.dedupe.regroup``). This pass reads the wire clusters of the stories active in the window, judges
them together, and splits each story whose members fall into two or more groups of write-ups
(``regroup.splits``): the group holding its first write-up keeps the story (else the largest), the others
become stories of their own, with
their profiles, key terms, sizes and headlines rebuilt so that later articles find them.

It only splits: a story the stage built is never merged with another here, and a lone article is never
taken out of its story. Delivery is by article, so the articles of a story split off are not sent again;
a later write-up of either event comes as an update of its own story. The daemon runs it every
``dedup.regroup_every``, before each scheduled digest and before an alert that has something to send;
``monitor regroup`` runs it at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.config import DedupSettings
from monitor.dedupe import regroup
from monitor.dedupe.stage import story_vector
from monitor.dedupe.stories import SCORING, StoryVector, merge_profile
from monitor.store import locks
from monitor.store import stories as stories_store

log = logging.getLogger(__name__)

REGROUP_LOCKS = 2
"""Lock rank (``monitor.store.locks``; the stage uses 0 and 1): one instance regroups at a time."""
MAX_CLUSTERS = 5000
"""Wire clusters judged in one pass, the most recently active stories first: bounds its time and memory."""


@dataclass(frozen=True)
class Split:
    """One group of write-ups taken out of a story into a new one."""

    from_story: int
    to_story: int
    clusters: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """What a pass judged: the window's clusters, their vectors, and the stories to split (story id -> its
    parts, each a list of positions in ``clusters``)."""

    clusters: list[stories_store.WindowCluster]
    vectors: list[StoryVector]
    leaving: dict[int, list[list[int]]]


def regroup_window(
    session: Session, *, settings: DedupSettings, now: datetime, limit: int = MAX_CLUSTERS
) -> list[Split]:
    """Split the window's stories where the neighbourhoods of their write-ups say two events (see above).

    Runs in the caller's transaction, which it does not commit. The daemon judges in a reading transaction
    and splits in a writing one (``plan_regroup``, ``apply_regroup``).
    """
    locks.lock(session, rank=REGROUP_LOCKS, values=["regroup"])
    return apply_regroup(session, plan_regroup(session, settings=settings, now=now, limit=limit), now=now)


def plan_regroup(
    session: Session, *, settings: DedupSettings, now: datetime, limit: int = MAX_CLUSTERS
) -> Plan:
    """Judge the window's stories, writing nothing: the seconds of reading and clustering a busy window
    takes are spent outside the write lock (on SQLite, every poll's storing waited them out)."""
    clusters = stories_store.window_clusters(session, since=now - settings.window, limit=limit)
    if len(clusters) < 2 * regroup.MIN_PART:
        return Plan(clusters, [], {})
    vectors = [
        story_vector(session, title=c.title, body=c.body, count=False, scoring=SCORING)[0] for c in clusters
    ]
    groups = regroup.regroup([vector.as_dict() for vector in vectors])
    return Plan(clusters, vectors, regroup.splits([c.story_id for c in clusters], groups))


def apply_regroup(session: Session, plan: Plan, *, now: datetime) -> list[Split]:
    """Split the stories ``plan`` judged, in the caller's (writing) transaction. A story whose clusters
    changed since it was judged (a write-up placed in it meanwhile, another instance's split) is left for the
    next pass: its parts and rebuilt profile would leave the newcomer out."""
    if not plan.leaving:
        return []
    locks.lock(session, rank=REGROUP_LOCKS, values=["regroup"])
    clusters, vectors = plan.clusters, plan.vectors
    judged: dict[int, set[int]] = {}
    for cluster in clusters:
        judged.setdefault(cluster.story_id, set()).add(cluster.cluster_id)
    now_in = stories_store.clusters_of_stories(session, story_ids=list(plan.leaving))
    done: list[Split] = []
    for story_id, parts in plan.leaving.items():
        if now_in.get(story_id, set()) != judged[story_id]:
            log.info("regroup: story %d changed while it was judged: left for the next pass", story_id)
            continue
        gone = {position for part in parts for position in part}
        for part in parts:
            head = _head(clusters, part)
            profile = _profile([vectors[n] for n in part])
            new_id = stories_store.new_story(
                session,
                at=clusters[head].first_seen_at,
                title=clusters[head].title,
                article_id=clusters[head].article_id,
                profile=profile,
            )
            moved = tuple(clusters[n].cluster_id for n in part)
            stories_store.move_clusters(session, cluster_ids=moved, story_id=new_id)
            stories_store.rebuild_story(
                session,
                story_id=new_id,
                profile=profile,
                title=clusters[head].title,
                representative_id=clusters[head].article_id,
            )
            stories_store.note_regrouped(
                session,
                cluster_ids=moved,
                evidence={
                    "regrouped": {"from_story": story_id, "at": now.isoformat(), "write_ups": len(part)}
                },
            )
            done.append(Split(story_id, new_id, moved))
        staying = [n for n, c in enumerate(clusters) if c.story_id == story_id and n not in gone]
        head = _head(clusters, staying)
        stories_store.rebuild_story(
            session,
            story_id=story_id,
            profile=_profile([vectors[n] for n in staying]),
            title=clusters[head].title,
            representative_id=clusters[head].article_id,
        )
    for split in done:
        log.info(
            "regroup: %d write-up(s) split from story %d into story %d",
            len(split.clusters),
            split.from_story,
            split.to_story,
        )
    return done


def _head(clusters: list[stories_store.WindowCluster], members: list[int]) -> int:
    """The member (a position in ``clusters``) a story is headed by: its first write-up."""
    return min(members, key=lambda n: (clusters[n].first_seen_at, clusters[n].cluster_id))


def _profile(vectors: list[StoryVector]) -> dict[str, float]:
    """A story's profile from its write-ups' vectors, as the stage builds it one member at a time."""
    profile: dict[str, float] = {}
    for size, vector in enumerate(vectors):
        profile = merge_profile(profile, size, vector).as_dict()
    return profile
