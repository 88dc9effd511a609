"""Alias items and ``weights:`` keys written as queries without their parentheses (``Russia OR Moscow``,
``title:Iran``): read as phrases they would silently find nothing, so a weight key is read as the query it
is and an alias item is an error at its line; in double quotes either stays a phrase as written. And a
query error in a multi-line YAML query is reported on one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.watchlist import ArticleText, load_watchlist

FEEDS = 'feeds:\n  - {name: a, url: "https://a.example/feed"}\n'


def watchlist_of(tmp_path: Path, text: str):
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS + text, encoding="utf-8")
    return load_watchlist(load_config(path))


def problems_of(tmp_path: Path, text: str) -> list:
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return list(caught.value.problems)


def test_weight_keys_written_as_queries_are_queries(tmp_path):
    watchlist = watchlist_of(
        tmp_path,
        """
watchlist:
  topics:
    - name: w
      weights: {"title:Iran": 3, "Russia OR Moscow": 2, "ballistic missile*": 1, '"R AND D"': 1}
      min_score: 5
""",
    )
    (found,) = watchlist.match(ArticleText(title="Iran warns", body="Moscow tested a ballistic missile."))
    assert found.evidence.total_weight == 6
    assert watchlist.match(ArticleText(title="Warning", body="Iran and Moscow, ballistic missiles.")) == ()
    (phrase,) = watchlist_of(
        tmp_path,
        """
watchlist:
  topics:
    - name: w
      weights: {'"R AND D"': 1}
      min_score: 1
""",
    ).match(ArticleText(body="Spending on R and D rose."))
    assert phrase.evidence.terms[0].term == '"R AND D"'


@pytest.mark.parametrize("item", ["Tehran OR Teheran", "title:IRGC", "Iran NEAR/3 Russia"])
def test_an_alias_item_written_as_a_query_is_an_error_at_its_line(tmp_path, item):
    (problem,) = problems_of(
        tmp_path,
        f"""
watchlist:
  aliases:
    iran:
      - Iran
      - {item}
  topics:
    - {{name: t, query: '@iran'}}
""",
    )
    assert (problem.line, problem.key) == (8, "watchlist.aliases.iran[1]")
    assert "is a query" in problem.message and "one spelling per item" in problem.hint


def test_an_alias_item_in_double_quotes_is_a_phrase_whatever_its_words(tmp_path):
    watchlist = watchlist_of(
        tmp_path,
        """
watchlist:
  aliases:
    rnd: ['"R AND D"', 'research']
  topics:
    - {name: t, query: '@rnd'}
""",
    )
    assert watchlist.match(ArticleText(body="R and D budgets"))
    assert not watchlist.match(ArticleText(body="R budgets and D"))


def test_an_error_in_a_folded_query_is_shown_on_one_line(tmp_path):
    (problem,) = problems_of(
        tmp_path,
        """
watchlist:
  topics:
    - name: t
      query: >
        Iran AND
        (Russia OR
""",
    )
    assert "query column" in problem.message and "\n" not in str(problem.message)
