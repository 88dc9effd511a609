#!/usr/bin/env python
"""Soak: the real daemon for minutes against a newsroom that keeps publishing, as it is lived.

    .venv/bin/python bench/soak.py                                   # one daemon on SQLite, 4 minutes
    .venv/bin/python bench/soak.py --instances 2 --database postgresql+psycopg://postgres@127.0.0.1/soak
    .venv/bin/python bench/soak.py --minutes 1                       # a smoke run

Seven outlets on seven loopback hosts: an agency publishes a story every 3 to 8 seconds, half of them on
the watched topic; one to three outlets reprint it under their sign-up lines, and another writes it up in
its own words. Each feed lists its latest 30 entries. ``monitor run`` polls them (``min_interval`` 20 s,
``max_interval`` 1 min) and sends a digest every minute to a webhook receiver that keeps each digest once
per ``Idempotency-Key``. While it runs, the harness adds a seventh feed to ``feeds.yaml`` and sends SIGHUP
to every instance (at 30% of the run), and kills one instance with ``kill -9`` and starts it again (at
75%). Unless ``--no-faults``, things go wrong meanwhile (``faults``): the webhook refuses digests for 70 s,
then takes one and hangs up without answering; the database goes away for 45 s (PostgreSQL: every
connection of the daemons cut, every second; SQLite: another program holds an exclusive lock past the
busy timeout); feeds.yaml is saved with a typo and fixed 20 s later; one outlet answers 503 and another
hangs for 40 s. The newsroom then stops, and the daemons get 150 s more to poll and send digests before
SIGTERM.

Checks: every published article stored; every article matched by a topic delivered, and none twice (two
topics, "arms" and "drones", match many of the same stories: each comes once a digest); no
traceback in the daemons' log, and no ERROR line but while a fault lasts (or within a minute after); the
daemons' memory (PSS of their process trees, sampled every 5 s) under 400 MB an instance; the median
time from an article's publication to its storage (the database's times) within ``max_interval``, and the
daemons' own ``monitor_news_delay_seconds`` (each instance listens for /metrics) putting that median in the
same bucket.
Every minute it also reads what a daemon that runs for months must not pile up: each instance's open file
descriptors, threads, processes (its forkserver and extraction workers) and series in /metrics, printed at
the end as each instance's first and last figures (``growth``).
Results go to ``bench/out/soak.json``; the work directory (``--keep``) holds the log, the database and the
digests received.
The PostgreSQL database given must exist and be empty (its tables are made by the daemons, together).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__, ("sqlalchemy",))

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from _processes import PROXY_VARIABLES, descendants, monitor_command, pss_kb  # noqa: E402
from _report import report_checks  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from support.httpserver import LocalWebServer, Route, free_loopback_hosts  # noqa: E402
from support.news import Entry, article_html, rss  # noqa: E402
from support.smtp import free_port  # noqa: E402

from monitor.runtime.metrics import NEWS_DELAY_BUCKETS  # noqa: E402
from monitor.store.db import open_database  # noqa: E402
from monitor.store.models import Article as ArticleRow  # noqa: E402

OUTLETS = ("Agency", "Courier", "Observer", "Ledger", "Gazette", "Herald", "Late")
CITIES = "Astrakhan Amirabad Kazan Tula Bandar Isfahan Kherson Odesa Kharkiv Tabriz Rasht Sochi".split()
WEAPONS = ("Shahed drones", "Fath-360 missiles", "artillery shells", "Mohajer drones", "glide bombs")
OTHER = ("the harvest", "local elections", "a football final", "flooding", "a bank merger", "rail strikes")
WORDS = (
    "officials said the move followed weeks of talks between delegations and that further steps were "
    "expected within days according to people familiar with the matter who asked not to be named because "
    "they were not authorised to speak publicly about the negotiations or the schedule"
).split()
QUERY = "(Iran OR Iranian) AND (Russia OR Russian) AND (drones OR missiles OR shells OR bombs)"
LISTED = 30
TAIL = 150
"""Seconds the daemons run after the newsroom stops: a poll within ``max_interval`` (1 min), then the next
minute's digest."""
DATABASE_OUTAGE = 45  # seconds: past the daemons' busy timeout on SQLite (30 s)
FAULT_AFTERMATH = 60  # seconds after a failure ends during which the daemons may still report it
MAX_INTERVAL = 60  # seconds: the daemons' max_interval (config_text)
MEMORY_MB = 400  # PSS of one daemon's process tree (main, forkserver, one extraction worker)


def paragraphs(seed: str, subject: str, n: int = 5) -> list[str]:
    """Five article-like paragraphs about ``subject``, the same for the same seed."""
    rng = random.Random(seed)
    return [
        f"In {rng.choice(CITIES)}, {subject} dominated the day; {' '.join(rng.sample(WORDS, 18))} "
        f"(part {i} of report {seed})."
        for i in range(n)
    ]


class Outlet:
    """One site: its article pages and a feed of its latest ``LISTED`` entries."""

    def __init__(self, web: LocalWebServer, host: str, name: str) -> None:
        self.web, self.host, self.name = web, host, name
        self.entries: list[Entry] = []
        self.state = "up"
        self._pages: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._serve_feed()

    def _serve_feed(self) -> None:
        feed = rss(self.name, self.web.url("/", host=self.host), self.entries)
        self.web.set("/feed.xml", self._served(feed), host=self.host)

    def _served(self, body: bytes | str) -> Route | bytes | str:
        if self.state == "down":  # an outage: every request answered 503
            return Route(body="Service Unavailable", status=503)
        if self.state == "hanging":  # an overloaded site: answers long after any client gave up
            return Route(body=body, delay=45)
        return body

    def set_state(self, state: str) -> None:
        """``up``, ``down`` or ``hanging``: what the site's feed and pages answer from now on."""
        with self._lock:
            self.state = state
            self._serve_feed()
            for path, page in self._pages.items():
                self.web.set(path, self._served(page), host=self.host)

    def publish(self, slug: str, title: str, body: list[str], sign_up: bool = False) -> tuple[str, datetime]:
        """Put an article up and list it in the feed: its URL and the publication time the feed states."""
        url = self.web.url(f"/news/{slug}", host=self.host)
        if sign_up:
            body = [f"Sign up for {self.name} alerts in your inbox.", *body, "Read more: world news."]
        page = article_html(title, body, site_name=self.name)
        entry = Entry(
            slug, title, body[0][:200], url, guid=f"urn:{self.name}:{slug}", published=datetime.now(UTC)
        )
        with self._lock:
            self._pages[f"/news/{slug}"] = page
            self.web.set(f"/news/{slug}", self._served(page), host=self.host)
            self.entries = [entry, *self.entries][:LISTED]
            self._serve_feed()
        return url, entry.published or datetime.now(UTC)


class Receiver(BaseHTTPRequestHandler):
    """The webhook channel's other end: keeps every digest it is sent, once per ``Idempotency-Key`` (as a
    receiver that follows the header does), and counts the repeats."""

    digests: dict[str, dict] = {}
    repeats = 0
    down = False  # an outage: every digest refused with 503
    lose_next_answer = False  # take the next digest, then hang up without answering (a timeout's effect)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if Receiver.down:
            self.send_response(503)
            self.end_headers()
            return
        key = self.headers.get("Idempotency-Key", "")
        if key in Receiver.digests:
            Receiver.repeats += 1
        else:
            Receiver.digests[key] = json.loads(body)
        if Receiver.lose_next_answer:
            Receiver.lose_next_answer = False
            self.close_connection = True
            return
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


Published = tuple[str, datetime, bool]
"""An article the newsroom published: its URL, the time its feed states, and whether it is on the topic."""


def newsroom(outlets: list[Outlet], stop: threading.Event, published: list[Published]) -> None:
    rng = random.Random(7)
    n = 0
    while not stop.is_set():
        n += 1
        on_topic = rng.random() < 0.5
        slug = f"s{n}"
        if on_topic:
            weapon = rng.choice(WEAPONS)
            subject, title = (
                f"Iran's shipment of {weapon} to Russia",
                f"Iran ships {weapon} to Russia ({slug})",
            )
        else:
            subject = f"news of {rng.choice(OTHER)}"
            title = f"Report on {subject} ({slug})"
        body = paragraphs(slug, subject)
        published.append((*outlets[0].publish(slug, title, body), on_topic))
        for reprint in rng.sample(outlets[1:4], rng.randint(1, 3)):
            published.append((*reprint.publish(slug, title, body, sign_up=True), on_topic))
        if rng.random() < 0.5:
            writer = outlets[rng.randint(4, 5)]
            own = paragraphs(f"{slug}w", subject)
            published.append((*writer.publish(f"{slug}w", f"{title}: a report", own), on_topic))
        stop.wait(rng.uniform(3, 8))


def config_text(web: LocalWebServer, outlets: list[Outlet], hook: str) -> str:
    lines = [
        "settings:",
        "  min_interval: 20s",
        "  max_interval: 1m",
        "  interval: 20s",
        "  poll_tick: 2s",
        "  host_delay: 200ms",
        "  config_check_every: 5s",
        "  extract_workers: 1",
        "  allow_networks: [127.0.0.0/8]",  # the outlets' links lead to loopback hosts
        "feeds:",
    ]
    for outlet in outlets:
        lines += [f"  - name: {outlet.name}", f"    url: {web.url('/feed.xml', host=outlet.host)}"]
    lines += [
        "watchlist:",
        "  topics:",
        "    - name: arms",
        f"      query: '{QUERY}'",
        "    - name: drones",  # half the arms stories match it too: each must come once a digest
        "      query: 'drones OR UAV'",
        "digests:",
        "  - name: minute",
        "    schedule: '* * * * *'",
        "    timezone: UTC",
        "    max_items: 200",
        "    lookback: 1d",
        "    channels:",
        f"      webhook: {{url: '{hook}'}}",
    ]
    return "\n".join(lines) + "\n"


Event = tuple[float, float, Callable[[], str]]
"""When it happens (seconds into the run), how long its failure lasts (seconds, 0 for none), what it does."""


def faults(outlets: list[Outlet], database: str, config: Path, run_for: float) -> list[Event]:
    """What goes wrong while the daemons run: the webhook down for over a minute (so a digest meets it),
    then one of its answers lost; the database gone (PostgreSQL: every connection of the daemons cut, again
    and again, as a server restarting would) or locked by another program (SQLite: an exclusive lock held
    past the daemons' busy timeout); one outlet down and another hanging, then both back; feeds.yaml saved
    with a typo, then fixed."""

    def receiver(down: bool) -> Callable[[], str]:
        def act() -> str:
            Receiver.down = down
            return "webhook receiver answers 503" if down else "webhook receiver back"

        return act

    def lose_answer() -> str:
        Receiver.lose_next_answer = True
        return "webhook receiver will take the next digest and hang up without answering"

    def database_outage() -> str:
        if database.startswith("postgresql"):
            threading.Thread(target=cut_connections, args=(database,), daemon=True).start()
            return f"database: every connection of the daemons cut, every second for {DATABASE_OUTAGE} s"
        threading.Thread(target=hold_lock, args=(database.removeprefix("sqlite:///"),), daemon=True).start()
        return f"database: another program holds an exclusive lock for {DATABASE_OUTAGE} s"

    def sites(state: str) -> Callable[[], str]:
        def act() -> str:
            outlets[1].set_state("down" if state == "broken" else "up")
            outlets[2].set_state("hanging" if state == "broken" else "up")
            return (
                f"{outlets[1].name} answers 503 and {outlets[2].name} hangs"
                if state == "broken"
                else f"{outlets[1].name} and {outlets[2].name} back"
            )

        return act

    saved: list[str] = []

    def typo() -> str:
        saved.append(config.read_text())
        config.write_text(saved[0] + "  - name: [Tribune\n")  # an unclosed bracket: not YAML
        return "feeds.yaml saved with a typo"

    def fixed() -> str:
        config.write_text(saved[0])
        return "feeds.yaml fixed"

    return [
        (0.10 * run_for, 70, receiver(down=True)),
        (0.47 * run_for, 20, typo),
        (0.47 * run_for + 20, 0, fixed),
        (0.10 * run_for + 70, 0, receiver(down=False)),
        (0.10 * run_for + 75, 60, lose_answer),
        (0.40 * run_for, DATABASE_OUTAGE, database_outage),
        (0.55 * run_for, 40, sites("broken")),
        (0.55 * run_for + 40, 0, sites("up")),
    ]


def news_delays_counted(addresses: list[str]) -> dict[float, float]:
    """``monitor_news_delay_seconds{via="poll"}`` of the daemons listening at ``addresses``, summed: the
    cumulative count of each bucket, by its upper bound (``math.inf`` for all)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, whatever the proxy
    buckets: collections.Counter[float] = collections.Counter()
    for address in addresses:
        try:
            with opener.open(f"http://{address}/metrics", timeout=10) as answer:
                exposition = answer.read().decode()
        except OSError as exc:
            print(f"could not read http://{address}/metrics: {exc}")
            continue
        for family in text_string_to_metric_families(exposition):
            if family.name == "monitor_news_delay_seconds":
                for sample in family.samples:
                    if sample.name.endswith("_bucket") and sample.labels.get("via") == "poll":
                        buckets[float(sample.labels["le"])] += sample.value
    return dict(buckets)


def metric_series(address: str) -> int | None:
    """How many series the daemon listening at ``address`` serves in /metrics (None when unreadable): a
    label set that comes with every feed, URL or error text would grow it without end."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address}/metrics", timeout=10) as answer:
            exposition = answer.read().decode()
    except OSError:
        return None
    return sum(len(family.samples) for family in text_string_to_metric_families(exposition))


def process_figures(pid: int) -> dict[str, int]:
    """A daemon's open file descriptors and threads (its main process), and the processes of its tree."""
    try:
        return {
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": len(os.listdir(f"/proc/{pid}/task")),
            "processes": len(descendants(pid)),
        }
    except OSError:  # ended meanwhile (the instance killed)
        return {}


def growth_table(samples: list[dict]) -> dict[str, dict]:
    """Per instance (by pid), its first and last figures, the first taken after its first minute (start-up
    is no growth); instances sampled once are left out."""
    by_pid: dict[int, list[dict]] = collections.defaultdict(list)
    for sample in samples:
        by_pid[sample["pid"]].append(sample)
    table = {}
    for pid, taken in by_pid.items():
        settled = [sample for sample in taken if sample["age"] >= 60] or taken
        if len(settled) > 1:
            first, last = settled[0], settled[-1]
            table[str(pid)] = {
                "minutes": round((last["age"] - first["age"]) / 60, 1),
                **{key: (first.get(key), last.get(key)) for key in ("fds", "threads", "processes", "series")},
            }
    return table


def median_bucket(buckets: dict[float, float]) -> float:
    """The upper bound of the bucket holding the median of a cumulative histogram (NaN when empty)."""
    total = buckets.get(math.inf, 0)
    if not total:
        return math.nan
    return min(le for le, count in buckets.items() if count >= total / 2)


def cut_connections(database: str) -> None:
    db = open_database(database, migrate=False)
    until = time.monotonic() + DATABASE_OUTAGE
    while time.monotonic() < until:
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        time.sleep(1)
    db.dispose()


def hold_lock(path: str) -> None:
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    time.sleep(DATABASE_OUTAGE)
    locker.execute("ROLLBACK")
    locker.close()


def logged_at(line: str) -> float | None:
    """The time of a log line (``2026-12-05 23:14:00,172 ...``, local time), None for a continuation."""
    try:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # noqa: DTZ007 - local time
    except ValueError:
        return None


def tree_pss_mb(pids: list[int]) -> float:
    """The proportional set size of the daemons' process trees: what they cost the machine, each page
    shared by a forkserver and its worker counted once (summed RSS counts it in both)."""
    return sum(pss_kb(pid) for pid in {p for root in pids for p in descendants(root)}) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="how long the newsroom publishes (4)")
    parser.add_argument("--instances", type=int, default=1, help="daemons sharing the database (1)")
    parser.add_argument("--database", help="a database URL (default: an SQLite file in the work directory)")
    parser.add_argument(
        "--no-faults",
        dest="faults",
        action="store_false",
        help="leave out the webhook, database and site failures",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory and print where it is")
    args = parser.parse_args()
    if args.instances > 1 and not (args.database or "").startswith("postgresql"):
        parser.error("several instances need --database postgresql+psycopg://...")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="monitor-soak-"))
    database = args.database or f"sqlite:///{work / 'monitor.db'}"
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    hosts = free_loopback_hosts(len(OUTLETS))
    web = LocalWebServer(hosts=hosts).start()
    web.set("/robots.txt", "User-agent: *\nAllow: /\n")
    outlets = [Outlet(web, host, name) for host, name in zip(hosts, OUTLETS, strict=True)]
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    config = work / "feeds.yaml"
    config.write_text(config_text(web, outlets[:-1], hook))
    log_path = work / "daemon.log"
    log = log_path.open("ab")

    listening: list[str] = []  # each instance's /metrics, the one killed and started again included
    born: dict[int, tuple[str, float]] = {}  # pid -> its /metrics, when it started

    def start() -> subprocess.Popen:
        listening.append(f"127.0.0.1:{free_port()}")
        command = [
            *monitor_command(),
            "--config",
            str(config),
            "--db",
            database,
            "run",
            "--listen",
            listening[-1],
        ]
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
        born[process.pid] = (listening[-1], time.monotonic())
        return process

    daemons = [start() for _ in range(args.instances)]
    stop = threading.Event()
    published: list[Published] = []
    threading.Thread(target=newsroom, args=(outlets, stop, published), daemon=True).start()
    memory: list[tuple[float, float]] = []
    growth: list[dict] = []  # a sample a minute of each instance running (``process_figures``)
    began = time.monotonic()
    run_for = args.minutes * 60

    def add_feed() -> str:
        config.write_text(config_text(web, outlets, hook))
        for daemon in daemons:
            daemon.send_signal(signal.SIGHUP)
        return "added a feed to feeds.yaml, SIGHUP to every instance"

    def kill_one() -> str:
        os.killpg(daemons[0].pid, signal.SIGKILL)
        daemons[0].wait()
        daemons[0] = start()
        return "kill -9 of one instance, started again"

    # The instance killed starts again with a readable feeds.yaml: a daemon refuses to start on a broken one,
    # and a short run's typo (``faults``: from 47% of the run, for 20 s) would still be there at 75%.
    kill_at = max(0.75 * run_for, 0.47 * run_for + 25) if args.faults else 0.75 * run_for
    events: list[Event] = [(0.30 * run_for, 0, add_feed), (kill_at, 0, kill_one)]
    failing: list[tuple[float, float]] = []  # (from, to), wall-clock: when a fault's errors are expected
    if args.faults:
        events += faults(outlets, database, config, run_for)
    events.sort(key=lambda event: event[0])
    ticks = 0
    try:
        while (elapsed := time.monotonic() - began) < run_for + TAIL:
            time.sleep(1)
            ticks += 1
            if elapsed >= run_for and not stop.is_set():
                stop.set()
                print(f"newsroom stopped; {TAIL} more seconds of polls and digests", flush=True)
            # A short run's faults may end after the newsroom stops: they still end, within the tail.
            while events and elapsed > events[0][0]:
                _, lasts, act = events.pop(0)
                if lasts:
                    failing.append((time.time(), time.time() + lasts + FAULT_AFTERMATH))
                print(f"[{elapsed:4.0f}s] {act()}", flush=True)
            if ticks % 60 == 0:
                for daemon in daemons:
                    address, since = born[daemon.pid]
                    growth.append(
                        {
                            "pid": daemon.pid,
                            "age": round(time.monotonic() - since),
                            **process_figures(daemon.pid),
                            "series": metric_series(address),
                        }
                    )
            if ticks % 5 == 0:
                memory.append((round(elapsed), round(tree_pss_mb([d.pid for d in daemons]))))
                print(
                    f"[{elapsed:4.0f}s] {len(published)} published, {len(Receiver.digests)} digests, "
                    f"{memory[-1][1]:.0f} MB",
                    flush=True,
                )
        counted = news_delays_counted(listening[-args.instances :])  # the instances running now
    finally:
        stop.set()
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon in daemons:
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
        web.stop()
        receiver.shutdown()
        log.close()

    delivered = collections.Counter(
        article
        for digest in Receiver.digests.values()
        for topic in digest["topics"]
        for item in topic["items"]
        for article in item["article_ids"]
    )
    (work / "digests.json").write_text(json.dumps(Receiver.digests, indent=1))
    stories_twice = [
        (digest["period"], story)
        for digest in Receiver.digests.values()
        for story, times in collections.Counter(
            item["story_id"] for topic in digest["topics"] for item in topic["items"]
        ).items()
        if times > 1
    ]
    db = open_database(database, migrate=False)
    with db.session() as session:
        stored_at = dict(session.execute(select(ArticleRow.url, ArticleRow.fetched_at)).all())
    stored = set(stored_at)
    delays = sorted((stored_at[url] - at).total_seconds() for url, at, _ in published if url in stored_at)
    with db.engine.connect() as connection:
        matched = {row[0] for row in connection.execute(text("SELECT article_id FROM article_matches"))}
    db.dispose()
    lines = log_path.read_text().splitlines()
    tracebacks = [n for n, line in enumerate(lines) if line.startswith("Traceback")]
    errors = [
        line
        for line in lines
        if " ERROR " in line and not any(start <= (logged_at(line) or 0) <= end for start, end in failing)
    ]
    errors += [line for n in tracebacks for line in lines[max(0, n - 1) : n + 1]]
    peak = max((mb for _, mb in memory), default=0.0)
    last = memory[-1][1] if memory else 0.0
    missing = [url for url, _, _ in published if url not in stored]
    twice = sorted(article for article, times in delivered.items() if times > 1)
    undelivered = sorted(matched - set(delivered))
    print(
        f"\n{len(published)} published, {len(published) - len(missing)} stored; {len(matched)} matched, "
        f"{len(delivered)} delivered in {len(Receiver.digests)} digests ({Receiver.repeats} repeats of a "
        f"digest already taken, dropped by key); memory (PSS of the process "
        f"trees) {peak:.0f} MB at most, {last:.0f} MB at the end; {len(errors)} error lines in the log"
    )
    for line in errors[:10]:
        print(f"  {line}")
    grown = growth_table(growth)
    for pid, figures in grown.items():
        print(
            f"instance {pid}, over {figures['minutes']} minutes (from its second minute): "
            + ", ".join(
                f"{key} {figures[key][0]} -> {figures[key][1]}"
                for key in ("fds", "threads", "processes", "series")
            )
        )
    median, p90 = statistics.quantiles(delays, n=10)[4::4] if len(delays) > 1 else [math.nan, math.nan]
    told = median_bucket(counted)
    truth = next((le for le in NEWS_DELAY_BUCKETS if median <= le), math.inf)
    print(
        f"news delay, publication to storage (the database): median {median:.0f} s, 90th percentile "
        f"{p90:.0f} s; the daemons' monitor_news_delay_seconds: {counted.get(math.inf, 0):.0f} "
        f"counted (the killed instance's are gone with it), median at most {told:g} s"
    )
    checks = {
        f"every published article stored ({len(missing)} missing)": not missing,
        f"every matched article delivered ({len(undelivered)} not)": not undelivered,
        f"no article delivered twice ({len(twice)} were)": not twice,
        f"no story twice in one digest, whatever topics it matched ({len(stories_twice)} were)": not stories_twice,
        f"no traceback in the log, no ERROR but while a fault lasts ({len(errors)} lines)": not errors,
        f"memory under {MEMORY_MB} MB per instance ({peak:.0f} MB at most)": peak
        < MEMORY_MB * args.instances,
        f"news stored within max_interval of publication, median ({median:.0f} s)": median <= MAX_INTERVAL,
        f"the daemons' news-delay histogram puts the median where the database does (<= {told:g} s, "
        f"database <= {truth:g} s)": told == truth,
    }
    result = {
        "minutes": args.minutes,
        "instances": args.instances,
        "database": "postgresql" if database.startswith("postgresql") else "sqlite",
        "published": len(published),
        "stored": len(published) - len(missing),
        "matched": len(matched),
        "delivered": len(delivered),
        "digests": len(Receiver.digests),
        "repeats_dropped": Receiver.repeats,
        "memory_mb": memory,
        "growth": grown,
        "news_delay_median_s": round(median, 1),
        "news_delay_p90_s": round(p90, 1),
        "news_delay_histogram": {str(le): n for le, n in sorted(counted.items())},
        "errors": errors[:20],
    }
    report_checks(checks, result, "soak.json", started=started)
    if args.keep:
        print(f"work directory: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
