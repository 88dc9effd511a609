"""Schema discipline: only `run` and `db upgrade` migrate; every other command needs the schema it was
written for, creates nothing, and says in one line what is wrong and what fixes it."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from conftest import Workspace
from sqlalchemy import text

from monitor.store.db import Database, current_revision, head_revision, migrations_dir, upgrade

HEAD = head_revision()
PREVIOUS = ScriptDirectory(str(migrations_dir())).get_revision(HEAD).down_revision


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def at_revision(url: str, revision: str) -> None:
    db = Database(url)
    upgrade(db, revision)
    db.dispose()


@pytest.fixture
def bare(tmp_path, database_url) -> Workspace:
    """A workspace whose database nobody has migrated yet."""
    space = Workspace(tmp_path, database_url)
    space.write_config([{"name": "One", "url": "http://127.0.0.1:9/one.xml"}])
    return space


@pytest.mark.parametrize("command", [["feeds"], ["articles"], ["stories"], ["db", "current"], ["poll"]])
def test_a_missing_sqlite_database_is_refused_and_not_created(tmp_path, command):
    space = Workspace(tmp_path, f"sqlite:///{tmp_path / 'typo' / 'monitr.db'}")
    space.write_config([{"name": "One", "url": "http://127.0.0.1:9/one.xml"}])
    result = space.cli(*command, expect=2)
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "does not exist" in lines[0] and HEAD in lines[0]
    # The command to run names the database and the file this one was given (alone, it upgraded another).
    assert f"`monitor --config {space.config_path} --db {space.database_url} db upgrade`" in lines[0]
    assert not (tmp_path / "typo").exists()


def test_a_database_behind_is_refused_until_db_upgrade(bare):
    at_revision(bare.database_url, PREVIOUS)
    for command in (["feeds"], ["articles"], ["poll"], ["run", "--no-migrate"]):
        result = bare.cli(*command, expect=2)
        lines = error_lines(result)
        assert len(lines) == 1, (command, result.stderr)
        assert f"revision {PREVIOUS}" in lines[0] and f"needs {HEAD}" in lines[0], lines[0]
        assert f"--db {bare.database_url} db upgrade`" in lines[0]
    assert f"current: {PREVIOUS}" in bare.cli("db", "current").stdout  # showing where it stands is its job
    db = Database(bare.database_url)
    assert current_revision(db) == PREVIOUS  # nothing migrated it meanwhile
    db.dispose()

    upgraded = bare.cli("db", "upgrade")
    assert f"upgraded {PREVIOUS} -> {HEAD}" in upgraded.stdout
    assert [feed["name"] for feed in bare.json("feeds")] == ["One"]  # db upgrade writes the configured feeds


def test_an_empty_database_has_no_schema(bare):
    if bare.database_url.startswith("sqlite"):
        Database(bare.database_url).engine.connect().close()  # an empty file, as sqlite3 leaves one
    result = bare.cli("feeds", expect=2)
    assert len(error_lines(result)) == 1 and "has no schema" in result.stderr


def test_a_database_newer_than_the_code_is_refused_by_every_command(bare):
    at_revision(bare.database_url, HEAD)
    db = Database(bare.database_url)
    with db.session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    db.dispose()
    for command in (["feeds"], ["run"], ["db", "upgrade"], ["db", "current"]):
        result = bare.cli(*command, expect=2)
        lines = error_lines(result)
        assert len(lines) == 1, (command, result.stderr)
        assert "9999_from_the_future" in lines[0] and HEAD in lines[0] and "newer" in lines[0]
        assert "Traceback" not in result.stdout + result.stderr


def test_listing_commands_do_not_write_the_configured_feeds(bare):
    at_revision(bare.database_url, HEAD)
    assert bare.json("feeds") == []
    bare.cli("articles")
    assert bare.json("feeds") == []


def test_the_code_names_the_head_of_its_migrations():
    from monitor.store.schema import SCHEMA_REVISION

    assert SCHEMA_REVISION == HEAD, "a migration was added: name it in monitor.store.schema.SCHEMA_REVISION"


def test_checking_the_schema_imports_no_alembic(tmp_path):
    # The commands that only check the schema read one row; Alembic (with Mako and every dialect's DDL) is
    # for migrating.
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/m.db"
    at_revision(url, "heads")
    probe = (
        "import sys\n"
        "from monitor.store.db import Database\n"
        "from monitor.store.schema import require_current\n"
        f"require_current(Database({url!r}))\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('alembic', 'mako')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_current_database_is_not_handed_to_alembic(bare, monkeypatch):
    """Every daemon start migrates: a schema already current is answered from its revision alone."""
    from monitor.store import schema

    db = Database(bare.database_url)
    try:
        assert schema.migrate(db) in ((None, HEAD), (PREVIOUS, HEAD), (HEAD, HEAD))

        def refuse(*args, **kwargs):
            raise AssertionError("Alembic asked to upgrade a current schema")

        monkeypatch.setattr(schema, "upgrade", refuse)
        assert schema.migrate(db) == (HEAD, HEAD)
    finally:
        db.dispose()


def test_the_daemon_says_when_it_migrated_the_database(bare, caplog):
    """`monitor run` migrates as it starts: it said nothing of it, where `db upgrade` prints the step."""
    import logging

    from monitor.cli import AppState

    at_revision(bare.database_url, PREVIOUS)
    state = AppState(bare.config_path, bare.database_url)
    with caplog.at_level(logging.INFO, logger="monitor"):
        state.database(migrate=True).dispose()
        assert f"schema upgraded {PREVIOUS} -> {HEAD}" in caplog.text
        caplog.clear()
        state.database(migrate=True).dispose()  # current: nothing to say
    assert "schema upgraded" not in caplog.text


def test_a_daemon_whose_database_a_newer_version_migrated_stops_with_the_reason(workspace, tmp_path):
    """`monitor db upgrade` of a newer version under a running daemon: it went on writing to a schema it
    does not know. It stops, at its next check, with the reason and a failing status."""
    import subprocess

    from support.waiting import wait_for
    from test_daemon import start_daemon, stop

    if not workspace.database_url.startswith("sqlite"):
        pytest.skip("the schema of the shared PostgreSQL database is every test's")
    workspace.write_config([], config_check_every="1s", poll_tick="1s")
    log = tmp_path / "daemon.log"
    daemon = start_daemon(workspace, log)
    try:
        assert wait_for(lambda: "daemon started" in log.read_text(), timeout=60), log.read_text()
        db = Database(workspace.database_url)
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        db.dispose()
        code = daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop(daemon)
        raise
    text_of_log = log.read_text()
    assert code == 2, text_of_log
    assert "9999" in text_of_log and "this daemon stops" in text_of_log and "Traceback" not in text_of_log
