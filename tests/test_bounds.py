"""Every expansion has a bound: NEAR in n log n, aliases, query nesting, NEAR chains, YAML nesting and the
size of the files read. Each bound ends in a clear error at its place, never a traceback or a stall."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.near import covered_by, near_pairs
from monitor.watchlist.query import parse_query

# --- NEAR -----------------------------------------------------------------------------------------------


def _all_pairs(lefts, rights, distance, ordered):
    """Every near pair, as NEAR was first defined: the reference for what holds and what counts."""
    return {
        (left, right)
        for left in set(lefts)
        for right in set(rights)
        if left[0] == right[0]
        and (
            0 <= right[1] - left[2] <= distance
            or (not ordered and 0 <= left[1] - right[2] <= distance)
        )
    }


def _nearest_pairs(lefts, rights, distance, ordered):
    """Brute force of the pairs kept: one of the two is the other's nearest partner on that side."""
    pairs = _all_pairs(lefts, rights, distance, ordered)

    def after(span, others):  # partners starting at or after the span's end: the closest start
        starts = [o[1] for o in others if o[0] == span[0] and o[1] >= span[2]]
        return min(starts) if starts else None

    def before(span, others):  # partners ending at or before the span's start: the closest end
        ends = [o[2] for o in others if o[0] == span[0] and o[2] <= span[1]]
        return max(ends) if ends else None

    kept = set()
    for left, right in pairs:
        if right[1] >= left[2]:  # the right one after
            if right[1] == after(left, rights) or left[2] == before(right, lefts):
                kept.add((left, right))
        elif right[2] == before(left, rights) or left[1] == after(right, lefts):
            kept.add((left, right))
    return kept


def _spans(draw_words=40):
    field = st.sampled_from(["title", "body"])
    return st.lists(
        st.tuples(field, st.integers(0, draw_words), st.integers(1, 3)).map(lambda t: (t[0], t[1], t[1] + t[2])),
        max_size=12,
    )


@settings(max_examples=1500, deadline=None)
@given(_spans(), _spans(), st.integers(0, 6), st.booleans())
def test_near_pairs_agree_with_brute_force(lefts, rights, distance, ordered):
    found = near_pairs(lefts, rights, distance, ordered)
    every = _all_pairs(lefts, rights, distance, ordered)
    assert len(found) == len(set(found))
    assert set(found) == _nearest_pairs(lefts, rights, distance, ordered)
    # What matters as before: whether it holds, which occurrences count, where the best one is.
    assert set(found) <= every
    assert bool(found) == bool(every)
    assert {p[0] for p in found} == {p[0] for p in every}
    assert {p[1] for p in found} == {p[1] for p in every}
    first = lambda pairs: {(l[0], min(l[1], r[1])) for l, r in pairs}  # noqa: E731
    assert {min((s for f, s in first(found) if f == fld), default=None) for fld in ("title", "body")} == {
        min((s for f, s in first(every) if f == fld), default=None) for fld in ("title", "body")
    }


@settings(max_examples=300, deadline=None)
@given(_spans(), _spans())
def test_covered_by_agrees_with_brute_force(spans, questions):
    within = covered_by(spans)
    for span in questions:
        expected = any(s[0] == span[0] and s[1] <= span[1] and span[2] <= s[2] for s in spans)
        assert within(span) == expected


def test_near_pairs_keep_every_pair_when_occurrences_do_not_interleave():
    lefts = [("body", 0, 1), ("body", 20, 21)]
    rights = [("body", 3, 4), ("body", 18, 19)]
    assert set(near_pairs(lefts, rights, 5, False)) == _all_pairs(lefts, rights, 5, False)


def test_near_with_many_hits_is_not_quadratic():
    # 1 MB of hits: every other word is a hit, every hit near 200 of the other term's.
    matcher = Matcher([TopicSpec("t", parse_query("aa NEAR/200 bb"))])
    body = "aa bb cc " * (1024 * 1024 // 9)
    started = time.perf_counter()
    (match,) = matcher.match(ArticleText(body=body))
    assert time.perf_counter() - started < 5
    assert match.evidence.terms[0].count > 100_000
