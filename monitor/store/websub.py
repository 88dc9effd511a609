"""WebSub subscriptions: one row per feed subscribed at a hub (see monitor.ingest.websub for the protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, select, update
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
    feed_enabled: bool = True  # False once the feed left the configuration (or was turned off there)
    feed_kind: str = "rss"  # how the feed is read now (rss, sitemap, page)
    callback: str | None = None  # where the hub was asked to push; None: asked before it was kept

    @property
    def trusted(self) -> bool:
        """Whether the hub is taken to push the feed's news: no poll has found entries it had not pushed, or
        it has pushed since the last poll that did."""
        return self.missed_at is None or (
            self.last_push_at is not None and self.last_push_at > self.missed_at
        )


def _snapshot(row: WebSubSubscription, feed_name: str, feed_enabled: bool, feed_kind: str) -> Subscription:
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
        feed_enabled,
        feed_kind,
        row.callback,
    )


def _with_feed() -> Select[WebSubSubscription, str, bool, str]:
    return select(WebSubSubscription, Feed.name, Feed.enabled, Feed.kind).join(
        Feed, Feed.id == WebSubSubscription.feed_id
    )


def of_feed(session: Session, feed_id: int) -> Subscription | None:
    found = session.execute(_with_feed().where(WebSubSubscription.feed_id == feed_id)).first()
    return _snapshot(*found) if found else None


def by_token(session: Session, token: str) -> Subscription | None:
    found = session.execute(_with_feed().where(WebSubSubscription.token == token)).first()
    return _snapshot(*found) if found else None


def all_subscriptions(session: Session) -> list[Subscription]:
    return [_snapshot(*row) for row in session.execute(_with_feed().order_by(Feed.name))]


def request(
    session: Session,
    *,
    feed_id: int,
    hub: str,
    topic: str,
    token: str,
    secret: str,
    now: datetime,
    callback: str | None = None,
) -> None:
    """Record a subscription being asked for (before the hub is asked: it may verify before it answers).

    A feed has one subscription: asking again replaces its hub, topic, callback, token and secret. A renewal
    (the same hub, topic and callback) stays active on the lease verified before; a request at another hub, of
    another topic or at another callback is pending until its hub verifies it (the old hub, whose token is
    gone, pushes no more)."""
    row = session.scalars(select(WebSubSubscription).where(WebSubSubscription.feed_id == feed_id)).first()
    if row is None:
        session.add(
            WebSubSubscription(
                feed_id=feed_id,
                hub=hub,
                topic=topic,
                token=token,
                secret=secret,
                callback=callback,
                state=PENDING,
                requested_at=now,
                pushes=0,
            )
        )
        return
    if row.state != ACTIVE or (row.hub, row.topic, row.callback) != (hub, topic, callback):
        row.state = PENDING
    row.hub, row.topic, row.callback, row.token, row.secret, row.requested_at, row.error = (
        hub,
        topic,
        callback,
        token,
        secret,
        now,
        None,
    )


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


def denied(session: Session, *, token: str, error: str, now: datetime) -> None:
    """The hub denied the subscription, at ``now``: it counts as the time of the request the hub answered, from
    which a denied subscription waits before it is asked for again (a denial may come days after the request,
    when a hub ends a subscription it held)."""
    session.execute(
        update(WebSubSubscription)
        .where(WebSubSubscription.token == token)
        .values(state=DENIED, error=error, requested_at=now)
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


def forget(session: Session, *, feed_id: int) -> None:
    """The feed has no subscription any more: its token is unknown from now on."""
    session.execute(delete(WebSubSubscription).where(WebSubSubscription.feed_id == feed_id))
