"""Digests and alerts that wait on their channel (Slack's 429s ask for minutes) run in threads of their own:
the feeds go on being polled meanwhile."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import yaml
from support.httpserver import LocalWebServer, Route
from support.news import make_entries, rss
from support.waiting import wait_for
from test_daemon import start_daemon, stop

from monitor.daemon.scheduler import JOB_THREAD_COUNT

RSS = {"Content-Type": "application/rss+xml"}


def test_alerts_waiting_out_slack_429s_do_not_stop_the_polls(web, workspace, tmp_path):
    # APScheduler ran them in the event loop's default executor, where the poll tick claims its feeds and the
    # polls parse them: as many alerts waiting as it has threads (CPUs + 4) and no feed was polled for
    # minutes, /healthz unhealthy, until Slack's waits were over.
    # News of minutes ago: alerts leave older news to the digest.
    web.set(
        "/talks.xml",
        Route(
            rss(
                "Talks",
                web.url("/"),
                make_entries(web, "talks", 2, since=datetime.now(UTC) - timedelta(minutes=5)),
            ),
            headers=RSS,
        ),
    )
    web.set("/ticker.xml", Route(rss("Ticker", web.url("/"), []), headers=RSS))
    waiting = min(32, (os.cpu_count() or 1) + 4) + 1  # one more than that executor has threads
    with LocalWebServer(["127.0.0.1"]) as hook:
        hook.set("/hooks/slack", Route(status=429, headers={"Retry-After": "100"}, body=b"rate_limited"))
        workspace.write_config(
            [
                {"name": "Talks", "url": web.url("/talks.xml"), "interval": "1h"},
                {"name": "Ticker", "url": web.url("/ticker.xml"), "interval": "1s"},
            ],
            poll_tick="0.5s",
        )
        digests = [
            {
                "name": f"desk {n}",
                "schedule": "0 7 1 1 *",  # New Year's Day alone: only the alerts run
                "channels": {"slack": {"webhook_url": hook.url("/hooks/slack")}},
                "alerts": {"min_score": 0, "channels": ["slack"], "every": "1s"},
            }
            for n in range(waiting)
        ]
        watchlist = {"topics": [{"name": "talks", "query": "delegations"}]}
        with workspace.config_path.open("a", encoding="utf-8") as file:
            file.write(yaml.safe_dump({"watchlist": watchlist, "digests": digests}, sort_keys=False))
        log = tmp_path / "daemon.log"
        daemon = start_daemon(workspace, log)
        try:
            # As many alerts wait at once as a pool of threads has; the others wait their turn.
            at_once = min(waiting - 1, JOB_THREAD_COUNT)
            assert wait_for(lambda: log.read_text().count("waiting 100s as asked") >= at_once, timeout=60), (
                log.read_text()
            )
            polled = len(web.requests_for("/ticker.xml"))
            assert wait_for(lambda: len(web.requests_for("/ticker.xml")) >= polled + 3, timeout=20), (
                "no poll while the alerts wait"
            )
            # An alert still waiting when its next check comes skips that check, and the log says whose.
            assert wait_for(
                lambda: "skipped: maximum number of running instances" in log.read_text(), timeout=20
            )
        finally:
            stop(daemon)
            if daemon.poll() is None:
                daemon.kill()
        skipped = [line for line in log.read_text().splitlines() if "skipped: maximum number" in line]
        assert all('Execution of job "alerts:desk ' in line for line in skipped), skipped
