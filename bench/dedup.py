#!/usr/bin/env python
"""Deduplication speed: fingerprinting, LSH lookup and insert for N articles on SQLite, on one core.

    .venv/bin/python bench/dedup.py              # 100,000 articles (several minutes)
    .venv/bin/python bench/dedup.py --n 20000    # quicker, for development

What it measures:

1. throughput: every article is stored (a Core insert of its row), fingerprinted, looked up in the
   ``lsh_bands`` table within the 14-day window, confirmed against its candidates' texts, indexed and placed
   in a wire cluster (``monitor.dedupe.stage.assign_wire_cluster``), committing every 500 articles. The
   texts are synthetic (a Zipf-distributed vocabulary, 150 to 1,500 words, about 550 on average); one in ten
   is a reprint of a recent article (trimmed, with outlet header and footer), so lookups find real matches.
   Articles arrive at ``--per-day`` a day, so the window holds the same number of articles at 10k as at 100k
   when ``--per-day`` is below 10,000/14; the default (2,000 a day) makes the window hold 28,000 articles,
   more than the whole store at 10k, so the ratio below also shows the index's own growth.
2. lookup time per article at 10k and at N stored articles: the same 500 probe texts (fresh reprints) looked
   up and confirmed, not inserted; the ratio of the two.
3. the whole stage, story level included (``monitor.dedupe.deduplicate``), on ``--stage`` articles of
   their own: CPU time per article for the first and the last 1,000.
4. baseline, in the same run: brute-force pairwise comparison of MinHash signatures (numpy, every article
   against every earlier one) over the first 5,000 articles, against the LSH path over the same 5,000, and
   the cost of one brute-force lookup, which grows with the store where the LSH lookup stays flat.
5. a hot story (``--hot``): one story copied that many times within a day among as many other articles,
   half exact copies and half trimmed reprints, each through the whole stage: CPU time per copy for the
   first and the last 100, which must stay within 2x.

Times are CPU time of this (single-threaded) process, so that other work on the machine does not count;
wall-clock time is printed beside it. Prints the figures with targets and PASS/FAIL; writes
bench/out/dedup.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no threaded numpy kernels
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _placing import article_value
from _report import report_checks

from monitor.config import DedupSettings
from monitor.dedupe import fingerprint as fp
from monitor.dedupe import stage
from monitor.store import clusters as store
from monitor.store.db import open_database
from monitor.store.models import Article as ArticleRow
from monitor.store.records import Article

START = datetime(2025, 1, 1, tzinfo=UTC)
COMMIT_EVERY = 500


class Corpus:
    """Synthetic news-like texts, made on demand so 100,000 of them need not sit in memory."""

    def __init__(self, seed: int = 1, vocabulary: int = 40_000) -> None:
        self.rng = np.random.default_rng(seed)
        syllables = np.array(
            [
                "ka",
                "lo",
                "mi",
                "ne",
                "ra",
                "to",
                "su",
                "vi",
                "de",
                "an",
                "or",
                "el",
                "us",
                "ti",
                "po",
                "ber",
                "gan",
                "stra",
                "mon",
                "ly",
            ]
        )
        lengths = self.rng.integers(1, 5, vocabulary)
        self.words = np.array(["".join(self.rng.choice(syllables, n)) for n in lengths])
        ranks = np.arange(1, vocabulary + 1)
        self.p = (1 / ranks**1.07) / (1 / ranks**1.07).sum()
        self.recent: list[str] = []

    def original(self) -> str:
        n = int(np.clip(self.rng.normal(550, 180), 150, 1500))
        tokens = self.words[self.rng.choice(len(self.words), n, p=self.p)]
        # Paragraphs of about 60 words, sentences of about 20, as news text has.
        paragraphs = [" ".join(tokens[i : i + 60]).capitalize() + "." for i in range(0, n, 60)]
        return "\n\n".join(paragraphs)

    def reprint(self, text: str) -> str:
        paragraphs = text.split("\n\n")
        keep = max(2, int(len(paragraphs) * self.rng.uniform(0.6, 0.95)))
        return "\n\n".join(
            ["Sign up for our newsletter for the day's top stories."]
            + paragraphs[:keep]
            + ["Copyright The Courier. All rights reserved."]
        )

    def varied(self, text: str, changes: int = 3) -> str:
        """The text with a few words replaced by numbers: one of a day's robot-written reports (markets,
        weather, sports results), each near-identical to every other."""
        words = text.split(" ")
        for at in self.rng.integers(len(words), size=changes):
            words[at] = str(int(self.rng.integers(10**6)))
        return " ".join(words)

    def next(self) -> str:
        if self.recent and self.rng.random() < 0.1:
            return self.reprint(self.recent[int(self.rng.integers(len(self.recent)))])
        text = self.original()
        self.recent.append(text)
        if len(self.recent) > 2000:
            self.recent.pop(0)
        return text


def bench_article(n: int, text: str, at: datetime) -> Article:
    return article_value(f"https://bench.invalid/{n}", text, at)


_INSERT = ArticleRow.__table__.insert()


def place(session, settings: DedupSettings, value: Article) -> None:
    """Store one article's row and place it at the wire level: what the pipeline does per article."""
    at, text = value.fetched_at, value.body
    result = session.connection().execute(
        _INSERT,
        {
            "url": value.url,
            "canonical_url": value.canonical_url,
            "fetched_at": at,
            "published_at": at,
            "body": text,
            "body_source": "extracted",
            "content_hash": value.content_hash,
            "revisions": 0,
        },
    )
    article_id = result.inserted_primary_key[0]
    match = stage.assign_wire_cluster(session, article_id=article_id, article=value, settings=settings)
    store.record_dedup(
        session,
        article_id=article_id,
        wire_cluster_id=match.cluster_id,
        story_id=None,
        method=match.method,
        match_id=match.match_id,
        wire_score=match.score,
        story_score=None,
        agency=None,
        agency_evidence=None,
    )


def probe(db, settings: DedupSettings, probes: list[tuple[str, datetime]]) -> tuple[float, float]:
    """CPU seconds per article to fingerprint, look up and confirm (nothing stored), and the share matched."""
    with db.session() as session:
        for text, at in probes[:50]:  # warm the page cache and statement cache
            stage.near_match(
                session,
                article_id=-1,
                body=text,
                keys=fp.fingerprint(text).band_keys,
                since=at - settings.window,
                until=at + settings.window,
                threshold=settings.wire_threshold,
            )
        started = time.process_time()
        found = 0
        for text, at in probes:
            found += (
                stage.near_match(
                    session,
                    article_id=-1,
                    body=text,
                    keys=fp.fingerprint(text).band_keys,
                    since=at - settings.window,
                    until=at + settings.window,
                    threshold=settings.wire_threshold,
                )
                is not None
            )
        elapsed = time.process_time() - started
    return elapsed / len(probes), found / len(probes)


def brute_force(texts: list[str], threshold: float) -> tuple[float, float]:
    """The baseline without an index: every article's MinHash signature compared with every earlier one's.

    Returns:
        CPU seconds for all pairs (comparisons only; signatures are made untimed), and CPU seconds to
        compare one more article with all of them.
    """
    signatures = np.array([fp.minhash(fp.shingles(text)) for text in texts], dtype=np.uint64)
    started = time.process_time()
    matches = 0
    for i in range(1, len(texts)):
        similarity = np.count_nonzero(signatures[:i] == signatures[i], axis=1) / fp.NUM_PERM
        matches += int(np.count_nonzero(similarity >= threshold) > 0)
    all_pairs = time.process_time() - started
    started = time.process_time()
    lookups = min(200, len(texts))
    for i in range(lookups):
        np.count_nonzero(signatures == signatures[i], axis=1)
    return all_pairs, (time.process_time() - started) / lookups


def full_stage(n: int, per_day: int) -> tuple[float, float]:
    """CPU ms per article through the whole stage (wire, story, provenance) for the first and last 1,000
    of ``n`` articles: the story level's lookups are bounded by the window too."""
    settings = DedupSettings()
    corpus = Corpus(seed=3)
    step = timedelta(days=1) / per_day
    costs = []
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/stage.db")
        for start in range(0, n, COMMIT_EVERY):
            batch = [
                bench_article(i, corpus.next(), START + step * i)
                for i in range(start, min(n, start + COMMIT_EVERY))
            ]
            with db.session() as session:
                costs.extend(whole_stage(session, settings, value) for value in batch)
        db.dispose()
    return sum(costs[:1000]) / 1000 * 1e3, sum(costs[-1000:]) / 1000 * 1e3


def hot_story(copies: int, *, tail: int = 100, flood: bool = False) -> tuple[float, float]:
    """CPU ms per copy through the whole stage for the first and last ``tail`` of ``copies`` copies of one
    story arriving within a day, among other news: every other copy the same text (an exact copy), the rest
    reprints trimmed and framed by their outlet (near copies). A hot agency story is reprinted by hundreds of
    outlets; placing its last copy must cost what placing its first did.

    With ``flood``, every copy differs from every other in a few words (``Corpus.varied``): each is a near
    copy that adds its band keys, so the keys of the story gather a row per copy."""
    settings = DedupSettings()
    corpus = Corpus(seed=5)
    story = corpus.original()
    step = timedelta(days=1) / (2 * copies)
    costs = []
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/hot.db")
        for start in range(0, copies, COMMIT_EVERY):
            with db.session() as session:
                for i in range(start, min(copies, start + COMMIT_EVERY)):
                    other = bench_article(2 * i + 1, corpus.next(), START + step * (2 * i + 1))
                    whole_stage(session, settings, other)
                    if flood:
                        text = corpus.varied(story)
                    else:
                        text = story if i % 2 == 0 else corpus.reprint(story)
                    costs.append(
                        whole_stage(session, settings, bench_article(2 * i, text, START + step * 2 * i))
                    )
        db.dispose()
    return sum(costs[:tail]) / tail * 1e3, sum(costs[-tail:]) / tail * 1e3


def whole_stage(session, settings: DedupSettings, value: Article) -> float:
    """Store one article's row and place it through the whole stage; the CPU seconds it took."""
    started = time.process_time()
    article_id = (
        session.connection()
        .execute(
            _INSERT,
            {
                "url": value.url,
                "canonical_url": value.canonical_url,
                "fetched_at": value.fetched_at,
                "published_at": value.published,
                "body": value.body,
                "body_source": "extracted",
                "content_hash": value.content_hash,
                "revisions": 0,
            },
        )
        .inserted_primary_key[0]
    )
    stage.deduplicate(session, article_id=article_id, article=value, settings=settings)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="articles to store (default 100,000)")
    parser.add_argument("--per-day", type=int, default=2_000, help="articles arriving per day")
    parser.add_argument("--brute", type=int, default=5_000, help="articles for the brute-force baseline")
    parser.add_argument(
        "--stage",
        type=int,
        default=10_000,
        help="articles through the whole stage, story level included (0: skip)",
    )
    parser.add_argument(
        "--hot",
        type=int,
        default=1_000,
        help="copies of one story placed among other news, first 100 against last 100 (0: skip)",
    )
    parser.add_argument(
        "--flood",
        type=int,
        default=3_000,
        help="mutually near-identical texts placed among other news, first 100 against last 100 (0: skip)",
    )
    args = parser.parse_args()
    if args.brute < 1:
        parser.error("--brute must be at least 1: the baseline compares that many of the stored articles")
    settings = DedupSettings()
    corpus = Corpus()
    step = timedelta(days=1) / args.per_day
    checkpoints = sorted({min(10_000, args.n), args.n})
    probe_source = Corpus(seed=2)
    probe_texts = [probe_source.original() for _ in range(500)]

    results: dict = {
        "n": args.n,
        "per_day": args.per_day,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "window_days": settings.window.days,
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/bench.db")
        processing = cpu = 0.0
        fingerprinting = 0.0
        first_texts: list[str] = []
        lsh_at_brute = None
        n = 0
        lookups: dict[int, float] = {}
        for checkpoint in checkpoints:
            while n < checkpoint:
                batch = []
                for _ in range(min(COMMIT_EVERY, checkpoint - n)):
                    # The stage's input, an extracted Article (with its content hash), is made untimed.
                    batch.append(bench_article(n, corpus.next(), START + step * n))
                    if len(first_texts) < args.brute:
                        first_texts.append(batch[-1].body)
                    n += 1
                started, started_cpu = time.perf_counter(), time.process_time()
                with db.session() as session:
                    for value in batch:
                        place(session, settings, value)
                processing += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
                if lsh_at_brute is None and n >= args.brute:
                    lsh_at_brute = cpu
                if n % 10_000 == 0 or n == checkpoint:
                    print(
                        f"  {n:>7} articles stored, {n / cpu:,.0f} articles per CPU second so far "
                        f"({n / processing:,.0f} per wall-clock second)",
                        flush=True,
                    )
            at = START + step * n
            # Probes: reprints of stored articles and unrelated texts, half and half, placed "now".
            probes = [(corpus.reprint(corpus.recent[i % len(corpus.recent)]), at) for i in range(250)]
            probes += [(text, at) for text in probe_texts[:250]]
            lookups[checkpoint], hit_rate = probe(db, settings, probes)
            print(
                f"  lookup at {checkpoint:>7}: {lookups[checkpoint] * 1e3:.3f} ms per article "
                f"({hit_rate:.0%} matched; half the probes are reprints)",
                flush=True,
            )
        started = time.process_time()
        for text in first_texts[:2000]:
            fp.fingerprint(text)
        fingerprinting = (time.process_time() - started) / min(2000, len(first_texts))
        db.dispose()
        db_size = sum(f.stat().st_size for f in Path(tmp).iterdir())

    brute_seconds, brute_lookup = brute_force(first_texts, settings.wire_threshold)
    rate = args.n / cpu
    lookup_ratio = lookups[args.n] / lookups[checkpoints[0]]
    scale = args.n / len(first_texts)
    results.update(
        {
            "articles_per_cpu_second": round(rate),
            "cpu_seconds": round(cpu, 1),
            "articles_per_wall_second": round(args.n / processing),
            "wall_seconds": round(processing, 1),
            "load_average": os.getloadavg(),
            "fingerprint_ms": round(fingerprinting * 1e3, 3),
            "lookup_ms": {str(k): round(v * 1e3, 3) for k, v in lookups.items()},
            "lookup_ratio": round(lookup_ratio, 2),
            "database_mb": round(db_size / 1e6),
            "brute_force": {
                "articles": len(first_texts),
                "all_pairs_seconds": round(brute_seconds, 2),
                "lsh_seconds_same_articles": round(lsh_at_brute or cpu, 2),
                "ratio": round(brute_seconds / (lsh_at_brute or cpu), 2),
                "lookup_ms": round(brute_lookup * 1e3, 3),
                "lookup_ms_at_n_estimated": round(brute_lookup * scale * 1e3, 3),
                "all_pairs_seconds_at_n_estimated": round(brute_seconds * scale**2),
            },
        }
    )
    if args.stage:
        first, last = full_stage(args.stage, args.per_day)
        results["full_stage_ms"] = {
            "first_1000": round(first, 3),
            f"last_1000_of_{args.stage}": round(last, 3),
        }
        print(
            f"whole stage (wire, story, provenance): {first:.2f} ms per article for the first 1,000, "
            f"{last:.2f} ms for the last 1,000 of {args.stage:,}"
        )
    checks = {
        f"throughput >= 1,000 articles/s ({rate:,.0f})": rate >= 1000,
        f"lookup at {args.n:,} within 2x of {checkpoints[0]:,} ({lookup_ratio:.2f}x)": lookup_ratio <= 2.0,
    }
    runs = (  # (name, what is placed, copies, flood, the most the last 100 may cost over the first 100)
        ("hot story", "one story copied {n:,} times among other news", "copies", args.hot, False, 2.0),
        ("flood", "{n:,} near-identical texts among other news", "texts", args.flood, True, 1.5),
    )
    for name, what, unit, copies, flood, most in runs:
        if copies < 200:
            continue
        first, last = hot_story(copies, flood=flood)
        results[f"{name.replace(' ', '_')}_ms"] = {
            "first_100": round(first, 3),
            f"last_100_of_{copies}": round(last, 3),
        }
        print(
            f"{what.format(n=copies)}: {first:.2f} ms per text for the first 100, {last:.2f} ms for the last 100"
        )
        checks[f"{name}: last 100 {unit} within {most:g}x of the first 100 ({last / first:.2f}x)"] = (
            last <= most * first
        )
    print(
        f"\nstored {args.n:,} articles in {cpu:.1f} CPU s ({processing:.1f} s wall clock, load average "
        f"{os.getloadavg()[0]:.1f}): {rate:,.0f} articles/s on one core (fingerprint alone "
        f"{fingerprinting * 1e3:.2f} ms per article); database {db_size / 1e6:.0f} MB"
    )
    for k, v in lookups.items():
        print(f"lookup + confirmation at {k:>7,} stored: {v * 1e3:.3f} ms per article")
    b = results["brute_force"]
    print(
        f"brute force, all pairs of the first {b['articles']:,} by signature: {b['all_pairs_seconds']} CPU s, "
        f"against {b['lsh_seconds_same_articles']} CPU s for fingerprint, LSH lookup and insert of the same "
        f"articles (ratio {b['ratio']}); at {args.n:,} it would take about {b['all_pairs_seconds_at_n_estimated']:,} s"
    )
    print(
        f"one lookup by brute force among {b['articles']:,}: {b['lookup_ms']} ms, about "
        f"{b['lookup_ms_at_n_estimated']} ms among {args.n:,} (it grows with the store); "
        f"LSH: {lookups[checkpoints[0]] * 1e3:.3f} ms at {checkpoints[0]:,}, {lookups[args.n] * 1e3:.3f} ms "
        f"at {args.n:,} (bounded by the window)"
    )
    report_checks(checks, results, "dedup.json")


if __name__ == "__main__":
    main()
