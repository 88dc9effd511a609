"""Moving the wall times the database holds for later, when the clock they were reckoned by was wrong."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.store.models import Article, Delivery, Feed

_LATER = ((Feed, Feed.next_poll_at), (Delivery, Delivery.next_attempt_at), (Article, Article.page_retry_at))
"""What is due later, by a wall time: each feed's next poll, each delivery's next try, each page's retry."""


def later_times_moved(session: Session, *, by: timedelta, now: datetime) -> int:
    """Move every such time after ``now`` by ``by``, to ``now`` at the earliest; how many were moved."""
    moved = 0
    for model, column in _LATER:
        rows = session.execute(select(model.id, column).where(column > now)).all()
        if rows:
            session.execute(
                update(model),
                [
                    {"id": row_id, column.key: max(when + by, now)}
                    for row_id, when in rows
                    if when is not None
                ],
            )
        moved += len(rows)
    return moved
