"""NEAR and ONEAR on word spans, in time n log n in the number of hits.

A span is (field, first word, word after the last). A left and a right span are *near* when they are in
one field and at most ``distance`` words lie strictly between them (the right one after the left one, or,
unordered, before it too). Every occurrence of a term may be near hundreds of the other's (``aa NEAR/200
bb`` over a long text of both), so listing every near pair costs hits x distance. Instead a pair is kept
when one of its two spans is the other's *nearest* partner on that side: each occurrence that is near
anything keeps its closest pairing on each side, and only the wide pairs that cross a closer one (``a1 a2
b1 b2``: ``a1 ... b2``) are left out. Whether the NEAR holds, which occurrences count as evidence and where
the best one is are the same as with every pair; the number of mentions can only be lower, and only when
occurrences interleave like that.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import accumulate
from operator import itemgetter

Span = tuple[str, int, int]


def near_pairs(
    lefts: Iterable[Span], rights: Iterable[Span], distance: int, ordered: bool
) -> list[tuple[Span, Span]]:
    """The kept (left, right) pairs, by left span then right span (see the module's docstring)."""
    by_field_left, by_field_right = _by_field(lefts), _by_field(rights)
    found: dict[tuple[Span, Span], None] = {}  # ordered as found, each pair once
    for field, left in by_field_left.items():
        right = by_field_right.get(field)
        if right is None:
            continue
        # From each left span: its nearest right span after it and, unordered, before it; then from each
        # right span: its nearest left span before it and, unordered, after it.
        _pair_nearest(left, right, distance, ordered, found, flip=False)
        _pair_nearest(right, left, distance, ordered, found, flip=True)
    return list(found)


def _pair_nearest(
    spans: _Sorted, others: _Sorted, distance: int, ordered: bool, found: dict, *, flip: bool
) -> None:
    """Pair each of ``spans`` with its nearest ``others``: after it (before it when ``flip``: the left
    comes first in ONEAR) and, unordered, on the other side too. Pairs are stored as (left, right)."""
    starts, by_start, ends, by_end = others.starts, others.by_start, others.ends, others.by_end
    count = len(starts)
    forward, backward = (not flip) or not ordered, flip or not ordered
    for span in spans.by_start:
        if forward:  # the others that start first at or after this span's end
            index = bisect_left(starts, span[2])
            if index < count and starts[index] - span[2] <= distance:
                first = starts[index]
                while index < count and starts[index] == first:
                    pair = (by_start[index], span) if flip else (span, by_start[index])
                    found[pair] = None
                    index += 1
        if backward:  # the others that end last at or before this span's start
            index = bisect_right(ends, span[1]) - 1
            if index >= 0 and span[1] - ends[index] <= distance:
                last = ends[index]
                while index >= 0 and ends[index] == last:
                    pair = (by_end[index], span) if flip else (span, by_end[index])
                    found[pair] = None
                    index -= 1


class _Sorted:
    """One field's spans, sorted by start and by end, for the nearest one after or before a word."""

    __slots__ = ("by_start", "starts", "by_end", "ends")

    def __init__(self, spans: list[Span]) -> None:
        # Spans mostly come in order already, which sorting then only checks.
        self.by_start = sorted(spans)  # one field: by start, then end
        self.starts = [s[1] for s in self.by_start]
        lengths = {s[2] - s[1] for s in self.by_start}
        # Spans of one length (a single term, typically) end in the order they start.
        self.by_end = self.by_start if len(lengths) <= 1 else sorted(spans, key=itemgetter(2, 1))
        self.ends = [s[2] for s in self.by_end]


def _by_field(spans: Iterable[Span]) -> dict[str, _Sorted]:
    grouped: dict[str, dict[Span, None]] = defaultdict(dict)  # each span once, in the order given
    for span in spans:
        grouped[span[0]][span] = None
    return {field: _Sorted(list(group)) for field, group in grouped.items()}


def covered_by(spans: Iterable[Span]) -> Callable[[Span], bool]:
    """A test of whether a span lies within one of ``spans`` (same field), in log time per question."""
    tables: dict[str, tuple[list[int], list[int]]] = {}
    grouped: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        grouped[span[0]].append(span)
    for field, group in grouped.items():
        group.sort()  # mostly in order already
        # The furthest end among the spans that start at or before each one.
        tables[field] = ([s[1] for s in group], list(accumulate((s[2] for s in group), max)))

    def within(span: Span) -> bool:
        table = tables.get(span[0])
        if table is None:
            return False
        index = bisect_right(table[0], span[1])
        return index > 0 and table[1][index - 1] >= span[2]

    return within


def minimal_spans(spans: Iterable[Span]) -> list[Span]:
    """The spans that hold no other span of their field, in order."""
    kept: list[Span] = []
    nearest_end: dict[str, int] = {}  # per field: the least end of the spans kept so far (starting later)
    # From the last start back, the shortest first at each start: a span is minimal when it ends before
    # every span that starts at or after it.
    for span in sorted(set(spans), key=lambda s: (s[0], -s[1], s[2])):
        end = nearest_end.get(span[0])
        if end is None or span[2] < end:
            kept.append(span)
            nearest_end[span[0]] = span[2]
    return sorted(kept)
