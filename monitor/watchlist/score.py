"""The score of a match: how strongly and how prominently an article matches a topic, from 0 to 100, on
the same scale for query topics and weighted topics, so one alert threshold serves both.

    score = 100 x (0.7 x prominence + 0.3 x strength), rounded to one decimal

*Prominence* (0 to 1) is where the parts of the topic that fired are: each part counts its best placed
occurrence, at the weight of its place (``PLACES``: the title, the lead, the body, deep in the body), and
prominence is their mean (for weighted topics, weighted by each entry's weight). A story that is the
subject of the headline and the lead has all its parts there; a passing mention deep in the body has none.

*Strength* (0 to 1) is how much more than the bare minimum the article holds. Each part scores how often
it is mentioned, ``(mentions - 1) / 4`` at most 1: once is 0, five times or more is 1. For a query topic,
strength is the mean of that over its parts. For a weighted topic, it is the mean of two halves: that
repetition (averaged over the entries that fired, weighted by their weights) and the margin of the total
weight over ``min_score``, from 0 at ``min_score`` to 1 at the most the topic can reach (the sum of its
positive weights). So a weighted topic that only just reaches ``min_score``, once each, in the lead, scores
as a query topic whose parts are in the lead once each: 49.

The parts of a query topic are the operands of its top-level AND (an expression without one is one part);
those under NOT are left out, as absence is no evidence. Parts that look only at ``source:``, ``url:`` or
``lang:`` have no place in the text and are left out of prominence; a topic with nothing else scores a
prominence of 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.watchlist.compiled import AllOf, AnyOf, Leaf, NearNode, NotNode, Scan, Span

LEAD_WORDS = 60  # the first words of the body: the lead paragraph of a news article, and a little more
BODY_WORDS = 300  # past this word of the body, a mention is deep in the article
# Weight of a mention by its place: (field, first word from, weight), the first that applies.
PLACES = (("title", 0, 1.0), ("body", BODY_WORDS, 0.2), ("body", LEAD_WORDS, 0.4), ("body", 0, 0.7))
PROMINENCE_SHARE = 0.7  # of the score; strength has the rest
FULL_MENTIONS = 5  # mentions of each part for a full strength


def place(span: Span) -> float | None:
    """The weight of a mention at ``span``; None in a field that is not text (source, url, lang)."""
    field, first, _ = span
    for name, start, weight in PLACES:
        if field == name and first >= start:
            return weight
    return None


def part_reach(node, scan: Scan) -> tuple[float | None, int]:
    """(the best place of the node's mentions, how many mentions) for a compiled node that holds.

    An AND is as prominent as its least prominent operand and mentioned as often as its rarest one;
    an OR is the best and the sum of its operands that hold; a term or a NEAR has its own places.
    """
    if isinstance(node, (Leaf, NearNode)):
        spans = node.spans(scan)
        return _best(place(span) for span in spans), len(spans)
    if isinstance(node, AnyOf):
        reaches = [part_reach(child, scan) for child in node.children if child.holds(scan)]
        return _best(best for best, _ in reaches), sum(count for _, count in reaches)
    if isinstance(node, AllOf):
        reaches = [part_reach(child, scan) for child in node.children if not isinstance(child, NotNode)]
        if not reaches:
            return None, 0
        known = [best for best, _ in reaches if best is not None]
        return (min(known) if known else None), min(count for _, count in reaches)
    return None, 0  # NOT: what is absent has no place


def query_score(parts: Sequence, scan: Scan) -> tuple[float, float, float]:
    """(score, prominence, strength) of a query topic whose tree holds on ``scan``: ``parts`` the operands
    of its top-level AND that are not NOT (``CompiledTopic.scored_parts``)."""
    reaches = [(*part_reach(part, scan), 1.0) for part in parts]
    if not reaches:  # a query of NOT alone matches what lacks a term: nothing to weigh
        return 0.0, 0.0, 0.0
    prominence, repetition = _place_and_repetition(reaches)
    return combine(prominence, repetition), prominence, repetition


def weighted_score(
    fired: Iterable[tuple[object, float]], scan: Scan, total: float, min_score: float, most: float
) -> tuple[float, float, float]:
    """(score, prominence, strength) of a weighted topic: ``fired`` the (compiled entry, weight) that held,
    ``total`` their weights' sum, ``most`` the sum of the topic's positive weights."""
    reaches = [(*part_reach(node, scan), weight) for node, weight in fired if weight > 0]
    prominence, repetition = _place_and_repetition(reaches)
    margin = 1.0 if most <= min_score else min(1.0, max(0.0, (total - min_score) / (most - min_score)))
    strength = (repetition + margin) / 2
    return combine(prominence, strength), prominence, strength


def _place_and_repetition(reaches: Sequence[tuple[float | None, int, float]]) -> tuple[float, float]:
    """(prominence, repetition) of the parts that fired: (best place, mentions, weight) each."""
    prominence = _mean([(best, weight) for best, _, weight in reaches if best is not None], default=1.0)
    repetition = _mean(
        [(min(1.0, max(0, count - 1) / (FULL_MENTIONS - 1)), weight) for _, count, weight in reaches],
        default=0.0,
    )
    return prominence, repetition


def combine(prominence: float, strength: float) -> float:
    return round(100 * (PROMINENCE_SHARE * prominence + (1 - PROMINENCE_SHARE) * strength), 1)


def _best(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _mean(pairs: Sequence[tuple[float, float]], *, default: float) -> float:
    """The weighted mean of (value, weight) pairs."""
    total = sum(weight for _, weight in pairs)
    return sum(value * weight for value, weight in pairs) / total if total > 0 else default
