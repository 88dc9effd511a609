#!/usr/bin/env python
"""Deduplication quality: wire level and story level, on real texts and syndication-like copies of them.

    .venv/bin/python bench/dedup_eval.py              # sweep, choose thresholds on one half, report the other
    .venv/bin/python bench/dedup_eval.py --quick      # fewer bases and thresholds, a smoke test

The labelled set (built at run time; nothing from ../shared is copied into the project):

* bases, each its own story and its own wire text: the news page texts of ``corpora/newspaper`` (with
  ground-truth text, at least 80 words), the five seeds (000, 001, 002 and 004 are one story, 003 is another
  story of 2023), and the real reprints of ``corpora/provenance`` (two stories, labelled below, a few
  off-topic rows of those files labelled as stories of their own, ambiguous rows left out);
* wire copies of the bases, made as outlets make them: a new headline line, an outlet header and footer, a
  trimmed ending (60 to 95% of the paragraphs kept), inserted "read more" lines, quotes and whitespace
  changed, one sentence reworded; paragraph order kept;
* hard negatives: pairs of different short texts carrying the same long outlet footer (wire level), the
  seeds (same topic, different events or different words), and the two provenance stories.

The provenance files are unlabelled at the wire level (many rows are AP or Reuters reprints of each other),
so pairs of two items from one provenance file (real rows or copies of them) count at the story level only.

Every item goes through the production code (``monitor.dedupe.deduplicate`` on a fresh SQLite database,
in publication order, so LSH candidate lookup is part of what is measured). Thresholds are swept on the
"dev" half of the bases and the chosen values reported on the "test" half and on everything.
Prints pairwise precision, recall, F1 and the adjusted Rand index per level; writes bench/out/dedup_eval.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _pages import shared_dir
from _placing import article_value, stored_and_placed, stories_after_regrouping
from _report import newspaper_corpus_missing, report_checks

from monitor.config import DedupSettings
from monitor.store.db import open_database

SHARED = shared_dir()

# Story labels of the provenance rows (by their id column). Main stories: the census citizenship-question
# files (30-31 May 2019) and Spotify dropping its hateful-conduct policy (31 May - 1 June 2018). Rows on
# other events get a story of their own; opinion pieces on the wider subject are left out as ambiguous.
PROVENANCE_OTHER = {
    "6644": "fresh-air",
    "7042": "fresh-air",
    "8985": "trade-newsletter",
    "9090": "census-2017",
    "1256": "youtube-music",
    "8819": "radio-playlist",
    "20056": "celebrity",
}
PROVENANCE_AMBIGUOUS = {"14730", "610", "3581", "6678", "6146", "10053", "10254", "15482", "5289"}

HEADERS = [
    "Sign up for our morning newsletter and get the day's top stories in your inbox.",
    "Advertisement",
    "By Staff and wire reports",
    "Published 3 hours ago | Updated 1 hour ago",
    "Share this article on Facebook, Twitter or by email",
    "Breaking news from around the world",
]
FOOTERS = [
    (
        "Copyright 2024 The Valley Courier. All rights reserved. This material may not be published, "
        "broadcast, rewritten or redistributed without permission."
    ),
    "Read more about this and other stories on our website, and follow us on social media for updates.",
    "Related: What we know so far | Related: The story in pictures | Related: Live updates",
    "Have a news tip? Contact our newsroom any time of the day or night; we read every message.",
]
READ_MORE = [
    "READ MORE: Markets open lower as investors wait for the central bank",
    "READ MORE: Ten things to know before the weekend",
    "Also read: Local council approves new budget after long debate",
]
# Long outlet boilerplate shared by the hard-negative pairs: the same text under two different articles.
SHARED_FOOTER = (
    "This article was produced by the newsroom of the Northern Ledger, an independent publication "
    "supported by readers like you. Our reporters cover politics, business, science and culture across the "
    "region every day. If you value this work, please consider a subscription, which gives unlimited access "
    "to our journalism, our archive of more than a century of reporting, the daily crossword and the weekly "
    "newsletter. Subscribers can cancel at any time. Questions about your account can be sent to our "
    "support team, which answers within one working day."
)


@dataclass(frozen=True)
class Item:
    key: str
    base: str
    story: str
    text: str
    at: datetime
    provenance: str | None = None
    """The provenance file a real row (or a copy of one) comes from: pairs within one file have no wire label."""
    split: str = "dev"


def load_bases(limit: int | None) -> list[Item]:
    items: list[Item] = []
    start = datetime(2024, 3, 4, 8, tzinfo=UTC)
    news = json.loads((SHARED / "corpora/newspaper/expected.json").read_text(encoding="utf-8"))
    for doc in news["documents"]:
        if not doc["text_is_ground_truth"]:
            continue
        text = (SHARED / "corpora/newspaper" / doc["text"]).read_text(encoding="utf-8", errors="replace")
        if len(text.split()) < 80:
            continue
        key = "np:" + doc["text"].rsplit("/", 1)[-1]
        # Spread over five days: the window must not be what keeps unrelated news apart.
        offset = int(hashlib.sha1(key.encode()).hexdigest(), 16) % (5 * 24 * 60)
        items.append(Item(key, key, key, text, start + timedelta(minutes=offset)))
    for path in sorted((SHARED / "seeds").glob("*.txt")):
        number = path.name[:3]
        date = (
            datetime(2023, 6, 1, 12, tzinfo=UTC) if number == "003" else datetime(2024, 9, 9, 12, tzinfo=UTC)
        )
        items.append(
            Item(
                f"seed:{number}",
                f"seed:{number}",
                "seed:003" if number == "003" else "seed:denial",
                path.read_text(encoding="utf-8"),
                date,
            )
        )
    csv.field_size_limit(10**8)
    for name in ("census", "spotify"):
        with open(SHARED / f"corpora/provenance/{name}_articles.csv", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["id"] in PROVENANCE_AMBIGUOUS:
                    continue
                story = PROVENANCE_OTHER.get(row["id"], name)
                at = datetime.fromisoformat(row["scrape_time"]).astimezone(UTC)
                key = f"{name}:{row['id']}"
                items.append(Item(key, key, story, row["text"].replace(" ### ", "\n\n"), at, provenance=name))
    return [
        replace(item, split="dev" if int(hashlib.sha1(item.base.encode()).hexdigest(), 16) % 2 else "test")
        for item in items
    ]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r", "").split("\n") if p.strip()]


def reword(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    for i in rng.sample(range(len(words)), k=max(1, len(words) * 2 // 5)):
        words[i] = rng.choice(["reportedly", "officials", "noted", "further", "indeed", "also", "then"])
    return " ".join(words)


def syndicate(base: Item, n: int, rng: random.Random) -> list[Item]:
    """``n`` copies of a base as outlets reprint it (see the module docstring)."""
    copies = []
    for i in range(n):
        paras = paragraphs(base.text)
        if rng.random() < 0.5 and len(paras) > 3:
            paras = paras[: max(2, round(len(paras) * rng.uniform(0.6, 0.95)))]
        if rng.random() < 0.6 and paras:
            index = rng.randrange(len(paras))
            sentences = paras[index].split(". ")
            j = rng.randrange(len(sentences))
            sentences[j] = reword(sentences[j], rng)
            paras[index] = ". ".join(sentences)
        if rng.random() < 0.5 and len(paras) > 2:
            for _ in range(rng.randint(1, 3)):
                paras.insert(rng.randrange(1, len(paras)), rng.choice(READ_MORE))
        head = [" ".join(paras[0].split()[:9]).title()] if paras and rng.random() < 0.7 else []
        if rng.random() < 0.7:
            head.append(rng.choice(HEADERS))
        tail = [rng.choice(FOOTERS)] if rng.random() < 0.6 else []
        text = "\n\n".join(head + paras + tail)
        if rng.random() < 0.7:
            text = (
                text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
                if rng.random() < 0.5
                else text.replace('"', "\u201c").replace("'", "\u2019")
            )
            text = text.replace(". ", ".  ")
        copies.append(
            Item(
                f"{base.key}#copy{i}",
                base.base,
                base.story,
                text,
                base.at + timedelta(minutes=rng.randint(5, 720)),
                base.provenance,
                base.split,
            )
        )
    return copies


def boilerplate_twins(pool: list[Item], rng: random.Random, pairs: int) -> list[Item]:
    """Hard negatives: two different short texts under one long, identical outlet footer.

    The texts come from bases kept out of the set, so a twin has no original to join: each is its own wire
    text and story, and what must not happen is the two twins joining each other.
    """
    pool = list(pool)
    rng.shuffle(pool)
    twins = []
    for n in range(min(pairs, len(pool) // 2)):
        a, b = pool[2 * n], pool[2 * n + 1]
        for side, base in (("a", a), ("b", b)):
            text = " ".join(base.text.split()[:110]) + "\n\n" + SHARED_FOOTER
            key = f"twin{n}{side}:{base.key}"
            twins.append(Item(key, key, key, text, a.at, split=a.split))
    return twins


def build(limit: int | None, seed: int = 7) -> list[Item]:
    rng = random.Random(seed)
    bases = load_bases(None)
    news = [b for b in bases if b.key.startswith("np:")]
    rng.shuffle(news)
    reserved = news[: TWIN_PAIRS * 2]  # texts for the boilerplate twins only
    kept = (
        {b.key for b in news[TWIN_PAIRS * 2 :][:limit]} if limit else {b.key for b in news[TWIN_PAIRS * 2 :]}
    )
    bases = [b for b in bases if not b.key.startswith("np:") or b.key in kept]
    items = list(bases)
    for base in bases:
        if rng.random() < 0.6:
            items.extend(syndicate(base, rng.choice((1, 1, 2, 3, 5)), rng))
    items.extend(boilerplate_twins(reserved, rng, pairs=TWIN_PAIRS))
    return sorted(items, key=lambda it: (it.at, it.key))


TWIN_PAIRS = 20


def run(
    items: list[Item], *, wire: float, story: float, time_blind: bool = False, regroup: bool = False
) -> tuple[list[int], list[int]]:
    """Place every item with the production code; return the predicted wire clusters and stories (after the
    daemon's regrouping pass over the window, with ``regroup``)."""
    settings = DedupSettings(wire_threshold=wire, story_threshold=story)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/eval.db")
        wires, stories, ids = [], [], []
        one_time = datetime(2024, 1, 1, tzinfo=UTC)
        with db.session() as session:
            for n, item in enumerate(items):
                at = one_time if time_blind else item.at
                # Each text on a site of its own, except the boilerplate twins, which one outlet publishes: the
                # wire level tells one outlet's furniture from a reprint by the address.
                site = "ledger.invalid" if item.key.startswith("twin") else f"site{n}.invalid"
                url = f"https://{site}/{n}"
                article = article_value(url, item.text, at, entry_key=item.key)
                row, placed = stored_and_placed(session, article, settings)
                wires.append(placed.wire_cluster_id)
                stories.append(placed.story_id)
                ids.append(row.id)
        if regroup:
            latest = max(one_time if time_blind else item.at for item in items)
            stories = stories_after_regrouping(db, ids, settings, now=latest)
        db.dispose()
    return wires, stories


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pair_counts(gold: list, pred: list) -> tuple[int, int, int]:
    """(pairs together in both, pairs together in the prediction, pairs together in the gold)."""
    both = sum(_pairs(c) for c in Counter(zip(gold, pred)).values())
    return (
        both,
        sum(_pairs(c) for c in Counter(pred).values()),
        sum(_pairs(c) for c in Counter(gold).values()),
    )


def adjusted_rand(gold: list, pred: list) -> float:
    both, in_pred, in_gold = pair_counts(gold, pred)
    total = _pairs(len(gold))
    expected = in_pred * in_gold / total if total else 0.0
    maximum = (in_pred + in_gold) / 2
    return 1.0 if maximum == expected else (both - expected) / (maximum - expected)


def scores(items: list[Item], gold: list, pred: list, *, exclude_real_pairs: bool) -> dict:
    both, in_pred, in_gold = pair_counts(gold, pred)
    if exclude_real_pairs:  # pairs of two real provenance rows have no wire label: leave them out
        for name in {it.provenance for it in items if it.provenance}:
            idx = [i for i, it in enumerate(items) if it.provenance == name]
            b, p, g = pair_counts([gold[i] for i in idx], [pred[i] for i in idx])
            both, in_pred, in_gold = both - b, in_pred - p, in_gold - g
        keep = [i for i, it in enumerate(items) if not it.provenance]
        ari = adjusted_rand([gold[i] for i in keep], [pred[i] for i in keep])
    else:
        ari = adjusted_rand(gold, pred)
    precision = both / in_pred if in_pred else 1.0
    recall = both / in_gold if in_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "ari": round(ari, 4),
        "pairs_gold": in_gold,
        "pairs_predicted": in_pred,
    }


def evaluate(items, wire, story, *, time_blind=False, regroup=False) -> dict:
    wires, stories = run(items, wire=wire, story=story, time_blind=time_blind, regroup=regroup)
    result = {}
    for split in ("dev", "test", "all"):
        idx = [i for i, it in enumerate(items) if split == "all" or it.split == split]
        sub = [items[i] for i in idx]
        result[split] = {
            "wire": scores(
                sub, [sub_i.base for sub_i in sub], [wires[i] for i in idx], exclude_real_pairs=True
            ),
            "story": scores(
                sub, [sub_i.story for sub_i in sub], [stories[i] for i in idx], exclude_real_pairs=False
            ),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 bases and three thresholds per level")
    args = parser.parse_args()
    if newspaper_corpus_missing():
        return
    items = build(40 if args.quick else None)
    print(
        f"{len(items)} items: {len({it.base for it in items})} wire texts, {len({it.story for it in items})} stories"
    )
    started = time.perf_counter()
    wire_grid = [0.4, 0.5, 0.6] if args.quick else [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8]
    story_grid = [0.08, 0.12, 0.16] if args.quick else [0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2, 0.25, 0.3]
    default = DedupSettings()
    print("\nwire level, dev half (story threshold fixed at the default):")
    wire_rows = []
    for threshold in wire_grid:
        dev = evaluate(items, threshold, default.story_threshold)["dev"]["wire"]
        wire_rows.append((threshold, dev))
        print(
            f"  threshold {threshold:.2f}: P {dev['precision']:.4f} R {dev['recall']:.4f} F1 {dev['f1']:.4f} "
            f"ARI {dev['ari']:.4f}"
        )
    # The rule: the best F1 among thresholds whose precision is at least 0.98; of a plateau of equal F1,
    # the middle threshold, as far as the evidence allows from both kinds of error.
    eligible = [row for row in wire_rows if row[1]["precision"] >= 0.98] or wire_rows
    best = max(row[1]["f1"] for row in eligible)
    plateau = [row[0] for row in eligible if row[1]["f1"] == best]
    wire = plateau[len(plateau) // 2]
    print(f"chosen wire threshold: {wire}")
    print("\nstory level, dev half:")
    story_rows = []
    for threshold in story_grid:
        dev = evaluate(items, wire, threshold)["dev"]["story"]
        story_rows.append((threshold, dev))
        print(
            f"  threshold {threshold:.2f}: P {dev['precision']:.4f} R {dev['recall']:.4f} F1 {dev['f1']:.4f} "
            f"ARI {dev['ari']:.4f}"
        )
    best = max(row[1]["ari"] for row in story_rows)
    plateau = [row[0] for row in story_rows if row[1]["ari"] == best]
    story = plateau[len(plateau) // 2]
    print(f"chosen story threshold: {story}")

    final = evaluate(items, wire, story)
    blind = evaluate(items, wire, story, time_blind=True)
    # What the daemon shows an hour later: the same placing, then the regrouping pass (which only splits),
    # at the chosen threshold and at the configured one.
    regrouped = {
        threshold: (evaluate(items, wire, threshold), evaluate(items, wire, threshold, regroup=True))
        for threshold in sorted({story, default.story_threshold})
    }
    print(
        f"\nchosen thresholds: wire {wire}, story {story}   (defaults in monitor/config.py: "
        f"wire {default.wire_threshold}, story {default.story_threshold})"
    )
    print(f"{'level':<7}{'split':<20}{'precision':>10}{'recall':>8}{'F1':>8}{'ARI':>8}")
    for level in ("wire", "story"):
        for split, result in (("dev", final), ("test", final), ("all", final), ("all, time-blind", blind)):
            key = "all" if split.startswith("all") else split
            s = result[key][level]
            print(
                f"{level:<7}{split:<20}{s['precision']:>10.4f}{s['recall']:>8.4f}{s['f1']:>8.4f}{s['ari']:>8.4f}"
            )
    print("\nstory level, the stage alone and then the regrouping pass (monitor.dedupe.regrouping):")
    for threshold, (alone, after) in regrouped.items():
        for label, result in (("stage", alone), ("stage + pass", after)):
            for split in ("dev", "test"):
                s = result[split]["story"]
                print(
                    f"{threshold:<7}{label:<14}{split:<6}{s['precision']:>10.4f}{s['recall']:>8.4f}"
                    f"{s['f1']:>8.4f}{s['ari']:>8.4f}"
                )
    test = final["test"]
    checks = {
        "wire F1 >= 0.95 (test)": test["wire"]["f1"] >= 0.95,
        "wire precision >= 0.98 (test)": test["wire"]["precision"] >= 0.98,
        "story ARI >= 0.85 (test)": test["story"]["ari"] >= 0.85,
    }
    report_checks(
        checks,
        {
            "items": len(items),
            "wire_threshold": wire,
            "story_threshold": story,
            "wire_sweep": wire_rows,
            "story_sweep": story_rows,
            "final": final,
            "time_blind": blind,
            "regrouped": {str(t): {"stage": a, "pass": b} for t, (a, b) in regrouped.items()},
        },
        "dedup_eval.json",
        started=started,
    )


if __name__ == "__main__":
    main()
