"""Page retries made due at once, for the tests that follow a page through its retry schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def make_page_retries_due(database_url: str) -> None:
    """As if the retry delay had passed."""
    from sqlalchemy import update

    from monitor.store.db import open_database
    from monitor.store.models import Article

    db = open_database(database_url, migrate=False)
    with db.session() as session:
        session.execute(
            update(Article)
            .where(Article.page_retry_at.is_not(None))
            .values(page_retry_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    db.engine.dispose()
