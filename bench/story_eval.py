#!/usr/bin/env python
"""Story level quality on real, hand-labelled news: ECB+ placed one article at a time by the real stage.

    .venv/bin/python bench/story_eval.py            # sweep on the tuning half, report the held-out half
    .venv/bin/python bench/story_eval.py --quick    # one arrival order, fewer thresholds: a smoke test
    .venv/bin/python bench/story_eval.py --tune-only --orders 8 --set body_weight=0.5 --thresholds 0.16,0.2
        # an idea tried on the tuning half alone (the held-out half is neither placed nor measured)

ECB+ (Cybulska and Vossen, LREC 2014; CC BY 3.0) holds 43 topics, each with two different real events of
one kind (two earthquakes, two shootings, two rehab check-ins of actresses): the gold story of a document
is (topic, sub-topic). The two sub-topics of a topic are exactly the hard negatives of the story level:
same kind, same vocabulary, often the same places and people. The corpus is read from ``../shared`` at run
time; nothing of it is copied into the project, and the script says "skipped" when it is absent.

How the daemon is mimicked: the documents of one half arrive one at a time, in a shuffled (seeded) order,
and each goes through ``monitor.dedupe.deduplicate`` on a fresh SQLite database, so every article is
compared with the running profiles of the stories formed so far, through the indexed key-term lookup,
with the IDF counted as the daemon counts it. Term counts start from a background of other real news,
as a daemon that has been running for weeks has them: the news pages of ``corpora/newspaper`` and the texts
of the other half (counted, never placed; their labels are never read). ECB+ has no dates: every document
gets one fetch time and no publication time, so the time factor is neutral and all the documents of a half
compete within one window (harder than a real day).

The halves are split by topic (a SHA-1 of the topic number, so both sub-topics of a topic fall in one
half). The threshold of each scoring is the one with the best mean B-cubed F1 over the arrival orders of
the tuning half; the held-out half is reported at that threshold, and at the configured one (the
``dedup:`` default, what the daemon does). The previous scoring (``stories.BASELINE_SCORING``) is measured
in the same run, the same ways. Prints B-cubed precision, recall and F1 and the adjusted Rand index; writes
``bench/out/story_eval.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import re
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _pages import shared_dir
from _placing import stories_after_regrouping
from _report import report_checks

from monitor.config import DedupSettings
from monitor.dedupe import stage
from monitor.dedupe.stories import BASELINE_SCORING, SCORING, Scoring, term_counts
from monitor.store import counts as counts_store
from monitor.store.db import open_database
from monitor.store.models import Article as ArticleRow
from monitor.store.records import Article, BodySource, content_hash

SHARED = shared_dir()
ECBPLUS = SHARED / "corpora/ecbplus/ECB+"
AT = datetime(2024, 5, 6, 9, tzinfo=UTC)
TARGETS = {"bcubed_f1": 0.90, "ari": 0.85}


@dataclass(frozen=True)
class Doc:
    key: str
    topic: str
    story: str
    title: str
    body: str


# --- The corpus ---------------------------------------------------------------------------------------------

_DATE_WORDS = re.compile(
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*|[a-z]+day|am|pm|gmt|utc|"
    r"ist|est|edt|bst|cet|th|st|nd|rd|on|at|published|posted|updated|last",
    re.IGNORECASE,
)


def _is_date_line(line: str) -> bool:
    """A line that only dates the article ("September 18th, 2013, 05:31 GMT"): most ``ecbplus`` files have
    one and the ``ecb`` files do not, so it alone would tell the sub-topics apart."""
    words = re.findall(r"[A-Za-z]+", line)
    return bool(re.search(r"\d", line)) and all(_DATE_WORDS.fullmatch(w) for w in words)


def detokenise(tokens: list[str]) -> str:
    """Token text back to prose, so the entity and sentence heuristics see what an extractor gives."""
    text = " ".join(tokens)
    text = re.sub(r"``\s*|\s*''", '"', text)
    text = re.sub(r"(\d)\s*([.:/])\s+(\d)", r"\1\2\3", text)  # "6. 1" -> "6.1", "05: 31" -> "05:31"
    text = re.sub(r"(\w) - (\w)", r"\1-\2", text)
    text = re.sub(r"\s+([,.;:!?%)\]])", r"\1", text)
    text = re.sub(r"([(\[$])\s+", r"\1", text)
    return re.sub(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)


def read_document(path: Path) -> tuple[str, str]:
    """(title, body) of one ECB+ file: the first sentence is the title, the rest the body.

    The source URL that opens most ``ecbplus`` files is dropped (it alone would separate the sub-topics),
    and so are lines that are only a date (only one sub-topic has them).
    """
    sentences: dict[int, list[str]] = defaultdict(list)
    for token in ET.parse(path).getroot().iter("token"):
        sentences[int(token.get("sentence"))].append(token.text or "")
    lines = [detokenise(sentences[n]) for n in sorted(sentences)]
    lines = [
        line for line in lines if line and not line.lower().startswith("http") and not _is_date_line(line)
    ]
    return (lines[0] if lines else ""), "\n\n".join(lines[1:])


def load_ecbplus() -> list[Doc]:
    docs = []
    for topic_dir in sorted(ECBPLUS.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0):
        if not topic_dir.is_dir():
            continue
        for path in sorted(topic_dir.glob("*.xml")):
            sub = "ecbplus" if path.name.endswith("ecbplus.xml") else "ecb"
            title, body = read_document(path)
            docs.append(Doc(path.stem, topic_dir.name, f"{topic_dir.name}/{sub}", title, body))
    return docs


def half_of(topic: str) -> str:
    return "tune" if int(hashlib.sha1(topic.encode()).hexdigest(), 16) % 2 else "held-out"


def halves_and_backgrounds() -> tuple[dict[str, list[Doc]], dict[str, list[tuple[str, str]]]]:
    """ECB+'s two halves, and the texts each half's term counts start from: the news pages, and the other
    half's texts (never their labels), as news of other topics a daemon has counted before."""
    docs = load_ecbplus()
    pages = background_texts()
    halves = {name: [d for d in docs if half_of(d.topic) == name] for name in ("tune", "held-out")}
    backgrounds = {
        name: pages + [(d.title, d.body) for d in docs if half_of(d.topic) != name] for name in halves
    }
    return halves, backgrounds


def background_texts() -> list[tuple[str, str]]:
    """Real news pages with ground-truth text: part of the term counts a running daemon has."""
    manifest = SHARED / "corpora/newspaper/expected.json"
    if not manifest.is_file():
        return []
    texts = []
    for doc in json.loads(manifest.read_text(encoding="utf-8"))["documents"]:
        if doc["text_is_ground_truth"]:
            text = (SHARED / "corpora/newspaper" / doc["text"]).read_text(encoding="utf-8", errors="replace")
            texts.append(("", text))
    return texts


# --- Running the stage --------------------------------------------------------------------------------------


def place_all(
    docs: list[Doc], *, threshold: float, scoring: Scoring, background: list[tuple[str, str]]
) -> list[int]:
    """Each document through ``stage.deduplicate`` in the given order; the story each one was put in."""
    return place_and_regroup(docs, threshold=threshold, scoring=scoring, background=background)[0]


def place_and_regroup(
    docs: list[Doc],
    *,
    threshold: float,
    scoring: Scoring,
    background: list[tuple[str, str]],
    regroup: bool = False,
) -> tuple[list[int], list[int] | None]:
    """``place_all``, and with ``regroup`` the stories after the daemon's regrouping pass over the window
    (``monitor.dedupe.regrouping``) on the same database (None without)."""
    settings = DedupSettings(story_threshold=threshold)
    stories, ids = [], []
    regrouped = None
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/story_eval.db")
        with db.session() as session:
            for title, body in background:
                counts_store.count_terms(session, terms=term_counts(title, body, scoring=scoring))
            for n, doc in enumerate(docs):
                url = f"https://eval.invalid/{n}"
                article = Article(
                    entry_key=url,
                    url=url,
                    canonical_url=url,
                    guid=None,
                    title=doc.title,
                    author=None,
                    published=None,
                    fetched_at=AT,
                    language="en",
                    body=doc.body,
                    summary=None,
                    body_source=BodySource.EXTRACTED,
                    body_note=None,
                    content_hash=content_hash(doc.body),
                )
                row = ArticleRow(
                    url=url,
                    canonical_url=url,
                    title=doc.title,
                    fetched_at=AT,
                    body=doc.body,
                    body_source="extracted",
                    content_hash=article.content_hash,
                )
                session.add(row)
                session.flush()
                placed = stage.deduplicate(
                    session, article_id=row.id, article=article, settings=settings, story_scoring=scoring
                )
                stories.append(placed.story_id)
                ids.append(row.id)
        if regroup:
            regrouped = stories_after_regrouping(db, ids, settings, now=AT)
        db.dispose()
    return stories, regrouped


# --- Measures -----------------------------------------------------------------------------------------------


def bcubed(gold: list, pred: list) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 (Bagga and Baldwin): per item, the share of its predicted cluster
    that is in its gold cluster and the share of its gold cluster that it was put with, averaged."""
    both = Counter(zip(gold, pred))
    in_gold, in_pred = Counter(gold), Counter(pred)
    precision = sum(both[g, p] / in_pred[p] for g, p in zip(gold, pred)) / len(gold)
    recall = sum(both[g, p] / in_gold[g] for g, p in zip(gold, pred)) / len(gold)
    return precision, recall, 2 * precision * recall / (precision + recall)


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def adjusted_rand(gold: list, pred: list) -> float:
    """Hubert and Arabie's adjusted Rand index, from the contingency table."""
    both = sum(_pairs(c) for c in Counter(zip(gold, pred)).values())
    in_gold = sum(_pairs(c) for c in Counter(gold).values())
    in_pred = sum(_pairs(c) for c in Counter(pred).values())
    expected = in_gold * in_pred / _pairs(len(gold))
    maximum = (in_gold + in_pred) / 2
    return 1.0 if maximum == expected else (both - expected) / (maximum - expected)


def _placed(
    arriving: list[Doc], threshold: float, scoring: Scoring, background: list[tuple[str, str]]
) -> tuple[float, float, float, float, int]:
    """One arrival order placed and measured: B-cubed P/R/F1, ARI and the number of stories."""
    pred = place_all(arriving, threshold=threshold, scoring=scoring, background=background)
    gold = [doc.story for doc in arriving]
    return (*bcubed(gold, pred), adjusted_rand(gold, pred), len(set(pred)))


def measure(
    docs: list[Doc],
    orders: list[list[int]],
    *,
    threshold: float,
    scoring: Scoring,
    background: list[tuple[str, str]],
    jobs: int = 1,
) -> dict:
    """Mean B-cubed P/R/F1 and ARI over the arrival orders (and the spread of F1); the orders are placed in
    ``jobs`` processes (each on its own database, so they cannot disturb one another)."""
    arrivals = [[docs[i] for i in order] for order in orders]
    args = ([threshold] * len(arrivals), [scoring] * len(arrivals), [background] * len(arrivals))
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            runs = list(pool.map(_placed, arrivals, *args))
    else:
        runs = list(map(_placed, arrivals, *args))
    mean = [statistics.fmean(column) for column in zip(*runs)]
    return {
        "threshold": threshold,
        "precision": round(mean[0], 4),
        "recall": round(mean[1], 4),
        "f1": round(mean[2], 4),
        "ari": round(mean[3], 4),
        "stories": round(mean[4], 1),
        "f1_min": round(min(r[2] for r in runs), 4),
        "f1_max": round(max(r[2] for r in runs), 4),
    }


def choose(rows: list[dict]) -> float:
    """The threshold of best mean F1; of a plateau of equal F1, the middle one."""
    best = max(row["f1"] for row in rows)
    plateau = [row["threshold"] for row in rows if row["f1"] == best]
    return plateau[len(plateau) // 2]


def line(name: str, row: dict) -> str:
    return (
        f"  {name:<34}{row['threshold']:>6.2f}{row['precision']:>8.4f}{row['recall']:>8.4f}{row['f1']:>8.4f}"
        f"{row['ari']:>8.4f}{row['stories']:>9.1f}   F1 {row['f1_min']:.3f}-{row['f1_max']:.3f}"
    )


def scoring_with(changes: list[str]) -> Scoring:
    """The stage's scoring with some fields changed ("core_shared=2"), each parsed as its default's type."""
    fields = {field.name: field for field in dataclasses.fields(Scoring)}
    values: dict = {}
    for change in changes:
        name, _, text = change.partition("=")
        default = getattr(SCORING, name) if name in fields else None
        if name not in fields:
            raise SystemExit(f"no Scoring field {name!r}: {', '.join(fields)}")
        if text.lower() == "none":
            values[name] = None
        elif isinstance(default, bool):
            values[name] = text.lower() in ("1", "true", "yes")
        elif isinstance(default, int):
            values[name] = int(text)
        else:
            values[name] = float(text)
    return dataclasses.replace(SCORING, **values)


def tune_only(args: argparse.Namespace, docs: list[Doc], orders: list[list[int]], background: list) -> None:
    """A sweep of the stage's scoring (with ``--set`` changes) on the tuning half only: the inner loop of
    trying an idea, which leaves the held-out half unseen."""
    scoring = scoring_with(args.set)
    thresholds = [float(t) for t in (args.thresholds or "0.12,0.16,0.2").split(",")]
    print(f"tuning half, {len(orders)} arrival order(s), {scoring}")
    print(f"  {'':<34}{'thr':>6}{'B3 P':>8}{'B3 R':>8}{'B3 F1':>8}{'ARI':>8}{'stories':>9}")
    for threshold in thresholds:
        row = measure(
            docs, orders, threshold=threshold, scoring=scoring, background=background, jobs=args.jobs
        )
        print(line(" ".join(args.set) or "stage scoring", row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one arrival order and five thresholds")
    parser.add_argument("--orders", type=int, default=4, help="arrival orders averaged (default 4)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="processes placing arrival orders side by side (default 2)"
    )
    parser.add_argument(
        "--tune-only",
        action="store_true",
        help="only sweep the stage's scoring on the tuning half (never reads the held-out labels)",
    )
    parser.add_argument("--thresholds", help="with --tune-only: comma-separated thresholds to sweep")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="with --tune-only: a field of the stage's Scoring changed for this run (repeatable)",
    )
    args = parser.parse_args()
    if not ECBPLUS.is_dir():
        print(f"skipped: no ECB+ under {SHARED} (set MONITOR_SHARED_DIR)")
        return
    started = time.perf_counter()
    halves, backgrounds = halves_and_backgrounds()
    n_orders = 1 if args.quick else args.orders
    orders = {
        name: [random.Random(seed).sample(range(len(part)), len(part)) for seed in range(n_orders)]
        for name, part in halves.items()
    }
    if args.tune_only:
        tune_only(args, halves["tune"], orders["tune"], backgrounds["tune"])
        return
    for name, part in halves.items():
        print(
            f"{name}: {len(part)} documents, {len({d.topic for d in part})} topics, "
            f"{len({d.story for d in part})} stories"
        )
    print(
        f"term counts start from {len(backgrounds['tune']) - len(halves['held-out'])} news pages and the other "
        "half's texts; "
        f"{n_orders} arrival order(s)\n"
    )
    grids = {
        "previous": [0.08, 0.12, 0.2, 0.3] if args.quick else [0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.35, 0.4],
        "new": [0.12, 0.16, 0.2, 0.25] if args.quick else [0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.25],
    }
    scorings = {"previous": BASELINE_SCORING, "new": SCORING}
    header = f"  {'':<34}{'thr':>6}{'B3 P':>8}{'B3 R':>8}{'B3 F1':>8}{'ARI':>8}{'stories':>9}"
    result: dict = {"documents": {k: len(v) for k, v in halves.items()}, "orders": n_orders}
    for name, scoring in scorings.items():
        print(f"{name} scoring, tuning half:\n{header}")
        rows = []
        for threshold in grids[name]:
            rows.append(
                measure(
                    halves["tune"],
                    orders["tune"],
                    threshold=threshold,
                    scoring=scoring,
                    background=backgrounds["tune"],
                    jobs=args.jobs,
                )
            )
            print(line("", rows[-1]))
        chosen = choose(rows)
        result[name] = {
            "sweep": rows,
            "threshold": chosen,
            "tune": next(r for r in rows if r["threshold"] == chosen),
            "held_out": measure(
                halves["held-out"],
                orders["held-out"],
                threshold=chosen,
                scoring=scoring,
                background=backgrounds["held-out"],
                jobs=args.jobs,
            ),
        }
        print(f"chosen: {chosen}\n")
    # What the daemon does with the configured threshold (the dedup: section's default), old and new.
    shipped = DedupSettings().story_threshold
    for name, scoring in scorings.items():
        result[name]["held_out_shipped"] = measure(
            halves["held-out"],
            orders["held-out"],
            threshold=shipped,
            scoring=scoring,
            background=backgrounds["held-out"],
            jobs=args.jobs,
        )
    print(
        f"held-out half ({len(halves['held-out'])} documents, {len({d.topic for d in halves['held-out']})} "
        f"topics; mean of {n_orders} arrival order(s)):\n{header}"
    )
    print(line("previous, configured threshold", result["previous"]["held_out_shipped"]))
    print(line("previous, threshold tuned", result["previous"]["held_out"]))
    print(line("new, configured threshold", result["new"]["held_out_shipped"]))
    print(line("new, threshold tuned", result["new"]["held_out"]))
    new = result["new"]["held_out"]
    checks = {
        f"B-cubed F1 >= {TARGETS['bcubed_f1']} (held-out)": new["f1"] >= TARGETS["bcubed_f1"],
        f"ARI >= {TARGETS['ari']} (held-out)": new["ari"] >= TARGETS["ari"],
    }
    report_checks(checks, result, "story_eval.json", started=started)


if __name__ == "__main__":
    main()
