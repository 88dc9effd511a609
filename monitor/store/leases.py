"""Leases on rows: a feed being polled, a delivery being sent. A lease names its owner, until when it holds,
and the process that took it (host, process id, the process's start time), so that an instance can tell a
lease left by a process of its own host that no longer runs (``monitor.runtime.instance.is_gone``) and clear
it at once instead of waiting for it to run out. Whether a holder is gone is the caller's question; these
statements only find and clear leases. None commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from monitor.runtime.instance import Holder
from monitor.store.models import Delivery, Feed
from monitor.store.results import rowcount

Leased = type[Feed] | type[Delivery]
"""The tables whose rows are leased."""

NO_LEASE: dict[str, Any] = {
    "lease_owner": None,
    "lease_until": None,
    "lease_host": None,
    "lease_pid": None,
    "lease_pid_started": None,
}
"""The lease columns of a row nobody holds."""


def taken_by(owner: str, holder: Holder | None) -> dict[str, Any]:
    """The lease columns naming ``owner`` and the process ``holder`` (``lease_until`` is the caller's)."""
    return {
        "lease_owner": owner,
        "lease_host": holder.host if holder else None,
        "lease_pid": holder.pid if holder else None,
        "lease_pid_started": holder.started if holder else None,
    }


@dataclass(frozen=True)
class HeldLease:
    """A row's running lease and the process that holds it."""

    row_id: int
    owner: str
    pid: int
    pid_started: int | None


def held_on_host(
    session: Session, model: Leased, *, host: str, now: datetime, where: Sequence[ColumnElement[bool]] = ()
) -> list[HeldLease]:
    """The running leases on rows of ``model`` (that also meet ``where``) taken by processes of ``host``."""
    query = select(model.id, model.lease_owner, model.lease_pid, model.lease_pid_started).where(
        model.lease_host == host, model.lease_pid.is_not(None), model.lease_until >= now, *where
    )
    held = []
    for row_id, owner, pid, pid_started in session.execute(query.order_by(model.id)):
        # A lease without an owner is no process's to describe, nor could ``clear_leases`` match it.
        if owner is not None and pid is not None:
            held.append(HeldLease(row_id, owner, pid, pid_started))
    return held


def clear_leases(session: Session, model: Leased, *, leases: Sequence[HeldLease]) -> list[int]:
    """Clear the given leases, each only if it is still the one described (its holder may have let it go,
    and another instance may have taken it since). Returns the ids of the rows whose lease was cleared."""
    cleared = []
    for lease in leases:
        result = session.execute(
            update(model)
            .where(model.id == lease.row_id, model.lease_owner == lease.owner, model.lease_pid == lease.pid)
            .values(**NO_LEASE)
        )
        if rowcount(result):
            cleared.append(lease.row_id)
    return cleared


def clear_leases_but(
    session: Session, model: Leased, *, owner: str, where: Sequence[ColumnElement[bool]] = ()
) -> None:
    """Clear every lease on rows of ``model`` (that also meet ``where``) not held by ``owner`` (a
    single-instance database after a crash: whoever holds them is not running)."""
    session.execute(
        update(model)
        .where(model.lease_owner.is_not(None), model.lease_owner != owner, *where)
        .values(**NO_LEASE)
    )
