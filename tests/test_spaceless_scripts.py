"""Watchlist terms in Chinese and Japanese, which put no spaces between words: each Han character and kana
is a token, so a term is found inside a sentence, with its place, in the same field as the other scripts."""

from __future__ import annotations

import pytest

from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.query import QuerySyntaxError, parse_query
from monitor.watchlist.text import FoldedText, tokenize

CHINESE = "新华社德黑兰9月12日电 伊朗外交部发言人12日否认伊朗向俄罗斯运送弹道导弹的报道。"
JAPANESE = "イラン外務省の報道官は12日、イランがロシアに弾道ミサイルを送ったとの報道を否定した。"


def found(query: str, body: str, title: str = "") -> list:
    return list(Matcher([TopicSpec("t", parse_query(query))]).match(ArticleText(title=title, body=body)))


@pytest.mark.parametrize(
    "query, body",
    [
        ("伊朗 AND 俄罗斯", CHINESE),
        ('"弹道导弹"', CHINESE),
        ("伊朗 NEAR/5 俄罗斯", CHINESE),
        ("伊朗外交部*", CHINESE),
        ("イラン AND ロシア AND ミサイル", JAPANESE),
        ("ミサイル NEAR/3 ロシア", JAPANESE),
        ("伊朗 AND Shahed", "伊朗向俄罗斯提供Shahed无人机。"),
    ],
)
def test_terms_are_found_inside_sentences_written_without_spaces(query, body):
    assert found(query, body)


@pytest.mark.parametrize(
    "query, body",
    [
        ("伊朗 AND 美国", CHINESE),  # 美国 is not in the text
        ("伊朗 NEAR/2 导弹", "伊朗外交部发言人否认运送导弹"),  # eleven characters apart
        ("ドローン", JAPANESE),
    ],
)
def test_terms_absent_or_far_apart_do_not_match(query, body):
    assert not found(query, body)


def test_the_evidence_points_at_the_characters_of_the_term():
    (match,) = found("俄罗斯", CHINESE, title="伊朗否认向俄罗斯运送导弹")
    hits = {(hit.field, hit.text) for term in match.evidence.terms for hit in term.hits}
    assert hits == {("title", "俄罗斯"), ("body", "俄罗斯")}
    (body_hit,) = [hit for term in match.evidence.terms for hit in term.hits if hit.field == "body"]
    assert CHINESE[body_hit.start : body_hit.end] == "俄罗斯"
    mixed = "提供Shahed无人机。伊朗"
    (last,) = found("伊朗 AND Shahed", mixed)
    assert [mixed[hit.start : hit.end] for term in last.evidence.terms for hit in term.hits] == [
        "伊朗",
        "Shahed",
    ]
    body = FoldedText(CHINESE)
    start = CHINESE.index("伊朗")
    assert body.word_span(tokenize(CHINESE).index("伊")) == (start, start + 1)


def test_a_wildcard_needs_two_characters_in_these_scripts_too():
    assert parse_query("伊朗*")
    with pytest.raises(QuerySyntaxError):
        parse_query("伊*")


def test_other_scripts_keep_their_words():
    assert tokenize("Иран передал ракеты") == ["иран", "передал", "ракеты"]
    assert tokenize("موشک‌های ایران") == ["موشکهای", "ایران"]
