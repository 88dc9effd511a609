#!/usr/bin/env python
"""Wire-copy quality with outlet boilerplate: are reprints joined, and are one outlet's short articles kept apart?

    .venv/bin/python bench/wire_eval.py            # sweep on the dev half, report the test half (about a minute)
    .venv/bin/python bench/wire_eval.py --quick    # fewer texts and thresholds, a smoke test

The labelled set is built at run time from ``../shared/corpora`` (or ``MONITOR_SHARED_DIR``); nothing from
there is copied into the project, and the run is skipped when the corpora are absent.

* **bases**, each its own wire text: the newspaper corpus's ground-truth article texts (at least 80 words)
  and the real reprints of ``corpora/provenance`` (census and Spotify stories);
* **copies** of the bases, published by eight syndicating outlets, each with its own header, footer and
  sign-up lines: half of them **50% trims** (only the first half of the words, paragraphs kept), the
  rest **light edits** (one sentence reworded, quotes and spacing changed, a "read more" line inserted),
  some of those trimmed to 60-95%;
* **boilerplate-heavy short negatives**: six local outlets, each publishing six to eight unrelated short
  articles (20-90 words: the trafilatura corpus's expected snippets of one page, or the start of a
  newspaper text) inside the same long header, footer and sign-up lines (about 130 words); half of those
  with 30 words or more are also carried, bare or under a syndicator's furniture, by another outlet (short
  positives).

Every item goes through the production stage (``monitor.dedupe.deduplicate`` on a fresh SQLite database, in
publication order, story level included, so the paragraph counts learn as they would). Pairs of two items of
one provenance file have no wire label (many rows are AP or Reuters reprints of each other) and are not
scored. The baseline is the previous wire level, reproduced in the same run: whole bodies compared, no
boilerplate left out and no outlet check (``previous_wire_level``). For each method the threshold is chosen
on the dev half (best F1 with precision at least 0.98, the middle of a plateau) and reported on the test half.
Prints pairwise precision, recall and F1; writes ``bench/out/wire_eval.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _pages import shared_dir
from _placing import article_value, store_and_place
from _report import newspaper_corpus_missing, report_checks

from monitor.config import DedupSettings
from monitor.dedupe import fingerprint as fp
from monitor.store import counts as counts_store
from monitor.store.db import open_database

SHARED = shared_dir()
START = datetime(2024, 3, 4, 8, tzinfo=UTC)

# Outlet furniture, written for this benchmark. Syndicators decorate reprints; local outlets wrap their own
# short articles in a long header and footer.
SYNDICATORS = [
    "Harbour Gazette",
    "Plains Record",
    "Northern Echo Daily",
    "Valley Courier",
    "Metro Ledger",
    "Coastal Herald",
    "Capital Observer",
    "Riverside Post",
]
LOCALS = [
    "Millbrook Chronicle",
    "Eastfield Times",
    "Lakeshore Star",
    "Granite County News",
    "Westport Mercury",
    "Cedar Falls Bulletin",
]
READ_MORE = [
    "READ MORE: Markets open lower as investors wait for the central bank",
    "Read more: Ten things to know before the weekend",
    "Also read: Council approves new budget after a long debate",
]


def slug(name: str) -> str:
    return re.sub(r"[^a-z]+", "", name.casefold())


def syndicator_furniture(name: str) -> tuple[list[str], list[str]]:
    header = [
        f"{name} | World news",
        f"Published by the {name} news desk. Updated {len(name) % 5 + 1} hours ago",
    ]
    footer = [
        f"Sign up for the {name} morning briefing and get the news that matters in your inbox.",
        (
            f"This report was distributed by a news agency and edited by the {name} desk, which checks every "
            f"agency story before it appears on this site."
        ),
        f"Follow us on Facebook and X for the latest from the {name}.",
    ]
    return header, footer


# Each local outlet words its own furniture: independent outlets share no template (see the README's limits).
LOCAL_PLUGS = [
    (
        "Support local journalism. The {name} is an independent newsroom funded by its readers, and a subscription "
        "costs less than a coffee a week. It gives you unlimited access to every story, the digital edition of the "
        "printed paper, our archive going back decades and the weekly puzzles."
    ),
    (
        "Our reporting is free to read because members pay for it. Becoming a member of the {name} takes two minutes; "
        "you choose what you give each month, you can stop whenever you like, and every member is invited to our "
        "evening talks with the editors twice a year."
    ),
    (
        "Thank you for reading the {name}. Good local reporting takes time and money: our six reporters sit through "
        "council meetings, court hearings and school board sessions so you do not have to. A digital pass starts at "
        "three dollars a month and includes the print replica."
    ),
    (
        "The {name} has covered this town since before the railway came. We are owned by a charitable trust, not a "
        "chain, and every dollar from readers goes back into the newsroom. Ask about our student and senior rates at "
        "the front desk or on the phone."
    ),
    (
        "You have read one of your free stories this month. Unlock everything the {name} publishes, including the "
        "obituaries, the high school sports pages and the restaurant guide, with a home delivery or digital plan; the "
        "first month of either costs nothing."
    ),
    (
        "This story is brought to you by the {name} newsroom and the readers who keep it open. If it helped you, "
        "share it with a neighbour, send us a tip, or give what you can so that the next council budget is reported "
        "line by line."
    ),
]
LOCAL_TIPS = [
    "Got a story? Tell the {name} newsroom what is happening where you live; we read every message.",
    "Spotted a mistake? Write to the standards editor of the {name} and we will correct it the same day.",
    "Letters to the editor of the {name} should be under 300 words and include a home town and a phone number.",
    "Photos from readers are welcome: send them with a caption and the name of the photographer.",
    "Community calendar entries for the {name} are due each Tuesday by noon for the weekend edition.",
    "The {name} office on Main Street is open from nine to five on weekdays and closed on public holidays.",
]
LOCAL_SECTIONS = [
    "Local news, weather and sport for the whole county",
    "News | Sport | Opinion | Obituaries",
    "Your neighbourhood, your news, since 1887",
    "Home > News > Local",
    "Breaking news and community stories",
    "Serving the valley every morning",
]


def local_furniture(name: str) -> tuple[list[str], list[str]]:
    n = LOCALS.index(name)
    header = [
        f"{name} | {LOCAL_SECTIONS[n]}",
        f"Sign up for the {name} morning briefing: the stories you need before breakfast, every weekday.",
        "Advertisement",
    ]
    footer = [
        LOCAL_PLUGS[n].format(name=name),
        "Read more: the week's most popular stories from around the county",
        LOCAL_TIPS[n].format(name=name),
        f"Copyright 2024 {name}. All rights reserved.",
    ]
    return header, footer


@dataclass(frozen=True)
class Item:
    key: str
    base: str
    """The wire text it is (a copy has its original's)."""
    text: str
    at: datetime
    url: str
    split: str
    kind: str
    """base, trim50, edit, short, short-copy: for the breakdown."""
    provenance: str | None = None


def split_of(name: str) -> str:
    return "dev" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 2 else "test"


def offset(key: str, days: int = 5) -> timedelta:
    """A fixed time within ``days`` for a key: spread out, so the window is not what keeps texts apart."""
    return timedelta(minutes=int(hashlib.sha1(key.encode()).hexdigest(), 16) % (days * 24 * 60))


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r", "").split("\n") if p.strip()]


def load_news() -> list[tuple[str, str, str]]:
    """(key, url, text) of the newspaper corpus's ground-truth texts."""
    folder = SHARED / "corpora/newspaper"
    found = []
    for doc in json.loads((folder / "expected.json").read_text(encoding="utf-8"))["documents"]:
        if doc["text_is_ground_truth"]:
            text = (folder / doc["text"]).read_text(encoding="utf-8", errors="replace")
            found.append(("np:" + doc["text"].rsplit("/", 1)[-1], doc["url"], text))
    return found


def load_snippets() -> list[tuple[str, str]]:
    """(key, text) of short texts: the expected snippets of one trafilatura page, joined."""
    path = SHARED / "corpora/trafilatura/expected.json"
    if not path.is_file():
        return []
    found, seen = [], set()
    for n, doc in enumerate(json.loads(path.read_text(encoding="utf-8"))["documents"]):
        text = " ".join(s.strip() for s in doc.get("with") or () if len(s.split()) >= 4)
        if 20 <= len(text.split()) <= 90 and fp.normalize(text) not in seen:  # some pages are there twice
            seen.add(fp.normalize(text))
            found.append((f"tf:{n}", text))
    return found


def load_provenance() -> list[Item]:
    csv.field_size_limit(10**8)
    items = []
    for name in ("census", "spotify"):
        path = SHARED / f"corpora/provenance/{name}_articles.csv"
        if not path.is_file():
            continue
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                key = f"{name}:{row['id']}"
                text = row["text"].replace(" ### ", "\n\n")
                if len(text.split()) < 80:
                    continue
                items.append(
                    Item(
                        key,
                        key,
                        text,
                        datetime.fromisoformat(row["scrape_time"]).astimezone(UTC),
                        f"https://{row['publisher'] or 'unknown.example'}/{row['id']}",
                        split_of(key),
                        "base",
                        provenance=name,
                    )
                )
    return items


def reword(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    for i in rng.sample(range(len(words)), k=max(1, len(words) // 5)):
        words[i] = rng.choice(["reportedly", "officials", "noted", "further", "also"])
    return " ".join(words)


def trimmed(paras: list[str], share: float) -> list[str]:
    """The first ``share`` of the text's words, paragraphs kept (the last one kept is cut at the word)."""
    left = max(1, round(sum(len(p.split()) for p in paras) * share))
    kept = []
    for paragraph in paras:
        words = paragraph.split()
        kept.append(paragraph if len(words) <= left else " ".join(words[:left]))
        left -= len(words)
        if left <= 0:
            break
    return kept


def copy_of(base: Item, n: int, rng: random.Random, *, kind: str) -> Item:
    """A reprint of ``base`` by a syndicator: a 50% trim or a light edit, under the syndicator's furniture."""
    paras = paragraphs(base.text)
    if kind == "trim50":
        paras = trimmed(paras, 0.5)
    else:
        if rng.random() < 0.4:
            paras = trimmed(paras, rng.uniform(0.6, 0.95))
        index = rng.randrange(len(paras))
        sentences = paras[index].split(". ")
        j = rng.randrange(len(sentences))
        sentences[j] = reword(sentences[j], rng)
        paras[index] = ". ".join(sentences)
        if len(paras) > 2:
            paras.insert(rng.randrange(1, len(paras)), rng.choice(READ_MORE))
    outlet = rng.choice(SYNDICATORS)
    header, footer = syndicator_furniture(outlet)
    text = "\n\n".join(header + paras + footer)
    if rng.random() < 0.5:
        text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'").replace(". ", ".  ")
    return Item(
        f"{base.key}#{kind}{n}",
        base.base,
        text,
        base.at + timedelta(minutes=rng.randint(5, 720)),
        f"https://www.{slug(outlet)}.example/{slug(base.key)}-{n}",
        base.split,
        kind,
        base.provenance,
    )


def build(quick: bool, seed: int = 11) -> list[Item]:
    rng = random.Random(seed)
    news = [(k, u, t) for k, u, t in load_news() if len(t.split()) >= 40]
    rng.shuffle(news)
    long_news = [(k, u, t) for k, u, t in news if len(t.split()) >= 80]
    short_news = [(k, " ".join(t.split()[: rng.randint(40, 90)])) for k, _, t in long_news[:30]]
    long_news = long_news[30:]
    bases = [Item(k, k, t, START + offset(k), u, split_of(k), "base") for k, u, t in long_news]
    bases += load_provenance()
    if quick:
        bases = bases[:30] + [b for b in bases if b.provenance][:10]
    items = list(bases)
    for base in bases:
        if rng.random() < 0.75:
            for n in range(rng.choice((1, 1, 2, 3))):
                items.append(copy_of(base, n, rng, kind="trim50" if (n + len(base.key)) % 2 else "edit"))
    shorts = load_snippets()
    rng.shuffle(shorts)
    shorts = short_news + shorts
    locals_ = LOCALS[:4] if quick else LOCALS
    for outlet in locals_:
        header, footer = local_furniture(outlet)
        for n in range(rng.randint(6, 8)):
            if not shorts:
                break
            key, story = shorts.pop()
            at = START + offset(f"{outlet}{n}", days=3)
            split = ("dev", "test")[LOCALS.index(outlet) % 2]  # outlets alternate, so each half has some
            text = "\n\n".join(header + [story] + footer)
            items.append(
                Item(
                    f"{outlet}/{n}",
                    key,
                    text,
                    at,
                    f"https://www.{slug(outlet)}.example/news/{n}",
                    split,
                    "short",
                )
            )
            if rng.random() < 0.5 and len(story.split()) >= 30:
                other = rng.choice(SYNDICATORS)
                h, f = syndicator_furniture(other) if rng.random() < 0.5 else ([], [])
                items.append(
                    Item(
                        f"{outlet}/{n}#copy",
                        key,
                        "\n\n".join(h + [story] + f),
                        at + timedelta(minutes=rng.randint(5, 600)),
                        f"https://www.{slug(other)}.example/{slug(key)}",
                        split,
                        "short-copy",
                    )
                )
    return sorted(items, key=lambda it: (it.at, it.key))


@contextlib.contextmanager
def previous_wire_level():
    """The wire level as it was before boilerplate was left out: every line counts (no furniture by pattern,
    nothing learnt), no outlet check. The rest of the stage is the same code."""
    saved = fp.is_furniture, counts_store.boilerplate_keys, fp.differ_beyond_common_lines
    fp.is_furniture = lambda line: False
    counts_store.boilerplate_keys = lambda session, *, keys, min_clusters: set()
    fp.differ_beyond_common_lines = lambda a, b, threshold: False
    try:
        yield
    finally:
        fp.is_furniture, counts_store.boilerplate_keys, fp.differ_beyond_common_lines = saved


def run(items: list[Item], threshold: float, *, baseline: bool) -> list[int]:
    """Place every item with the production stage; return the wire cluster of each."""
    settings = DedupSettings(wire_threshold=threshold)
    clusters = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        previous_wire_level() if baseline else contextlib.nullcontext(),
    ):
        db = open_database(f"sqlite:///{tmp}/wire.db")
        with db.session() as session:
            for n, item in enumerate(items):
                url = item.url if "?" not in item.url else item.url.split("?")[0]
                url = f"{url.rstrip('/')}/{n}"  # unique: real rows can share an address
                article = article_value(url, item.text, item.at, entry_key=item.key)
                clusters.append(store_and_place(session, article, settings).wire_cluster_id)
        db.dispose()
    return clusters


def pair_counts(items: list[Item], pred: list[int]) -> tuple[int, int, int]:
    """(pairs joined and labelled one text, pairs joined, pairs labelled one text), unlabelled pairs left out:
    two rows of one provenance file (or copies of them) may be reprints of each other."""

    def pairs(keys) -> int:
        return sum(c * (c - 1) // 2 for c in Counter(keys).values())

    both, joined, gold = (
        pairs(zip((it.base for it in items), pred)),
        pairs(pred),
        pairs(it.base for it in items),
    )
    for name in {it.provenance for it in items if it.provenance}:
        # Two texts of one provenance file from different rows: joined or not, nobody knows which is right.
        idx = [i for i, it in enumerate(items) if it.provenance == name]
        joined -= pairs(pred[i] for i in idx) - pairs((items[i].base, pred[i]) for i in idx)
    return both, joined, gold


def scores(items: list[Item], pred: list[int]) -> dict:
    both, joined, gold = pair_counts(items, pred)
    precision = both / joined if joined else 1.0
    recall = both / gold if gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "pairs_gold": gold,
        "pairs_joined": joined,
    }


def breakdown(items: list[Item], pred: list[int]) -> dict:
    """Recall of the 50% trims and the short copies; false joins among the local outlets' short articles."""
    first = {}
    for it, cluster in zip(items, pred):
        first.setdefault(it.base, cluster)
    trims = [c == first[it.base] for it, c in zip(items, pred) if it.kind == "trim50"]
    short_copies = [c == first[it.base] for it, c in zip(items, pred) if it.kind == "short-copy"]
    shorts = [(it.base, c) for it, c in zip(items, pred) if it.kind == "short"]
    false_joins = sum(
        1 for i, (b1, c1) in enumerate(shorts) for b2, c2 in shorts[i + 1 :] if c1 == c2 and b1 != b2
    )
    return {
        "trim50_joined": f"{sum(trims)}/{len(trims)}",
        "short_copies_joined": f"{sum(short_copies)}/{len(short_copies)}",
        "short_pairs_wrongly_joined": false_joins,
    }


def choose(rows: list[tuple[float, dict]]) -> float:
    """Best F1 among thresholds with precision at least 0.98 (else all); the middle of a plateau."""
    eligible = [row for row in rows if row[1]["precision"] >= 0.98] or rows
    best = max(row[1]["f1"] for row in eligible)
    plateau = [row[0] for row in eligible if row[1]["f1"] == best]
    return plateau[len(plateau) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts and thresholds")
    args = parser.parse_args()
    if newspaper_corpus_missing():
        return
    items = build(args.quick)
    kinds = Counter(it.kind for it in items)
    print(
        f"{len(items)} items, {len({it.base for it in items})} wire texts: "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    )
    grid = [0.45, 0.55, 0.65] if args.quick else [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]
    started = time.perf_counter()
    dev_idx = [i for i, it in enumerate(items) if it.split == "dev"]
    test_idx = [i for i, it in enumerate(items) if it.split == "test"]
    results = {}
    for method, baseline in (("baseline", True), ("new", False)):
        print(f"\n{method}: dev half")
        rows, runs = [], {}
        for threshold in grid:
            runs[threshold] = run(items, threshold, baseline=baseline)
            dev = scores([items[i] for i in dev_idx], [runs[threshold][i] for i in dev_idx])
            rows.append((threshold, dev))
            print(
                f"  threshold {threshold:.2f}: P {dev['precision']:.4f} R {dev['recall']:.4f} F1 {dev['f1']:.4f}"
            )
        chosen = choose(rows)
        pred = runs[chosen]
        test = scores([items[i] for i in test_idx], [pred[i] for i in test_idx])
        default = DedupSettings().wire_threshold
        at_default = runs.get(default) or run(items, default, baseline=baseline)
        results[method] = {
            "threshold": chosen,
            "dev_sweep": rows,
            "test": test,
            "test_breakdown": breakdown([items[i] for i in test_idx], [pred[i] for i in test_idx]),
            "all_breakdown": breakdown(items, pred),
            "test_at_default": scores([items[i] for i in test_idx], [at_default[i] for i in test_idx]),
        }
    print(f"\n{'method':<10}{'threshold':>10}{'precision':>11}{'recall':>8}{'F1':>8}   test half")
    for method, result in results.items():
        s = result["test"]
        print(
            f"{method:<10}{result['threshold']:>10.2f}{s['precision']:>11.4f}{s['recall']:>8.4f}{s['f1']:>8.4f}   "
            + ", ".join(f"{k} {v}" for k, v in result["test_breakdown"].items())
        )
        s = result["test_at_default"]
        print(
            f"{'':<10}{DedupSettings().wire_threshold:>10.2f}{s['precision']:>11.4f}{s['recall']:>8.4f}"
            f"{s['f1']:>8.4f}   (the default threshold)"
        )
    test = results["new"]["test"]
    checks = {
        "precision >= 0.98 (test)": test["precision"] >= 0.98,
        "recall >= 0.95 (test)": test["recall"] >= 0.95,
    }
    report_checks(
        checks, {"items": len(items), "kinds": kinds, "results": results}, "wire_eval.json", started=started
    )


if __name__ == "__main__":
    main()
