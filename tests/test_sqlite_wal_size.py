"""The SQLite write-ahead log does not keep the size of its largest burst while the daemon runs: once its
content is in the database it is cut back to ``SQLITE_WAL_LIMIT``. It kept its size until the last connection
closed, which a running daemon's never do: after a prune, the file beside the database held more than the
prune had given back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text, update

from monitor.store import db as db_module
from monitor.store.db import Database, upgrade
from monitor.store.models import Feed

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_wal_is_cut_back_after_a_burst_while_connections_stay_open(tmp_path: Path, monkeypatch):
    if not hasattr(db_module, "SQLITE_WAL_LIMIT"):
        pytest.fail("monitor.store.db.SQLITE_WAL_LIMIT is missing")
    limit = 256 * 1024
    monkeypatch.setattr(db_module, "SQLITE_WAL_LIMIT", limit)
    path = tmp_path / "monitor.db"
    wal = path.with_name("monitor.db-wal")
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    try:
        with db.engine.connect() as keeper:  # the daemon's pool: a connection that stays open
            keeper.execute(text("SELECT count(*) FROM feeds")).scalar()
            with db.session() as session:  # a burst: a prune, a first poll of many feeds
                session.add_all(
                    Feed(name=f"feed {n}", url=f"https://x.test/{n}", title="t" * 4000, created_at=NOW)
                    for n in range(1500)
                )
            assert wal.stat().st_size > 10 * limit
            for n in range(3):  # the everyday small writes that follow
                with db.session() as session:
                    session.execute(update(Feed).where(Feed.id == n + 1).values(title="short"))
            assert wal.stat().st_size <= limit
    finally:
        db.dispose()
