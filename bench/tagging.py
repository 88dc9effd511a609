#!/usr/bin/env python
"""Tagging benchmark: the watchlist matcher on many topics and realistic articles, against baselines
measured in the same run.

    .venv/bin/python bench/tagging.py            # full run: 1,000 topics / 10,000 terms x 10,000 articles
    .venv/bin/python bench/tagging.py --quick    # smoke test: a few seconds, targets not enforced

What it measures (see bench/README.md):

1. articles per second for 1,000 topics with 10,000 terms, on one core, evidence built for every match
   as the pipeline does (target: at least 2,000 articles/s);
2. the same articles with 10 topics and 100 terms: the time for 10,000 terms over the time for 100 terms
   (target: at most 3x);
3. the baseline: one compiled regular expression per topic (the alternation of its terms), run over
   each article, and the topic's tree evaluated on the terms found, on a subset of the articles;
   the ratio of the two rates. Both sides' decisions are compared on that subset, as a sanity check.

Article bodies are real news text extracted from ../shared/corpora at run time (never copied here), else
generated text. Topics are generated from the articles' own vocabulary (words ranked past the most
common few hundred, two-word phrases, prefixes), in the shapes analysts write.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__, ("ahocorasick",))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pages import load_pages  # noqa: E402

from monitor.ingest.extract import extract_page  # noqa: E402
from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec  # noqa: E402
from monitor.watchlist.query import parse_query  # noqa: E402
from monitor.watchlist.text import fold  # noqa: E402
from monitor.watchlist.tree import And, Near, Not, Or, Term  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "tagging.json"
MIN_RATE = 2000.0
MAX_SCALING = 3.0
COMMON_WORDS = 1000  # the most frequent words of the texts are left out of topics, as analysts leave them out


# --- Articles -------------------------------------------------------------------------------------------


def article_texts(count: int, pages: int, seed: int) -> tuple[list[ArticleText], str]:
    """``count`` articles: real texts, their paragraphs reordered so that each article is its own text."""
    loaded, origin = load_pages(pages)
    texts = []
    for page in loaded:
        extracted = extract_page(page.html, f"https://bench.example/{len(texts)}")
        if extracted is not None and len(extracted.text) >= 1200:
            texts.append((extracted.title or "", extracted.text))
    if not texts:
        raise SystemExit("no article text could be extracted")
    rng = random.Random(seed)
    articles = []
    for index in range(count):
        title, body = texts[index % len(texts)]
        paragraphs = body.split("\n")
        rng.shuffle(paragraphs)
        articles.append(ArticleText(title=title, body="\n".join(paragraphs)))
    return articles, f"{origin}, {len(texts)} distinct texts"


# --- Topics ---------------------------------------------------------------------------------------------


def vocabulary(articles: list[ArticleText]) -> tuple[list[str], list[str]]:
    """Words past the most common ones (as topic terms are), and two-word phrases seen in the texts."""
    counts: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    seen = set()
    for article in articles:
        if article.body[:200] in seen:
            continue
        seen.add(article.body[:200])
        words = [w for w in re.findall(r"[^\W\d_]{3,}", article.body)]
        counts.update(w.lower() for w in words)
        pairs.update(zip((w.lower() for w in words), (w.lower() for w in words[1:])))
    ranked = [word for word, _ in counts.most_common()][COMMON_WORDS:]
    phrases = [f"{a} {b}" for (a, b), n in pairs.most_common(20000)[COMMON_WORDS:] if a != b]
    return ranked, phrases


def make_topics(n_topics: int, words: list[str], phrases: list[str], seed: int) -> list[tuple[str, str]]:
    """(name, query) with 10 terms each, in the shape of a monitoring topic: a subject (three synonyms),
    a context (two words, a phrase, a prefix), a qualifier (two words), and an excluded word; every fifth
    topic asks for subject and context NEAR each other."""
    rng = random.Random(seed)
    # Terms are drawn without putting them back, so that 1,000 topics have about 10,000 distinct terms.
    pool = words[:]
    rng.shuffle(pool)
    long_words = [w for w in pool if len(w) >= 7]
    phrase_pool = phrases[:]
    rng.shuffle(phrase_pool)

    def draw(n: int) -> list[str]:
        return [pool.pop() if pool else rng.choice(words) for _ in range(n)]

    topics = []
    for index in range(n_topics):
        subject, context, qualifier = draw(3), draw(2), draw(2)
        phrase = phrase_pool.pop() if phrase_pool else rng.choice(phrases)
        prefix = (long_words.pop() if long_words else rng.choice(words))[:6] + "*"
        excluded = draw(1)[0]
        left = f"({' OR '.join(subject)})"
        right = f'({" OR ".join(context)} OR "{phrase}" OR {prefix})'
        operator = "NEAR/10" if index % 5 == 0 else "AND"
        query = f"{left} {operator} {right} AND ({' OR '.join(qualifier)}) AND NOT {excluded}"
        topics.append((f"topic-{index}", query))
    return topics


def build(topics: list[tuple[str, str]]) -> Matcher:
    return Matcher([TopicSpec(name, parse_query(query)) for name, query in topics])


# --- Baseline: one regular expression per topic ---------------------------------------------------------


class RegexTopic:
    """A topic as a hand-rolled monitor would run it: one case-insensitive regex of all its terms,
    searched over the text, then the tree evaluated on the set of terms found (NEAR read as AND)."""

    def __init__(self, name: str, query: str) -> None:
        self.name = name
        self.tree = parse_query(query)
        terms = sorted({self._pattern(t) for t in _terms(self.tree)}, key=len, reverse=True)
        self.regex = re.compile(r"(?<!\w)(?:" + "|".join(f"({t})" for t in terms) + r")", re.IGNORECASE)
        self.groups = terms

    @staticmethod
    def _pattern(term: Term) -> str:
        words = [re.escape(token) for token in term.tokens]
        tail = r"\w*" if term.prefix else r"(?!\w)"
        return r"\W+".join(words) + tail

    def matches(self, text: str) -> bool:
        found = set()
        for match in self.regex.finditer(text):
            found.add(self.groups[match.lastindex - 1])
        return _holds(self.tree, found, self._pattern)


def _terms(node):
    if isinstance(node, Term):
        yield node
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from _terms(child)
    elif isinstance(node, Not):
        yield from _terms(node.child)
    elif isinstance(node, Near):
        yield from _terms(node.left)
        yield from _terms(node.right)


def _holds(node, found: set[str], pattern) -> bool:
    if isinstance(node, Term):
        return pattern(node) in found
    if isinstance(node, And):
        return all(_holds(c, found, pattern) for c in node.children)
    if isinstance(node, Or):
        return any(_holds(c, found, pattern) for c in node.children)
    if isinstance(node, Not):
        return not _holds(node.child, found, pattern)
    return _holds(node.left, found, pattern) and _holds(node.right, found, pattern)


# --- Running --------------------------------------------------------------------------------------------


def timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def run_matcher(matcher: Matcher, articles: list[ArticleText]) -> int:
    return sum(len(matcher.match(article)) for article in articles)


def run_baseline(topics: list[RegexTopic], articles: list[ArticleText]) -> list[set[str]]:
    # The text is folded as ours is (case, diacritics), so that both decide on the same words.
    texts = [fold(a.title + "\n" + a.body) for a in articles]
    return [{t.name for t in topics if t.matches(text)} for text in texts]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=1_000, help="topics of 10 terms each (default 1,000)")
    parser.add_argument(
        "--small-topics", type=int, default=10, help="the small watchlist (default 10 = 100 terms)"
    )
    parser.add_argument("--pages", type=int, default=300, help="corpus pages to draw texts from")
    parser.add_argument("--baseline-articles", type=int, default=100, help="articles for the regex baseline")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best one counts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small sizes; targets are not enforced")
    args = parser.parse_args()
    if args.quick:
        args.articles, args.topics, args.pages, args.baseline_articles, args.rounds = 1000, 200, 60, 20, 1

    print("preparing articles ...", file=sys.stderr)
    articles, origin = article_texts(args.articles, args.pages, args.seed)
    words, phrases = vocabulary(articles)
    big_topics = make_topics(args.topics, words, phrases, args.seed)
    small_topics = big_topics[: args.small_topics]

    build_big, big = timed(build, big_topics)
    build_small, small = timed(build, small_topics)
    run_matcher(big, articles[:200])  # warm the folding caches, as a running daemon has them

    # Best of a few rounds, taken in turns: other work on the machine only ever slows a round down.
    load_before = os.getloadavg()[0]
    rounds: dict[str, list[float]] = {"big": [], "small": [], "fast": []}
    for _ in range(args.rounds):
        seconds, big_matches = timed(run_matcher, big, articles)
        rounds["big"].append(seconds)
        seconds, small_matches = timed(run_matcher, small, articles)
        rounds["small"].append(seconds)
        rounds["fast"].append(timed(lambda: sum(len(big.match(a, explain=False)) for a in articles))[0])
    big_time, small_time, fast_time = (min(rounds[k]) for k in ("big", "small", "fast"))
    load_after = os.getloadavg()[0]

    subset = articles[: args.baseline_articles]
    regex_topics = [RegexTopic(name, query) for name, query in big_topics]
    base_time, base_sets = timed(run_baseline, regex_topics, subset)
    # Sanity: on the topics without NEAR (which the baseline reads as AND), both should decide alike.
    plain = {name for name, query in big_topics if "NEAR" not in query}
    ours = [{m.topic for m in big.match(a, explain=False)} & plain for a in subset]
    base_sets = [found & plain for found in base_sets]
    agree = sum(len(a & b) for a, b in zip(ours, base_sets))
    total = sum(len(a | b) for a, b in zip(ours, base_sets))

    n = len(articles)
    chars = sum(len(a.title) + len(a.body) for a in articles) / n
    rate = n / big_time
    base_rate = len(subset) / base_time
    scaling = big_time / small_time
    result = {
        "articles": n,
        "mean_chars": round(chars),
        "texts": origin,
        "topics": len(big_topics),
        "terms": big.term_count,
        "small_topics": len(small_topics),
        "small_terms": small.term_count,
        "compile_seconds": round(build_big, 3),
        "compile_small_seconds": round(build_small, 4),
        "rate": round(rate),
        "rate_without_evidence": round(n / fast_time),
        "small_rate": round(n / small_time),
        "matches_per_article": round(big_matches / n, 2),
        "small_matches_per_article": round(small_matches / n, 2),
        "scaling_10k_over_100": round(scaling, 2),
        "baseline_rate": round(base_rate, 1),
        "speedup_over_baseline": round(rate / base_rate, 1),
        "baseline_articles": len(subset),
        "agreement_with_baseline": round(agree / total, 4) if total else 1.0,
        "rounds": args.rounds,
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "cpus": os.cpu_count(),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")

    checks = [
        (
            f"{big.term_count:,} terms / {len(big_topics):,} topics",
            f"{rate:,.0f} articles/s",
            f">= {MIN_RATE:,.0f}",
            rate >= MIN_RATE,
        ),
        (
            f"{small.term_count:,} terms / {len(small_topics)} topics",
            f"{n / small_time:,.0f} articles/s",
            "",
            None,
        ),
        (
            "time 10k terms / time 100 terms",
            f"{scaling:.2f}x",
            f"<= {MAX_SCALING:.0f}x",
            scaling <= MAX_SCALING,
        ),
        ("baseline: one regex per topic", f"{base_rate:,.1f} articles/s", "", None),
        ("speed-up over the baseline", f"{rate / base_rate:,.0f}x", "", None),
        ("matches found by both (no NEAR)", f"{100 * result['agreement_with_baseline']:.2f}%", "", None),
    ]
    print(
        f"\nTagging: {n:,} articles of {chars:,.0f} characters on average ({origin}); one core, best of "
        f"{args.rounds} rounds; load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"compiled {big.term_count:,} terms in {build_big:.2f}s; {big_matches / n:.2f} matches per article; "
        f"without evidence {n / fast_time:,.0f} articles/s\n"
    )
    width = max(len(c[0]) for c in checks)
    for name, value, target, ok in checks:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"  {name:<{width}}  {value:>18}  {target:>9}  {verdict}")
    print(f"\nwritten to {OUT.relative_to(REPO)}")
    failed = [c for c in checks if c[3] is False]
    return 0 if args.quick or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
