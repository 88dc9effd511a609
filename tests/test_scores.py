"""The score, 0 to 100 for both topic forms: the headline story scores high, the passing mention low; the
bundled alert threshold sits between the bundled topics' examples; highlights show only what made the
match; topic titles."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config, redacted_dump
from monitor.watchlist import ArticleText, load_watchlist
from monitor.watchlist.aliases import parse_entry, resolve_aliases
from monitor.watchlist.matcher import Matcher, TopicSpec
from monitor.watchlist.query import parse_query

REPO = Path(__file__).resolve().parents[1]
ALIASES = {
    "iran": [parse_entry(x) for x in ("Iran", "Iranian", "Tehran")],
    "russia": [parse_entry(x) for x in ("Russia", "Russian", "Moscow")],
}
FILLER = "The session went on with other business of the day, as it does every week. " * 40  # 600 words
HEADLINE = ArticleText(
    title="Iran ships ballistic missiles to Russia",
    body="Iran has shipped ballistic missiles to Russia, officials said. "
    + "The missiles reached Russia last week. Iran denied that it shipped missiles. "
    + FILLER,
)
PASSING = ArticleText(
    title="Parliament passes the budget",
    body=FILLER + "In other news, Iran was said to have shipped missiles to Russia.",
)


def query_topic(query: str, min_score: float | None = None) -> Matcher:
    return Matcher([TopicSpec("q", resolve_aliases(parse_query(query), ALIASES), min_score=min_score)])


def weighted_topic(weights: dict[str, float], min_score: float) -> Matcher:
    entries = tuple((text, resolve_aliases(parse_entry(text), ALIASES), w) for text, w in weights.items())
    return Matcher([TopicSpec("w", None, entries, min_score)])


QUERY = query_topic("@iran AND @russia AND (missil* NEAR/5 ship*)")
WEIGHTED = weighted_topic({"@iran": 2, "@russia": 2, "(missil* NEAR/5 ship*)": 2, "nuclear": -2}, 6)


@pytest.mark.parametrize("topic", [QUERY, WEIGHTED], ids=["query", "weighted"])
def test_the_headline_story_scores_high_and_the_passing_mention_low(topic):
    (headline,) = topic.match(HEADLINE)
    (passing,) = topic.match(PASSING)
    assert headline.score >= 80  # every part in the title, mentioned again and again
    assert passing.score <= 30  # once, past word 300 of the body
    assert headline.evidence.prominence == 1.0 and passing.evidence.prominence == pytest.approx(0.2)


def test_both_forms_give_one_scale_for_one_story():
    for article in (HEADLINE, PASSING):
        (query,) = QUERY.match(article)
        (weighted,) = WEIGHTED.match(article)
        assert abs(query.score - weighted.score) <= 20


def test_the_score_follows_the_place_title_lead_body_deep():
    topic = query_topic("@iran AND missil*")
    lead = "Iran fired missiles. "
    words = "word " * 100
    scores = [
        topic.match(ArticleText(title="Iran missiles"))[0].score,
        topic.match(ArticleText(body=lead))[0].score,
        topic.match(ArticleText(body=words + lead))[0].score,
        topic.match(ArticleText(body=words * 4 + lead))[0].score,
    ]
    assert scores == [70.0, 49.0, 28.0, 14.0]  # 100 x 0.7 x the place: 1, 0.7, 0.4, 0.2


def test_strength_counts_mentions_for_queries_and_the_total_for_weighted_topics():
    topic = query_topic("@iran AND missil*")
    once = topic.match(ArticleText(body="Iran fired missiles."))[0]
    often = topic.match(ArticleText(body="Iran fired missiles. " * 5))[0]
    assert (once.evidence.strength, often.evidence.strength) == (0.0, 1.0)
    weighted = weighted_topic({"@iran": 2, "@russia": 2, "missil*": 2}, 4)
    bare = weighted.match(ArticleText(body="Iran and Russia met."))[0]
    full = weighted.match(ArticleText(body="Iran and Russia: missiles."))[0]
    assert (bare.evidence.total_weight, bare.evidence.strength) == (4.0, 0.0)  # at min_score, once each
    assert (full.evidence.total_weight, full.evidence.strength) == (6.0, 0.5)  # all it can reach, once
    often = weighted.match(ArticleText(body="Iran and Russia: missiles. " * 5))[0]
    assert often.evidence.strength == 1.0


def test_scores_stay_between_0_and_100():
    topic = query_topic("@iran OR NOT nuclear")
    for article in (HEADLINE, PASSING, ArticleText(body="nothing here"), ArticleText(title="Iran " * 500)):
        for found in (*topic.match(article), *WEIGHTED.match(article)):
            assert 0 <= found.score <= 100


def test_min_score_is_the_score_on_query_topics_and_the_total_weight_on_weighted_ones():
    assert query_topic("@iran AND missil*", min_score=50).match(PASSING) == ()
    assert query_topic("@iran AND missil*", min_score=50).match(HEADLINE) != ()
    assert weighted_topic({"@iran": 2, "@russia": 2}, 5).match(HEADLINE) == ()  # total 4 < 5
    assert weighted_topic({"@iran": 2, "@russia": 2}, 4).match(PASSING) != ()  # total 4, score 14


# --- The bundled alert threshold ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    config = load_config(REPO / "feeds.yaml", environ={})
    (threshold,) = {digest.alerts.min_score for digest in config.digests if digest.alerts is not None}
    return config, load_watchlist(config), threshold


def score_of(watchlist, topic: str, article: ArticleText) -> float | None:
    found = [m.score for m in watchlist.match(article) if m.topic == topic]
    return found[0] if found else None


def test_the_bundled_alert_threshold_sits_between_the_bundled_examples(bundled):
    _, watchlist, threshold = bundled
    for topic in watchlist.topics:
        for example in topic.examples:
            score = score_of(watchlist, topic.name, example.article)
            if example.expected:
                assert score is not None and score >= threshold, (topic.name, example.label, score)
            else:
                assert score is None or score < threshold, (topic.name, example.label, score)


def test_the_bundled_alert_threshold_takes_the_headline_story_and_leaves_the_passing_mention(bundled):
    _, watchlist, threshold = bundled
    headline = ArticleText(
        title="Iran delivers ballistic missiles to Russia, U.S. officials say",
        body="Iran has delivered a first batch of short-range ballistic missiles to Russia, U.S. officials "
        "said on Friday, warning that Moscow could use them in Ukraine within weeks.",
    )
    passing = ArticleText(
        title="Caspian summit ends with a joint statement",
        body=FILLER + "Western officials have accused Iran of supplying drones to Russia; Tehran denies it.",
    )
    for topic in ("iran-russia-arms", "iran-russia-arms-weighted"):
        assert score_of(watchlist, topic, headline) >= threshold
        passing_score = score_of(watchlist, topic, passing)
        assert passing_score is not None and passing_score < threshold  # it matches, but no alert


def test_the_bundled_topic_takes_no_wildcard_accidents(bundled):
    _, watchlist, _ = bundled
    for body in (
        "Russia calls Iran an important partner as Tehran's missile tests worry its Gulf neighbours.",
        "Iran and Russia expanded trade in imported goods and condemned the missile strikes on Yemen.",
        "Iran and Russia signed a supplement to their missile-defence research accord.",
    ):
        assert score_of(watchlist, "iran-russia-arms", ArticleText(body=body)) is None, body


# --- Highlights: only what made the match ---------------------------------------------------------------


def highlighted(found) -> list[str]:
    return [found.evidence.snippet[start:end] for start, end in found.evidence.highlights]


def test_a_wildcard_expansion_that_fired_nowhere_is_neither_a_term_nor_highlighted():
    topic = query_topic("@iran AND (weapon* NEAR/3 (export* OR ship*))")
    body = "Iran shipped weapons. It is important to note exports of fruit rose."
    (found,) = topic.match(ArticleText(body=body))
    terms = {t.term for t in found.evidence.terms}
    assert "export*" not in terms  # "exports" is far from any weapon: that clause did not fire there
    assert "exports" not in highlighted(found)
    assert highlighted(found) == ["Iran", "shipped", "weapons"]


def test_only_the_occurrences_a_near_kept_are_highlighted():
    topic = query_topic("@iran AND (missil* NEAR/2 ship*)")
    body = "Iran shipped missiles. " + "Then came a long debate about other things. " * 3 + "Missiles shown."
    (found,) = topic.match(ArticleText(body=body))
    assert highlighted(found) == ["Iran", "shipped", "missiles"]
    assert {t.term: t.count for t in found.evidence.terms}["missil*"] == 1


def test_a_negative_weight_is_a_clause_but_never_highlighted():
    (found,) = weighted_topic({"@iran": 3, "@russia": 3, "nuclear": -1}, 5).match(
        ArticleText(body="Iran and Russia discussed the nuclear deal.")
    )
    assert "nuclear (-1)" in found.evidence.clauses
    assert "nuclear" not in {t.term for t in found.evidence.terms}
    assert highlighted(found) == ["Iran", "Russia"]


def test_the_bundled_topic_highlights_no_accident(bundled):
    _, watchlist, _ = bundled
    body = (
        "Russia called Iran an important partner. Iran has shipped ballistic missiles to Russia, "
        "officials said."
    )
    (found,) = [m for m in watchlist.match(ArticleText(body=body)) if m.topic == "iran-russia-arms"]
    assert "important" not in highlighted(found)
    assert "shipped" in highlighted(found) and "missiles" in highlighted(found)


# --- Titles ---------------------------------------------------------------------------------------------


def write(tmp_path: Path, topics: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        'feeds:\n  - {name: a, url: "https://a.example/feed"}\nwatchlist:\n  topics:\n' + topics,
        encoding="utf-8",
    )
    return path


def test_a_topic_has_a_title_or_its_name(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "    - {name: arms, title: 'Iran–Russia  arms\n transfers', query: iran}\n"
            "    - {name: plain, query: russia}\n",
        )
    )
    assert [t.title for t in config.watchlist.topics] == ["Iran–Russia arms transfers", "plain"]
    watchlist = load_watchlist(config)
    assert [t.title for t in watchlist.topics] == ["Iran–Russia arms transfers", "plain"]
    assert watchlist.title("arms") == "Iran–Russia arms transfers" and watchlist.title("gone") == "gone"
    assert redacted_dump(config)["watchlist"]["topics"][0]["title"] == "Iran–Russia arms transfers"


def test_a_title_too_long_is_an_error_at_its_line(tmp_path):
    path = write(tmp_path, "    - name: arms\n      query: iran\n      title: '" + "x" * 201 + "'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == ("watchlist.topics[0].title", 7)
    assert "200 characters" in problem.message


def test_the_bundled_topics_have_titles(bundled):
    _, watchlist, _ = bundled
    assert all(topic.title and topic.title != topic.name for topic in watchlist.topics)
