"""WebSub subscriptions: one row per feed subscribed at a hub (see monitor.ingest.websub for the protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from monitor.store.models import Feed, WebSubSubscription

PENDING, ACTIVE, DENIED = "pending", "active", "denied"


@dataclass(frozen=True)
class Subscription:
    id: int
    feed_id: int
    feed_name: str
    hub: str
    topic: str
    token: str
    secret: str
    state: str
    lease_until: datetime | None
    requested_at: datetime
    error: str | None = None
    last_push_at: datetime | None = None
    pushes: int = 0
    verified_at: datetime | None = None
    missed_at: datetime | None = None  # when a poll last found entries the hub had not pushed
    missed: int = 0  # how many such entries polls have found

    @property
    def trusted(self) -> bool:
        """Whether the hub is taken to push the feed's news: no poll has found entries it had not pushed, or
        it has pushed since the last poll that did."""
        return self.missed_at is None or (
            self.last_push_at is not None and self.last_push_at > self.missed_at
        )


def _snapshot(row: WebSubSubscription, feed_name: str) -> Subscription:
    return Subscription(
        row.id,
        row.feed_id,
        feed_name,
        row.hub,
        row.topic,
        row.token,
        row.secret,
        row.state,
        row.lease_until,
        row.requested_at,
        row.error,
        row.last_push_at,
        row.pushes,
        row.verified_at,
        row.missed_at,
        row.missed,
    )


def _with_feed() -> Select[WebSubSubscription, str]:
    return select(WebSubSubscription, Feed.name).join(Feed, Feed.id == WebSubSubscription.feed_id)


def of_feed(session: Session, feed_id: int) -> Subscription | None:
    found = session.execute(_with_feed().where(WebSubSubscription.feed_id == feed_id)).first()
    return _snapshot(*found) if found else None


def by_token(session: Session, token: str) -> Subscription | None:
    found = session.execute(_with_feed().where(WebSubSubscription.token == token)).first()
    return _snapshot(*found) if found else None


def all_subscriptions(session: Session) -> list[Subscription]:
    return [_snapshot(*row) for row in session.execute(_with_feed().order_by(Feed.name))]


def request(
    session: Session, *, feed_id: int, hub: str, topic: str, token: str, secret: str, now: datetime
) -> None:
    """Record a subscription being asked for (before the hub is asked: it may verify before it answers).

    A feed has one subscription: asking again (a renewal, a new hub) replaces its hub, topic, token and
    secret, and keeps the lease of the verified one until the hub verifies the new request."""
    row = session.scalars(select(WebSubSubscription).where(WebSubSubscription.feed_id == feed_id)).first()
    if row is None:
        session.add(
            WebSubSubscription(
                feed_id=feed_id,
                hub=hub,
                topic=topic,
                token=token,
                secret=secret,
                state=PENDING,
                requested_at=now,
                pushes=0,
            )
        )
        return
    row.hub, row.topic, row.token, row.secret, row.requested_at, row.error = (
        hub,
        topic,
        token,
        secret,
        now,
        None,
    )
    if row.state != ACTIVE:
        row.state = PENDING


def verified(
    session: Session, *, token: str, lease_until: datetime, now: datetime, poll_by: datetime | None = None
) -> None:
    """The hub verified the subscription; its feed is polled no later than ``poll_by`` (the renewal)."""
    session.execute(
        update(WebSubSubscription)
        .where(WebSubSubscription.token == token)
        .values(state=ACTIVE, verified_at=now, lease_until=lease_until, error=None)
    )
    if poll_by is not None:
        feed_id = (
            select(WebSubSubscription.feed_id).where(WebSubSubscription.token == token).scalar_subquery()
        )
        session.execute(
            update(Feed)
            .where(Feed.id == feed_id, (Feed.next_poll_at.is_(None)) | (Feed.next_poll_at > poll_by))
            .values(next_poll_at=poll_by)
        )


def set_state(session: Session, *, token: str, state: str, error: str | None = None) -> None:
    session.execute(
        update(WebSubSubscription).where(WebSubSubscription.token == token).values(state=state, error=error)
    )


def failed(session: Session, *, feed_id: int, error: str) -> None:
    """The hub refused or could not be reached: a verified lease still holds; a pending request is dropped."""
    session.execute(
        update(WebSubSubscription).where(WebSubSubscription.feed_id == feed_id).values(error=error)
    )
    session.execute(
        update(WebSubSubscription)
        .where(WebSubSubscription.feed_id == feed_id, WebSubSubscription.state == PENDING)
        .values(state=DENIED)
    )


def missed(session: Session, *, feed_id: int, entries: int, now: datetime) -> None:
    """A poll found ``entries`` entries of the feed that its hub had not pushed."""
    session.execute(
        update(WebSubSubscription)
        .where(WebSubSubscription.feed_id == feed_id)
        .values(missed_at=now, missed=WebSubSubscription.missed + entries)
    )


def pushed(session: Session, *, token: str, now: datetime) -> None:
    session.execute(
        update(WebSubSubscription)
        .where(WebSubSubscription.token == token)
        .values(last_push_at=now, pushes=WebSubSubscription.pushes + 1)
    )
