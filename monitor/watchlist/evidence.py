"""What a match carries to explain itself: the clauses and terms that fired, where, a highlighted snippet,
and the score. Plain frozen values, so they can be stored as JSON and shown by the CLI and digests alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

SNIPPET_CHARS = 280
MAX_HITS_PER_TERM = 20  # evidence lists this many positions of a term; ``count`` has them all


@dataclass(frozen=True)
class Hit:
    """One occurrence of a term: its field, word position, and characters in that field's original text."""

    field: str
    word: int  # 0-based index of the first word
    start: int
    end: int
    text: str  # as written in the article


@dataclass(frozen=True)
class TermEvidence:
    term: str  # as written in the query, e.g. "ballistic missile*" or title:Iran
    count: int
    hits: tuple[Hit, ...]
    weight: float | None = None  # in the weighted form


@dataclass(frozen=True)
class Evidence:
    clauses: tuple[str, ...]  # the parts of the query that held, as query text
    terms: tuple[TermEvidence, ...]
    snippet: str  # plain text around the densest hits
    highlights: tuple[tuple[int, int], ...]  # (start, end) in ``snippet``
    snippet_field: str | None = None
    # What the score is made of (see monitor.watchlist.score), and the total weight of a weighted topic,
    # which is what its min_score is compared with.
    prominence: float | None = None
    strength: float | None = None
    total_weight: float | None = None

    def marked(self, before: str = "**", after: str = "**") -> str:
        """The snippet with each highlight wrapped in ``before`` and ``after``."""
        parts, last = [], 0
        for start, end in self.highlights:
            parts += [self.snippet[last:start], before, self.snippet[start:end], after]
            last = end
        parts.append(self.snippet[last:])
        return "".join(parts)


@dataclass(frozen=True)
class Match:
    """A topic that an article matches, and why."""

    topic: str
    score: float  # 0 to 100, the same scale for every topic: what digests and alerts compare with
    evidence: Evidence

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["evidence"]["highlights"] = [list(span) for span in self.evidence.highlights]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Match:
        evidence = data["evidence"]
        terms = tuple(
            TermEvidence(t["term"], t["count"], tuple(Hit(**hit) for hit in t["hits"]), t.get("weight"))
            for t in evidence.get("terms", ())
        )
        return cls(
            data["topic"],
            data["score"],
            Evidence(
                tuple(evidence.get("clauses", ())),
                terms,
                evidence.get("snippet", ""),
                tuple(tuple(span) for span in evidence.get("highlights", ())),
                evidence.get("snippet_field"),
                evidence.get("prominence"),
                evidence.get("strength"),
                evidence.get("total_weight"),
            ),
        )


def snippet(
    text: str, spans: Sequence[tuple[int, int]], width: int = SNIPPET_CHARS
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The part of ``text`` of about ``width`` characters that holds the most ``spans``, cut at spaces,
    with "…" where it was cut, and the spans inside it (merged where they overlap) relative to it."""
    if not text:
        return "", ()
    spans = sorted(spans)
    best_from, best_count, right = 0, 0, 0
    for left in range(len(spans)):  # the window starting at each span, holding as many as fit
        right = max(right, left)
        while right + 1 < len(spans) and spans[right + 1][1] - spans[left][0] <= width:
            right += 1
        if right - left + 1 > best_count:
            best_from, best_count = left, right - left + 1
    if spans:
        first, last = spans[best_from][0], spans[best_from + best_count - 1][1]
        slack = max(0, width - (last - first)) // 2
        start, end = max(0, first - slack), min(len(text), last + slack)
    else:
        start, end = 0, min(len(text), width)
    # Cut at whitespace, so no word is shown in part.
    if start > 0:
        space = text.find(" ", start, spans[best_from][0] if spans else end)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", spans[best_from + best_count - 1][1] if spans else start, end)
        end = space if space >= 0 else end
    prefix, suffix = ("…" if start > 0 else ""), ("…" if end < len(text) else "")
    shown = " ".join(text[start:end].split("\n"))
    inside: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        if span_start >= start and span_end <= end:
            span = (span_start - start + len(prefix), span_end - start + len(prefix))
            if inside and span[0] <= inside[-1][1]:
                inside[-1] = (inside[-1][0], max(inside[-1][1], span[1]))
            else:
                inside.append(span)
    return prefix + shown + suffix, tuple(inside)
