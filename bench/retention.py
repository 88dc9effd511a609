"""Retention: the database size over simulated months, with ``articles: 30d`` against no retention.

Simulates ``--days`` days at ``--per-day`` articles a day (small synthetic texts) with a fake clock, storing
each article through the real store functions (the article, its feed link, its band keys, its wire cluster,
a match), and in one of the two databases runs the daily prune. Prints the size per simulated month and the
bytes per article. Defaults: 180 days at 2,000 a day; ``--days 60 --per-day 300`` runs in a minute.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from monitor.config import RetentionSettings
from monitor.extract import Article, BodySource
from monitor.retention import prune
from monitor.store import articles as article_store
from monitor.store import clusters as cluster_store
from monitor.store.db import open_database, size_bytes
from monitor.store.models import ArticleMatch, Feed

WORDS = ("arms missile drone sanctions ministry report officials said talks border shipment army navy "
         "port deal minister week government forces").split()
START = datetime(2026, 1, 1, tzinfo=UTC)


def _article(n: int, at: datetime, rng: random.Random) -> Article:
    body = " ".join(rng.choice(WORDS) for _ in range(300))
    url = f"https://news.example/{n}"
    return Article(entry_key=url, url=url, canonical_url=url, guid=url, title=f"Story {n}", author=None,
                   published=at, fetched_at=at, language="en", body=body, summary=body[:200],
                   body_source=BodySource.EXTRACTED, body_note=None, content_hash=f"{n:064x}", site_name="News")


def simulate(url: str, days: int, per_day: int, retention: RetentionSettings | None) -> list[tuple[int, int, int]]:
    db = open_database(url)
    rng = random.Random(1)
    with db.session() as session:
        feed = Feed(name="F", url="https://news.example/feed", created_at=START)
        session.add(feed)
        session.flush()
        feed_id = feed.id
    sizes, n = [], 0
    for day in range(days):
        with db.session() as session:
            for i in range(per_day):
                at = START + timedelta(days=day, seconds=i * 86400 // per_day)
                article_id, _ = article_store.save_article(session, article=_article(n, at, rng), feed_id=feed_id,
                                                           now=at)
                cluster = cluster_store.new_cluster(session, at=at, article_id=article_id, agency=None)
                cluster_store.record_dedup(session, article_id=article_id, wire_cluster_id=cluster, story_id=None,
                                           method="new", match_id=None, wire_score=None, story_score=None,
                                           agency=None, agency_evidence=None)
                cluster_store.add_bands(session, article_id=article_id, keys=rng.sample(range(1 << 40), 40),
                                        seen_at=at)
                if i % 10 == 0:
                    session.add(ArticleMatch(article_id=article_id, topic="arms", score=40.0, snippet="**arms**",
                                             evidence='{"terms":' + '["arms"],' * 100 + '"x":1}', watchlist="w",
                                             matched_at=at))
                n += 1
        if retention is not None:
            prune(db, retention, now=START + timedelta(days=day + 1), pause=0)
        if (day + 1) % 30 == 0 or day + 1 == days:
            with db.engine.connect() as connection:
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            stored = n if retention is None else min(n, 30 * per_day)
            sizes.append((day + 1, size_bytes(db), stored))
    db.dispose()
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--per-day", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = simulate(f"sqlite:///{Path(tmp) / 'base.db'}", args.days, args.per_day, None)
        kept = simulate(f"sqlite:///{Path(tmp) / 'kept.db'}", args.days, args.per_day,
                        RetentionSettings(articles="30d", evidence="10d", deliveries="30d"))
    print(f"{args.days} days at {args.per_day} articles a day (SQLite)")
    print(f"{'day':>5} {'no retention':>14} {'articles: 30d':>14} {'ratio':>6}")
    for (day, size, _), (_, kept_size, _) in zip(base, kept):
        print(f"{day:>5} {size / 1e6:>12.1f}MB {kept_size / 1e6:>12.1f}MB {kept_size / size:>6.2f}")
    day, size, stored = base[-1]
    print(f"bytes per article, no retention: {size / stored:,.0f}")
    day, size, stored = kept[-1]
    print(f"bytes per article kept, articles: 30d: {size / stored:,.0f}")


if __name__ == "__main__":
    sys.exit(main())
