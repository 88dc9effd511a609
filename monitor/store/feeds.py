"""Feed rows: mirroring the configuration, claiming due feeds with a lease, recording each poll."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from monitor.config import FeedConfig
from monitor.store.models import ArticleFeed, Feed


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


def sync_feeds(session: Session, *, feeds: Sequence[FeedConfig], now: datetime) -> None:
    """Make the feeds table mirror the configuration. Feeds that left it are disabled, not deleted."""
    rows = {row.name: row for row in session.scalars(select(Feed))}
    configured = set()
    for feed in feeds:
        configured.add(feed.name)
        row = rows.get(feed.name)
        if row is None:
            session.add(Feed(name=feed.name, url=feed.url, kind=feed.kind, enabled=feed.enabled,
                             consecutive_failures=0, next_poll_at=now, created_at=now))
            continue
        if row.url != feed.url:
            # A new address is a new conversation with a server: forget validators, failures and holds.
            row.url = feed.url
            row.etag = row.last_modified = row.gone_at = row.retry_after_until = None
            row.consecutive_failures = 0
            row.next_poll_at = now
        row.kind = feed.kind
        row.enabled = feed.enabled
    for name, row in rows.items():
        if name not in configured and row.enabled:
            row.enabled = False


def claim_feeds(
    session: Session,
    *,
    now: datetime,
    owner: str,
    lease: timedelta,
    names: Sequence[str] | None = None,
    due_only: bool = True,
    limit: int | None = None,
) -> list[FeedSnapshot]:
    """Lease feeds for polling so that no other instance polls them meanwhile.

    Feeds that are gone (410), held by a Retry-After, or leased by a live instance are never claimed;
    ``due_only=False`` (a manual poll) ignores the schedule and the back-off, nothing else.
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
    claimed = []
    for feed in candidates:
        # Compare-and-set, so two instances on SQLite (where FOR UPDATE is a no-op) cannot both win.
        won = session.execute(
            update(Feed)
            .where(Feed.id == feed.id, or_(Feed.lease_until.is_(None), Feed.lease_until < now))
            .values(lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won:
            claimed.append(FeedSnapshot(feed.id, feed.name, feed.url, feed.kind, feed.etag, feed.last_modified,
                                        feed.consecutive_failures))
    return claimed


def feeds_on_hold(session: Session, *, now: datetime, names: Sequence[str] | None = None) -> list[Feed]:
    """Enabled feeds that cannot be polled now: gone, or waiting for a server's Retry-After."""
    query = select(Feed).where(
        Feed.enabled.is_(True),
        or_(Feed.gone_at.is_not(None), Feed.retry_after_until > now),
    )
    if names:
        query = query.where(Feed.name.in_(list(names)))
    return list(session.scalars(query.order_by(Feed.name)))


def record_poll(session: Session, *, feed_id: int, owner: str, record: PollRecord) -> None:
    """Store a poll's outcome on the feed's row and release the lease (if it is still ours), in one UPDATE:
    a daemon watching thousands of feeds records a poll every few milliseconds."""
    values: dict = {"last_polled_at": record.polled_at, "last_status": record.status,
                    "next_poll_at": record.next_poll_at, "retry_after_until": record.retry_after_until,
                    "lease_owner": case((Feed.lease_owner == owner, None), else_=Feed.lease_owner),
                    "lease_until": case((Feed.lease_owner == owner, None), else_=Feed.lease_until)}
    if record.succeeded:
        values.update(last_success_at=record.polled_at, consecutive_failures=0, last_error=None,
                      last_error_kind=None, last_warning=record.warning, etag=record.etag,
                      last_modified=record.last_modified)
        if record.title:
            values["title"] = record.title
    else:
        values.update(consecutive_failures=Feed.consecutive_failures + 1, last_error=record.error,
                      last_error_kind=record.error_kind)
    if record.gone:
        values["gone_at"] = record.polled_at
    session.execute(update(Feed).where(Feed.id == feed_id).values(values),
                    execution_options={"synchronize_session": False})


def release_leases(session: Session, *, owner: str) -> None:
    """Give back every lease this instance holds (on a clean shutdown)."""
    session.execute(
        update(Feed).where(Feed.lease_owner == owner).values(lease_owner=None, lease_until=None)
    )


@dataclass(frozen=True)
class FeedStatus:
    feed: Feed
    article_count: int


def feed_statuses(session: Session) -> list[FeedStatus]:
    """Every feed with its number of articles, enabled ones first."""
    counts = (
        select(ArticleFeed.feed_id, func.count().label("n")).group_by(ArticleFeed.feed_id).subquery()
    )
    rows = session.execute(
        select(Feed, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.feed_id == Feed.id)
        .order_by(Feed.enabled.desc(), Feed.name)
    )
    return [FeedStatus(feed, count) for feed, count in rows]


def next_due_at(session: Session) -> datetime | None:
    """When the earliest enabled feed is next due."""
    return session.scalar(
        select(func.min(Feed.next_poll_at)).where(Feed.enabled.is_(True), Feed.gone_at.is_(None))
    )


def release_leases_of_others(session: Session, *, owner: str) -> None:
    """Clear every lease not held by ``owner`` (a single-instance database after a crash)."""
    session.execute(
        update(Feed).where(Feed.lease_owner.is_not(None), Feed.lease_owner != owner)
        .values(lease_owner=None, lease_until=None)
    )
