"""Advisory locks: instances sharing one PostgreSQL database take turns on a key, inside a transaction.

A key is a namespace (a small rank) and a value (a number or a string), folded into PostgreSQL's 64-bit
lock space with the rank in the top bits, so that keys of a lower rank always sort first. Locks are taken
in ascending order and held until the transaction ends: two transactions that each take keys rank by rank,
in order, never wait on each other in a circle. On SQLite every call is a no-op: its single writer already
lets one transaction write at a time.

Ranks in use: 0 and 1, a text's hash and its band keys (``monitor.dedupe.stage``); 2, the regrouping pass
(``monitor.dedupe.regrouping``); 3, schema migrations (``monitor.store.db``); 4, writing the configured
feeds (``monitor.store.feeds``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_RANK_BITS = 4
_VALUE_BITS = 63 - _RANK_BITS  # non-negative bigints: the rank orders them
_LOCK = text(
    "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM "
    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered) AS taken"
)
_DEADLOCK = "40P01"


def lock_key(rank: int, value: int | str) -> int:
    """The lock of ``value`` in namespace ``rank`` (0 to 15)."""
    if not 0 <= rank < 1 << _RANK_BITS:
        raise ValueError(f"lock rank {rank} out of range")
    digest = hashlib.blake2b(str(value).encode(), digest_size=8).digest()
    return rank << _VALUE_BITS | int.from_bytes(digest, "big") & ((1 << _VALUE_BITS) - 1)


def lock(session: Session, *, rank: int, values: Iterable[int | str]) -> None:
    """Hold the locks of ``values`` (in namespace ``rank``) until the session's transaction ends; wait for
    another transaction holding one of them to end first."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({lock_key(rank, value) for value in values})
    if keys:
        session.execute(_LOCK, {"keys": keys})


@contextmanager
def held(connection: Connection, *, rank: int, value: int | str, waiting: str) -> Iterator[None]:
    """Hold the lock of ``value`` for a whole block, across the transactions that run inside it on other
    connections (a schema migration commits its own): a session lock of ``connection``'s, released at the end,
    or by the server when the connection dies with its process. ``waiting`` is logged if another holds it.
    No-op on SQLite."""
    if connection.dialect.name != "postgresql":
        yield
        return
    key = lock_key(rank, value)
    if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
        log.info("%s", waiting)
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    connection.commit()  # the lock is the session's: the transaction that took it need not stay open
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        connection.commit()


def is_deadlock(error: BaseException) -> bool:
    """Whether the database broke a cycle of waiting transactions by failing this one's statement."""
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) == _DEADLOCK
