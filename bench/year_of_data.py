"""A year of data: a newsroom's database after a year of news, and what the CLI costs on it.

``bench/history.py`` writes the articles, wire clusters, stories, matches and daily digests of a synthetic
history; this bench writes the same history over ``--feeds`` feeds and adds what a year of real polling also
leaves: wire stories sighted by several feeds, ``--topics`` topics matched, six alerts a day beside the
daily digest, every article's band keys, the stories' profiles and keys, and term counts. The year ends now,
so ``--since 6h`` reads its last six hours. It then runs the CLI as a user would (``monitor feeds``,
``articles --since 6h``, ``articles --feed``, ``stories``, ``matches``, ``deliveries``, ``digest --preview``,
``prune --dry-run``, ``check``), each a fresh process, and prints each command's median wall time beside
``monitor check`` (start-up and configuration alone, no database read) measured in the same run, and the
database's size.

    .venv/bin/python bench/year_of_data.py                           # 365 days at 550 a day: about 10 minutes
    .venv/bin/python bench/year_of_data.py --days 30 --per-day 200   # a smoke run, half a minute
    .venv/bin/python bench/year_of_data.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/year
    .venv/bin/python bench/year_of_data.py --keep DIR --build-only   # keep the configuration and SQLite file

A PostgreSQL database given is emptied first (its tables dropped and made again). SQLite is left without
statistics (no ``ANALYZE``), as monitor leaves it: its plans are those of a real daemon's file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__)

import history  # noqa: E402
from sqlalchemy import insert, select, text, update  # noqa: E402

from monitor.store.db import Database, open_database, size_bytes  # noqa: E402
from monitor.store.models import (  # noqa: E402
    Article,
    ArticleFeed,
    ArticleMatch,
    Base,
    Delivery,
    DeliveryItem,
    LshBand,
    Story,
    StoryKey,
    TermCount,
)

BANDS = 42  # band keys an article leaves (monitor.dedupe.fingerprint.BANDS)
PROFILE_TERMS = 100  # terms of a story's profile (monitor.dedupe.stories.PROFILE_TERMS)
STORY_KEYS = 8  # a story's indexed strongest terms
VOCABULARY = 40_000  # distinct terms counted over a year
EXTRA_SIGHTINGS = (1, 4)  # other feeds that list a wire story, at least and at most
ALERTS_A_DAY = 6  # alert deliveries of the digest on Slack, each carrying one high-scoring match


def topic_name(number: int) -> str:
    return f"topic-{number:02d}"


class Year(history.History):
    """``bench/history.py``'s history, with what real polling adds to each day."""

    def __init__(self, db: Database, per_day: int, *, feeds: int, topics: int) -> None:
        super().__init__(db, per_day)
        self.feed_count, self.topics = feeds, topics
        self.weights = [1 / (rank + 1) for rank in range(feeds)]

    def day(self, day: int) -> None:
        first = self.next_id
        story_ids_before = {sid for sid, _ in self.stories}
        super().day(day)
        rows = range(first, self.next_id)
        self._alerts([article for article, _ in self.matched[:ALERTS_A_DAY]])
        with self.db.session() as session:
            articles = history._table(Article)
            day_rows = session.execute(
                select(
                    articles.c.id, articles.c.fetched_at, articles.c.wire_method, articles.c.story_id
                ).where(articles.c.id.between(rows.start, rows.stop - 1))
            ).all()
            bands, sightings, keys = [], [], []
            for article_id, fetched_at, method, story_id in day_rows:
                epoch = int(fetched_at.replace(tzinfo=UTC).timestamp())
                bands += [
                    {"band_key": self.rng.getrandbits(62), "seen_epoch": epoch, "article_id": article_id}
                    for _ in range(BANDS)
                ]
                if method == "new" and self.rng.random() < 0.3:  # a wire story: other feeds list it too
                    for other in self.rng.sample(
                        range(1, self.feed_count + 1), self.rng.randint(*EXTRA_SIGHTINGS)
                    ):
                        sightings.append(
                            {
                                "article_id": article_id,
                                "feed_id": other,
                                "entry_key": f"urn:outlet{other}:copy:{article_id}",
                                "first_seen_at": fetched_at.replace(tzinfo=UTC) + timedelta(minutes=20),
                            }
                        )
                if story_id == article_id and story_id not in story_ids_before:  # a story opened today
                    terms = {f"term{self.rng.randrange(VOCABULARY)}" for _ in range(STORY_KEYS)}
                    keys += [{"term": term, "seen_epoch": epoch, "story_id": story_id} for term in terms]
            session.execute(insert(LshBand.__table__), bands)
            if sightings:
                session.execute(insert(history._table(ArticleFeed)), sightings)
            if keys:
                session.execute(insert(StoryKey.__table__), keys)
            profile = json.dumps(
                {
                    f"term{self.rng.randrange(VOCABULARY)}": round(self.rng.random(), 4)
                    for _ in range(PROFILE_TERMS)
                }
            )
            stories = history._table(Story)
            session.execute(update(stories).where(stories.c.id >= first).values(profile=profile))

    def _alerts(self, article_ids: list[int]) -> None:
        """The day's alerts, one delivery a match, sent when it was stored."""
        deliveries, items = history._table(Delivery), history._table(DeliveryItem)
        with self.db.session() as session:
            for article_id in article_ids:
                at = session.scalar(select(Article.fetched_at).where(Article.id == article_id)).replace(
                    tzinfo=UTC
                )
                delivery = session.execute(
                    insert(deliveries).returning(deliveries.c.id),
                    [
                        {"digest": "morning", "kind": "alert", "channel": "slack", "period": at}
                        | {"status": "sent", "created_at": at, "sent_at": at}
                    ],
                ).scalar_one()
                session.execute(
                    insert(items),
                    [
                        {
                            "delivery_id": delivery,
                            "article_id": article_id,
                            "topic": history.TOPIC,
                            "delivered_at": at,
                        }
                    ],
                )

    def spread_topics(self) -> None:
        """The day's writes name one topic: spread the matches and delivery items over all of them, and match
        a fifth of the matched articles under a second topic too."""
        matches, items = history._table(ArticleMatch), history._table(DeliveryItem)
        with self.db.session() as session:
            for number in range(self.topics):
                of_topic = matches.c.article_id % self.topics == number
                session.execute(update(matches).where(of_topic).values(topic=topic_name(number)))
                session.execute(
                    update(items)
                    .where(items.c.article_id % self.topics == number)
                    .values(topic=topic_name(number))
                )
                second = select(
                    matches.c.article_id,
                    text(f"'{topic_name((number + 1) % self.topics)}'"),
                    matches.c.score,
                    matches.c.snippet,
                    matches.c.evidence,
                    matches.c.watchlist,
                    matches.c.matched_at,
                ).where(of_topic, matches.c.article_id % 5 == 0)
                session.execute(
                    insert(matches).from_select(
                        ["article_id", "topic", "score", "snippet", "evidence", "watchlist", "matched_at"],
                        second,
                    )
                )
            session.execute(
                update(matches).values(
                    snippet="… the **ministry** said on Monday that the **missile** shipment …",
                    evidence=json.dumps(
                        {
                            "clauses": ["ministry", "missile"],
                            "terms": [{"term": "ministry", "count": 2, "hits": []}],
                            "snippet": "… the ministry said on Monday that the missile shipment …",
                            "highlights": [[6, 14], [39, 46]],
                            "snippet_field": "body",
                        }
                    ),
                )
            )

    def term_counts(self, days: int) -> None:
        end = int(history.START.timestamp()) + days * 86400
        rows = [
            {
                "term": f"term{n}",
                "documents": self.rng.randint(1, 5000),
                "last_counted": end - self.rng.randrange(days * 86400),
            }
            for n in range(VOCABULARY)
        ]
        with self.db.session() as session:
            session.execute(insert(TermCount.__table__), rows)


def build(db: Database, *, days: int, per_day: int, feeds: int, topics: int, end: datetime) -> Year:
    """Write ``days`` of history ending at ``end`` into an empty, migrated database."""
    history.START = end - timedelta(days=days)
    history.FEEDS = feeds
    year = Year(db, per_day, feeds=feeds, topics=topics)
    year.feeds()
    started = time.perf_counter()
    for day in range(days):
        year.day(day)
        if (day + 1) % 30 == 0 or day + 1 == days:
            print(
                f"[{time.perf_counter() - started:6.1f}s] {day + 1} days written ({year.next_id - 1:,} articles)"
            )
    year.spread_topics()
    year.term_counts(days)
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does for a daemon's database in its months: the bulk writes here outrun it. SQLite
        # is left without statistics, as monitor leaves it.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return year


def config_text(feeds: int, topics: int) -> str:
    """A ``feeds.yaml`` naming the history's feeds, its topics and a daily digest."""
    lines = ["settings:", "  fetch_pages: false", "watchlist:", "  topics:"]
    for number in range(topics):
        lines += [f"    - name: {topic_name(number)}", f'      query: "ministry AND term{number}"']
    lines += [
        "digests:",
        "  - name: morning",
        '    schedule: "0 7 * * *"',
        "    channels:",
        "      slack:",
        "        webhook_url: http://127.0.0.1:9/hook",
        "feeds:",
    ]
    for number in range(1, feeds + 1):
        lines += [f"  - name: feed {number}", f"    url: https://outlet{number}.example/rss"]
    return "\n".join(lines) + "\n"


COMMANDS: dict[str, list[str]] = {
    "check (baseline)": ["check"],
    "feeds": ["feeds"],
    "feeds --problems": ["feeds", "--problems"],
    "articles --since 6h": ["articles", "--since", "6h"],
    "articles --feed (the busiest)": ["articles", "--feed", "feed 1"],
    "stories": ["stories"],
    "stories --since 2d": ["stories", "--since", "2d"],
    "matches": ["matches"],
    "deliveries": ["deliveries"],
    "digest morning --preview": ["digest", "morning", "--preview", "{tmp}/preview.html"],
    "prune --dry-run": ["prune", "--dry-run"],
}


def time_commands(config: Path, url: str, tmp: Path, repeats: int) -> dict[str, float]:
    """Each command's median wall time in seconds, a fresh process each time."""
    monitor = Path(sys.executable).with_name("monitor")
    env = os.environ | {"MONITOR_LOG_FORMAT": "text"}
    found = {}
    for name, arguments in COMMANDS.items():
        argv = [str(monitor), "--config", str(config), "--db", url] + [a.format(tmp=tmp) for a in arguments]
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            times.append(time.perf_counter() - started)
            if done.returncode not in (0, 1):
                print(f"{name}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
        found[name] = statistics.median(times)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="days of history [365]")
    parser.add_argument("--per-day", type=int, default=550, help="articles a day [550]")
    parser.add_argument("--feeds", type=int, default=150, help="feeds [150]")
    parser.add_argument("--topics", type=int, default=30, help="watchlist topics [30]")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command [3]")
    parser.add_argument(
        "--database-url", help="a PostgreSQL database to use (emptied) [a temporary SQLite file]"
    )
    parser.add_argument(
        "--keep", type=Path, help="write the configuration and SQLite file here, and keep them"
    )
    parser.add_argument("--build-only", action="store_true", help="write the data, time nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="monitor-year-") as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite:///{tmp}/year.db"
        if args.database_url:
            emptied = open_database(url, migrate=False)
            Base.metadata.drop_all(emptied.engine)
            with emptied.engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            emptied.dispose()
        elif Path(f"{tmp}/year.db").exists():
            Path(f"{tmp}/year.db").unlink()
        db = open_database(url)
        try:
            build(
                db,
                days=args.days,
                per_day=args.per_day,
                feeds=args.feeds,
                topics=args.topics,
                end=datetime.now(UTC),
            )
            print(f"database size: {size_bytes(db) / 1e6:,.0f} MB")
        finally:
            db.dispose()
        config = tmp / "feeds.yaml"
        config.write_text(config_text(args.feeds, args.topics))
        if args.build_only:
            return 0
        timings = time_commands(config, url, tmp, args.repeats)
    baseline = timings["check (baseline)"]
    print(f"\n{'command':30} | {'median':>8} | over check")
    print("-" * 56)
    for name, seconds in timings.items():
        print(f"{name:30} | {seconds:7.2f}s | {seconds - baseline:+7.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
