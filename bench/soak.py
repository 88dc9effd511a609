#!/usr/bin/env python
"""Soak: the real daemon for minutes against a newsroom that keeps publishing, as it is lived.

    .venv/bin/python bench/soak.py                                   # one daemon on SQLite, 4 minutes
    .venv/bin/python bench/soak.py --instances 2 --database postgresql+psycopg://postgres@127.0.0.1/soak
    .venv/bin/python bench/soak.py --minutes 1                       # a smoke run

Seven outlets on seven loopback hosts: an agency publishes a story every 3 to 8 seconds, half of them on
the watched topic; one to three outlets reprint it under their sign-up lines, and another writes it up in
its own words. Each feed lists its latest 30 entries. ``monitor run`` polls them (``min_interval`` 20 s,
``max_interval`` 2 min) and sends a digest every minute to a webhook receiver. While it runs, the harness
adds a seventh feed to ``feeds.yaml`` and sends SIGHUP to every instance (at 30% of the run), then kills one
instance with ``kill -9`` and starts it again (at 55%). The newsroom then stops, and the daemons get two
more minutes of digests before SIGTERM.

Checks: every published article stored; every article matched by the topic delivered, and none twice; no
ERROR in the daemons' log; the daemons' memory (summed RSS of their process trees, sampled every 5 s) under
400 MB an instance.
Results go to ``bench/out/soak.json``; the work directory (``--keep``) holds the log and the database.
The PostgreSQL database given must exist and be empty (its tables are made by the daemons, together).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__, ("sqlalchemy",))

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from _processes import PROXY_VARIABLES, descendants, monitor_command  # noqa: E402
from _report import report_checks  # noqa: E402
from sqlalchemy import text  # noqa: E402
from support.httpserver import LocalWebServer, free_loopback_hosts  # noqa: E402
from support.news import Entry, article_html, rss  # noqa: E402

from monitor.store.db import open_database  # noqa: E402

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
MEMORY_MB = 400  # summed RSS of one daemon's process tree (main, forkserver, one extraction worker)


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
        self._lock = threading.Lock()
        self._serve_feed()

    def _serve_feed(self) -> None:
        self.web.set(
            "/feed.xml", rss(self.name, self.web.url("/", host=self.host), self.entries), host=self.host
        )

    def publish(self, slug: str, title: str, body: list[str], sign_up: bool = False) -> str:
        url = self.web.url(f"/news/{slug}", host=self.host)
        if sign_up:
            body = [f"Sign up for {self.name} alerts in your inbox.", *body, "Read more: world news."]
        self.web.set(f"/news/{slug}", article_html(title, body, site_name=self.name), host=self.host)
        entry = Entry(
            slug, title, body[0][:200], url, guid=f"urn:{self.name}:{slug}", published=datetime.now(UTC)
        )
        with self._lock:
            self.entries = [entry, *self.entries][:LISTED]
            self._serve_feed()
        return url


class Receiver(BaseHTTPRequestHandler):
    """The webhook channel's other end: keeps every digest it is sent."""

    digests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.digests.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def newsroom(outlets: list[Outlet], stop: threading.Event, published: list[tuple[str, bool]]) -> None:
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
        published.append((outlets[0].publish(slug, title, body), on_topic))
        for reprint in rng.sample(outlets[1:4], rng.randint(1, 3)):
            published.append((reprint.publish(slug, title, body, sign_up=True), on_topic))
        if rng.random() < 0.5:
            writer = outlets[rng.randint(4, 5)]
            own = paragraphs(f"{slug}w", subject)
            published.append((writer.publish(f"{slug}w", f"{title}: a report", own), on_topic))
        stop.wait(rng.uniform(3, 8))


def config_text(web: LocalWebServer, outlets: list[Outlet], hook: str) -> str:
    lines = [
        "settings:",
        "  min_interval: 20s",
        "  max_interval: 2m",
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


def tree_rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in {p for root in pids for p in descendants(root)}:
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="how long the newsroom publishes (4)")
    parser.add_argument("--instances", type=int, default=1, help="daemons sharing the database (1)")
    parser.add_argument("--database", help="a database URL (default: an SQLite file in the work directory)")
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

    def start() -> subprocess.Popen:
        command = [*monitor_command(), "--config", str(config), "--db", database, "run"]
        return subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)

    daemons = [start() for _ in range(args.instances)]
    stop = threading.Event()
    published: list[tuple[str, bool]] = []
    threading.Thread(target=newsroom, args=(outlets, stop, published), daemon=True).start()
    memory: list[tuple[float, float]] = []
    began, edited, killed = time.monotonic(), False, False
    run_for = args.minutes * 60
    try:
        while (elapsed := time.monotonic() - began) < run_for:
            time.sleep(5)
            memory.append((round(elapsed), round(tree_rss_mb([d.pid for d in daemons]))))
            print(
                f"[{elapsed:4.0f}s] {len(published)} published, {len(Receiver.digests)} digests, "
                f"{memory[-1][1]:.0f} MB",
                flush=True,
            )
            if not edited and elapsed > 0.3 * run_for:
                config.write_text(config_text(web, outlets, hook))
                for daemon in daemons:
                    daemon.send_signal(signal.SIGHUP)
                edited = True
                print("added a feed to feeds.yaml, SIGHUP to every instance", flush=True)
            if not killed and elapsed > 0.55 * run_for:
                os.killpg(daemons[0].pid, signal.SIGKILL)
                daemons[0].wait()
                daemons[0] = start()
                killed = True
                print("kill -9 of one instance, started again", flush=True)
        stop.set()
        print("newsroom stopped; two more minutes of digests", flush=True)
        time.sleep(130)
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
        for digest in Receiver.digests
        for topic in digest["topics"]
        for item in topic["items"]
        for article in item["article_ids"]
    )
    db = open_database(database, migrate=False)
    with db.engine.connect() as connection:
        stored = {row[0] for row in connection.execute(text("SELECT url FROM articles"))}
        matched = {row[0] for row in connection.execute(text("SELECT article_id FROM article_matches"))}
    db.dispose()
    errors = [line for line in log_path.read_text().splitlines() if " ERROR " in line or "Traceback" in line]
    peak = max((mb for _, mb in memory), default=0.0)
    last = memory[-1][1] if memory else 0.0
    missing = [url for url, _ in published if url not in stored]
    twice = sorted(article for article, times in delivered.items() if times > 1)
    undelivered = sorted(matched - set(delivered))
    print(
        f"\n{len(published)} published, {len(published) - len(missing)} stored; {len(matched)} matched, "
        f"{len(delivered)} delivered in {len(Receiver.digests)} digests; memory (summed RSS of the process "
        f"trees) {peak:.0f} MB at most, {last:.0f} MB at the end; {len(errors)} error lines in the log"
    )
    for line in errors[:10]:
        print(f"  {line}")
    checks = {
        f"every published article stored ({len(missing)} missing)": not missing,
        f"every matched article delivered ({len(undelivered)} not)": not undelivered,
        f"no article delivered twice ({len(twice)} were)": not twice,
        f"no ERROR in the log ({len(errors)} lines)": not errors,
        f"memory under {MEMORY_MB} MB per instance ({peak:.0f} MB at most)": peak
        < MEMORY_MB * args.instances,
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
        "memory_mb": memory,
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
