"""A running daemon applies a changed feeds.yaml, when the file changes and on SIGHUP: feeds added, removed
and changed take effect; an invalid file is logged at its line and the configuration in force stays; a CLI
command against the same database meanwhile writes no feeds of its own configuration."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from conftest import Workspace
from sqlalchemy import text
from support.httpserver import Route
from support.news import make_entries, rss
from support.waiting import wait_for
from test_daemon import start_daemon, stop

from monitor.config import Config, FeedConfig, Settings
from monitor.daemon.reload import describe_change
from monitor.store.db import open_database

RSS = {"Content-Type": "application/rss+xml"}
FRONT = (
    "<!DOCTYPE html><html><head><title>Front</title></head><body><main>"
    '<h2><a href="/world/2024/09/09/talks-resume-in-geneva">Talks resume in Geneva</a></h2>'
    "</main></body></html>"
)
ARTICLE = (
    "<html><head><title>Talks resume in Geneva</title></head><body><article><h1>Talks resume in Geneva"
    "</h1>"
    + "<p>Delegations met again in Geneva today to talk about the ceasefire terms.</p>" * 8
    + "</article></body></html>"
)
SLOW = "1h"  # an interval that never comes round during a test


def serve(web) -> None:
    for name in ("a", "b"):
        web.set(
            f"/{name}.xml", Route(rss(name.upper(), web.url("/"), make_entries(web, name, 1)), headers=RSS)
        )
    web.set("/front", Route(FRONT, headers={"Content-Type": "text/html"}))
    web.set("/world/2024/09/09/talks-resume-in-geneva", ARTICLE)


def config(web, feeds: list[dict], *, reload_every: str) -> dict:
    return {
        "settings": {
            "host_delay": "0s",
            "extract_workers": 0,
            "timeout": "5s",
            "poll_tick": "0.3s",
            "fetch_pages": False,
        },
        "watchlist": {"reload_every": reload_every},
        "feeds": feeds,
    }


class Edits:
    """Writes feeds.yaml, then makes the daemon see it: by the file's change, or by SIGHUP."""

    def __init__(self, path: Path, log_path: Path, trigger: str) -> None:
        self.path, self.log_path, self.trigger = path, log_path, trigger
        self.daemon = None
        self.bump = 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def write(self, data: dict | str) -> None:
        self.path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        self.bump += 1
        stat = self.path.stat()  # a visible change even within the file system's time granularity
        os.utime(self.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + self.bump * 1_000_000_000))

    def apply(self, data: dict | str, *, expect: str = "configuration reloaded") -> None:
        seen = self.log().count(expect)
        self.write(data)
        if self.trigger == "sighup":
            self.daemon.send_signal(signal.SIGHUP)
        assert wait_for(lambda: self.log().count(expect) > seen, timeout=30), self.log()


@pytest.mark.parametrize("trigger", ["file", "sighup"])
def test_a_running_daemon_applies_a_changed_configuration(web, workspace, tmp_path, trigger):
    serve(web)
    # Looked at every 0.3 s when the file's changes count; when only SIGHUP should, never during the test.
    reload_every = "0.3s" if trigger == "file" else SLOW
    a = {"name": "A", "url": web.url("/a.xml"), "interval": SLOW}
    b = {"name": "B", "url": web.url("/b.xml"), "interval": "1s"}
    front = {"name": "Front", "url": web.url("/front"), "interval": SLOW}  # a page, configured as a feed
    log_path = tmp_path / "daemon.log"
    edits = Edits(workspace.config_path, log_path, trigger)
    edits.write(config(web, [a, front], reload_every=reload_every))
    edits.daemon = daemon = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: "poll feed=Front outcome=failed" in edits.log(), timeout=60), edits.log()
        assert "not_a_feed" in edits.log()
        assert len(web.requests_for("/a.xml")) == 1

        # Added: polled with its settings.
        edits.apply(config(web, [a, front, b], reload_every=reload_every))
        assert wait_for(lambda: len(web.requests_for("/b.xml")) >= 2)  # interval 1s

        # A CLI command with another configuration, on the same database, meanwhile: it writes no feeds.
        other = Workspace(tmp_path / "other", workspace.database_url)
        other.root.mkdir()
        other.write_config([{"name": "Stray", "url": web.url("/stray.xml")}])
        assert "Stray" not in {feed["name"] for feed in other.json("feeds")}
        other.cli("articles")

        # Changed: the page read as a page, at once; A's interval shortened takes effect now.
        edits.apply(
            config(web, [{**a, "interval": "1s"}, {**front, "kind": "page"}, b], reload_every=reload_every)
        )
        assert wait_for(lambda: "poll feed=Front outcome=ok" in edits.log()), edits.log()
        assert wait_for(lambda: len(web.requests_for("/a.xml")) >= 3)

        # Removed: B is no longer polled.
        edits.apply(
            config(web, [{**a, "interval": "1s"}, {**front, "kind": "page"}], reload_every=reload_every)
        )
        time.sleep(0.5)  # a poll of B already in flight may finish
        polled = len(web.requests_for("/b.xml"))
        time.sleep(2.5)
        assert len(web.requests_for("/b.xml")) == polled

        # Invalid: logged at its line; the configuration in force stays, and so does polling.
        broken = yaml.safe_dump(config(web, [a, b], reload_every=reload_every), sort_keys=False)
        broken = broken.replace("interval: 1s", "interval: often")
        edits.apply(broken, expect="configuration not reloaded")
        assert f"{workspace.config_path.name}:" in edits.log() and "invalid duration 'often'" in edits.log()
        a_polls = len(web.requests_for("/a.xml"))
        assert wait_for(lambda: len(web.requests_for("/a.xml")) >= a_polls + 2)
        assert len(web.requests_for("/b.xml")) == polled  # the broken file's B never took effect
    finally:
        code = stop(daemon)
    log = edits.log()
    assert code == 0, log
    assert "Traceback" not in log
    assert web.requests_for("/stray.xml") == []
    feeds = {feed["name"]: feed for feed in workspace.json("feeds")}
    assert "Stray" not in feeds
    assert feeds["B"]["enabled"] is False and feeds["Front"]["kind"] == "page"
    assert "Talks resume in Geneva" in {article["title"] for article in workspace.json("articles")}


DIGESTS = """\
feeds: []
watchlist:
  topics:
    - {{name: arms, title: {title}, query: missil*}}
digests:
{digests}"""
DIGEST = """\
  - name: {name}
    schedule: "{schedule}"
    topics: [arms]
    channels:
      slack: {{webhook_url: "http://127.0.0.1:9/hook"}}
"""


def test_digest_jobs_follow_the_reloaded_digests_and_their_titles_the_reloaded_watchlist(tmp_path, db):
    import asyncio

    from monitor.config import load_config
    from monitor.daemon.scheduler import Daemon, job_scheduler
    from monitor.pipeline import Pipeline

    path = tmp_path / "feeds.yaml"
    path.write_text(
        DIGESTS.format(title="Arms", digests=DIGEST.format(name="morning", schedule="30 7 * * *"))
    )

    async def scenario():
        scheduler = job_scheduler(asyncio.get_running_loop())
        async with Pipeline(load_config(path), db) as pipeline:
            daemon = Daemon(pipeline.config, db, pipeline, scheduler=scheduler)
            daemon.schedule()
            jobs = {job.id: job for job in scheduler.get_jobs()}
            assert {"poll-tick", "config-reload", "digest:morning", "digest-retries"} <= set(jobs)
            # The job is the daemon's counted wrapper of partial(_guarded, job, runner, metrics).
            titles = jobs["digest:morning"].func.__wrapped__.args[1]._titles

            path.write_text(
                DIGESTS.format(
                    title="Arms transfers",
                    digests=(
                        DIGEST.format(name="morning", schedule="0 8 * * *")
                        + DIGEST.format(name="evening", schedule="0 18 * * *")
                    ),
                )
            )
            assert await daemon.reload(force=True) is True
            jobs = {job.id: job for job in scheduler.get_jobs()}
            assert {"digest:morning", "digest:evening", "digest-retries"} <= set(jobs)
            assert "hour='8'" in str(jobs["digest:morning"].trigger)
            assert titles() == {"arms": "Arms transfers"}  # the runner's titles: the watchlist in force

            path.write_text(DIGESTS.format(title="Arms", digests="").replace("digests:\n", ""))
            assert await daemon.reload(force=True) is True
            assert not {job.id for job in scheduler.get_jobs()} & {
                "digest:morning",
                "digest:evening",
                "digest-retries",
            }

    asyncio.run(scenario())


def test_a_shorter_max_interval_brings_adaptive_feeds_forward_and_a_fixed_one_keeps_its_own():
    feeds = (
        FeedConfig(name="wire", url="https://example.org/wire.xml"),
        FeedConfig(name="weekly", url="https://example.org/weekly.xml", interval=timedelta(hours=6)),
    )
    old = Config(feeds=feeds)
    new = Config(feeds=feeds, settings=Settings(max_interval=timedelta(hours=2)))
    change = describe_change(old, new)
    assert change.due_by == {"wire": timedelta(hours=2)}
    quicker = Config(feeds=feeds, settings=Settings(min_interval=timedelta(minutes=1)))
    assert describe_change(old, quicker).due_by == {}  # the next poll of each uses it anyway


def fetch_config(web, feeds: list[dict], **settings) -> dict:
    return {
        "settings": {
            "host_delay": "0s",
            "extract_workers": 0,
            "timeout": "10s",
            "poll_tick": "0.3s",
            "fetch_pages": False,
            **settings,
        },
        "feeds": feeds,
    }


def test_fetch_settings_apply_at_once_on_sighup(web, workspace, tmp_path):
    """User-Agent, contact and size limits are built into the fetcher: a reload builds a new one, and the
    very next request carries the new values, without a restart."""
    feed = rss("A", web.url("/"), make_entries(web, "a", 1)) + "<!--" + "padding " * 400 + "-->"  # over 3 KB
    web.set("/a.xml", Route(feed, headers=RSS))
    a = {"name": "A", "url": web.url("/a.xml"), "interval": "1s"}
    log_path = tmp_path / "daemon.log"
    edits = Edits(workspace.config_path, log_path, "sighup")
    edits.write(fetch_config(web, [a], contact="old-desk@example.org", config_check_every=SLOW))
    edits.daemon = daemon = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: "poll feed=A outcome=ok" in edits.log(), timeout=60), edits.log()
        assert "old-desk@example.org" in web.requests_for("/a.xml")[0].headers["user-agent"]

        edits.apply(
            fetch_config(web, [a], contact="new-desk@example.org", max_bytes="3KB", config_check_every=SLOW)
        )
        before = len(web.requests_for("/a.xml"))
        web.set("/a.xml", Route(feed.replace("padding", "more padding"), headers=RSS))  # no 304: read whole
        assert wait_for(lambda: "error=too_large" in edits.log(), timeout=30), edits.log()
        after = web.requests_for("/a.xml")[before:]
        assert after and all("new-desk@example.org" in r.headers["user-agent"] for r in after[1:])
        assert "new-desk@example.org" in after[-1].headers["user-agent"]
    finally:
        code = stop(daemon)
    log = edits.log()
    assert code == 0, log
    assert "Traceback" not in log and "next restart" not in log
    assert "fetch settings changed (contact, max_bytes)" in log


def test_a_poll_in_flight_finishes_with_the_fetcher_it_started_with(web, tmp_path, db):
    """Polls that start after a reload use the new fetcher; one in flight keeps the old one, which is
    closed only once that poll is done; a page over the new size limit is refused."""
    import asyncio

    from monitor.config import Config
    from monitor.pipeline import Pipeline

    web.set("/slow.xml", Route(rss("Slow", web.url("/"), make_entries(web, "s", 1)), headers=RSS, delay=1.5))
    web.set("/big.xml", Route(rss("Big", web.url("/"), make_entries(web, "b", 1)), headers=RSS))
    web.set(
        "/b/0",
        "<html><body><article>"
        + "<p>A long paragraph about the talks in Geneva.</p>" * 200
        + "</article></body></html>",
    )  # about 10 KB
    feeds = [
        {"name": "Slow", "url": web.url("/slow.xml")},
        {"name": "Big", "url": web.url("/big.xml"), "fetch_pages": True},
    ]
    before = Config.model_validate(fetch_config(web, feeds, user_agent="desk/1"))
    after = Config.model_validate(fetch_config(web, feeds, user_agent="desk/2", max_bytes="4KB"))

    async def scenario():
        async with Pipeline(before, db) as pipeline:
            pipeline.sync_feeds()
            claimed, _ = pipeline.claim(names=["Slow"], due_only=False)
            old = pipeline._tools
            in_flight = asyncio.create_task(pipeline.poll_feed(claimed[0]))
            while old.users == 0:  # the poll has pinned the tools in force
                await asyncio.sleep(0.01)
            pipeline.reconfigure(after)
            assert pipeline._tools is not old and old.retired and not pipeline._closing  # not under a poll
            big = await pipeline.poll(names=["Big"], due_only=False)
            slow = await in_flight
            while pipeline._closing:
                await asyncio.sleep(0.01)
            assert old.fetcher._client.is_closed and not pipeline._tools.fetcher._client.is_closed
            # extract_workers did not change: the workers are the same, still held by the tools in force.
            assert pipeline._tools.extractor is old.extractor and pipeline._tools._extractor.holders == 1
            return slow, big

    slow, big = asyncio.run(scenario())
    assert slow.outcome == "ok" and slow.new_articles == 1
    assert big[0].outcome == "ok" and big[0].new_articles == 1
    assert [r.headers["user-agent"] for r in web.requests_for("/slow.xml")] == ["desk/1"]
    assert [r.headers["user-agent"] for r in web.requests_for("/big.xml")] == ["desk/2"]
    assert web.requests_for("/b/0")[0].headers["user-agent"] == "desk/2"
    with db.session() as session:
        note = session.execute(text("SELECT body_note FROM articles WHERE url LIKE '%/b/0'")).scalar_one()
    assert "too_large" in note


def test_only_the_listener_waits_for_a_restart():
    from monitor.config import Config
    from monitor.daemon.reload import describe_change

    old = Config.model_validate({"settings": {"listen": "127.0.0.1:9100"}})
    fetching = Config.model_validate(
        {
            "settings": {
                "listen": "127.0.0.1:9100",
                "user_agent": "desk/2",
                "timeout": "5s",
                "extract_workers": 0,
                "per_host": 4,
            }
        }
    )
    assert describe_change(old, fetching).restart_needed == ()
    moved = Config.model_validate({"settings": {"listen": "127.0.0.1:9200"}})
    assert describe_change(old, moved).restart_needed == ("listen",)


def test_a_listen_address_changed_and_changed_back_needs_no_restart(db):
    # The warning compared the file with its previous version: put back to the address the daemon serves,
    # it still said a restart was needed. With --listen or MONITOR_LISTEN, settings.listen is not used at all.
    import asyncio

    from monitor.daemon.scheduler import Daemon, job_scheduler
    from monitor.pipeline import Pipeline

    serving = Config.model_validate({"settings": {"listen": "127.0.0.1:9100"}})
    elsewhere = Config.model_validate({"settings": {"listen": "127.0.0.1:9200"}})
    off = Config.model_validate({})

    async def scenario():
        scheduler = job_scheduler(asyncio.get_running_loop())
        async with Pipeline(serving, db) as pipeline:
            from_file = Daemon(serving, db, pipeline, scheduler=scheduler, listening=("127.0.0.1", 9100))
            given = Daemon(
                serving, db, pipeline, scheduler=scheduler, listening=("127.0.0.1", 9300), listen_given=True
            )
            return [from_file._listen_moves(c) for c in (serving, elsewhere, off)], [
                given._listen_moves(c) for c in (serving, elsewhere, off)
            ]

    from_file, given = asyncio.run(scenario())
    assert from_file == [False, True, True]
    assert given == [False, False, False]


def test_extraction_workers_are_replaced_when_extract_workers_change_and_shared_when_not():
    import asyncio
    from datetime import timedelta

    from monitor.config import Settings
    from monitor.ingest.fetchtools import FetchTools, Shared
    from monitor.runtime.metrics import NO_METRICS

    closed = []

    class Workers:
        def __init__(self, workers):
            self.workers = workers

        def close(self):
            closed.append(self)

    async def scenario():
        first = FetchTools(Settings(extract_workers=1), Shared(Workers(1)), metrics=NO_METRICS)
        first.pin()  # a poll in flight
        second = first.successor(Settings(extract_workers=2), Workers, metrics=NO_METRICS)
        assert second.extractor is not first.extractor and second.extractor.workers == 2
        assert first.retire() is False  # still in use: not closed yet
        assert first.unpin() is True
        await first.close()
        assert closed == [first.extractor]
        third = second.successor(
            Settings(extract_workers=2, timeout=timedelta(seconds=5)), Workers, metrics=NO_METRICS
        )
        assert third.extractor is second.extractor  # only the fetcher is new
        assert second.successor(Settings(extract_workers=2), Workers, metrics=NO_METRICS) is None
        assert second.retire() is True
        await second.close()
        assert closed == [first.extractor]  # the tools in force still hold these workers
        await third.close()
        assert closed == [first.extractor, second.extractor]

    asyncio.run(scenario())


def test_what_the_gate_learnt_of_slow_hosts_is_kept_by_a_reload_that_leaves_its_settings():
    import asyncio
    from datetime import timedelta

    from monitor.config import Settings
    from monitor.ingest.fetchtools import FetchTools, Shared
    from monitor.runtime.metrics import NO_METRICS

    class Workers:
        workers = 1

        def close(self):
            pass

    async def scenario():
        first = FetchTools(Settings(extract_workers=1), Shared(Workers()), metrics=NO_METRICS)
        first.fetcher.gate.observe("slow.example", 8.0)
        assert first.fetcher.gate.delay_for("slow.example") == 4.0
        kept = first.successor(
            Settings(extract_workers=1, timeout=timedelta(seconds=5)), Workers, metrics=NO_METRICS
        )
        assert kept.fetcher.gate is first.fetcher.gate  # the slow host keeps its pace
        off = kept.successor(
            Settings(extract_workers=1, timeout=timedelta(seconds=5), autothrottle=False),
            Workers,
            metrics=NO_METRICS,
        )
        assert off.fetcher.gate is not kept.fetcher.gate
        assert off.fetcher.gate.delay_for("slow.example") == 1.0  # host_delay for every host
        off.fetcher.gate.observe("slow.example", 8.0)
        assert off.fetcher.gate.delay_for("slow.example") == 1.0
        for tools in (first, kept, off):
            await tools.close()

    asyncio.run(scenario())


def test_every_instance_signalled_after_a_feed_is_added_reloads(web, workspace, tmp_path):
    # Several instances on one PostgreSQL, feeds.yaml edited and SIGHUP sent to each: each wrote the feeds
    # at once and found the new one missing; all but one failed on its unique name, logged an error and kept
    # the old configuration until the next check.
    if not workspace.database_url.startswith("postgresql"):
        pytest.skip("one daemon per SQLite file; several instances share a PostgreSQL database")
    serve(web)
    a = {"name": "A", "url": web.url("/a.xml"), "interval": SLOW}
    b = {"name": "B", "url": web.url("/b.xml"), "interval": SLOW}
    logs = [tmp_path / f"daemon{n}.log" for n in range(3)]
    edits = Edits(workspace.config_path, logs[0], "sighup")
    edits.write(config(web, [a], reload_every=SLOW))
    daemons = [start_daemon(workspace, log) for log in logs]
    try:
        for log in logs:
            assert wait_for(lambda log=log: "daemon started" in log.read_text(), timeout=60), log.read_text()
        edits.write(config(web, [a, b], reload_every=SLOW))
        for daemon in daemons:
            daemon.send_signal(signal.SIGHUP)
        for log in logs:
            assert wait_for(lambda log=log: "configuration reloaded" in log.read_text(), timeout=30), (
                log.read_text()
            )
        assert wait_for(lambda: len(web.requests_for("/b.xml")) >= 1, timeout=30)
    finally:
        for daemon in daemons:
            stop(daemon)
    for log in logs:
        text_of_log = log.read_text()
        assert " ERROR " not in text_of_log and "not reloaded" not in text_of_log, text_of_log
    db = open_database(workspace.database_url)
    with db.session() as session:
        names = session.execute(text("SELECT name FROM feeds ORDER BY name")).scalars().all()
    db.dispose()
    assert names == ["A", "B"]
