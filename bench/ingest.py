#!/usr/bin/env python
"""Ingest benchmark: the real ``monitor poll`` against local "remote" sites, with baselines from the same run.

    .venv/bin/python bench/ingest.py            # full run, a few minutes
    .venv/bin/python bench/ingest.py --quick    # smoke test, well under a minute

What it measures (see bench/README.md):

1. end to end: ``monitor poll --json`` as a subprocess polls F feeds x E entries on H loopback hosts
   (127.0.0.1..H, one port, so per-host limits act as on the internet); every response is delayed as a
   remote site's would be; article pages are real news HTML from ../shared/corpora (else synthetic).
   Articles per second, peak memory of the process tree, and a check that every article was stored.
2. naive baseline: the sequential httpx.get + feedparser.parse + httpx.get + trafilatura.extract loop a user
   would write, in this process, on a subset of the same feeds.
3. extraction limit: monitor.ingest.extract.extract_page alone on the same pages, one process, no network,
   times the number of CPUs.
4. many hosts, few pages, default settings: 120 feeds of 3 new articles on 120 hosts, polled with monitor's
   default politeness (concurrency 16, per_host 2, host_delay 1s), against the naive loop and the extraction
   rates of the same pages measured in the same run.
5. unchanged feeds: N one-entry feeds polled once (timed against extraction alone of their pages), then the
   timed second poll (all 304).

Prints a summary table with targets and PASS/FAIL; writes the same as JSON to bench/out/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sqlite3
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__, ("feedparser", "httpx", "trafilatura"))

import feedparser  # noqa: E402 - after the bootstrap, which may re-run us in the venv
import httpx  # noqa: E402 - after the bootstrap, which may re-run us in the venv
import trafilatura  # noqa: E402 - after the bootstrap, which may re-run us in the venv

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ingest_report import (  # noqa: E402
    Results,
    build_checks,
    print_table,
    say,
)
from _pages import Page, load_pages  # noqa: E402
from _processes import (  # noqa: E402
    PROXY_VARIABLES,
    BenchError,
    outcome_summary,
    poll_reports,
    run_monitor,
    write_config,
)
from _sites import StaticSites  # noqa: E402
from support.httpserver import Route, free_loopback_hosts  # noqa: E402

from monitor.ingest.extract import extract_page  # noqa: E402
from monitor.ingest.urls import canonical_url  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "out"
FEED_TYPE = "application/rss+xml; charset=utf-8"
PAGE_TYPE = "text/html"  # no charset: monitor and trafilatura must find it in the bytes, as on the web
ROBOTS = "User-agent: *\nAllow: /\n"


# ------------------------------------------------------------------------------------------------ options


@dataclass
class Options:
    feeds: int = 200
    entries: int = 20
    hosts: int = 10
    delay: float = 0.1
    pages: int = 400
    synthetic: bool = False
    concurrency: int = 32
    per_host: int = 4
    host_delay: float = 0.05
    workers: int | None = None
    no_dedup: bool = False
    baseline_feeds: int = 10
    limit_passes: int = 2
    spread_feeds: int = 120
    spread_entries: int = 3
    spread_baseline_feeds: int = 12
    unchanged_feeds: int = 2000
    unchanged_hosts: int = 400
    unchanged_concurrency: int = 64
    unchanged_per_host: int = 2
    unchanged_host_delay: float = 0.25
    timeout: float = 900.0
    skip: tuple[str, ...] = ()
    quick: bool = False
    keep: bool = False
    out: Path = OUT_DIR / "ingest.json"


QUICK = {
    "feeds": 20,
    "entries": 5,
    "hosts": 5,
    "pages": 40,
    "baseline_feeds": 4,
    "spread_feeds": 20,
    "spread_baseline_feeds": 4,
    "unchanged_feeds": 200,
    "unchanged_hosts": 40,
    "timeout": 120.0,
}
STEPS = ("limit", "baseline", "pipeline", "spread", "unchanged")
MAX_HOSTS = 254 * 254


def parse_options(argv: list[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small smoke-test run: "
        + ", ".join(f"{k}={v}" for k, v in QUICK.items())
        + " (explicit options still win)",
    )
    group = parser.add_argument_group("end-to-end poll")
    group.add_argument("--feeds", type=int, help=f"feeds to poll [{defaults.feeds}]")
    group.add_argument("--entries", type=int, help=f"entries per feed [{defaults.entries}]")
    group.add_argument("--hosts", type=int, help=f"loopback hosts serving them [{defaults.hosts}]")
    group.add_argument(
        "--delay", type=float, default=defaults.delay, help="seconds every response is delayed [%(default)s]"
    )
    group.add_argument(
        "--pages", type=int, help=f"distinct article pages, reused round robin [{defaults.pages}]"
    )
    group.add_argument("--synthetic", action="store_true", help="generated pages even when the corpora exist")
    group.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="settings.concurrency [%(default)s]"
    )
    group.add_argument(
        "--per-host", type=int, default=defaults.per_host, help="settings.per_host [%(default)s]"
    )
    group.add_argument(
        "--host-delay",
        type=float,
        default=defaults.host_delay,
        help="settings.host_delay, seconds [%(default)s]",
    )
    group.add_argument("--workers", type=int, default=None, help="settings.extract_workers [CPU count]")
    group.add_argument(
        "--no-dedup",
        action="store_true",
        help="poll with 'dedup: {enabled: false}', to see what deduplication costs",
    )
    group = parser.add_argument_group("baselines")
    group.add_argument(
        "--baseline-feeds", type=int, help=f"feeds for the naive loop [{defaults.baseline_feeds}]"
    )
    group.add_argument(
        "--limit-passes",
        type=int,
        default=defaults.limit_passes,
        help="passes over the pages for the extraction limit; the fastest per page counts [%(default)s]",
    )
    group = parser.add_argument_group("many hosts, few pages, default settings (one host per feed)")
    group.add_argument(
        "--spread-feeds", type=int, help=f"feeds, each on its own host [{defaults.spread_feeds}]"
    )
    group.add_argument(
        "--spread-entries",
        type=int,
        default=defaults.spread_entries,
        help="new articles per feed [%(default)s]",
    )
    group.add_argument(
        "--spread-baseline-feeds",
        type=int,
        help=f"feeds for its naive loop [{defaults.spread_baseline_feeds}]",
    )
    group = parser.add_argument_group("first and second poll of one-entry feeds")
    group.add_argument("--unchanged-feeds", type=int, help=f"feeds [{defaults.unchanged_feeds}]")
    group.add_argument("--unchanged-hosts", type=int, help=f"hosts serving them [{defaults.unchanged_hosts}]")
    group.add_argument(
        "--unchanged-concurrency",
        type=int,
        default=defaults.unchanged_concurrency,
        help="settings.concurrency for them [%(default)s]",
    )
    group.add_argument(
        "--unchanged-per-host",
        type=int,
        default=defaults.unchanged_per_host,
        help="settings.per_host for them [%(default)s]",
    )
    group.add_argument(
        "--unchanged-host-delay",
        type=float,
        default=defaults.unchanged_host_delay,
        help="settings.host_delay for them, seconds [%(default)s]",
    )
    group = parser.add_argument_group("run")
    group.add_argument(
        "--skip", action="append", choices=STEPS, default=[], help="leave out a step (repeatable)"
    )
    group.add_argument(
        "--timeout", type=float, help=f"seconds allowed per monitor command [{defaults.timeout}]"
    )
    group.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (configs, databases, logs)"
    )
    group.add_argument(
        "--out", type=Path, default=defaults.out, help="JSON results file [bench/out/ingest.json]"
    )
    args = parser.parse_args(argv)

    options = Options(
        quick=args.quick,
        delay=args.delay,
        synthetic=args.synthetic,
        concurrency=args.concurrency,
        per_host=args.per_host,
        host_delay=args.host_delay,
        workers=args.workers,
        no_dedup=args.no_dedup,
        limit_passes=max(1, args.limit_passes),
        unchanged_concurrency=args.unchanged_concurrency,
        unchanged_per_host=args.unchanged_per_host,
        unchanged_host_delay=args.unchanged_host_delay,
        skip=tuple(args.skip),
        keep=args.keep,
        out=args.out,
        spread_entries=args.spread_entries,
    )
    for name in (
        "feeds",
        "entries",
        "hosts",
        "pages",
        "baseline_feeds",
        "spread_feeds",
        "spread_baseline_feeds",
        "unchanged_feeds",
        "unchanged_hosts",
        "timeout",
    ):
        value = getattr(args, name)
        if value is None and args.quick:
            value = QUICK[name]
        if value is not None:
            setattr(options, name, value)
    if not all(1 <= n <= MAX_HOSTS for n in (options.hosts, options.unchanged_hosts, options.spread_feeds)):
        parser.error(f"--hosts, --unchanged-hosts and --spread-feeds must be between 1 and {MAX_HOSTS}")
    if (
        min(options.feeds, options.entries, options.pages, options.unchanged_feeds, options.spread_entries)
        < 1
    ):
        parser.error("--feeds, --entries, --pages, --spread-entries and --unchanged-feeds must be at least 1")
    options.baseline_feeds = max(0, min(options.baseline_feeds, options.feeds))
    options.spread_baseline_feeds = max(0, min(options.spread_baseline_feeds, options.spread_feeds))
    return options


# ------------------------------------------------------------------------------------------------ sites


def rss(title: str, link: str, items: list[dict]) -> bytes:
    """An RSS 2.0 document."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        f"<description>Benchmark feed {escape(title)}</description><language>en</language>",
    ]
    for item in items:
        parts.append(
            f"<item><title>{escape(item['title'])}</title><link>{escape(item['link'])}</link>"
            f'<guid isPermaLink="true">{escape(item["link"])}</guid>'
            f"<pubDate>{format_datetime(item['published'], usegmt=True)}</pubDate>"
            f"<description>{escape(item['summary'])}</description></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


@dataclass(frozen=True)
class Site:
    """Feeds and article pages, and where each is served."""

    feed_urls: list[str]  # index = feed number
    feed_hosts: list[str]
    articles: list[tuple[int, str, int]]  # (feed number, article URL, page index)


def build_site(
    srv: StaticSites,
    *,
    feeds: int,
    entries: int,
    pages: list[Page],
    delay: float,
    prefix: str = "f",
    feed_etag: bool = True,
) -> Site:
    """Serve ``feeds`` RSS feeds of ``entries`` items; each item links to a page on its feed's host. Without
    ``feed_etag`` the feeds come with no validators and every request gets the whole document."""
    hosts = srv.hosts
    base_time = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
    page_routes = [
        Route(body=page.html, delay=delay, etag=False, headers={"Content-Type": PAGE_TYPE}) for page in pages
    ]
    feed_urls, feed_hosts, articles = [], [], []
    for f in range(feeds):
        host = hosts[f % len(hosts)]
        items = []
        for e in range(entries):
            page_index = (f * entries + e) % len(pages)
            path = f"/news/{prefix}{f}/{e}.html"
            srv.set(path, page_routes[page_index], host=host)
            url = srv.url(path, host=host)
            articles.append((f, url, page_index))
            items.append(
                {
                    "title": f"Story {e} of feed {f}: {pages[page_index].name}",
                    "link": url,
                    "published": base_time + timedelta(minutes=f * entries + e),
                    "summary": f"Feed {f}, story {e}: a short summary, as feeds carry, shorter than the article.",
                }
            )
        path = f"/feeds/{prefix}{f}.xml"
        srv.set(
            path,
            Route(
                body=rss(f"Feed {f}", srv.url("/", host=host), items),
                delay=delay,
                etag=feed_etag,
                headers={"Content-Type": FEED_TYPE},
            ),
            host=host,
        )
        feed_urls.append(srv.url(path, host=host))
        feed_hosts.append(host)
    srv.set("/robots.txt", Route(body=ROBOTS, delay=delay, headers={"Content-Type": "text/plain"}))
    return Site(feed_urls, feed_hosts, articles)


# ------------------------------------------------------------------------------------------------ steps


def measure_limit(pages: list[Page], passes: int) -> tuple[dict[int, float], list[str]]:
    """Seconds ``extract_page`` takes on each page (fastest of ``passes``), one process, no network.

    Also names the pages to leave out: those whose extraction still reports a canonical URL of their own,
    which would make monitor store every URL serving them as one article.
    """
    url = "http://127.0.0.1:9/news/probe/0.html"  # never contacted: extraction only reads it
    for page in pages[:5]:
        extract_page(page.html, url)  # warm up imports and caches
    best: dict[int, float] = {}
    foreign: list[str] = []
    for attempt in range(passes):
        for index, page in enumerate(pages):
            started = time.perf_counter()
            result = extract_page(page.html, url)
            elapsed = time.perf_counter() - started
            best[index] = min(best.get(index, elapsed), elapsed)
            if (
                attempt == 0
                and result
                and result.canonical_url
                and canonical_url(result.canonical_url) != canonical_url(url)
            ):
                foreign.append(page.name)
    return best, foreign


def measure_parallel_limit(pages: list[Page], workers: int) -> float:
    """Pages per second ``extract_page`` manages in ``workers`` processes at once, each page once, no network.

    What the cores really give together (shared caches and memory bandwidth, or virtual CPUs that are
    not whole cores, make it less than one core's rate times their number).
    """
    url = "http://127.0.0.1:9/news/probe/0.html"
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(extract_page, [p.html for p in pages[:workers]], [url] * workers))  # start and import
        started = time.perf_counter()
        list(pool.map(extract_page, [p.html for p in pages], [url] * len(pages), chunksize=2))
        return len(pages) / (time.perf_counter() - started)


def extraction_around(before: float, after: float, pages: int) -> dict[str, float]:
    """The extraction rate a poll is compared with, from a measurement before it and one after.

    The time the two would take on average: a shared machine's speed drifts over the minutes of a poll
    (the same pages took 45 s in one run and 59 s in the next), and one measurement on either side of it
    weighed that drift fully into the ratio.
    """
    mean_time = (pages / before + pages / after) / 2
    return {
        "pages_per_s_before": before,
        "pages_per_s_after": after,
        "pages_per_s_all_cores_measured": pages / mean_time,
    }


def run_baseline(site: Site, feed_numbers: list[int]) -> dict:
    """The loop a user would write: one request at a time, trafilatura.extract on each page."""
    started = time.perf_counter()
    articles = extracted = failures = 0
    for f in feed_numbers:
        response = httpx.get(site.feed_urls[f])
        parsed = feedparser.parse(response.content)
        for entry in parsed.entries:
            articles += 1
            try:
                page = httpx.get(entry.link)
                page.raise_for_status()
            except httpx.HTTPError:
                failures += 1
                continue
            text = trafilatura.extract(page.text)
            extracted += bool(text)
    wall = time.perf_counter() - started
    return {
        "feeds": len(feed_numbers),
        "articles": articles,
        "extracted": extracted,
        "fetch_failures": failures,
        "wall_s": wall,
        "articles_per_s": articles / wall if wall else 0.0,
    }


def verify_articles(workdir: Path, config: Path, db_url: str, timeout: float) -> dict:
    run = run_monitor(
        workdir, config, db_url, ["articles", "--json", "--limit", "0"], timeout=timeout, label="articles"
    )
    rows = json.loads(run.stdout)
    sources: dict[str, int] = {}
    notes: dict[str, int] = {}  # why a body is not the extracted text
    for row in rows:
        sources[row["body_source"]] = sources.get(row["body_source"], 0) + 1
        if row["body_source"] != "extracted":
            note = (row.get("body_note") or "-")[:120]
            notes[note] = notes.get(note, 0) + 1
    return {
        "rows": len(rows),
        "distinct_urls": len({row["url"] for row in rows}),
        "body_source": sources,
        "not_extracted_because": dict(sorted(notes.items(), key=lambda kv: -kv[1])[:10]),
        "mean_body_chars": sum(len(row["body"]) for row in rows) / len(rows) if rows else 0,
    }


def step_pipeline(
    options: Options,
    srv: StaticSites,
    site: Site,
    workdir: Path,
    *,
    label: str = "pipeline",
    default_politeness: bool = False,
) -> dict:
    """Time ``monitor poll`` on ``site``: with the bench's politeness options, or with monitor's defaults."""
    config = workdir / f"{label}.yaml"
    db_url = f"sqlite:///{workdir / f'{label}.db'}"
    if default_politeness:
        politeness = {"concurrency": None, "per_host": None, "host_delay": None}
    else:
        politeness = {
            "concurrency": options.concurrency,
            "per_host": options.per_host,
            "host_delay": options.host_delay,
        }
    settings = write_config(
        config, site.feed_urls, **politeness, workers=options.workers, dedup=not options.no_dedup
    )
    run_monitor(workdir, config, db_url, ["db", "upgrade"], timeout=options.timeout, label=f"{label}-upgrade")
    srv.clear_requests()
    load_before = os.getloadavg()[0]
    server_cpu = time.process_time()  # this process serves the sites: its CPU is taken from the same cores
    run = run_monitor(
        workdir, config, db_url, ["poll", "--json"], timeout=options.timeout, label=label, sample=True
    )
    server_cpu = time.process_time() - server_cpu
    reports = poll_reports(run)
    expected = len(site.articles)
    new = sum(r["new_articles"] for r in reports)
    requests = list(srv.requests)
    stored = verify_articles(workdir, config, db_url, options.timeout)
    return {
        "settings": _shown_settings(settings)
        | {"extract_workers": options.workers or os.cpu_count(), "dedup": not options.no_dedup},
        "feeds": len(site.feed_urls),
        "expected_articles": expected,
        "new_articles_reported": new,
        **outcome_summary(reports),
        "stored": stored,
        "page_requests": sum(1 for r in requests if r.path.startswith("/news/")),
        "feed_requests": sum(1 for r in requests if r.path.startswith("/feeds/")),
        "robots_requests": sum(1 for r in requests if r.path == "/robots.txt"),
        # When the CLI's start-up and the politeness let the first requests go (seconds after its launch):
        # no page can be extracted before the first is answered, ``delay`` after it arrives.
        "first_feed_request_s": _first_request(requests, "/feeds/", run.launched),
        "first_page_answer_s": _first_request(requests, "/news/", run.launched, answered_after=options.delay),
        "wall_s": run.wall,
        "articles_per_s": stored["rows"] / run.wall if run.wall else 0.0,
        "peak_rss_tree_mb": run.peak_tree_mb,
        "peak_rss_main_mb": run.peak_main_mb,
        "peak_pss_tree_mb": run.peak_pss_mb,
        "max_processes": run.max_processes,
        "cpu_main_s": run.cpu_main_s,
        "cpu_workers_s": run.cpu_children_s,
        "cpu_server_s": server_cpu,
        "workers_waiting_for_cpu_s": run.waited_children_s,
        "cpu_timeline": run.cpu_timeline,
        "load_1min_before": load_before,
        "load_1min_after": os.getloadavg()[0],
    }


def _first_request(
    requests: list, prefix: str, launched: float, *, answered_after: float = 0.0
) -> float | None:
    """Seconds from ``launched`` to the first request whose path starts with ``prefix`` (plus
    ``answered_after``: to its answer); None if none came."""
    return min(
        (r.at - launched + answered_after for r in requests if r.path.startswith(prefix)), default=None
    )


def _shown_settings(settings: dict) -> dict:
    """The politeness settings in force: those written, else monitor's defaults."""
    from monitor.config import Settings

    defaults = Settings()
    shown = {
        "concurrency": defaults.concurrency,
        "per_host": defaults.per_host,
        "host_delay": f"{defaults.host_delay.total_seconds() * 1000:g}ms (default)",
    }
    return shown | settings


def spread_pages(pages: list[Page], articles: int) -> list[Page]:
    """One page per article, as distinct as the pages allow."""
    return [pages[i % len(pages)] for i in range(articles)]


def step_spread(options: Options, pages: list[Page], best: dict[int, float], workdir: Path) -> dict:
    """Many hosts, few pages each, monitor's default politeness: the poll against the naive loop and the
    extraction rates of the same pages, all measured now."""
    cpus = os.cpu_count() or 1
    feeds, entries = options.spread_feeds, options.spread_entries
    with StaticSites(hosts=free_loopback_hosts(feeds)) as srv:
        site = build_site(
            srv,
            feeds=feeds,
            entries=entries,
            pages=spread_pages(pages, feeds * entries),
            delay=options.delay,
            prefix="s",
        )
        served = spread_pages(list(range(len(pages))), feeds * entries)  # page index of each article
        limit = {}
        if best:
            one_core = len(served) / sum(best[i] for i in served)
            limit = {"pages_per_s_one_core": one_core, "pages_per_s_machine": one_core * cpus}
        measure = "limit" not in options.skip
        if measure:
            before = measure_parallel_limit([pages[i] for i in served], cpus)
        baseline = {}
        if "baseline" not in options.skip and options.spread_baseline_feeds:
            step = feeds / options.spread_baseline_feeds
            baseline = run_baseline(
                site, sorted({int(i * step) for i in range(options.spread_baseline_feeds)})
            )
        poll = step_pipeline(options, srv, site, workdir, label="spread", default_politeness=True)
    if measure:
        after = measure_parallel_limit([pages[i] for i in served], cpus)
        limit |= extraction_around(before, after, len(served))
    return {"hosts": feeds, "entries_per_feed": entries, "limit": limit, "baseline": baseline, **poll}


def step_unchanged(options: Options, pages: list[Page], workdir: Path) -> dict:
    """Serve many one-entry feeds linking to the bench's pages, time the first poll against extraction alone
    of those pages, then the all-304 second poll."""
    hosts = free_loopback_hosts(options.unchanged_hosts)
    served = spread_pages(pages, options.unchanged_feeds)
    # Extraction alone of the pages the first poll extracts, in as many processes as CPUs, before and after.
    rate_before = measure_parallel_limit(served, os.cpu_count() or 1)
    with StaticSites(hosts=hosts) as srv:
        site = build_site(
            srv, feeds=options.unchanged_feeds, entries=1, pages=served, delay=options.delay, prefix="u"
        )
        config = workdir / "unchanged.yaml"
        db_url = f"sqlite:///{workdir / 'unchanged.db'}"
        settings = write_config(
            config,
            site.feed_urls,
            concurrency=options.unchanged_concurrency,
            per_host=options.unchanged_per_host,
            host_delay=options.unchanged_host_delay,
            workers=options.workers,
            dedup=not options.no_dedup,
        )
        run_monitor(
            workdir, config, db_url, ["db", "upgrade"], timeout=options.timeout, label="unchanged-upgrade"
        )
        server_cpu = (
            time.process_time()
        )  # this process serves the sites: its CPU is taken from the same cores
        first = run_monitor(
            workdir,
            config,
            db_url,
            ["poll", "--json"],
            timeout=options.timeout,
            label="unchanged-first",
            sample=True,
        )
        server_cpu = time.process_time() - server_cpu
        first_reports = poll_reports(first)
        # Right after the first poll, which it is compared with (the second, all 304s, extracts nothing).
        rate_after = measure_parallel_limit(served, os.cpu_count() or 1)
        srv.clear_requests()

        def poll(label: str):
            return run_monitor(
                workdir, config, db_url, ["poll", "--json"], timeout=options.timeout, label=label, sample=True
            )

        second = poll("unchanged-second")
        reports = poll_reports(second)
        requests = list(srv.requests)
        # The same feeds from servers that ignore validators: each poll gets every document whole. Read in
        # full (their digests forgotten), then known by their bytes, in the same run.
        build_site(
            srv,
            feeds=options.unchanged_feeds,
            entries=1,
            pages=served,
            delay=options.delay,
            prefix="u",
            feed_etag=False,
        )
        with sqlite3.connect(workdir / "unchanged.db") as connection:
            connection.execute("UPDATE feeds SET body_sha256 = NULL")
        parsed, known = poll("ignored-parsed"), poll("ignored-known")
        known_reports = poll_reports(known)
    extraction = extraction_around(rate_before, rate_after, len(served))
    statuses: dict[str, int] = {}
    for r in reports:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    return {
        "settings": settings,
        "feeds": options.unchanged_feeds,
        "hosts": options.unchanged_hosts,
        "feeds_per_host": options.unchanged_feeds / options.unchanged_hosts,
        "first_poll_wall_s": first.wall,
        "first_poll_extraction_alone_s": options.unchanged_feeds
        / extraction["pages_per_s_all_cores_measured"],
        "first_poll_extraction_alone_before_s": options.unchanged_feeds / extraction["pages_per_s_before"],
        "first_poll_extraction_alone_after_s": options.unchanged_feeds / extraction["pages_per_s_after"],
        "first_poll_cpu_main_s": first.cpu_main_s,
        "first_poll_cpu_workers_s": first.cpu_children_s,
        "first_poll_workers_waiting_for_cpu_s": first.waited_children_s,
        "first_poll_cpu_server_s": server_cpu,
        "first_poll_cpu_timeline": first.cpu_timeline,
        "first_poll_peak_pss_tree_mb": first.peak_pss_mb,
        "first_poll_new_articles": sum(r["new_articles"] for r in first_reports),
        "first_poll": outcome_summary(first_reports),
        "second_poll": outcome_summary(reports),
        "second_poll_wall_s": second.wall,
        "second_poll_statuses": statuses,
        "second_poll_unchanged": sum(1 for r in reports if r["outcome"] == "unchanged"),
        "second_poll_requests": len(requests),
        "second_poll_conditional": sum(1 for r in requests if "if-none-match" in r.headers),
        "second_poll_peak_rss_tree_mb": second.peak_tree_mb,
        "ignored_validators_parsed_wall_s": parsed.wall,
        "ignored_validators_parsed_cpu_main_s": parsed.cpu_main_s,
        "ignored_validators_known_wall_s": known.wall,
        "ignored_validators_known_cpu_main_s": known.cpu_main_s,
        "ignored_validators_known_unchanged": sum(1 for r in known_reports if r["outcome"] == "unchanged"),
    }


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    warnings.filterwarnings("ignore")  # dateutil and friends complain about odd dates in real pages
    for name in PROXY_VARIABLES:  # everything here is loopback; never route it through a proxy
        os.environ.pop(name, None)
    cpus = os.cpu_count() or 1
    results = Results(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        options={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        machine={
            "cpus": cpus,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "trafilatura": trafilatura.__version__,
            "httpx": httpx.__version__,
        },
    )
    say(
        f"ingest bench{' (quick)' if options.quick else ''}: {options.feeds} feeds x {options.entries} "
        f"entries on {options.hosts} hosts, {options.delay * 1000:g} ms per response, {cpus} CPUs"
    )

    pages, origin = load_pages(options.pages, synthetic=options.synthetic)
    say(f"pages: {origin}")
    with ExitStack() as stack:
        tmp = tempfile.mkdtemp(prefix="monitor-bench-")
        if not options.keep:
            stack.callback(lambda: __import__("shutil").rmtree(tmp, ignore_errors=True))
        workdir = Path(tmp)
        try:
            # Extraction limit first (also drops pages that would still name a canonical URL of their own).
            best, foreign = measure_limit(pages, options.limit_passes if "limit" not in options.skip else 0)
            if foreign:
                say(
                    f"leaving out {len(foreign)} pages that still state their own URL: "
                    f"{', '.join(foreign[:5])}"
                )
                keep = [i for i, page in enumerate(pages) if page.name not in set(foreign)]
                pages, best = [pages[i] for i in keep], {new: best[old] for new, old in enumerate(keep)}
            results.pages = {
                "origin": origin,
                "count": len(pages),
                "left_out": foreign,
                "mean_bytes": sum(len(p.html) for p in pages) / len(pages),
            }

            srv = stack.enter_context(StaticSites(hosts=free_loopback_hosts(options.hosts)))
            site = build_site(
                srv, feeds=options.feeds, entries=options.entries, pages=pages, delay=options.delay
            )
            say(
                f"serving {len(site.feed_urls)} feeds and {len(site.articles)} articles on {srv.hosts[0]}.."
                f"{srv.hosts[-1]} port {srv.port}"
            )

            if best:
                # The same mix of pages the pipeline extracts: each article's page, weighted by use.
                seconds = sum(best[page_index] for _, _, page_index in site.articles)
                one_core = len(site.articles) / seconds
                results.limit = {
                    "pages": len(pages),
                    "passes": options.limit_passes,
                    "cpus": cpus,
                    "pages_per_s_one_core": one_core,
                    "pages_per_s_machine": one_core * cpus,
                    "mean_ms_per_page": 1000 * seconds / len(site.articles),
                }
                say(f"extraction limit: {one_core:.1f} pages/s on one core, {one_core * cpus:.1f} on {cpus}")
                if cpus > 1:
                    parallel = measure_parallel_limit(pages, cpus)
                    results.limit["pages_per_s_all_cores_measured"] = parallel
                    say(f"extraction limit: {parallel:.1f} pages/s measured in {cpus} processes at once")

            if "baseline" not in options.skip and options.baseline_feeds:
                step = options.feeds / options.baseline_feeds
                numbers = sorted({int(i * step) for i in range(options.baseline_feeds)})
                say(f"naive loop on {len(numbers)} feeds ...")
                results.baseline = run_baseline(site, numbers)
                b = results.baseline
                say(
                    f"naive loop: {b['articles']} articles in {b['wall_s']:.1f}s = "
                    f"{b['articles_per_s']:.1f}/s"
                )

            if "pipeline" not in options.skip:
                say(f"monitor poll: {len(site.articles)} articles ...")
                results.pipeline = step_pipeline(options, srv, site, workdir)
                p = results.pipeline
                say(
                    f"monitor poll: {p['stored']['rows']} stored in {p['wall_s']:.1f}s = "
                    f"{p['articles_per_s']:.1f}/s, peak RSS {p['peak_rss_tree_mb']:.0f} MB"
                )
            srv.stop()

            if "spread" not in options.skip:
                say(
                    f"many hosts, default settings: {options.spread_feeds} feeds x {options.spread_entries} "
                    f"entries on {options.spread_feeds} hosts ..."
                )
                results.spread = step_spread(options, pages, best, workdir)
                s = results.spread
                say(
                    f"many hosts: {s['stored']['rows']} stored in {s['wall_s']:.1f}s = "
                    f"{s['articles_per_s']:.1f}/s; extraction {s['limit']}; naive "
                    f"{s['baseline'].get('articles_per_s', 0):.1f}/s"
                )

            if "unchanged" not in options.skip:
                say(
                    f"unchanged feeds: {options.unchanged_feeds} feeds on {options.unchanged_hosts} hosts, "
                    "first poll ..."
                )
                results.unchanged = step_unchanged(options, pages, workdir)
                u = results.unchanged
                say(
                    f"unchanged feeds: first poll {u['first_poll_wall_s']:.1f}s, "
                    f"second poll {u['second_poll_wall_s']:.1f}s"
                )
        except BenchError as exc:
            results.errors.append(str(exc))
            say(f"error: {exc}")
        if options.keep:
            say(f"kept {workdir}")

    results.checks = build_checks(results, options.quick)
    print_table(results.checks)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(asdict(results), indent=2, default=str) + "\n")
    note = "  (quick run: speed targets are informational)" if options.quick else ""
    print(f"\nwritten {options.out}{note}")
    failed = [c for c in results.checks if c.passed is False and c.gate]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
