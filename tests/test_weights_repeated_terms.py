"""A term written twice in a topic's weights, in another case or with a stray space ("Iran", "iran "), is
two keys to YAML and one term to the matcher: both weights counted, and an article naming it once reached a
min_score that neither weight reaches. It is reported at the repeating key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.watchlist.model import load_watchlist


def topic(tmp_path: Path, weights: str) -> Path:
    path = tmp_path / "feeds.yaml"
    text = f"feeds: []\nwatchlist:\n  topics:\n    - name: x\n      min_score: 10\n      weights:\n{weights}"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_term_repeated_in_another_case_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(topic(tmp_path, '        Iran: 5\n        "iran ": 6\n'), {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (8, "watchlist.topics[0].weights.iran ")
    assert "repeats 'Iran'" in problem.message
    assert problem.hint == "keep one of the two, with the weight you mean"


def test_other_terms_of_the_same_word_stay_apart(tmp_path: Path) -> None:
    weights = '        Iran: 5\n        "Iran*": 6\n        "title:Iran": 2\n        "@iran": 1\n'
    path = topic(tmp_path, weights)
    path.write_text(path.read_text() + "  aliases:\n    iran: [Tehran]\n", encoding="utf-8")
    assert load_watchlist(load_config(path, {})).topic("x") is not None
