#!/usr/bin/env python
"""NEAR with many hits: time per KB of text as the text grows, against baselines measured in the same run.

    .venv/bin/python bench/near.py            # 10 KB to 1 MB
    .venv/bin/python bench/near.py --quick    # 10 KB and 100 KB: a few seconds, targets not enforced

The text is the worst case for NEAR: two terms, each every third word, so every occurrence of one is
within 200 words of some 130 of the other's (``aa NEAR/200 bb`` and ``aa ONEAR/200 bb``). What it measures:

1. the matcher, evidence built, at each size: the time per KB, and its ratio to the time per KB at the
   smallest size (target: at most 2x, i.e. time grows with the text, not with its square);
2. the baseline ``aa AND bb`` on the same text (the scan and the evidence without NEAR's pairing), and
   NEAR's time over it;
3. NEAR as it was first written (every near pair listed, evidence checked against each used span) at the
   sizes where it finishes in reasonable time, for the speed-up.

Each case runs ``--rounds`` times and the best round counts. Results go to ``bench/out/near.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from bisect import bisect_left
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monitor.watchlist.compiled import NearNode  # noqa: E402
from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec  # noqa: E402
from monitor.watchlist.query import parse_query  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "near.json"
SIZES_KB = (10, 30, 100, 300, 1000)
QUICK_SIZES_KB = (10, 100)
EVERY_PAIR_MAX_KB = 30  # NEAR as first written is quadratic: 45 s at 96 KB
MAX_GROWTH = 2.0  # time per KB at the largest size over time per KB at the smallest


def text_of(kb: int) -> str:
    return ("aa bb cc " * (kb * 1024 // 9 + 1))[: kb * 1024]


def best_time(matcher: Matcher, article: ArticleText, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        matcher.match(article)
        best = min(best, time.perf_counter() - started)
    return best


@contextmanager
def every_pair():
    """NearNode as it was first written: every near pair, evidence tested against each used span."""

    def _pairs(self, scan, first):
        rights = sorted(self.right.spans(scan))
        if not rights:
            return []
        right_starts = [(field, start) for field, start, _ in rights]
        longest = max(end - start for _, start, end in rights)
        found = []
        for left in self.left.spans(scan):
            field, start, end = left
            low = bisect_left(right_starts, (field, end))
            high = bisect_left(right_starts, (field, end + self.distance + 1))
            found += [(left, right) for right in rights[low:high]]
            if not self.ordered:
                low = bisect_left(right_starts, (field, start - self.distance - longest))
                high = bisect_left(right_starts, (field, start))
                found += [
                    (left, right) for right in rights[low:high] if 0 <= start - right[2] <= self.distance
                ]
            if found and first:
                return found
        return found

    def pairs(self, scan, first=False):
        found = scan.memo.get(id(self))
        if found is not None:
            return found[:1] if first else found
        found = _pairs(self, scan, first)
        if not first:
            scan.memo[id(self)] = found
        return found

    def collect(self, scan, out):
        pairs = self.pairs(scan)
        for side, used in ((self.left, {p[0] for p in pairs}), (self.right, {p[1] for p in pairs})):
            inner = []
            side.collect(scan, inner)
            for leaf, allowed in inner:
                spans = leaf.spans(scan) if allowed is None else allowed
                kept = [s for s in spans if any(s[0] == u[0] and u[1] <= s[1] and s[2] <= u[2] for u in used)]
                if kept:
                    out.append((leaf, kept))

    saved = NearNode.pairs, NearNode.collect
    NearNode.pairs, NearNode.collect = pairs, collect
    try:
        yield
    finally:
        NearNode.pairs, NearNode.collect = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 KB and 100 KB only; targets not enforced")
    parser.add_argument("--rounds", type=int, default=3, help="runs per case; the best counts (default 3)")
    args = parser.parse_args()
    sizes = QUICK_SIZES_KB if args.quick else SIZES_KB
    queries = {"near": "aa NEAR/200 bb", "onear": "aa ONEAR/200 bb", "and": "aa AND bb"}
    matchers = {name: Matcher([TopicSpec(name, parse_query(query))]) for name, query in queries.items()}
    load_before = os.getloadavg()[0]
    rows = []
    print(
        f"{'size':>8} {'NEAR s':>8} {'ms/KB':>7} {'growth':>7} {'ONEAR s':>8} {'AND s':>7} "
        f"{'NEAR/AND':>9} {'every pair s':>13} {'speed-up':>9}"
    )
    for kb in sizes:
        article = ArticleText(body=text_of(kb))
        times = {name: best_time(matcher, article, args.rounds) for name, matcher in matchers.items()}
        before = None
        if kb <= EVERY_PAIR_MAX_KB:
            with every_pair():
                before = best_time(matchers["near"], article, 1)
        per_kb = times["near"] / kb
        growth = per_kb / (rows[0]["near_seconds"] / rows[0]["kb"]) if rows else 1.0
        rows.append(
            {
                "kb": kb,
                "near_seconds": times["near"],
                "onear_seconds": times["onear"],
                "and_seconds": times["and"],
                "every_pair_seconds": before,
                "growth": growth,
            }
        )
        was = "-" if before is None else f"{before:.3f}"
        speed_up = "-" if before is None else f"{before / times['near']:.0f}x"
        print(
            f"{kb:>6}KB {times['near']:>8.3f} {per_kb * 1000:>7.2f} {growth:>6.2f}x {times['onear']:>8.3f} "
            f"{times['and']:>7.3f} {times['near'] / times['and']:>8.1f}x {was:>13} {speed_up:>9}"
        )
    worst = max(row["growth"] for row in rows)
    load_after = os.getloadavg()[0]
    print(
        f"time per KB, largest over smallest size: {rows[-1]['growth']:.2f}x (worst {worst:.2f}x; "
        f"target at most {MAX_GROWTH:g}x); load average {load_before:.1f} -> {load_after:.1f}"
    )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(
        json.dumps({"rows": rows, "max_growth": MAX_GROWTH, "load": [load_before, load_after]}, indent=2)
        + "\n"
    )
    if not args.quick and worst > MAX_GROWTH:
        print("FAIL: NEAR's time per KB grows with the text")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
