"""Counts in words, as every message says how many."""

from __future__ import annotations

import pytest

from monitor.runtime.plurals import plural


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 stories"), (1, "1 story"), (2, "2 stories")],
)
def test_a_count_of_one_is_singular_and_an_irregular_plural_is_given(count, expected):
    assert plural(count, "story", "stories") == expected


def test_a_regular_plural_adds_an_s():
    assert [plural(n, "feed") for n in (1, 3)] == ["1 feed", "3 feeds"]
