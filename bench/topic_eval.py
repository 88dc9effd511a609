#!/usr/bin/env python
"""How precise is the bundled topic? Recall and false positives of the bundled feeds.yaml watchlist on a
labelled set of real news text.

    .venv/bin/python bench/topic_eval.py                 # the report
    .venv/bin/python bench/topic_eval.py --show-misses   # also the text of each miss and false positive
    .venv/bin/python bench/topic_eval.py --candidates    # unlabelled units that name Iran or Russia

The label file (bench/labels/topic_iran_russia.tsv) only points at real items: a file under ../shared
(the seed articles, a captured feed), an item in it and a paragraph, with its label and, for a negative,
the kind of hard negative. The texts are read from those files at run time and never copied here: they
are third-party content (see corpora/SOURCES.md).

Columns: ``path`` (under ../shared), ``item`` (a feed entry's id or link; ``-`` in a text file),
``part`` (which part of it is the unit), ``label`` (pos or neg), ``category``. A part is ``all`` (a whole
feed entry: its title as the title, its text as the body; a whole text file: its first line as the
title), ``p<n>`` (paragraph n of a feed entry's text, from 0), ``L<n>`` (line n of a text file, from 1)
or ``L<n>.s<k>`` (sentence k of that line, from 0).

Printed: per category, how many units the topic matches (recall for positives, false positives for the
negatives); then the scores of the matched positives and negatives against the bundled alert threshold.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import html
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "bench" / "labels" / "topic_iran_russia.tsv"
TOPIC = "iran-russia-arms"


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__)

from _pages import shared_dir  # noqa: E402

from monitor.config import load_config  # noqa: E402
from monitor.watchlist import ArticleText, load_watchlist  # noqa: E402


@dataclass(frozen=True)
class Unit:
    path: str  # under ../shared
    item: str  # a feed entry's id, or "-"
    part: str  # "all", "p<n>", "L<n>", "L<n>.s<k>"
    label: str  # "pos" or "neg"
    category: str
    title: str
    body: str


# --- Reading the real texts -----------------------------------------------------------------------------

_BLOCK_END = re.compile(r"</(?:p|div|li|h[1-6]|blockquote)>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
SENTENCE_END = re.compile(r"(?<=[.!?])[”\"]?\s+(?=[A-Z“\"])")  # between sentences of English news text


def html_paragraphs(markup: str) -> list[str]:
    """The text of each block of an HTML fragment (paragraphs, list items, headings), in order."""
    parts = (html.unescape(_TAG.sub(" ", block)) for block in _BLOCK_END.split(markup))
    return [text for text in (" ".join(part.split()) for part in parts) if text]


def _feed_items(path: Path) -> dict[str, tuple[str, list[str]]]:
    """guid -> (title, paragraphs) of each entry of a (gzipped) feed."""
    import feedparser

    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    items = {}
    for entry in feedparser.parse(data).entries:
        guid = entry.get("id") or entry.get("link") or entry.get("title", "")
        content = entry.get("content")
        markup = content[0].value if content else entry.get("summary", "")
        items[guid] = (html.unescape(entry.get("title", "")), html_paragraphs(markup))
    return items


class Texts:
    """The real texts, read once per file."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self._lines: dict[str, list[str]] = {}
        self._feeds: dict[str, dict[str, tuple[str, list[str]]]] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            self._lines[path] = (self.shared / path).read_text(encoding="utf-8").splitlines()
        return self._lines[path]

    def feed(self, path: str) -> dict[str, tuple[str, list[str]]]:
        if path not in self._feeds:
            self._feeds[path] = _feed_items(self.shared / path)
        return self._feeds[path]

    def unit(self, path: str, item: str, part: str) -> tuple[str, str]:
        """(title, body) of a unit."""
        if item == "-":
            lines = self.lines(path)
            if part == "all":
                present = [line for line in lines if line.strip()]
                return present[0], "\n".join(present[1:])
            line, _, sentence = part[1:].partition(".s")
            text = lines[int(line) - 1]
            return "", SENTENCE_END.split(text)[int(sentence)] if sentence else text
        title, paragraphs = self.feed(path)[item]
        if part == "all":
            return title, "\n".join(paragraphs)
        return "", paragraphs[int(part[1:])]


def load_units(labels: Path, texts: Texts) -> list[Unit]:
    units = []
    with labels.open(encoding="utf-8") as handle:
        for row in csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"):
            title, body = texts.unit(row["path"], row["item"], row["part"])
            units.append(
                Unit(row["path"], row["item"], row["part"], row["label"], row["category"], title, body)
            )
    return units


# --- The report -----------------------------------------------------------------------------------------


def alert_threshold(config) -> float | None:
    levels = [d.alerts.min_score for d in config.digests if d.alerts is not None]
    return min(levels) if levels else None


def evaluate(units: list[Unit], watchlist, topic: str) -> dict[str, list[tuple[Unit, float | None]]]:
    """Per category, each unit with its score for ``topic`` (None: no match)."""
    results: dict[str, list[tuple[Unit, float | None]]] = defaultdict(list)
    for unit in units:
        article = ArticleText(title=unit.title, body=unit.body)
        found = [m for m in watchlist.match(article) if m.topic == topic]
        results[f"{unit.label}:{unit.category}"].append((unit, found[0].score if found else None))
    return results


def _quartiles(values: list[float]) -> str:
    if not values:
        return "-"
    values = sorted(values)
    pick = [values[min(len(values) - 1, round(q * (len(values) - 1)))] for q in (0, 0.25, 0.5, 0.75, 1)]
    return " / ".join(f"{v:.0f}" for v in pick)


def report(results, threshold: float | None, show_misses: bool) -> None:
    print(f"{'category':<36} {'units':>5} {'matched':>8} {'rate':>6}  {'>= alert':>8}")
    totals = {"pos": [0, 0, 0], "neg": [0, 0, 0]}
    scores: dict[str, list[float]] = {"pos": [], "neg": []}
    for key in sorted(results):
        label = key.split(":", 1)[0]
        rows = results[key]
        matched = [score for _, score in rows if score is not None]
        alerted = [s for s in matched if threshold is not None and s >= threshold]
        rate = len(matched) / len(rows)
        print(f"{key:<36} {len(rows):>5} {len(matched):>8} {rate:>6.0%}  {len(alerted):>8}")
        totals[label] = [a + b for a, b in zip(totals[label], (len(rows), len(matched), len(alerted)))]
        scores[label] += matched
        if show_misses:
            for unit, score in rows:
                if (label == "pos") == (score is None):
                    text = " ".join(f"{unit.title} {unit.body}".split())
                    print(f"    {unit.path} {unit.item} {unit.part} ({score}): {text[:300]}")
    positives, negatives = totals["pos"], totals["neg"]
    print()
    if positives[0]:
        print(
            f"recall: {positives[1]}/{positives[0]} = {positives[1] / positives[0]:.0%}"
            f"   (at or above the alert threshold: {positives[2]})"
        )
    if negatives[0]:
        print(
            f"false positives: {negatives[1]}/{negatives[0]} = {negatives[1] / negatives[0]:.0%}"
            f"   (at or above the alert threshold: {negatives[2]})"
        )
    print(f"alert threshold (digests[].alerts.min_score): {threshold}")
    print(f"scores of matched positives, min / q1 / median / q3 / max: {_quartiles(scores['pos'])}")
    print(f"scores of matched negatives, min / q1 / median / q3 / max: {_quartiles(scores['neg'])}")


def candidates(texts: Texts, labelled: set[tuple[str, str]]) -> None:
    """Unlabelled paragraphs of the seeds and feed items that name Iran or Russia, to label."""
    pattern = re.compile(r"\b(iran|tehran|russia|moscow|kremlin)", re.IGNORECASE)
    for seed in sorted((texts.shared / "seeds").glob("*.txt")):
        path = str(seed.relative_to(texts.shared))
        for number, line in enumerate(texts.lines(path), 1):
            if pattern.search(line) and (path, "-", f"L{number}") not in labelled:
                print(f"{path}\tL{number}\t{line[:200]}")
    for feed in sorted((texts.shared / "corpora/fastfeedparser/benchmark_data").glob("*.gz")):
        path = str(feed.relative_to(texts.shared))
        try:
            items = texts.feed(path)
        except Exception:  # noqa: BLE001 - a feed that does not parse has nothing to label
            continue
        for guid, (title, paragraphs) in items.items():
            if pattern.search(title + " ".join(paragraphs)) and (path, guid, "all") not in labelled:
                print(f"{path}\t{guid}\t{title[:100]} | {' '.join(paragraphs)[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(REPO / "feeds.yaml"))
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--topic", default=TOPIC)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--candidates", action="store_true")
    args = parser.parse_args()
    shared = shared_dir()
    if not (shared / "seeds").is_dir():
        raise SystemExit(f"the labelled texts are read from {shared}; set MONITOR_SHARED_DIR")
    texts = Texts(shared)
    if args.candidates:
        with open(args.labels, encoding="utf-8") as handle:
            rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
            candidates(texts, {(row["path"], row["item"], row["part"]) for row in rows})
        return
    config = load_config(Path(args.config))
    watchlist = load_watchlist(config)
    units = load_units(Path(args.labels), texts)
    print(f"{len(units)} labelled units; topic {args.topic}; {args.config}\n")
    report(evaluate(units, watchlist, args.topic), alert_threshold(config), args.show_misses)


if __name__ == "__main__":
    main()
