"""Queries as analysts bring them from other products and from word processors: no-break and wide spaces,
typographic quotes, a leading '-' to exclude, w/5; and a tree written back as query text (clauses in
evidence, "did not match: no ...") that means what the tree means."""

from __future__ import annotations

import pytest

from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.query import QuerySyntaxError, parse_query
from monitor.watchlist.tree import And, Near, Not, Or, Term


def matches(query: str, body: str) -> bool:
    return bool(Matcher([TopicSpec("t", parse_query(query))]).match(ArticleText(body=body)))


@pytest.mark.parametrize("space", ["\u00a0", "\u202f", "\u2003", "\u3000", "\u2009"])
def test_every_space_separates_operators_from_terms(space):
    query = f"Iran{space}AND{space}Russia"
    assert str(parse_query(query)) == "Iran AND Russia"
    assert matches(query, "Russia buys drones from Iran")  # not the phrase "iran and russia"
    assert str(parse_query(f"(missile{space}OR{space}drone){space}AND{space}Iran")) == (
        "(missile OR drone) AND Iran"
    )


@pytest.mark.parametrize(
    "opening, closing", [("\u201c", "\u201d"), ("\u201e", "\u201c"), ("\u201d", "\u201d")]
)
def test_typographic_quotes_make_a_phrase(opening, closing):
    query = f"{opening}ballistic missile{closing} AND Iran"
    assert str(parse_query(query)) == '"ballistic missile" AND Iran'
    assert matches(query, "Iran tested a ballistic missile")
    assert not matches(query, "Iran said a missile was ballistic")


def test_a_straight_quoted_phrase_keeps_typographic_quotes_inside():
    assert parse_query('"the \u201cIron Dome\u201d system"').tokens == ("the", "iron", "dome", "system")


@pytest.mark.parametrize("query", ["iran AND -russia", "iran AND title:-russia", "-nuclear"])
def test_a_leading_minus_is_an_error_not_the_term_itself(query):
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert "a leading '-' does not exclude" in caught.value.problem and "NOT" in caught.value.hint


def test_a_hyphen_inside_a_term_is_still_a_phrase():
    assert parse_query("Shahed-136").tokens == ("shahed", "136")
    assert parse_query('"-russia"').tokens == ("russia",)  # quoted: as written


def test_lexis_style_proximity_gets_a_hint():
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("iran w/5 russia")
    assert caught.value.column == 6 and "NEAR/5" in caught.value.hint


def test_a_field_where_a_term_is_expected_says_to_quote_the_colon():
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("url:https://tass.com/x")
    assert caught.value.column == 5 and caught.value.hint.startswith("quote text that contains a colon")


@pytest.mark.parametrize(
    "query",
    [
        "iran NEAR/3 (russia NEAR/3 drone)",
        "iran ONEAR/3 (russia NEAR/1 drone)",
        "(iran NEAR/3 russia) NEAR/3 drone",
        '"NEAR" OR "AND" OR "NOT" OR "OR" OR "PRE/2"',
        '\u201ciran"\u201d OR x',
    ],
)
def test_a_tree_written_back_reads_as_the_same_tree(query):
    tree = parse_query(query)
    assert _shape(parse_query(str(tree))) == _shape(tree)


def test_a_near_on_the_right_keeps_its_parentheses():
    # Without them the clause shown in evidence would be another query: chains are read from the left.
    assert str(parse_query("iran NEAR/3 (russia NEAR/3 drone)")) == "iran NEAR/3 (russia NEAR/3 drone)"
    assert str(parse_query("iran NEAR/3 russia NEAR/3 drone")) == "iran NEAR/3 russia NEAR/3 drone"


def _shape(node) -> object:
    """The tree without columns and texts as written: what the matcher evaluates."""
    if isinstance(node, Term):
        return ("term", node.tokens, node.prefix, node.field)
    if isinstance(node, (And, Or)):
        return (type(node).__name__, tuple(_shape(c) for c in node.children))
    if isinstance(node, Not):
        return ("not", _shape(node.child))
    assert isinstance(node, Near)
    return ("near", _shape(node.left), _shape(node.right), node.distance, node.ordered)


def test_a_short_wildcard_after_other_words_finds_the_model_numbers():
    # Su-30, Su-34, Su-35; S-300, S-400: the words before the wildcard narrow it.
    assert matches("Su-3*", "Iran awaits Su-35 fighters") and matches('"S-4*"', "an S-400 battery")
    assert not matches("Su-3*", "Su-27 jets") and not matches("Su-3*", "a 35 ton su")
    with pytest.raises(QuerySyntaxError, match="too short"):
        parse_query("m*")  # a word alone still needs two letters
