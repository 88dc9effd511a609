"""History: what the daemon's everyday reads cost once the database holds a year, against a month.

A daemon run for a year keeps a year of articles (``retention: articles: 365d`` by default). Its everyday
work must not grow with that history: a poll reads each feed's sightings of the week, a quiet feed's latest
ones, a changed article's exact copies; each digest and alert check reads the matches and the stories with
news since its last run. Each of those is an index search that only the recent rows answer; a statement that
scans a table instead costs twelve times as much after a year as after a month, and runs every minute.

The bench writes ``--days`` of synthetic history at ``--per-day`` articles a day (bodies of real length;
feed links, wire clusters with exact copies, stories, matches and one digest a day with its delivery items)
straight into the tables, and times each read on the state after ``--early`` days and after ``--days``, as
the daemon would run it then. It prints both and their ratio: the history grew ``days / early`` times; the
reads should not (target: each at most 2x).

    .venv/bin/python bench/history.py                      # 365 days at 500 a day: about two minutes
    .venv/bin/python bench/history.py --days 120 --early 20 --per-day 200   # smoke test
    .venv/bin/python bench/history.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/history

A PostgreSQL database given is emptied first (its tables dropped and made again).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__)

from sqlalchemy import Table, func, insert, select, text, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from monitor.schedule import SILENCE_PUBLICATIONS, SILENCE_READ_SINCE  # noqa: E402
from monitor.store import clusters as cluster_store  # noqa: E402
from monitor.store import digests as digest_store  # noqa: E402
from monitor.store import sightings as sighting_store  # noqa: E402
from monitor.store.articles import EntryRef, find_known  # noqa: E402
from monitor.store.db import Database, open_database  # noqa: E402
from monitor.store.models import (  # noqa: E402
    Article,
    ArticleFeed,
    ArticleMatch,
    Base,
    Delivery,
    DeliveryItem,
    Feed,
    Story,
    WireCluster,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
FEEDS = 200
BODY_WORDS = 400  # about 2,600 characters, a short news article
WORDS = (
    "arms missile drone sanctions ministry report officials said talks border shipment army navy port deal "
    "minister week government forces statement capital region security council trade oil talks summit"
).split()
COPY_SHARE = 0.15  # of a day's articles, exact copies of an earlier one that day (wire reprints)
MATCH_SHARE = 0.08  # matched by a topic
TOPIC = "iran-russia-arms"  # the one topic matched
SAME_STORY = 0.7  # an original joins a story of the last three days, else opens one
TARGET_RATIO = 2.0
CARRIED = digest_store.Carried("morning", "email", ("digest",))


def _table(model) -> Table:
    return model.__table__


class History:
    """Writes the synthetic history day by day, remembering what the next day refers to."""

    def __init__(self, db: Database, per_day: int, seed: int = 0) -> None:
        self.db, self.per_day, self.rng = db, per_day, random.Random(seed)
        self.next_id = 1
        self.stories: list[tuple[int, datetime]] = []  # (id, last seen), the recent ones
        self.matched: list[tuple[int, datetime]] = []  # the latest day's matches (article, when)
        self.weights = [1 / (rank + 1) for rank in range(FEEDS)]  # a few busy feeds, many quiet ones

    def feeds(self) -> None:
        rows = [
            {"id": i, "name": f"feed {i}", "url": f"https://outlet{i}.example/rss", "created_at": START}
            for i in range(1, FEEDS + 1)
        ]
        with self.db.session() as session:
            session.execute(insert(_table(Feed)), rows)

    def _body(self) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(BODY_WORDS))

    def day(self, day: int) -> None:
        """One day of articles, and the morning digest that carried the day before's matches."""
        begin = START + timedelta(days=day)
        articles, links, clusters, matches, story_rows, story_moves = [], [], [], [], [], {}
        self.stories = [(sid, seen) for sid, seen in self.stories if seen > begin - timedelta(days=3)]
        originals: list[tuple[int, int, int]] = []  # (article, cluster, story) of the day
        today_matched: list[tuple[int, datetime]] = []
        for n in range(self.per_day):
            at = begin + timedelta(seconds=86400 * n / self.per_day)
            article_id = self.next_id
            self.next_id += 1
            feed_id = self.rng.choices(range(1, FEEDS + 1), weights=self.weights)[0]
            row = {
                "id": article_id,
                "url": f"https://outlet{feed_id}.example/{article_id}",
                "canonical_url": f"https://outlet{feed_id}.example/{article_id}",
                "guid": f"urn:outlet{feed_id}:{article_id}",
                "title": f"Report {article_id}",
                "published_at": at - timedelta(minutes=5),
                "fetched_at": at,
                "body": self._body(),
                "body_source": "page",
                "content_hash": f"{article_id:064x}",
                "wire_method": "new",
                "wire_match_id": None,  # every row names every column: executemany takes the first row's
            }
            if originals and self.rng.random() < COPY_SHARE:
                original, cluster, story = self.rng.choice(originals)
                row |= {"wire_method": "exact", "wire_match_id": original, "wire_cluster_id": cluster}
                row["story_id"] = story
            else:
                cluster = article_id
                if self.stories and self.rng.random() < SAME_STORY:
                    story = self.rng.choice(self.stories)[0]
                else:
                    story = article_id
                    story_rows.append(
                        {
                            "id": story,
                            "title": row["title"],
                            "size": 1,
                            "first_seen_at": at,
                            "last_seen_at": at,
                        }
                    )
                    self.stories.append((story, at))
                clusters.append(
                    {"id": cluster, "story_id": story, "representative_id": article_id, "size": 1}
                    | {"first_seen_at": at, "last_seen_at": at}
                )
                row |= {"wire_cluster_id": cluster, "story_id": story}
                originals.append((article_id, cluster, story))
            story_moves[row["story_id"]] = at
            articles.append(row)
            links.append(
                {"article_id": article_id, "feed_id": feed_id, "entry_key": row["guid"], "first_seen_at": at}
            )
            if self.rng.random() < MATCH_SHARE:
                score = self.rng.uniform(10, 90)
                matches.append({"article_id": article_id, "topic": TOPIC, "score": score, "matched_at": at})
                today_matched.append((article_id, at))
        with self.db.session() as session:
            if story_rows:
                session.execute(insert(_table(Story)), story_rows)
            session.execute(insert(_table(WireCluster)), clusters)
            session.execute(insert(_table(Article)), articles)
            session.execute(insert(_table(ArticleFeed)), links)
            if matches:
                session.execute(insert(_table(ArticleMatch)), matches)
            stories = _table(Story)
            for story_id, seen in story_moves.items():
                session.execute(update(stories).where(stories.c.id == story_id).values(last_seen_at=seen))
            self._digest(session, begin)
        self.stories = [(sid, story_moves.get(sid, seen)) for sid, seen in self.stories]
        self.matched = today_matched

    def _digest(self, session, begin: datetime) -> None:
        """The morning's digest: yesterday's matches, sent."""
        if not self.matched:
            return
        sent = begin + timedelta(hours=7)
        delivery = session.execute(
            insert(_table(Delivery)).returning(_table(Delivery).c.id),
            [
                {
                    "digest": CARRIED.digest,
                    "kind": "digest",
                    "channel": CARRIED.channel,
                    "period": begin,
                    "status": "sent",
                    "created_at": sent,
                    "sent_at": sent,
                }
            ],
        ).scalar_one()
        session.execute(
            insert(_table(DeliveryItem)),
            [
                {
                    "delivery_id": delivery,
                    "article_id": article_id,
                    "topic": TOPIC,
                    "delivered_at": sent,
                }
                for article_id, _ in self.matched
            ],
        )


def _median_ms(read: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(db: Database, history: History, now: datetime, repeats: int) -> dict[str, float]:
    """Each everyday read, as the daemon runs it at ``now``: median milliseconds."""
    busy_feeds = list(range(1, 21))  # a batch of feeds finishing together, the busiest among them
    quiet_feeds = list(range(41, 61))  # a few a day: thirty of them within a month
    with db.session() as session:
        last = session.scalar(select(func.max(_table(Article).c.id)))
        original = session.scalar(
            select(_table(Article).c.wire_match_id)
            .where(_table(Article).c.wire_method == "exact")
            .order_by(_table(Article).c.id.desc())
            .limit(1)
        )
    assert original is not None, "a day of history holds exact copies"
    entries = [
        EntryRef(key=f"urn:outlet1:{n}", guid=f"urn:outlet1:{n}", canonical_url=None)
        for n in range(last - 30, last + 20)
    ]
    reads: dict[str, Callable[[Session], object]] = {
        "rhythm: 20 feeds' week of sightings": lambda s: sighting_store.sightings_since(
            s, feed_ids=busy_feeds, since=now - timedelta(days=7)
        ),
        "silence: 20 feeds' latest 30": lambda s: sighting_store.latest_sightings(
            s, feed_ids=quiet_feeds, since=SILENCE_READ_SINCE, most=SILENCE_PUBLICATIONS
        ),
        "feeds listing: 20 feeds' week shared": lambda s: sighting_store.shared_since(
            s, feed_ids=busy_feeds, since=now - timedelta(days=7)
        ),
        "poll: a feed's 50 entries sorted": lambda s: find_known(s, [(1, entries)]),
        "changed article: its exact copies": lambda s: cluster_store.exact_copies(s, article_id=original),
        "digest: matches of the day": lambda s: digest_store.new_matches(
            s, carried=CARRIED, topics=(), min_score=0, since=now - timedelta(days=1), limit=500
        ),
        "digest: stories with news of the day": lambda s: digest_store.story_followups(
            s, carried=CARRIED, topics=(), min_score=0, since=now - timedelta(days=1), limit=500
        ),
        "alert check: stories with news of the hour": lambda s: digest_store.story_followups(
            s, carried=CARRIED, topics=(), min_score=45, since=now - timedelta(hours=1), limit=500
        ),
        # A digest that names its topics (as the example feeds.yaml's does) asks its stories differently.
        "digest of one topic: stories with news of the day": lambda s: digest_store.story_followups(
            s, carried=CARRIED, topics=(TOPIC,), min_score=0, since=now - timedelta(days=1), limit=500
        ),
        "alert check of one topic: stories of the hour": lambda s: digest_store.story_followups(
            s, carried=CARRIED, topics=(TOPIC,), min_score=45, since=now - timedelta(hours=1), limit=500
        ),
    }
    found = {}
    with db.session() as session:
        for name, read in reads.items():
            read(session)  # warm: the statement compiled and the pages cached, as in a running daemon
            found[name] = _median_ms(lambda read=read: read(session), repeats)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="days of history at the end [365]")
    parser.add_argument("--early", type=int, default=30, help="days of history at the first measurement [30]")
    parser.add_argument("--per-day", type=int, default=500, help="articles a day [500]")
    parser.add_argument("--repeats", type=int, default=15, help="timings of each read [15]")
    parser.add_argument(
        "--database-url", help="a PostgreSQL database to use (emptied) [a temporary SQLite file]"
    )
    args = parser.parse_args()
    if not 0 < args.early < args.days:
        parser.error("--early must be between 0 and --days")
    with tempfile.TemporaryDirectory(prefix="monitor-history-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/history.db"
        if args.database_url:
            engine_db = open_database(url)
            Base.metadata.drop_all(engine_db.engine)
            with engine_db.engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            engine_db.dispose()
        db = open_database(url)
        try:
            return run(db, args)
        finally:
            db.dispose()


def run(db: Database, args) -> int:
    history = History(db, args.per_day)
    history.feeds()
    started = time.perf_counter()
    results: dict[int, dict[str, float]] = {}
    for day in range(args.days):
        history.day(day)
        if day + 1 in (args.early, args.days):
            now = START + timedelta(days=day + 1)
            print(
                f"[{time.perf_counter() - started:6.1f}s] {day + 1} days written ({history.next_id - 1:,} articles)"
            )
            if db.engine.dialect.name == "postgresql":
                # What autovacuum does for a daemon's database in its months: the bulk writes here outrun it.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("ANALYZE"))
            results[day + 1] = measure(db, history, now, args.repeats)
    early, late = results[args.early], results[args.days]
    grown = args.days / args.early
    print()
    print(
        f"{'read':45} | {f'{args.early} days':>10} | {f'{args.days} days':>10} | ratio | target <= {TARGET_RATIO:.0f}x"
    )
    print("-" * 95)
    failed = 0
    for name in early:
        ratio = late[name] / early[name] if early[name] > 0 else float("inf")
        ok = ratio <= TARGET_RATIO
        failed += not ok
        print(
            f"{name:45} | {early[name]:8.2f}ms | {late[name]:8.2f}ms | {ratio:5.1f}x | {'PASS' if ok else 'FAIL'}"
        )
    print(
        f"\nhistory grew {grown:.0f}x ({args.per_day:,} articles a day); {failed} reads grew more than {TARGET_RATIO:.0f}x"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
