"""Crashes: `kill -9` of a poll or of the daemon, then a restart. Nothing is lost, nothing is repeated, no
feed waits for a dead process's lease, and no helper process outlives the process that started it."""

from __future__ import annotations

import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from support.holders import lease_holders
from support.httpserver import Route
from support.news import article_html, make_entries, paragraphs_for, rss
from support.waiting import wait_for
from test_daemon import monitor_argv

from monitor.runtime import instance
from monitor.store.db import open_database
from monitor.store.models import Feed

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def monitor(workspace, *args, log):
    return subprocess.Popen(
        monitor_argv(workspace, *args),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid -> (parent pid, start time, command line)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                text = stat.read().decode("ascii", "replace")
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if fields[0] not in ("Z", "X"):
            found[int(name)] = (int(fields[1]), int(fields[19]), command)
    return found


def descendants(root: int) -> dict[int, tuple[int, str]]:
    """The living descendants of ``root``: pid -> (start time, command line)."""
    table = processes()
    family, grew = {root}, True
    while grew:
        grew = False
        for pid, (parent, _, _) in table.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    return {pid: table[pid][1:] for pid in family - {root} if pid in table}


def serve(web, name, count, *, delay=0.0):
    """A feed of ``count`` entries whose pages each take ``delay`` seconds to answer."""
    entries = make_entries(web, name, count)
    for i, entry in enumerate(entries):
        web.set(f"/{name}/{i}", Route(article_html(entry.title, paragraphs_for(entry.slug)), delay=delay))
    web.set(f"/{name}.xml", Route(rss(name, web.url("/"), entries), headers=RSS))
    return web.url(f"/{name}.xml"), entries


def test_kill_9_of_the_daemon_leaves_no_helper_process(web, workspace, tmp_path):
    url, _ = serve(web, "helpers", 3)
    workspace.write_config([{"name": "Helpers", "url": url}], extract_workers=2, poll_tick="1s")
    with open(tmp_path / "run.log", "ab") as log:
        daemon = monitor(workspace, "run", log=log)
    try:
        # The extraction workers exist once a page was extracted: the forkserver and its children.
        def helpers():
            family = descendants(daemon.pid)
            forkservers = [pid for pid, (_, command) in family.items() if "forkserver" in command]
            workers = [pid for pid, (parent, _, _) in processes().items() if parent in forkservers]
            return family if forkservers and workers else None

        family = wait_for(helpers, timeout=120)
        assert family, (tmp_path / "run.log").read_text()
    finally:
        daemon.kill()
        daemon.wait(timeout=30)

    def survivors():
        table = processes()
        return {
            pid: command
            for pid, (started, command) in family.items()
            if pid in table and table[pid][1] == started
        }

    assert wait_for(lambda: not survivors(), timeout=60), survivors()


def _story(n: int) -> str:
    return "\n\n".join(
        f"Part {p} of report {n}. Rescuers in mountain village {n} reached house {p} on Wednesday after the "
        f"landslide cut the only road, and volunteers carried {p + 4} elderly residents to the school gym."
        for p in range(8)
    )


@pytest.mark.parametrize("copy", ["exact", "near"])
def test_two_instances_placing_copies_of_one_story_at_once_make_one_cluster(database_url, copy):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's single writer serialises placements; the race needs PostgreSQL")
    from support.articles import extracted_article

    from monitor.config import DedupSettings
    from monitor.dedupe import deduplicate
    from monitor.store.models import Article as ArticleRow

    db = open_database(database_url)
    at = datetime(2024, 9, 9, 12, tzinfo=UTC)

    def place(n: int, outlet: int, body: str, start: threading.Barrier) -> int:
        url = f"https://outlet{outlet}.test/{n}"
        article = extracted_article(url, body, at, title=f"Report {n}")
        with db.session() as session:
            row = ArticleRow(
                url=url,
                canonical_url=url,
                title=article.title,
                published_at=at,
                fetched_at=at,
                body=body,
                body_source="extracted",
                content_hash=article.content_hash,
            )
            session.add(row)
            session.flush()
            start.wait(timeout=30)
            return deduplicate(
                session, article_id=row.id, article=article, settings=DedupSettings()
            ).wire_cluster_id

    try:
        for n in range(20):
            body = _story(n)
            other = body if copy == "exact" else f"Advertisement for outlet two, issue {n}.\n\n" + body
            start = threading.Barrier(2)
            with ThreadPoolExecutor(2) as pool:
                clusters = list(pool.map(place, [n, n], [1, 2], [body, other], [start, start]))
            assert clusters[0] == clusters[1], f"round {n}: two clusters for one story"
    finally:
        db.dispose()


def test_kill_9_of_a_poll_mid_work_then_a_restart_polls_every_feed_and_stores_each_article_once(
    web, workspace, tmp_path
):
    feeds = {name: serve(web, name, 4, delay=1.0) for name in ("alpha", "beta", "gamma")}
    workspace.write_config([{"name": name, "url": url} for name, (url, _) in feeds.items()], per_host=2)
    with open(tmp_path / "poll.log", "ab") as log:
        first = monitor(workspace, "poll", log=log)
    try:
        # Killed once pages are being fetched: the feeds are leased, some articles may be stored already. Two
        # pages answered, no more: the host answers two a second, and a feed is done only after its four.
        assert wait_for(
            lambda: (
                sum(
                    len(web.requests_for(f"/{name}/"))
                    + sum(len(web.requests_for(f"/{name}/{i}")) for i in range(4))
                    for name in feeds
                )
                >= 2
            ),
            timeout=60,
        ), (tmp_path / "poll.log").read_text()
        family = descendants(first.pid)
    finally:
        first.kill()
        first.wait(timeout=30)
    with open_database(workspace.database_url).session() as session:
        leased = [feed.name for feed in session.query(Feed) if feed.lease_until is not None]
    assert leased, "the kill should land while feeds are leased"

    report = {r["feed"]: r for r in workspace.json("poll")}
    assert {name: report[name]["outcome"] for name in feeds} == {name: "ok" for name in feeds}
    articles = workspace.json("articles")
    expected = {entry.url for _, entries in feeds.values() for entry in entries}
    assert sorted(a["url"] for a in articles) == sorted(expected)  # each once: nothing lost, nothing twice
    assert all(a["body_source"] == "extracted" for a in articles)
    # Nothing the killed poll started lives on.
    assert wait_for(
        lambda: (
            not any(
                pid in processes() and processes()[pid][1] == started for pid, (started, _) in family.items()
            )
        ),
        timeout=60,
    )


def _lease(workspace, name: str, holder: instance.Holder, minutes: int = 30) -> None:
    db = open_database(workspace.database_url)
    with db.session() as session:
        session.execute(
            update(Feed)
            .where(Feed.name == name)
            .values(
                lease_owner=f"{holder.host}:{holder.pid}",
                lease_until=datetime.now(UTC) + timedelta(minutes=minutes),
                lease_host=holder.host,
                lease_pid=holder.pid,
                lease_pid_started=holder.started,
            )
        )
    db.dispose()


def test_a_lease_of_a_dead_process_is_taken_over_and_a_live_ones_is_reported(web, workspace):
    feeds = {name: serve(web, name, 1) for name in ("dead", "alive", "elsewhere", "reused")}
    workspace.write_config([{"name": name, "url": url} for name, (url, _) in feeds.items()])
    workspace.cli("db", "upgrade")
    with lease_holders() as holders:
        _lease(workspace, "dead", holders["gone"])
        _lease(workspace, "alive", holders["alive"])
        _lease(workspace, "elsewhere", holders["elsewhere"])
        _lease(workspace, "reused", holders["reused"])

        report = {r["feed"]: r for r in workspace.json("poll")}
        assert report["dead"]["outcome"] == report["reused"]["outcome"] == "ok"
        for name in ("alive", "elsewhere"):
            assert (report[name]["outcome"], report[name]["error_kind"]) == ("held", "leased")
            assert "being polled by" in report[name]["error"] and "lease until" in report[name]["error"]
        assert not web.requests_for("/alive.xml") and not web.requests_for("/elsewhere.xml")

        # Asked only for feeds others hold, a poll polls nothing: it says so, and fails.
        result = workspace.cli("poll", "--feed", "alive", "--feed", "elsewhere", expect=1)
        assert "leased: being polled by" in result.stdout and "2 held" in result.stdout


def test_a_daemon_whose_extraction_worker_is_killed_goes_on_extracting(web, workspace, monkeypatch):
    """An extraction worker killed (by the operator, by the kernel when memory runs short) broke the
    daemon's pool for good: every later page failed, each feed with pages as an internal error. The workers
    are started again and the pages extracted; a page whose workers keep ending keeps the feed's text and is
    tried again later, like a page whose server failed."""
    import asyncio
    import signal

    from monitor import pipeline as pipeline_module
    from monitor.config import load_config
    from monitor.pipeline import Pipeline
    from monitor.runtime.metrics import PrometheusMetrics

    before_url, _ = serve(web, "before", 2)
    after_url, after = serve(web, "after", 2)
    workspace.write_config([{"name": "Before", "url": before_url}, {"name": "After", "url": after_url}])
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)
    metrics = PrometheusMetrics()

    async def scenario():
        async with Pipeline(config, db, metrics=metrics) as pipeline:
            pipeline.sync_feeds()
            first = await pipeline.poll(names=["Before"], due_only=False)
            for pid in list(pipeline.extractor._pool._processes):
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.2)
            second = await pipeline.poll(names=["After"], due_only=False)
            return first + second

    reports = asyncio.run(scenario())
    assert [(r.feed, r.outcome, r.new_articles) for r in reports] == [("Before", "ok", 2), ("After", "ok", 2)]
    articles = workspace.json("articles")
    assert [a["body_source"] for a in articles] == ["extracted"] * 4
    # An operator alerts on this (the OOM killer at work): one restart, however many pages saw the pool break.
    assert metrics.registry.get_sample_value("monitor_extraction_restarts_total", {"reason": "ended"}) == 1

    # A page whose workers end under it twice: the feed's text, the reason, and a retry scheduled.
    async def ends_twice(self, html, url, **_options):
        raise pipeline_module.ExtractionFailed(
            "its extraction worker ended 2 times (killed, out of memory or crashed)"
        )

    monkeypatch.setattr(pipeline_module.Extractor, "extract", ends_twice)
    later = make_entries(web, "later", 1)
    web.set("/after.xml", Route(rss("after", web.url("/"), after + later), headers=RSS))
    report = workspace.json("poll", "--feed", "After")
    db.dispose()
    assert report[0]["outcome"] == "ok" and report[0]["new_articles"] == 1
    stored = {a["url"]: a for a in workspace.json("articles")}[later[0].url]
    assert stored["body_source"] == "feed" and "page not extracted" in stored["body_note"]
    assert stored["page_retry_at"] is not None
