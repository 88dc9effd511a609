"""Regrouping a window of articles into stories with what the whole window knows. Pure.

Placing an article as it arrives (``monitor.dedupe.stage``) compares it with the stories formed so far: it
cannot know that its closest story is really a different event of the same kind until the write-ups of
both events are in. Once they are, each article's nearest neighbours tell: write-ups of one event have the
same articles nearest to them, while two events of one kind that share a frame (two DUI arrests at one
team, two emergency patches of one browser) are each other's neighbours only at the edge. So a pair of
articles is judged on its cosine and on its neighbourhood (Jarvis-Patrick's shared nearest neighbours,
and how high each ranks the other), and the window is grouped by average linkage of those judgements.

On ECB+ (``bench/regroup_eval.py``), grouping a half of articles at once by average linkage of the stage's
own cosine reaches B-cubed F1 0.87 on the held-out half; of this model's probability, 0.96.

The vectors are the stage's (``monitor.dedupe.stories``): L2-normalised term weights, so a dot product is
a cosine. The work is one similarity row per article, twice (top neighbours, then ranks), each row built
from the postings of the article's terms: linear in the window for terms of bounded frequency.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

NEAREST = 10
"""Neighbours kept for each article: about a story's size in the evaluation (``snn`` over 20 was worse)."""
NEAR = 5


@dataclass(frozen=True)
class PairFeatures:
    """What is known of a pair of articles in their window."""

    cosine: float
    shared_near: float
    """Share of the ``NEAR`` nearest neighbours the two have in common."""
    shared_nearest: float
    """Share of the ``NEAREST`` nearest neighbours the two have in common."""
    mutual_rank: float
    """-ln(1 + the lower of the two ranks each gives the other), 0 for each other's nearest."""


@dataclass(frozen=True)
class RegroupModel:
    """A logistic model of "same event" over ``PairFeatures``, and the average probability at which two
    groups are joined. Fitted on the tuning half of ECB+ by ``bench/regroup_eval.py`` (which prints it)."""

    intercept: float
    cosine: float
    shared_near: float
    shared_nearest: float
    mutual_rank: float
    threshold: float

    def probability(self, pair: PairFeatures) -> float:
        z = (
            self.intercept
            + self.cosine * pair.cosine
            + self.shared_near * pair.shared_near
            + self.shared_nearest * pair.shared_nearest
            + self.mutual_rank * pair.mutual_rank
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


MODEL = RegroupModel(
    intercept=-0.728,
    cosine=1.590,
    shared_near=3.592,
    shared_nearest=5.029,
    mutual_rank=1.176,
    threshold=0.525,
)
"""Fitted on every pair of ECB+'s tuning half, the threshold the middle of the best B-cubed F1's plateau
there (0.9428 from 0.50 to 0.55). The neighbourhood carries most of it: a pair of articles none of whose
nearest ten are shared, ranked tenth by each other, gets 0.14 even at a cosine of 1.0."""


class Window:
    """The similarity structure of a window of article vectors: rows of cosines, nearest neighbours."""

    def __init__(self, vectors: Sequence[Mapping[str, float]]) -> None:
        self.size = len(vectors)
        postings: defaultdict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for index, vector in enumerate(vectors):
            for term, weight in vector.items():
                docs, weights = postings[term]
                docs.append(index)
                weights.append(weight)
        terms = {term: n for n, term in enumerate(postings)}
        self._docs = [np.asarray(docs, dtype=np.int64) for docs, _ in postings.values()]
        self._weights = [np.asarray(weights, dtype=np.float64) for _, weights in postings.values()]
        # Each article's terms as posting numbers and weights, to build its row from the postings.
        self._terms = [
            (
                np.fromiter((terms[t] for t in v), np.int64, len(v)),
                np.fromiter(v.values(), np.float64, len(v)),
            )
            for v in vectors
        ]
        self.nearest = [self._nearest(index, self.row(index)) for index in range(self.size)]

    def row(self, index: int) -> np.ndarray:
        """The cosine of article ``index`` with every article of the window (0 with itself)."""
        numbers, weights = self._terms[index]
        if not len(numbers):
            return np.zeros(self.size)
        docs = np.concatenate([self._docs[n] for n in numbers])
        parts = np.concatenate([self._weights[n] * w for n, w in zip(numbers, weights, strict=True)])
        row = np.bincount(docs, weights=parts, minlength=self.size)
        row[index] = 0.0
        return row

    @staticmethod
    def _nearest(index: int, row: np.ndarray) -> tuple[int, ...]:
        """The ``NEAREST`` articles most like this one (ties by position), none it shares nothing with."""
        k = min(NEAREST, len(row) - 1)
        if k <= 0:
            return ()
        top = np.argpartition(-row, k - 1)[:k] if len(row) > k else np.arange(len(row))
        ranked = sorted((int(j) for j in top if row[j] > 0 and j != index), key=lambda j: (-row[j], j))
        return tuple(ranked[:NEAREST])

    def candidate_pairs(self) -> set[tuple[int, int]]:
        """The pairs worth judging: each article with its nearest, and any two that share a neighbour.

        Others have no neighbour in common and neither is near the other: the model gives them almost
        nothing, and average linkage counts them as nothing.
        """
        pairs: set[tuple[int, int]] = set()
        near_to: defaultdict[int, list[int]] = defaultdict(list)
        for i, nearest in enumerate(self.nearest):
            for j in nearest:
                pairs.add((min(i, j), max(i, j)))
                near_to[j].append(i)
        for sharing in near_to.values():
            for a in range(len(sharing)):
                for b in range(a + 1, len(sharing)):
                    i, j = sharing[a], sharing[b]
                    pairs.add((min(i, j), max(i, j)))
        return pairs

    def features(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], PairFeatures]:
        """``PairFeatures`` of each pair (i < j), from one more pass over the rows."""
        partners: defaultdict[int, list[int]] = defaultdict(list)
        for i, j in pairs:
            partners[i].append(j)
            partners[j].append(i)
        cosine: dict[tuple[int, int], float] = {}
        rank: dict[tuple[int, int], int] = {}  # (i, j): how many articles i finds more like it than j
        for i, others in partners.items():
            row = self.row(i)
            ordered = np.sort(row)
            values = row[others]
            greater = len(row) - np.searchsorted(ordered, values, side="right")
            for j, value, above in zip(others, values.tolist(), greater.tolist(), strict=True):
                rank[i, j] = int(above)
                if i < j:
                    cosine[i, j] = value
        near = [set(n[:NEAR]) for n in self.nearest]
        nearest = [set(n) for n in self.nearest]
        return {
            (i, j): PairFeatures(
                cosine=cosine[i, j],
                shared_near=len(near[i] & near[j]) / NEAR,
                shared_nearest=len(nearest[i] & nearest[j]) / NEAREST,
                mutual_rank=-math.log1p(max(rank[i, j], rank[j, i])),
            )
            for i, j in pairs
        }


def average_linkage(size: int, similarity: Mapping[tuple[int, int], float], threshold: float) -> list[int]:
    """Groups of ``size`` items, joined while the mean similarity between two groups is at least
    ``threshold`` (UPGMA); pairs not in ``similarity`` count as 0. Returns each item's group, named by its
    lowest member.

    Only linked groups are ever joined, so the work follows the links: the heap holds each linked pair of
    groups with its mean when pushed, and an entry whose groups have grown or gone since is dropped.
    """
    links: list[dict[int, float]] = [{} for _ in range(size)]  # group -> linked group -> sum of similarities
    for (i, j), value in similarity.items():
        if value > 0 and i != j:
            links[i][j] = links[i].get(j, 0.0) + value
            links[j][i] = links[i][j]
    members = [1] * size
    joined_into = list(range(size))
    heap = [(-total, i, j, 1, 1) for i in range(size) for j, total in links[i].items() if i < j]
    heapq.heapify(heap)
    while heap:
        negative_mean, a, b, size_a, size_b = heapq.heappop(heap)
        if members[a] != size_a or members[b] != size_b or joined_into[a] != a or joined_into[b] != b:
            continue  # one of the two has grown or been joined since this entry was pushed
        if -negative_mean < threshold:
            break  # the best mean left is below the threshold
        joined_into[b] = a
        members[a] += members[b]
        for c, total in links[b].items():
            if c != a:
                links[c].pop(b)
                links[a][c] = links[a].get(c, 0.0) + total
                links[c][a] = links[a][c]
        links[a].pop(b, None)
        links[b] = {}
        for c, total in links[a].items():
            first, second = min(a, c), max(a, c)
            mean = total / (members[first] * members[second])
            heapq.heappush(heap, (-mean, first, second, members[first], members[second]))
    groups = [_root(joined_into, i) for i in range(size)]
    lowest: dict[int, int] = {}
    for item, group in enumerate(groups):
        lowest.setdefault(group, item)
    return [lowest[group] for group in groups]


def _root(joined_into: list[int], item: int) -> int:
    while joined_into[item] != item:
        joined_into[item] = joined_into[joined_into[item]]
        item = joined_into[item]
    return item


def regroup(vectors: Sequence[Mapping[str, float]], model: RegroupModel = MODEL) -> list[int]:
    """Each article's group in its window (the position of the group's first article)."""
    window = Window(vectors)
    pairs = sorted(window.candidate_pairs())
    features = window.features(pairs)
    probability = {pair: model.probability(f) for pair, f in features.items()}
    return average_linkage(len(vectors), probability, model.threshold)


MIN_PART = 2
"""Write-ups a group needs to be split off a story: two events are told apart, a lone article is not (its
neighbours may simply be elsewhere, and the stage's cosine placed it)."""


def splits(
    stories: Sequence[int], groups: Sequence[int], min_part: int = MIN_PART
) -> dict[int, list[list[int]]]:
    """What to split off each story: the positions of the parts that leave it, by story.

    Only splits, never merges: an article stays where the stage put it unless the window's neighbourhoods
    set apart at least two groups of ``min_part`` or more of its story's members. The group holding the
    story's first write-up (its earliest position) keeps the story, else the largest such group (on a tie,
    the one holding the earliest position); members outside every such group stay too. On ECB+, after the stage placed each half one article at a time (two arrival orders), the
    pass took B-cubed F1 from 0.901 to 0.916 on the tuning half and from 0.883 to 0.929 on the held-out
    half, precision to 0.96-0.97 for a few points of recall (``bench/regroup_eval.py``).
    """
    parts: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for position, (story, group) in enumerate(zip(stories, groups, strict=True)):
        parts[story][group].append(position)
    leaving: dict[int, list[list[int]]] = {}
    for story, by_group in parts.items():
        large = [members for members in by_group.values() if len(members) >= min_part]
        if len(large) < 2:
            continue
        # The group holding the story's first write-up keeps it: the story the channels already carried
        # (its id in a webhook's payload, its "first reported") stays that event's. Else the largest.
        first = min(position for members in by_group.values() for position in members)
        holding_first = [members for members in large if first in members]
        staying = (
            holding_first[0]
            if holding_first
            else max(large, key=lambda members: (len(members), -min(members)))
        )
        leaving[story] = sorted((members for members in large if members is not staying), key=min)
    return leaving
