"""The delivery ledger: which digest went to which channel for which period, and which articles it carried.

A delivery row is created by an INSERT that the unique (digest, kind, channel, period) constraint lets only
one daemon win; taking over a failed or abandoned row is an UPDATE guarded by its current state, so it
too has one winner. Articles count as delivered on a channel only once ``delivered_at`` is set, which
happens after the channel accepted the message that carried them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, distinct, exists, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from monitor.runtime.instance import Holder
from monitor.store.leases import NO_LEASE, HeldLease, clear_leases, clear_leases_but, held_on_host, taken_by
from monitor.store.models import Delivery, DeliveryItem, DeliveryRecipient
from monitor.store.results import rowcount

SENDING, SENT, FAILED, SUPERSEDED, EMPTY = "sending", "sent", "failed", "superseded", "empty"
UNCONFIRMED = "unconfirmed"
"""A failed attempt that may have reached the channel all the same (the connection dropped after the message
went out): the row keeps its Message-ID, is retried as it is, and no other delivery carries its items."""
ACCEPTED, DEFERRED, REFUSED = "accepted", "deferred", "refused"
"""The states of a delivery's recipient (an email's ``to``): taken, refused for now (tried again), for good."""
OWED = (SENDING, FAILED, UNCONFIRMED)
"""The states of a delivery whose articles the channel has not all taken yet, and may still take."""
_ID_CHUNK = 500  # deliveries counted per statement: well under every database's limit on bound parameters


@dataclass(frozen=True)
class Slot:
    """Where a delivery belongs: a digest (or its alerts) on one channel."""

    digest: str
    kind: str  # digest | alert
    channel: str


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    period: datetime
    attempts: int
    parts_sent: int
    message_id: str | None = None  # the id an earlier attempt that may have arrived went out with


@dataclass(frozen=True)
class ItemRef:
    article_id: int
    story_id: int | None
    topic: str


def claim_new(
    session: Session,
    *,
    slot: Slot,
    period: datetime,
    owner: str,
    now: datetime,
    lease: timedelta,
    holder: Holder | None = None,
) -> ClaimedDelivery | None:
    """Take the delivery of ``slot`` for ``period``, or None when it exists already (another daemon's).
    ``holder`` is the sending process, named on the lease (see ``monitor.store.leases``)."""
    row = Delivery(
        digest=slot.digest,
        kind=slot.kind,
        channel=slot.channel,
        period=period,
        status=SENDING,
        attempts=0,
        parts_sent=0,
        lease_until=now + lease,
        created_at=now,
        **taken_by(owner, holder),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return ClaimedDelivery(row.id, period, 0, 0)


def release(session: Session, *, delivery_id: int) -> None:
    """Remove a claimed delivery that turned out to carry nothing and has no items (an empty alert check)."""
    session.execute(
        delete(Delivery).where(
            Delivery.id == delivery_id,
            Delivery.status == SENDING,
            ~exists().where(DeliveryItem.delivery_id == delivery_id),
        )
    )


def claim_retry(
    session: Session,
    *,
    delivery_id: int,
    owner: str,
    now: datetime,
    lease: timedelta,
    holder: Holder | None = None,
) -> ClaimedDelivery | None:
    """Take over a failed delivery that is due, or one whose sender crashed (its lease ran out, or was broken
    because its process is gone)."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, _retryable(now))
        .values(status=SENDING, lease_until=now + lease, **taken_by(owner, holder))
    )
    if rowcount(result) != 1:
        return None
    row = session.get(Delivery, delivery_id, populate_existing=True)
    if row is None:  # the UPDATE just matched it in this transaction: only a concurrent delete could do this
        return None
    return ClaimedDelivery(row.id, row.period, row.attempts, row.parts_sent, row.message_id)


def renew_lease(session: Session, *, delivery_id: int, owner: str, until: datetime) -> bool:
    """Hold on to a delivery still being sent by ``owner`` until ``until``: a send that outlasts its lease
    (a channel's waits) is not taken for crashed and sent a second time beside it. False when the row is no
    longer ``owner``'s to send."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == SENDING, Delivery.lease_owner == owner)
        .values(lease_until=until)
    )
    return rowcount(result) == 1


def _retryable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Delivery.status.in_((FAILED, UNCONFIRMED)), Delivery.next_attempt_at <= now),
        # Sending, and its lease ran out or was broken (``break_leases``): its sender is gone.
        and_(Delivery.status == SENDING, or_(Delivery.lease_until < now, Delivery.lease_until.is_(None))),
    )


def leases_held_on(session: Session, *, digest: str, host: str, now: datetime) -> list[HeldLease]:
    """The running leases of ``digest``'s deliveries being sent by processes of ``host`` (whether those still
    live is the caller's question)."""
    return held_on_host(
        session, Delivery, host=host, now=now, where=[Delivery.status == SENDING, Delivery.digest == digest]
    )


def break_leases(session: Session, *, leases: Sequence[HeldLease]) -> list[int]:
    """Clear the given leases of deliveries being sent, each only if it is still the one described: the
    delivery is then due at once (``due_retries``). Returns the deliveries' ids."""
    return clear_leases(session, Delivery, leases=leases)


def release_leases_of_others(session: Session, *, owner: str) -> None:
    """Clear the lease of every delivery being sent by another than ``owner`` (a single-instance database
    after a crash): each is due at once."""
    clear_leases_but(session, Delivery, owner=owner, where=[Delivery.status == SENDING])


def due_retries(session: Session, *, slot: Slot, now: datetime) -> list[int]:
    """Deliveries of ``slot`` to try again now, oldest first."""
    query = select(Delivery.id).where(*_in_slot(slot), _retryable(now)).order_by(Delivery.period, Delivery.id)
    return list(session.scalars(query))


def waiting_retry(session: Session, *, slot: Slot, now: datetime) -> bool:
    """Whether a failed delivery of ``slot`` is backing off (alerts wait for it rather than pile up). Not one
    a recipient took: it owes its message to those put off, and the channel takes new ones."""
    query = select(Delivery.id).where(
        *_in_slot(slot),
        Delivery.status.in_((FAILED, UNCONFIRMED)),
        Delivery.next_attempt_at > now,
        ~_reached_someone(),
    )
    return session.scalars(query.limit(1)).first() is not None


def delivered_period(session: Session, *, slot: Slot, period: datetime) -> bool:
    """Whether ``slot`` has a delivery of ``period``, whatever its state (the unique row ``claim_new`` makes)."""
    query = select(Delivery.id).where(*_in_slot(slot), Delivery.period == period)
    return session.scalars(query.limit(1)).first() is not None


def latest_period(
    session: Session, *, slot: Slot, before: datetime, earlier: Sequence[str] = ()
) -> datetime | None:
    """The latest period before ``before`` that ``slot`` has a delivery of, whatever its state, under its
    digest's name or the ``earlier`` ones it had."""
    query = select(func.max(Delivery.period)).where(
        Delivery.digest.in_((slot.digest, *earlier)),
        Delivery.kind == slot.kind,
        Delivery.channel == slot.channel,
        Delivery.period < before,
    )
    return session.scalar(query)


def digest_names(session: Session) -> set[str]:
    """The names of the digests the ledger holds deliveries of."""
    return set(session.scalars(select(Delivery.digest).distinct()))


def supersede_failed(session: Session, *, slot: Slot, keep: int) -> int:
    """Mark the failed deliveries of ``slot`` as superseded: delivery ``keep`` carries their articles. Not
    one that a recipient took already: what it still owes is its message to the others, not articles."""
    result = session.execute(
        update(Delivery)
        .where(*_in_slot(slot), Delivery.status == FAILED, Delivery.id != keep, ~_reached_someone())
        .values(status=SUPERSEDED, next_attempt_at=None)
    )
    return rowcount(result)


def add_items(session: Session, *, delivery_id: int, items: Iterable[ItemRef]) -> None:
    """Freeze what a delivery carries, so that its retries send the same stories."""
    for item in dict.fromkeys(items):
        session.add(
            DeliveryItem(
                delivery_id=delivery_id, article_id=item.article_id, story_id=item.story_id, topic=item.topic
            )
        )
    session.flush()


def pending_items(session: Session, *, delivery_id: int) -> list[ItemRef]:
    """The items of a delivery that the channel has not accepted yet."""
    query = (
        select(DeliveryItem.article_id, DeliveryItem.story_id, DeliveryItem.topic)
        .where(DeliveryItem.delivery_id == delivery_id, DeliveryItem.delivered_at.is_(None))
        .order_by(DeliveryItem.id)
    )
    return [ItemRef(*row) for row in session.execute(query)]


def drop_carried_elsewhere(
    session: Session, *, delivery_id: int, digest: str, channel: str, kinds: Sequence[str]
) -> int:
    """Take out of delivery ``delivery_id`` the items not accepted yet whose article another delivery of
    ``digest`` on ``channel``, of one of ``kinds``, has delivered, or an older one is sending now (or
    retrying after an attempt that may have arrived). Returns how many."""
    other, its_item = aliased(Delivery), aliased(DeliveryItem)
    elsewhere = (
        select(its_item.article_id)
        .join(other, other.id == its_item.delivery_id)
        .where(
            other.digest == digest,
            other.channel == channel,
            other.kind.in_(kinds),
            other.id != delivery_id,
            its_item.delivered_at.is_not(None)
            | (other.status.in_((SENDING, UNCONFIRMED)) & (other.id < delivery_id)),
        )
    )
    result = session.execute(
        delete(DeliveryItem).where(
            DeliveryItem.delivery_id == delivery_id,
            DeliveryItem.delivered_at.is_(None),
            DeliveryItem.article_id.in_(elsewhere),
        )
    )
    return rowcount(result)


def never_sent_anything(session: Session, *, delivery_id: int) -> bool:
    """Whether a delivery carries no item and no channel has accepted a message of it: an empty digest
    still to send (``send_empty``), not one whose every item went out before a crash."""
    parts = session.scalars(select(Delivery.parts_sent).where(Delivery.id == delivery_id)).one()
    if parts:
        return False
    return (
        session.scalars(
            select(DeliveryItem.id).where(DeliveryItem.delivery_id == delivery_id).limit(1)
        ).first()
        is None
    )


def mark_delivered(
    session: Session,
    *,
    delivery_id: int,
    article_ids: Sequence[int],
    now: datetime,
    parts_sent: int | None = None,
) -> None:
    """Record that the channel accepted a message carrying ``article_ids``."""
    if article_ids:
        session.execute(
            update(DeliveryItem)
            .where(
                DeliveryItem.delivery_id == delivery_id,
                DeliveryItem.article_id.in_(list(article_ids)),
                DeliveryItem.delivered_at.is_(None),
            )
            .values(delivered_at=now)
        )
    if parts_sent is not None:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(parts_sent=parts_sent))


def finish(session: Session, *, delivery_id: int, status: str, now: datetime, message_id: str | None) -> None:
    """Close a delivery: sent (everything accepted) or empty (nothing new to send)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=status,
            sent_at=now if status == SENT else None,
            message_id=message_id,
            error=None,
            next_attempt_at=None,
            kept_message=None,
            **NO_LEASE,
        )
    )


@dataclass(frozen=True)
class RecipientState:
    """One recipient of a delivery: accepted, deferred or refused, with what the server said."""

    address: str
    status: str
    reply: str | None
    at: datetime


def recipients(session: Session, *, delivery_id: int) -> list[RecipientState]:
    """What the delivery's recipients became so far, in the order they were first recorded."""
    query = (
        select(
            DeliveryRecipient.address, DeliveryRecipient.status, DeliveryRecipient.reply, DeliveryRecipient.at
        )
        .where(DeliveryRecipient.delivery_id == delivery_id)
        .order_by(DeliveryRecipient.id)
    )
    return [RecipientState(*row) for row in session.execute(query)]


def record_recipients(
    session: Session,
    *,
    delivery_id: int,
    states: Sequence[tuple[str, str, str | None]],
    now: datetime,
    kept_message: bytes | None = None,
) -> None:
    """Record (address, status, reply) for recipients of a delivery; one that accepted stays accepted.
    ``kept_message``: the message to keep for the recipients still owed it."""
    # By the address in any case, as ``to`` is read: one mailbox, written otherwise since, is one recipient.
    known = {
        row.address.casefold(): row
        for row in session.scalars(
            select(DeliveryRecipient).where(DeliveryRecipient.delivery_id == delivery_id)
        )
    }
    for address, status, reply in states:
        row = known.get(address.casefold())
        if row is None:
            row = known[address.casefold()] = DeliveryRecipient(delivery_id=delivery_id, address=address)
            session.add(row)
        elif row.status == ACCEPTED:
            continue
        row.status, row.reply, row.at = status, reply, now
    if kept_message is not None:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(kept_message=kept_message))
    session.flush()


def message_kept(session: Session, *, delivery_id: int) -> bytes | None:
    """The message kept for the recipients a delivery still owes it to (``record_recipients``), if any."""
    return session.scalars(select(Delivery.kept_message).where(Delivery.id == delivery_id)).first()


def attempts_made(session: Session, *, delivery_id: int) -> int:
    """How many attempts of this delivery have failed so far."""
    # one(): the caller holds the delivery; a missing row is an error, not a count.
    return session.scalars(select(Delivery.attempts).where(Delivery.id == delivery_id)).one()


def fail(
    session: Session,
    *,
    delivery_id: int,
    error: str,
    next_attempt_at: datetime,
    maybe_sent_as: str | None = None,
) -> None:
    """Record a failed attempt and when to try again (the caller's back-off).

    ``maybe_sent_as``: the attempt may have reached the channel, with this Message-ID. The delivery is then
    ``unconfirmed`` for good: a later failure does not make it plain ``failed`` again.
    """
    attempts, message_id = session.execute(
        select(Delivery.attempts, Delivery.message_id).where(Delivery.id == delivery_id)
    ).one()
    message_id = maybe_sent_as or message_id
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=UNCONFIRMED if message_id else FAILED,
            message_id=message_id,
            attempts=attempts + 1,
            error=error[:2000],
            next_attempt_at=next_attempt_at,
            **NO_LEASE,
        )
    )


@dataclass(frozen=True)
class DeliveryRecord:
    """One row of the ledger as ``monitor deliveries`` shows it: what was (or is to be) sent, and how it went."""

    id: int
    digest: str
    kind: str
    channel: str
    period: datetime
    status: str
    attempts: int
    articles: int  # the articles the delivery carries
    delivered: int  # of those, the ones its channel accepted
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    message_id: str | None
    error: str | None
    recipients: tuple[RecipientState, ...] = ()  # an email's: who took it, who refused it


def history(
    session: Session,
    *,
    digest: str | Sequence[str] | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int | None = 50,
) -> list[DeliveryRecord]:
    """The latest deliveries (of one digest, of one kind, for periods from ``since``), newest period first, with
    how many articles each carries and how many its channel accepted. Alert checks that found nothing leave
    no row."""
    query = select(Delivery)
    if digest is not None:  # a digest's name, or its names (it and those it had)
        query = query.where(Delivery.digest.in_([digest] if isinstance(digest, str) else list(digest)))
    if kind is not None:
        query = query.where(Delivery.kind == kind)
    if since is not None:
        query = query.where(Delivery.period >= since)
    deliveries = list(
        session.scalars(query.order_by(Delivery.period.desc(), Delivery.id.desc()).limit(limit))
    )
    # Counted for the deliveries listed only: a year of digests and alerts holds every item they carried.
    counts: dict[int, tuple[int, int]] = {}
    ids = [delivery.id for delivery in deliveries]
    for start in range(0, len(ids), _ID_CHUNK):
        items = (
            select(
                DeliveryItem.delivery_id,
                # An article under two topics is two items, one article.
                func.count(distinct(DeliveryItem.article_id)),
                func.count(distinct(case((DeliveryItem.delivered_at.is_not(None), DeliveryItem.article_id)))),
            )
            .where(DeliveryItem.delivery_id.in_(ids[start : start + _ID_CHUNK]))
            .group_by(DeliveryItem.delivery_id)
        )
        counts.update({delivery_id: (int(a), int(d)) for delivery_id, a, d in session.execute(items)})
    addressed: dict[int, list[RecipientState]] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        addressees = (
            select(DeliveryRecipient)
            .where(DeliveryRecipient.delivery_id.in_(ids[start : start + _ID_CHUNK]))
            .order_by(DeliveryRecipient.id)
        )
        for recipient in session.scalars(addressees):
            addressed.setdefault(recipient.delivery_id, []).append(
                RecipientState(recipient.address, recipient.status, recipient.reply, recipient.at)
            )
    found = [(row, *counts.get(row.id, (0, 0))) for row in deliveries]
    return [
        DeliveryRecord(
            row.id,
            row.digest,
            row.kind,
            row.channel,
            row.period,
            row.status,
            row.attempts,
            articles,
            delivered,
            row.created_at,
            row.sent_at,
            row.next_attempt_at,
            row.lease_owner,
            row.lease_until,
            row.message_id,
            row.error,
            tuple(addressed.get(row.id, ())),
        )
        for row, articles, delivered in found
    ]


@dataclass(frozen=True)
class Owed:
    """Deliveries of one kind and channel not sent yet, in one status (sending, failed, unconfirmed)."""

    kind: str
    channel: str
    status: str
    count: int
    oldest_period: datetime


def owed(session: Session, *, digest: str | None = None) -> list[Owed]:
    """The deliveries still owed (being sent, or failed and waiting to be tried again), by kind, channel and
    status, with the period of the oldest of each: what an alert on a digest that is not getting out reads.
    Of one digest when given."""
    query = (
        select(Delivery.kind, Delivery.channel, Delivery.status, func.count(), func.min(Delivery.period))
        .where(Delivery.status.in_(OWED))
        .where(Delivery.digest == digest if digest is not None else true())
        .group_by(Delivery.kind, Delivery.channel, Delivery.status)
        .order_by(Delivery.kind, Delivery.channel, Delivery.status)
    )
    return [
        Owed(kind, channel, status, int(count), oldest)
        for kind, channel, status, count, oldest in session.execute(query)
    ]


def _reached_someone() -> ColumnElement[bool]:
    """SQL: a recipient of the delivery took its message (an email put off for others)."""
    return exists().where(DeliveryRecipient.delivery_id == Delivery.id, DeliveryRecipient.status == ACCEPTED)


def _in_slot(slot: Slot) -> tuple[ColumnElement[bool], ...]:
    return (Delivery.digest == slot.digest, Delivery.kind == slot.kind, Delivery.channel == slot.channel)
