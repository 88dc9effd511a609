"""Feed rows: mirroring the configuration, claiming due feeds with a lease, recording each poll."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import Table, and_, bindparam, case, func, or_, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from monitor.runtime.instance import Holder
from monitor.store import locks
from monitor.store.leases import NO_LEASE, HeldLease, clear_leases, clear_leases_but, held_on_host, taken_by
from monitor.store.models import ArticleFeed, Feed

# Declarative types ``__table__`` as any FromClause; this is a Table, and typed so its columns and DML are.
_feeds = cast(Table, Feed.__table__)


def _param(name: str, column: str) -> BindParameter:
    """A bound parameter typed as ``column`` (so dates are stored in the column's own format)."""
    return bindparam(name, type_=_feeds.c[column].type)


class ConfiguredFeed(Protocol):
    """What the feeds table mirrors of one configured feed (a ``feeds:`` entry of the configuration fits)."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def enabled(self) -> bool: ...


@dataclass(frozen=True)
class FeedSnapshot:
    """What the pipeline needs to poll one feed, read at claim time."""

    id: int
    name: str
    url: str
    kind: str
    etag: str | None
    last_modified: str | None
    consecutive_failures: int
    created_at: datetime | None = None  # since when the feed is watched (its rhythm counts from here)
    last_success_at: datetime | None = None  # None: never polled successfully before this poll
    due_at: datetime | None = None  # when this poll was scheduled (how late it comes tells an absence)
    unwatched: tuple[tuple[datetime, datetime], ...] = ()  # stretches its rhythm leaves out (start, end)
    fetched_whole_at: datetime | None = None  # when it last came with a body (not a 304) and was read in full
    silent_since: datetime | None = None  # its last publication, while it answers but has gone silent
    body_sha256: str | None = None  # the digest of its last document read in full (see ``PollRecord``)
    ttl_minutes: int | None = None  # the <ttl> of its last document read in full
    moved_to: str | None = None  # where its address moved for good (see ``PollRecord``)
    moved_since: datetime | None = None
    links_reach: str | None = None  # how far its links may go (see ``PollRecord``); None: not known yet


@dataclass(frozen=True)
class PollRecord:
    """The outcome of one poll, as stored on the feed's row. ``etag``/``last_modified`` are the validators to
    send next time (on a 304, the ones we already had unless the server sent new ones)."""

    polled_at: datetime
    next_poll_at: datetime
    status: int | None
    succeeded: bool
    error: str | None = None
    error_kind: str | None = None
    warning: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    retry_after_until: datetime | None = None
    gone: bool = False
    unwatched: tuple[tuple[datetime, datetime], ...] | None = None
    """The feed's unwatched stretches after this poll; None keeps the stored ones."""
    whole: bool = False
    """The feed came with a body (not a 304) and was read in full (nothing left waiting for the next poll):
    ``polled_at`` becomes its ``fetched_whole_at``."""
    silent_since: datetime | None = None
    """After a success: the feed's last publication if it has gone silent, else None (it publishes)."""
    body_sha256: str | None = None
    """After a success: the digest of the document read in full, to be known again unparsed; None when the
    next poll must read it (entries of it wait), or it came as a 304 (the stored one stays)."""
    ttl_minutes: int | None = None
    """After a success: the feed's <ttl> in minutes, as its last document read in full gave it (None: none)."""
    moved_to: str | None = None
    """After a success: where the feed's address moved for good (its permanent redirects' end; None: it did
    not), and ``moved_since`` since when it has (the caller's to keep while the target stays the same)."""
    moved_since: datetime | None = None
    links_reach: str | None = None
    """After a success: how far the feed's links may go, by the address that answered (the pipeline's
    ``Reach``: "any" or "public")."""


_FEED_SYNC_LOCKS = 4
"""The namespace of the lock that writing the configured feeds takes (``monitor.store.locks``)."""


def sync_feeds(
    session: Session,
    *,
    feeds: Sequence[ConfiguredFeed],
    now: datetime,
    due_by: Mapping[str, timedelta] | None = None,
) -> None:
    """Make the feeds table mirror the configuration. Feeds that left it are disabled, not deleted.

    ``due_by`` names feeds to be polled at the latest that long after their last poll (the caller's rule
    for an interval that changed: a shorter one takes effect now, not after the longer one has run out).

    Instances that sync at the same moment (started together, or all sent SIGHUP after an edit) take turns:
    each would otherwise find a new feed missing and insert it, and all but one fail on its unique name. On
    SQLite the caller's session must hold the write lock from its start (``Database.write_session``).
    """
    locks.lock(session, rank=_FEED_SYNC_LOCKS, values=["feeds"])
    rows = {row.name: row for row in session.scalars(select(Feed))}
    configured = set()
    for feed in feeds:
        configured.add(feed.name)
        row = rows.get(feed.name)
        if row is None:
            session.add(
                Feed(
                    name=feed.name,
                    url=feed.url,
                    kind=feed.kind,
                    enabled=feed.enabled,
                    consecutive_failures=0,
                    next_poll_at=now,
                    created_at=now,
                )
            )
            continue
        if row.url != feed.url:
            # A new address is a new conversation with a server: forget validators, failures and holds.
            row.url = feed.url
            row.etag = row.last_modified = row.body_sha256 = row.ttl_minutes = None
            row.moved_to = row.moved_since = None
            row.gone_at = row.retry_after_until = None
            row.consecutive_failures = 0
            row.next_poll_at = now
        elif row.kind != feed.kind:
            # Read another way (as a sitemap, a page): the old validators describe another reading.
            row.etag = row.last_modified = row.body_sha256 = None
            row.next_poll_at = now
        row.kind = feed.kind
        row.enabled = feed.enabled
        if due_by and feed.name in due_by and row.last_polled_at is not None:
            latest = row.last_polled_at + due_by[feed.name]
            if row.next_poll_at is None or latest < row.next_poll_at:
                row.next_poll_at = max(latest, now)
    for name, row in rows.items():
        if name not in configured and row.enabled:
            row.enabled = False


_CLAIM_CHUNK = 500  # ids per statement: well under every database's limit on bound parameters
_CLAIM = (
    update(_feeds)
    .where(
        _feeds.c.id.in_(bindparam("ids", expanding=True)),
        or_(_feeds.c.lease_until.is_(None), _feeds.c.lease_until < _param("now", "lease_until")),
    )
    # Named as the columns they fill, so that ``taken_by`` gives the holder's.
    .values({column: _param(column, column) for column in NO_LEASE})
    .returning(_feeds.c.id)
)


def claim_feeds(
    session: Session,
    *,
    now: datetime,
    owner: str,
    lease: timedelta,
    names: Sequence[str] | None = None,
    due_only: bool = True,
    limit: int | None = None,
    holder: Holder | None = None,
) -> list[FeedSnapshot]:
    """Lease feeds for polling so that no other instance polls them meanwhile.

    Feeds that are gone (410), held by a Retry-After, or leased by a live instance are never claimed;
    ``due_only=False`` (a manual poll) ignores the schedule and the back-off, nothing else. ``holder`` is the
    claiming process, named on the lease (see ``monitor.store.leases``).
    """
    query = select(Feed).where(
        Feed.enabled.is_(True),
        Feed.gone_at.is_(None),
        or_(Feed.lease_until.is_(None), Feed.lease_until < now),
        or_(Feed.retry_after_until.is_(None), Feed.retry_after_until <= now),
    )
    if due_only:
        query = query.where(or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now))
    if names:
        query = query.where(Feed.name.in_(list(names)))
    query = query.order_by(Feed.next_poll_at.asc().nulls_first(), Feed.id).limit(limit)
    candidates = list(session.scalars(query.with_for_update(skip_locked=True)))
    won: set[int] = set()
    for start in range(0, len(candidates), _CLAIM_CHUNK):
        ids = [feed.id for feed in candidates[start : start + _CLAIM_CHUNK]]
        # Compare-and-set, so two instances on SQLite (where FOR UPDATE is a no-op) cannot both win a feed.
        won.update(
            session.connection().scalars(
                _CLAIM,
                {"ids": ids, "now": now, "lease_until": now + lease, **taken_by(owner, holder)},
            )
        )
    return [
        FeedSnapshot(
            feed.id,
            feed.name,
            feed.url,
            feed.kind,
            feed.etag,
            feed.last_modified,
            feed.consecutive_failures,
            feed.created_at,
            feed.last_success_at,
            feed.next_poll_at,
            decode_spells(feed.unwatched),
            feed.fetched_whole_at,
            feed.silent_since,
            feed.body_sha256,
            feed.ttl_minutes,
            feed.moved_to,
            feed.moved_since,
            feed.links_reach,
        )
        for feed in candidates
        if feed.id in won
    ]


def feeds_on_hold(
    session: Session, *, now: datetime, names: Sequence[str] | None = None, owner: str | None = None
) -> list[Feed]:
    """Enabled feeds that cannot be polled now: gone, waiting for a server's Retry-After, or leased by an
    instance other than ``owner``."""
    leased = and_(
        Feed.lease_until >= now,
        or_(Feed.lease_owner.is_(None), Feed.lease_owner != owner) if owner is not None else true(),
    )
    query = select(Feed).where(
        Feed.enabled.is_(True),
        or_(Feed.gone_at.is_not(None), Feed.retry_after_until > now, leased),
    )
    if names:
        query = query.where(Feed.name.in_(list(names)))
    return list(session.scalars(query.order_by(Feed.name)))


# The lease is released only if it is still ours: another instance may have taken over an expired one.
_STILL_OURS = _feeds.c.lease_owner == _param("owner", "lease_owner")
_LEASE_RELEASED = {column: case((_STILL_OURS, None), else_=_feeds.c[column]) for column in NO_LEASE}
_POLL_COMMON = {
    "last_polled_at": _param("polled_at", "last_polled_at"),
    "last_status": _param("status", "last_status"),
    "next_poll_at": _param("next_poll_at", "next_poll_at"),
    "retry_after_until": _param("retry_after_until", "retry_after_until"),
    # Kept as they are when the poll has none (NULL): a title is only learnt, a feed only becomes gone.
    "title": func.coalesce(_param("new_title", "title"), _feeds.c.title),
    "gone_at": func.coalesce(_param("gone_at", "gone_at"), _feeds.c.gone_at),
}
# Built once: a daemon watching thousands of feeds records a poll every few milliseconds, many at a time.
_RECORD_SUCCESS = (
    update(_feeds)
    .where(_feeds.c.id == bindparam("feed_id"))
    .values(
        **_POLL_COMMON,
        **_LEASE_RELEASED,
        last_success_at=_param("polled_at", "last_success_at"),
        consecutive_failures=0,
        last_error=None,
        last_error_kind=None,
        last_warning=_param("warning", "last_warning"),
        etag=_param("new_etag", "etag"),
        last_modified=_param("new_last_modified", "last_modified"),
        unwatched=func.coalesce(_param("new_unwatched", "unwatched"), _feeds.c.unwatched),
        fetched_whole_at=func.coalesce(_param("whole_at", "fetched_whole_at"), _feeds.c.fetched_whole_at),
        silent_since=_param("silent_since", "silent_since"),
        body_sha256=_param("new_body_sha256", "body_sha256"),
        ttl_minutes=_param("new_ttl_minutes", "ttl_minutes"),
        moved_to=_param("moved_to", "moved_to"),
        moved_since=_param("moved_since", "moved_since"),
        links_reach=func.coalesce(_param("links_reach", "links_reach"), _feeds.c.links_reach),
    )
)
_RECORD_FAILURE = (
    update(_feeds)
    .where(_feeds.c.id == bindparam("feed_id"))
    .values(
        **_POLL_COMMON,
        **_LEASE_RELEASED,
        consecutive_failures=_feeds.c.consecutive_failures + 1,
        last_error=_param("error", "last_error"),
        last_error_kind=_param("error_kind", "last_error_kind"),
    )
)


def record_polls(session: Session, *, owner: str, records: Sequence[tuple[int, PollRecord]]) -> None:
    """Store the outcomes of many polls (feed id, record), each on its feed's row, releasing the leases
    still ours: one UPDATE for the successes and one for the failures, each executed for many rows."""
    succeeded, failed = [], []
    for feed_id, record in records:
        params = {
            "feed_id": feed_id,
            "owner": owner,
            "polled_at": record.polled_at,
            "status": record.status,
            "next_poll_at": record.next_poll_at,
            "retry_after_until": record.retry_after_until,
            "new_title": (record.title or None) if record.succeeded else None,
            "gone_at": record.polled_at if record.gone else None,
        }
        if record.succeeded:
            params.update(
                warning=record.warning,
                new_etag=record.etag,
                new_last_modified=record.last_modified,
                new_unwatched=None if record.unwatched is None else encode_spells(record.unwatched),
                whole_at=record.polled_at if record.whole else None,
                silent_since=record.silent_since,
                new_body_sha256=record.body_sha256,
                new_ttl_minutes=record.ttl_minutes,
                moved_to=record.moved_to,
                moved_since=record.moved_since,
                links_reach=record.links_reach,
            )
            succeeded.append(params)
        else:
            params.update(error=record.error, error_kind=record.error_kind)
            failed.append(params)
    connection = session.connection()
    for statement, rows in ((_RECORD_SUCCESS, succeeded), (_RECORD_FAILURE, failed)):
        if rows:
            connection.execute(statement, rows)


def encode_spells(spells: Sequence[tuple[datetime, datetime]]) -> str:
    """Spells as stored: a JSON list of [start, end] ISO 8601 pairs."""
    return json.dumps([[start.isoformat(), end.isoformat()] for start, end in spells], separators=(",", ":"))


def decode_spells(text: str | None) -> tuple[tuple[datetime, datetime], ...]:
    """The spells ``encode_spells`` stored; a value this code cannot read counts as none (it only makes a
    rate rougher for a week), so a row edited by hand does not stop its feed."""
    if not text:
        return ()
    try:
        pairs = json.loads(text)
        return tuple(
            (_aware(datetime.fromisoformat(start)), _aware(datetime.fromisoformat(end)))
            for start, end in pairs
            if isinstance(start, str) and isinstance(end, str)
        )
    except (ValueError, TypeError):
        return ()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def release_leases(session: Session, *, owner: str, feed_ids: Sequence[int] | None = None) -> None:
    """Give back every lease this instance holds (on a clean shutdown), or those of ``feed_ids``."""
    query = update(Feed).where(Feed.lease_owner == owner)
    if feed_ids is not None:
        query = query.where(Feed.id.in_(list(feed_ids)))
    session.execute(query.values(**NO_LEASE))


@dataclass(frozen=True)
class FeedStatus:
    feed: Feed
    article_count: int


def feed_names(session: Session) -> list[str]:
    """The names of the feeds the database holds, configured now or not."""
    return list(session.scalars(select(Feed.name).order_by(Feed.name)))


def feed_statuses(session: Session) -> list[FeedStatus]:
    """Every feed with its number of articles, enabled ones first."""
    counts = select(ArticleFeed.feed_id, func.count().label("n")).group_by(ArticleFeed.feed_id).subquery()
    rows = session.execute(
        select(Feed, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.feed_id == Feed.id)
        .order_by(Feed.enabled.desc(), Feed.name)
    )
    return [FeedStatus(row[0], int(row[1])) for row in rows]


def leases_held_on(session: Session, *, host: str, now: datetime) -> list[HeldLease]:
    """The running feed leases taken by processes of ``host`` (whether those still live is the caller's
    question)."""
    return held_on_host(session, Feed, host=host, now=now)


def break_leases(session: Session, *, leases: Sequence[HeldLease]) -> list[int]:
    """Clear the given feed leases, each only if it is still the one described. Returns the feeds' ids."""
    return clear_leases(session, Feed, leases=leases)


def release_leases_of_others(session: Session, *, owner: str) -> None:
    """Clear every feed lease not held by ``owner`` (a single-instance database after a crash)."""
    clear_leases_but(session, Feed, owner=owner)


@dataclass(frozen=True)
class FeedHealth:
    """What a digest's readers may need told of a configured feed: whether its news is reaching them."""

    name: str
    created_at: datetime | None
    last_success_at: datetime | None
    failing: bool  # its last poll failed
    last_error_kind: str | None
    gone_at: datetime | None
    silent_since: datetime | None


def feed_health(session: Session) -> list[FeedHealth]:
    """Every enabled feed's health, by name."""
    rows = session.execute(
        select(
            Feed.name,
            Feed.created_at,
            Feed.last_success_at,
            Feed.consecutive_failures > 0,
            Feed.last_error_kind,
            Feed.gone_at,
            Feed.silent_since,
        )
        .where(Feed.enabled.is_(True))
        .order_by(Feed.name)
    )
    return [FeedHealth(*row) for row in rows]


@dataclass(frozen=True)
class ScheduleState:
    """The feeds by state, and the polls that are due but not taken: what an alert on feeds failing or on a
    daemon falling behind its schedule reads (``monitor_feeds``, ``monitor_feeds_waiting``)."""

    # ok, silent (answers, publishes nothing), moved (answers through a permanent redirect), failing, gone,
    # new (never polled), disabled
    by_state: Mapping[str, int]
    waiting: int  # enabled feeds due now that no instance holds, nor a server's Retry-After
    oldest_due: datetime | None  # the due time of the longest-waiting of them (None: none, or never polled)


def schedule_state(session: Session, *, now: datetime) -> ScheduleState:
    """How the feeds stand at ``now`` (one pass over the table for the states, one for the waiting polls)."""
    state = case(
        (Feed.enabled.is_(False), "disabled"),
        (Feed.gone_at.is_not(None), "gone"),
        (Feed.consecutive_failures > 0, "failing"),
        (Feed.last_success_at.is_(None), "new"),
        (Feed.silent_since.is_not(None), "silent"),
        (Feed.moved_to.is_not(None), "moved"),
        else_="ok",
    )
    counted = session.execute(select(state, func.count()).group_by(state))
    by_state = {str(name): cast(int, count) for name, count in counted}
    # The feeds a claim at ``now`` would take (``claim_feeds``): never polled, or due.
    waiting, oldest = session.execute(
        select(func.count(), func.min(Feed.next_poll_at)).where(
            Feed.enabled.is_(True),
            Feed.gone_at.is_(None),
            or_(Feed.lease_until.is_(None), Feed.lease_until < now),
            or_(Feed.retry_after_until.is_(None), Feed.retry_after_until <= now),
            or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now),
        )
    ).one()
    return ScheduleState(by_state, int(waiting), oldest)
