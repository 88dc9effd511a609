"""A Persian word is one word whether its outlet writes the zero-width non-joiner between stem and suffix
(موشک‌ها, "missiles") or runs them together (موشکها), as many sites and keyboards do: a watchlist term
written either way finds both, and the hit is quoted as the article wrote it."""

from __future__ import annotations

import pytest
import yaml

from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.query import parse_query

WITH_ZWNJ = "ایران نخستین محموله موشک\u200cهای بالستیک را به روسیه فرستاد"
JOINED = "ايران نخستين محموله موشكهاي بالستيك را به روسيه فرستاد"  # Arabic letters too, as windows-1256 sites


def found(query: str, body: str) -> bool:
    return bool(Matcher([TopicSpec("t", parse_query(query))]).match(ArticleText(body=body)))


@pytest.mark.parametrize("term", ["موشک\u200cهای", "موشکهای"])
@pytest.mark.parametrize("body", [WITH_ZWNJ, JOINED], ids=["with-zwnj", "joined"])
def test_a_word_finds_itself_written_with_or_without_zwnj(term, body):
    assert found(term, body)
    assert found(f'"{term} بالستیک"', body)  # in a phrase too
    assert found("موشک*", body)  # and its stem with a wildcard, either way


def test_words_joined_to_a_prefix_find_each_other():
    assert found("می\u200cگوید", "سخنگو میگوید") and found("میگوید", "سخنگو می\u200cگوید")


def test_near_counts_a_word_with_zwnj_as_one_word():
    assert found("محموله NEAR/0 موشک*", WITH_ZWNJ) and found("محموله NEAR/0 موشک*", JOINED)
    assert found("موشک* NEAR/0 بالستیک", WITH_ZWNJ)


def test_the_cli_finds_the_joined_spelling_and_quotes_it_as_written(workspace):
    watchlist = {"topics": [{"name": "missiles", "query": "موشک\u200cهای AND روسیه"}]}
    workspace.config_path.write_text(
        yaml.safe_dump({"feeds": [], "watchlist": watchlist}, allow_unicode=True)
    )
    shown = workspace.cli("match", "--text", JOINED).stdout
    assert "missiles" in shown and "('موشكهاي')" in shown
    shown = workspace.cli("match", "--text", WITH_ZWNJ).stdout
    assert "('موشک\u200cهای')" in shown
