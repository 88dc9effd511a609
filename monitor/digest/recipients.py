"""A delivery's recipients as the ledger keeps them, for a channel that sends one message to several (email).

Until a recipient takes the message, every address is owed it: a refusal of everyone is the server's, or
its relay's, and tried again for all. Once one took it, only those the server put off for now (a 4xx) are
owed it, for ``GIVE_UP_AFTER`` at most: not those refused for good (a 5xx), nor an address added to ``to``
since, which gets the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy.orm import Session

from monitor.digest.notify import Refusal
from monitor.store import deliveries as ledger
from monitor.store.db import Database

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(days=5)
"""How long after the first recipients took a message one put off is still sent it, as mail servers give up
on a message they cannot deliver (RFC 5321, 4.5.4.1: "at least 4-5 days"). A mailbox full for a week then
gets the next digests, not a retry every hour and a warning with it for as long as the ledger keeps it."""


class Unrecorded(NamedTuple):
    """What became of a delivery's recipients while the database failed: recorded once it answers again."""

    states: tuple[tuple[str, str, str | None], ...]
    at: datetime
    kept_message: bytes | None


class LedgerRecipients:
    """The ``Recipients`` of delivery ``delivery_id``, read from and written to the ledger at each ask."""

    def __init__(self, db: Database, delivery_id: int) -> None:
        self.db, self.delivery_id = db, delivery_id
        # Set when the database failed as the recipients were recorded: the runner records them with the
        # articles the channel took, once the database is back (without them, one put off never got it).
        self.unrecorded: Unrecorded | None = None

    def owed(self, addresses: Sequence[str]) -> tuple[str, ...]:
        now = datetime.now(UTC)
        with self.db.session() as session:
            states = ledger.recipients(session, delivery_id=self.delivery_id)
        taken = [state.at for state in states if state.status == ledger.ACCEPTED]
        if not taken:
            return tuple(addresses)
        put_off = [state for state in states if state.status == ledger.DEFERRED]
        if put_off and now - min(taken) > GIVE_UP_AFTER:
            self._give_up(put_off, now)
            return ()
        # In any case of the address: one mailbox whose spelling in ``to`` changed is one recipient.
        took = {state.address.casefold() for state in states if state.status == ledger.ACCEPTED}
        owed = {state.address.casefold() for state in put_off} - took
        return tuple(address for address in addresses if address.casefold() in owed)

    def _give_up(self, put_off: Sequence[ledger.RecipientState], now: datetime) -> None:
        """Record the recipients put off since ``GIVE_UP_AFTER`` as refused: they get the next messages."""
        with self.db.write_session() as session:
            ledger.record_recipients(
                session,
                delivery_id=self.delivery_id,
                states=[
                    (
                        state.address,
                        ledger.REFUSED,
                        f"given up after {GIVE_UP_AFTER.days} days put off: {state.reply}",
                    )
                    for state in put_off
                ],
                now=now,
            )
        for state in put_off:
            log.warning(
                "email: %s was put off for %d days (%s): it does not get this message, and gets the next ones "
                "(hint: check the mailbox, or remove the address from to:)",
                state.address,
                GIVE_UP_AFTER.days,
                state.reply,
            )

    def kept(self) -> bytes | None:
        with self.db.session() as session:
            return ledger.message_kept(session, delivery_id=self.delivery_id)

    def record(self, *, accepted: Sequence[str], refused: Sequence[Refusal], message: bytes) -> None:
        states = [(address, ledger.ACCEPTED, None) for address in accepted] + [
            (refusal.address, ledger.REFUSED if refusal.permanent else ledger.DEFERRED, refusal.reply)
            for refusal in refused
        ]
        # Kept only for those put off while others took it: a message no one took is rendered anew.
        put_off = accepted and any(not refusal.permanent for refusal in refused)
        unrecorded = Unrecorded(tuple(states), datetime.now(UTC), message if put_off else None)
        try:
            with self.db.session() as session:
                record_unrecorded(session, delivery_id=self.delivery_id, unrecorded=unrecorded)
        except Exception:
            self.unrecorded = unrecorded
            raise


def record_unrecorded(session: Session, *, delivery_id: int, unrecorded: Unrecorded) -> None:
    """Record what became of the recipients of ``delivery_id`` (``LedgerRecipients.record``)."""
    ledger.record_recipients(
        session,
        delivery_id=delivery_id,
        states=unrecorded.states,
        now=unrecorded.at,
        kept_message=unrecorded.kept_message,
    )
