"""The daemon as users run it: a subprocess polling on schedule, stopped by SIGTERM, resumed on restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from support.httpserver import Route
from support.news import make_entries, rss
from support.waiting import wait_for

from monitor.store import counts as counts_store
from monitor.store.db import open_database


def monitor_argv(workspace, *args: str) -> list[str]:
    """The command line of ``monitor ARGS`` on the workspace's config and database, in a process of its own."""
    return [
        sys.executable,
        "-m",
        "monitor",
        "--config",
        str(workspace.config_path),
        "--db",
        workspace.database_url,
        *args,
    ]


def start_daemon(workspace, log_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            monitor_argv(workspace, "run"),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


def counted_articles(workspace) -> int:
    """How many articles the stored term counts (the N of IDF) hold."""
    db = open_database(workspace.database_url)
    try:
        with db.session() as session:
            return counts_store.document_frequencies(session, terms=[])[1]
    finally:
        db.dispose()


def stop(process, sig=signal.SIGTERM, timeout=30):
    process.send_signal(sig)
    return process.wait(timeout=timeout)


def test_daemon_polls_when_due_stops_on_sigterm_and_resumes(web, workspace, tmp_path):
    entries = make_entries(web, "d", 3)
    web.set("/d.xml", Route(rss("D", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}))
    web.set("/slow.xml", Route(status=503, headers={"Retry-After": "600"}))
    workspace.write_config(
        [
            {"name": "Daily", "url": web.url("/d.xml"), "interval": "1h"},
            {"name": "Slow", "url": web.url("/slow.xml")},
        ],
        poll_tick="1s",
    )
    log_path = tmp_path / "daemon.log"
    daemon = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: len(web.requests_for("/d.xml")) >= 1 and len(web.requests_for("/d/2")) >= 1)
        assert wait_for(lambda: "poll feed=Daily outcome=ok" in log_path.read_text())
        # Deduplication's term counts, gathered behind (monitor.dedupe.tally), reach the store at the next
        # tick while the daemon runs, not only when it stops: other instances read them from there.
        assert wait_for(lambda: counted_articles(workspace) > 0, timeout=30)
        texts = {article["wire_cluster_id"] for article in workspace.json("articles")}
        assert counted_articles(workspace) == len(texts)  # one count per text, copies not counted again
        time.sleep(2.5)  # a few more ticks: nothing is due again within the hour
        assert len(web.requests_for("/d.xml")) == 1
        assert len(web.requests_for("/slow.xml")) == 1
    finally:
        code = stop(daemon)
    log = log_path.read_text()
    assert code == 0, log
    assert "poll feed=Daily outcome=ok status=200 new=3" in log
    assert "poll feed=Slow outcome=failed status=503" in log
    assert "daemon stopped" in log
    assert "Traceback" not in log

    articles = workspace.json("articles")
    assert len(articles) == 3 and all(a["body_source"] == "extracted" for a in articles)

    # A restart picks up where it left off: nothing is due, so nothing is fetched.
    web.clear_requests()
    daemon = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: log_path.read_text().count("daemon started") == 2)
        time.sleep(2.5)
    finally:
        assert stop(daemon, signal.SIGINT) == 0
    assert web.requests_for("/d.xml") == [] and web.requests_for("/slow.xml") == []
    feeds = {f["name"]: f for f in workspace.json("feeds")}
    assert feeds["Slow"]["last_error_kind"] == "http_5xx" and feeds["Slow"]["retry_after_until"]


def test_sigterm_during_a_slow_poll_leaves_a_consistent_store(web, workspace, tmp_path):
    entries = make_entries(web, "s", 2)
    web.set("/s.xml", Route(rss("S", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}))
    for i in range(2):
        web.set(f"/s/{i}", Route(f"<html><body><p>{'slow text ' * 80}</p></body></html>", delay=60))
    workspace.write_config(
        [{"name": "S", "url": web.url("/s.xml")}], poll_tick="1s", timeout="90s", shutdown_grace="2s"
    )
    log_path = tmp_path / "daemon.log"
    daemon = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: len(web.requests_for("/s.xml")) == 1)
        time.sleep(0.5)
    finally:
        started = time.monotonic()
        code = stop(daemon, timeout=60)
    assert code == 0
    assert time.monotonic() - started < 15  # a bounded grace period, then in-flight work is cancelled
    assert "stopping: 1 still under way after 2s cut short (poll S)" in log_path.read_text()
    # Nothing half-stored; the feed is free to be polled again by the next start.
    assert workspace.json("articles") == []
    feeds = workspace.json("feeds")
    assert json.dumps(feeds)  # readable
    web.set("/s/0", "<html><body><p>" + "fast text " * 80 + "</p></body></html>")
    web.set("/s/1", "<html><body><p>" + "fast text two " * 80 + "</p></body></html>")
    report = workspace.json("poll")
    assert report[0]["new_articles"] == 2
