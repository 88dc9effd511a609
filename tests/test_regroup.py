"""monitor.dedupe.regroup: average linkage over sparse links, and neighbourhoods that split two events of a kind."""

from __future__ import annotations

import math
import random

import pytest

from monitor.dedupe import regroup
from monitor.dedupe.stories import _normalised


def dense_upgma(size: int, similarity: dict[tuple[int, int], float], threshold: float) -> list[int]:
    """Average linkage the textbook way: every pair of groups' mean recomputed at each step."""
    groups = [[i] for i in range(size)]

    def value(i: int, j: int) -> float:
        return similarity.get((min(i, j), max(i, j)), 0.0)

    while True:
        best, pair = -math.inf, None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                mean = sum(value(i, j) for i in groups[a] for j in groups[b]) / (
                    len(groups[a]) * len(groups[b])
                )
                if mean > best:
                    best, pair = mean, (a, b)
        if pair is None or best < threshold:
            break
        a, b = pair
        groups[a] += groups.pop(b)
    label = {}
    for group in groups:
        for item in group:
            label[item] = min(group)
    return [label[i] for i in range(size)]


@pytest.mark.parametrize("seed", range(30))
def test_average_linkage_over_sparse_links_is_the_textbook_one(seed):
    rng = random.Random(seed)
    size = rng.randint(1, 14)
    similarity = {
        (i, j): round(rng.random(), 2)
        for i in range(size)
        for j in range(i + 1, size)
        if rng.random() < 0.5  # the rest are missing: 0
    }
    threshold = rng.choice([0.2, 0.35, 0.5])
    assert regroup.average_linkage(size, similarity, threshold) == dense_upgma(size, similarity, threshold)


def event_articles(rng: random.Random, event: str, frame: list[str], n: int) -> list[dict[str, float]]:
    """Write-ups of one event: its own names and numbers, much of the frame of its kind, some noise."""
    own = [f"{event}-name{k}" for k in range(8)]
    vectors = []
    for _ in range(n):
        terms = {t: 1.0 for t in rng.sample(own, 5)}
        terms.update({t: 1.2 for t in rng.sample(frame, 10)})  # the kind's words weigh as much or more
        terms.update({f"noise{rng.randrange(10_000)}": 0.8 for _ in range(6)})
        vectors.append(_normalised(terms).as_dict())
    return vectors


def test_two_events_of_one_kind_are_told_apart_by_their_neighbourhoods():
    rng = random.Random(7)
    frame = [f"quake-word{k}" for k in range(14)]
    vectors = event_articles(rng, "sumatra", frame, 10) + event_articles(rng, "java", frame, 10)
    truth = [0] * 10 + [1] * 10
    labels = regroup.regroup(vectors)
    assert len(set(labels)) == 2
    assert all((labels[i] == labels[j]) == (truth[i] == truth[j]) for i in range(20) for j in range(20))
    # The same vectors by their cosine alone, at the stage's threshold: one story of both events.
    window = regroup.Window(vectors)
    cosines = {(i, j): float(window.row(i)[j]) for i in range(20) for j in range(i + 1, 20)}
    assert len(set(regroup.average_linkage(20, cosines, 0.20))) == 1


def test_unrelated_articles_stay_alone():
    vectors = [_normalised({f"topic{i}-word{k}": 1.0 for k in range(20)}).as_dict() for i in range(12)]
    assert regroup.regroup(vectors) == list(range(12))


def test_empty_and_tiny_windows():
    assert regroup.regroup([]) == []
    assert regroup.regroup([{"quake": 1.0}]) == [0]
    assert regroup.regroup([{}, {}, {"quake": 1.0}]) == [0, 1, 2]  # nothing in common: nothing joined


def test_neighbours_are_only_articles_with_something_in_common():
    vectors = [{"a": 1.0}, {"a": 0.6, "b": 0.8}, {"c": 1.0}]
    window = regroup.Window(vectors)
    assert window.nearest == [(1,), (0,), ()]
    assert window.candidate_pairs() == {(0, 1)}
    features = window.features([(0, 1)])[0, 1]
    assert features.cosine == pytest.approx(0.6)
    assert features.mutual_rank == 0.0  # each is the other's nearest


def test_the_group_holding_a_story_s_first_write_up_keeps_the_story():
    """A story sent as one event (its first write-up) stays that event's when a larger second event is split
    from it: its id, in a webhook consumer's records, and its "first reported" keep meaning what was sent."""
    # Story 7: positions 0-2 are the first event (position 0 its first write-up), 3-7 a later, larger one.
    stories = [7] * 8
    groups = [0, 0, 0, 3, 3, 3, 3, 3]
    assert regroup.splits(stories, groups) == {7: [[3, 4, 5, 6, 7]]}
    # Without the first write-up in a group of two or more, the largest group keeps the story.
    assert regroup.splits(stories, [0, 1, 1, 3, 3, 3, 3, 3]) == {7: [[1, 2]]}
