"""Migrations: upgrade from empty, match the models exactly, go down and up again; SQLite in WAL mode."""

from __future__ import annotations

import subprocess
import sys
import time

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from monitor.store.db import (
    SQLITE_BUSY_TIMEOUT,
    Database,
    alembic_config,
    current_revision,
    head_revision,
    open_database,
    upgrade,
)
from monitor.store.models import Base


def test_upgrade_from_empty_creates_every_table(database_url):
    db = open_database(database_url)
    assert current_revision(db) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert {"feeds", "articles", "article_feeds", "alembic_version"} <= tables
    db.dispose()


def test_models_and_migrations_do_not_drift(database_url):
    db = open_database(database_url)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    db.dispose()
    assert differences == [], f"models differ from migrations: {differences}"


def test_downgrade_to_empty_and_upgrade_again(database_url):
    db = open_database(database_url)
    command.downgrade(alembic_config(db), "base")
    assert current_revision(db) is None
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(db)
    assert current_revision(db) == head_revision()
    db.dispose()


def test_upgrade_twice_is_harmless(database_url):
    db = open_database(database_url)
    upgrade(db)
    assert current_revision(db) == head_revision()
    db.dispose()


_UPGRADE_AT = """
import sys, time
from monitor.store.db import open_database
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
open_database(sys.argv[1]).dispose()
"""


def test_processes_started_together_on_an_empty_database_migrate_one_at_a_time(database_url):
    # Instances started together (a service with two replicas, a daemon and a command): each found the
    # database empty and created its tables; all but the first failed ("table articles already exists" on
    # SQLite, a duplicate catalogue row on PostgreSQL). Now the others wait, then find the schema current.
    start = time.time() + 4  # every process imported and waiting by then, even on a busy machine
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE_AT, database_url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    db = Database(database_url)
    assert current_revision(db) == head_revision()
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'm.db'}")
    upgrade(db)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_a_new_sqlite_file_gives_freed_pages_back_in_steps(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA auto_vacuum")).scalar() == 2  # incremental
    db.dispose()


def test_a_new_sqlite_connection_opens_while_another_holds_the_write_lock(tmp_path):
    # A connection's set-up must not write: a reader opened while the writer is in a transaction (the
    # start of every poll) would wait for the writer, or fail with "database is locked" behind a long one.
    path = tmp_path / "m.db"
    made = Database(f"sqlite:///{path}")
    upgrade(made)
    made.dispose()
    writer = Database(f"sqlite:///{path}")
    reader = Database(f"sqlite:///{path}")
    with writer.write_session():  # BEGIN IMMEDIATE: the write lock, held until the block ends
        started = time.monotonic()
        with reader.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM feeds")).scalar() == 0
            assert connection.execute(text("PRAGMA auto_vacuum")).scalar() == 2
        assert time.monotonic() - started < SQLITE_BUSY_TIMEOUT / 2
    writer.dispose()
    reader.dispose()


def test_db_upgrade_command(workspace):
    workspace.write_config([])
    db = Database(workspace.database_url)
    command.downgrade(alembic_config(db), "base")  # the workspace comes migrated
    db.dispose()
    first = workspace.cli("db", "upgrade")
    assert "upgraded empty ->" in first.stdout
    second = workspace.cli("db", "upgrade")
    assert "already at revision" in second.stdout
    assert head_revision() in workspace.cli("db", "current").stdout


def test_db_upgrade_refuses_a_config_named_that_is_not_there(workspace):
    # `--config fedds.yaml db upgrade` (a typo) upgraded the database and wrote no feeds, without a word.
    assert not workspace.config_path.exists()
    result = workspace.cli("db", "upgrade", expect=2)
    assert "config file not found" in result.stderr and workspace.config_path.name in result.stderr


def test_a_database_other_than_sqlite_or_postgresql_is_refused_by_name(workspace):
    workspace.write_config([])
    workspace.database_url = "mysql://monitor@127.0.0.1:9/news"
    result = workspace.cli("feeds", expect=2)
    assert "mysql is not supported" in result.stderr and "PostgreSQL" in result.stderr
    assert "install the extra" not in result.stderr


def test_unreachable_database_is_a_clear_error(workspace):
    workspace.write_config([])
    workspace.database_url = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    result = workspace.cli("db", "upgrade", expect=2)
    assert "cannot read the schema of" in result.stderr and "hint" in result.stderr
