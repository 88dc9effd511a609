"""Migrations: upgrade from empty, match the models exactly, go down and up again; SQLite in WAL mode."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from monitor.store.db import Database, alembic_config, current_revision, head_revision, open_database, upgrade
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


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'm.db'}")
    upgrade(db)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


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


def test_unreachable_database_is_a_clear_error(workspace):
    workspace.write_config([])
    workspace.database_url = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    result = workspace.cli("db", "upgrade", expect=2)
    assert "cannot read the schema of" in result.stderr and "hint" in result.stderr
