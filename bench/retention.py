"""Retention: the database size over simulated months, with ``articles: 30d`` against no retention.

Simulates ``--days`` days at ``--per-day`` articles a day (small synthetic texts) with a fake clock, storing
each article through the real store functions (the article, its feed link, its band keys, its wire cluster,
its term and paragraph counts, a match), and in one of the two databases runs the daily prune. Prints the size per simulated month and the
bytes per article. Defaults: 180 days at 2,000 a day; ``--days 60 --per-day 300`` runs in a minute.
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _placing import article_value
from sqlalchemy import text

from monitor.config import RetentionSettings
from monitor.dedupe.stories import paragraph_keys, term_counts
from monitor.retention import prune
from monitor.store import articles as article_store
from monitor.store import clusters as cluster_store
from monitor.store import counts as counts_store
from monitor.store.db import open_database, size_bytes
from monitor.store.models import ArticleMatch, Feed
from monitor.store.records import Article

WORDS = (
    "arms missile drone sanctions ministry report officials said talks border shipment army navy "
    "port deal minister week government forces"
).split()
START = datetime(2026, 1, 1, tzinfo=UTC)


PARAGRAPHS = 6  # per article
TEMPLATES = 500  # paragraphs of common words that articles are made of


@functools.cache
def _templates() -> tuple[str, ...]:
    rng = random.Random(0)
    return tuple(" ".join(rng.choice(WORDS) for _ in range(50)) for _ in range(TEMPLATES))


@functools.cache
def _template_terms(index: int) -> frozenset[str]:
    return frozenset(term_counts(None, _templates()[index]))


def _article(n: int, at: datetime, rng: random.Random) -> tuple[Article, set[str]]:
    """An article, and the terms the story level counts for it.

    Its paragraphs are common words, each led by a word of its own (a name, a place, a number: news brings new
    ones every day), so that the term and paragraph counts grow as they do with real texts. The terms are
    those of ``term_counts``, taken once per template paragraph: tokenizing every text would take longer than
    storing it, and this benchmark is about storage."""
    picked = [rng.randrange(TEMPLATES) for _ in range(PARAGRAPHS)]
    names = [f"name{n}x{p}" for p in range(PARAGRAPHS)]
    body = "\n".join(f"{name} {_templates()[i]}" for name, i in zip(names, picked))
    url = f"https://news.example/{n}"
    article = article_value(
        url,
        body,
        at,
        guid=url,
        title=f"Story {n}",
        language="en",
        summary=body[:200],
        content_hash=f"{n:064x}",
        site_name="News",
    )
    return article, set().union(*(_template_terms(i) for i in picked), names, {"story"})


def simulate(
    url: str, days: int, per_day: int, retention: RetentionSettings | None
) -> list[tuple[int, int, int, tuple[int, int]]]:
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
                article, terms = _article(n, at, rng)
                article_id, _ = article_store.save_article(session, article=article, feed_id=feed_id, now=at)
                cluster = cluster_store.new_cluster(session, at=at, article_id=article_id, agency=None)
                cluster_store.record_dedup(
                    session,
                    article_id=article_id,
                    wire_cluster_id=cluster,
                    story_id=None,
                    method="new",
                    match_id=None,
                    wire_score=None,
                    story_score=None,
                    agency=None,
                    agency_evidence=None,
                )
                cluster_store.add_bands(
                    session, article_id=article_id, keys=rng.sample(range(1 << 40), 40), seen_at=at
                )
                # What the story level counts for an original (monitor.dedupe.stage._story_vector).
                counts_store.count_paragraphs(session, keys=paragraph_keys(article.body), at=at)
                counts_store.count_terms(session, terms=terms, at=at)
                if i % 10 == 0:
                    session.add(
                        ArticleMatch(
                            article_id=article_id,
                            topic="arms",
                            score=40.0,
                            snippet="**arms**",
                            evidence='{"terms":' + '["arms"],' * 100 + '"x":1}',
                            watchlist="w",
                            matched_at=at,
                        )
                    )
                n += 1
        if retention is not None:
            prune(db, retention, now=START + timedelta(days=day + 1), pause=0)
        if (day + 1) % 30 == 0 or day + 1 == days:
            with db.engine.connect() as connection:
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            stored = n if retention is None else min(n, 30 * per_day)
            sizes.append((day + 1, size_bytes(db), stored, _count_rows(db)))
    db.dispose()
    return sizes


def _count_rows(db) -> tuple[int, int]:
    with db.engine.connect() as connection:
        return tuple(
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("term_counts", "paragraph_counts")
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--per-day", type=int, default=2000)
    args = parser.parse_args(argv)
    simulating = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base = simulate(f"sqlite:///{Path(tmp) / 'base.db'}", args.days, args.per_day, None)
        kept = simulate(
            f"sqlite:///{Path(tmp) / 'kept.db'}",
            args.days,
            args.per_day,
            RetentionSettings(articles="30d", evidence="10d", deliveries="30d"),
        )
    simulated = time.monotonic() - simulating
    print(f"{args.days} days at {args.per_day} articles a day (SQLite)")
    print(
        f"{'day':>5} {'no retention':>14} {'articles: 30d':>14} {'ratio':>6} {'term/paragraph rows, none':>27} "
        f"{'with 30d':>17}"
    )
    for (day, size, _, rows), (_, kept_size, _, kept_rows) in zip(base, kept):
        print(
            f"{day:>5} {size / 1e6:>12.1f}MB {kept_size / 1e6:>12.1f}MB {kept_size / size:>6.2f} "
            f"{rows[0]:>13,}/{rows[1]:>13,} {kept_rows[0]:>8,}/{kept_rows[1]:>8,}"
        )
    day, size, stored, _ = base[-1]
    print(f"bytes per article, no retention: {size / stored:,.0f}")
    day, size, stored, _ = kept[-1]
    print(f"bytes per article kept, articles: 30d: {size / stored:,.0f}")
    print(f"({simulated:.0f}s to simulate both)")


if __name__ == "__main__":
    sys.exit(main())
