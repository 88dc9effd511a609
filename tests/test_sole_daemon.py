"""One daemon per SQLite file: a second `monitor run` on the same file is refused in one line, naming the
daemon that runs, and the first goes on. The second used to start, take every lease of the first (as a daemon
does after a crash), poll the feeds the first was polling and send again the digest the first was sending."""

from __future__ import annotations

import fcntl
import signal
import subprocess

import pytest
from alembic import command
from support.httpserver import Route
from support.news import make_entries, rss
from support.waiting import wait_for
from test_daemon import monitor_argv, start_daemon, stop

from monitor.store.db import Database, alembic_config, current_revision
from monitor.store.schema import SCHEMA_REVISION

RSS = {"Content-Type": "application/rss+xml"}


def test_a_second_daemon_on_one_sqlite_file_is_refused_and_the_first_goes_on(web, workspace, tmp_path):
    if not workspace.database_url.startswith("sqlite"):
        pytest.skip("several instances may share a PostgreSQL database")
    web.set("/a.xml", Route(rss("A", web.url("/"), make_entries(web, "a", 2)), headers=RSS))
    workspace.write_config([{"name": "A", "url": web.url("/a.xml"), "interval": "1s"}], poll_tick="0.3s")
    log_path = tmp_path / "first.log"
    first = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: "poll feed=A outcome=ok" in log_path.read_text(), timeout=60), (
            log_path.read_text()
        )

        second = subprocess.run(
            monitor_argv(workspace, "run"),
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert second.returncode == 2, second.stdout + second.stderr
        assert f"another monitor daemon (pid {first.pid}) runs on" in second.stderr, second.stderr
        assert "daemon started" not in second.stderr
        assert "Traceback" not in second.stderr
        polls = log_path.read_text().count("poll feed=A ")
        assert wait_for(lambda: log_path.read_text().count("poll feed=A ") > polls, timeout=30)
    finally:
        assert stop(first) == 0, log_path.read_text()
    # Stopped (or killed), the first leaves the file to the next daemon.
    log_path = tmp_path / "next.log"
    following = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: "daemon started" in log_path.read_text(), timeout=60), log_path.read_text()
    finally:
        following.send_signal(signal.SIGKILL)
        following.wait(timeout=30)
    log_path = tmp_path / "after-kill.log"
    after_kill = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: "daemon started" in log_path.read_text(), timeout=60), log_path.read_text()
    finally:
        assert stop(after_kill) == 0, log_path.read_text()


def test_a_daemon_refused_leaves_the_running_ones_schema_as_it_is(workspace, tmp_path):
    # A new version started beside the running daemon of the version before migrated the database under it,
    # then was refused: the running daemon met a schema it does not know.
    if not workspace.database_url.startswith("sqlite"):
        pytest.skip("several instances may share a PostgreSQL database")
    workspace.write_config([])
    db = Database(workspace.database_url)
    command.downgrade(alembic_config(db), "-1")
    behind = current_revision(db)
    assert behind != SCHEMA_REVISION
    running = db.sqlite_path.with_name(f"{db.sqlite_path.name}-run.lock")
    with open(running, "a+") as lock:  # as the running daemon holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242")
        lock.flush()
        second = subprocess.run(monitor_argv(workspace, "run"), capture_output=True, text=True, timeout=60)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "another monitor daemon (pid 4242) runs on" in second.stderr, second.stderr
    assert "schema upgraded" not in second.stderr
    assert current_revision(db) == behind
    db.dispose()
