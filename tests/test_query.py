"""The query parser: every operator, precedence, fields, aliases, and errors with their column and hint."""

from __future__ import annotations

import pytest

from monitor.watchlist.aliases import parse_entry, resolve_aliases
from monitor.watchlist.query import MAX_DEPTH, QuerySyntaxError, parse_query
from monitor.watchlist.tree import AliasRef, And, Near, Not, Or, Term


def shown(query: str) -> str:
    return str(parse_query(query))


@pytest.mark.parametrize(
    "query, expected",
    [
        ("iran", "iran"),
        ("iran AND russia", "iran AND russia"),
        ("iran OR russia", "iran OR russia"),
        ("NOT nuclear", "NOT nuclear"),
        ('"ballistic missiles"', '"ballistic missiles"'),
        ("missil*", "missil*"),
        ("iran NEAR/5 russia", "iran NEAR/5 russia"),
        ("iran ONEAR/5 russia", "iran ONEAR/5 russia"),
        ("iran PRE/5 russia", "iran ONEAR/5 russia"),
        ("title:iran", "title:iran"),
        ("@iran", "@iran"),
        # Precedence: NOT binds tighter than NEAR, NEAR than AND, AND than OR.
        ("a OR b AND c", "a OR (b AND c)"),
        ("a AND b OR c", "(a AND b) OR c"),
        ("a AND NOT b OR c", "(a AND NOT b) OR c"),
        ("NOT a AND b", "NOT a AND b"),
        ("a AND b NEAR/3 c", "a AND (b NEAR/3 c)"),
        ("(a OR b) AND c", "(a OR b) AND c"),
        ("NOT (a OR b)", "NOT (a OR b)"),
        ("NOT NOT a", "NOT NOT a"),
        ("a NEAR/2 b NEAR/4 c", "a NEAR/2 b NEAR/4 c"),
    ],
)
def test_operators_and_precedence(query, expected):
    assert shown(query) == expected


def test_tree_shape():
    tree = parse_query('Iran AND ("ballistic missile*" OR drone*) AND NOT title:nuclear')
    assert isinstance(tree, And) and len(tree.children) == 3
    iran, either, negation = tree.children
    assert iran == Term("Iran", ("iran",), False, None, 1)
    assert isinstance(either, Or)
    phrase = either.children[0]
    assert (
        phrase.tokens == ("ballistic", "missile") and phrase.prefix and phrase.column == 12
    )  # inside the quotes
    assert isinstance(negation, Not) and negation.child.field == "title"


def test_near_keeps_distance_and_order():
    tree = parse_query("iran ONEAR/3 (russia OR moscow)")
    assert isinstance(tree, Near) and tree.distance == 3 and tree.ordered
    assert isinstance(tree.right, Or)


def test_a_field_applies_to_everything_in_its_parentheses():
    tree = parse_query("title:(iran OR @russia) AND body:missile")
    assert [c.field for c in tree.children[0].children] == ["title", "title"]
    assert isinstance(tree.children[0].children[1], AliasRef)
    assert tree.children[1].field == "body"


def test_terms_are_folded_and_split_like_article_text():
    term = parse_query("Shahed-136").__class__
    assert term is Term
    assert parse_query("Shahed-136").tokens == ("shahed", "136")
    assert parse_query('"Islamic  Revolutionary Guard Corps"').tokens == (
        "islamic",
        "revolutionary",
        "guard",
        "corps",
    )
    assert parse_query("Ракеты").tokens == ("ракеты",)
    assert parse_query("موشک‌ها").tokens == ("موشکها",)  # the ZWNJ is inside the word


@pytest.mark.parametrize(
    "query, column, problem, hint",
    [
        ("", 1, "empty", "write a term"),
        ("iran russia", 6, "missing operator before 'russia'", "AND or OR"),
        ("iran and russia", 6, "'and' is read as a word", "capitals: AND"),
        ("iran AND (russia OR", 20, "ends where a term was expected", "add a term"),
        ("iran AND (russia OR moscow", 10, "ends inside parentheses", "close the '('"),
        ("iran)", 5, "closes nothing", "remove it"),
        ('iran AND "ballistic missile', 10, "never closed", 'another "'),
        ("iran NEAR russia", 6, "NEAR needs a distance", "NEAR/5"),
        ("iran NEAR/999 russia", 6, "too large", "AND for anywhere"),
        ("iran NEAR/3 (russia AND moscow)", 6, "cannot take an AND", "move the AND outside"),
        ("iran NEAR/3 NOT russia", 13, "NOT cannot start a term", "put a term"),
        ("(iran NOT russia) NEAR/3 x", 7, "NOT cannot join two terms", "AND NOT"),
        ("titel:iran", 1, "unknown field 'titel'", "did you mean title:?"),
        ("m*", 1, "too short", "at least 2"),
        ("mis*ile", 4, "'*' inside", "can only end a word"),
        ("iran AND ()", 11, "missing before ')'", "remove the empty"),
        ("iran AND @", 10, "not an alias name", "@iran"),
        ("iran AND !!!", 10, "no letters or digits", "remove it"),
        ("AND iran", 1, "AND cannot start a term", "put a term before AND"),
    ],
)
def test_errors_name_the_column_and_give_a_hint(query, column, problem, hint):
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    error = caught.value
    assert error.column == column, error.render()
    assert problem in error.problem
    assert hint in error.hint
    assert error.render().splitlines()[1].index("^") == column - 1


def test_hostile_queries_are_bounded():
    with pytest.raises(QuerySyntaxError, match="nests too deeply"):
        parse_query("(" * (MAX_DEPTH + 5) + "iran" + ")" * (MAX_DEPTH + 5))
    with pytest.raises(QuerySyntaxError, match="characters long"):
        parse_query("iran OR " * 5000 + "russia")
    # Deep but allowed nesting parses; a long flat OR is fine.
    assert str(parse_query("(" * 20 + "iran" + ")" * 20)) == "iran"
    assert len(parse_query(" OR ".join(f"w{i}" for i in range(1000))).children) == 1000


def test_aliases_expand_with_the_field_and_nested_aliases():
    aliases = {
        "iran": [
            parse_entry("Iran"),
            parse_entry("Islamic Revolutionary Guard Corps"),
            parse_entry("@tehran"),
        ],
        "tehran": [parse_entry("Tehran"), parse_entry("Тегеран*")],
    }
    tree = resolve_aliases(parse_query("title:@iran AND missile"), aliases)
    expanded = tree.children[0]
    assert isinstance(expanded, Or) and expanded.alias == "iran" and str(tree) == "@iran AND missile"
    leaves = [expanded.children[0], expanded.children[1], *expanded.children[2].children]
    assert [leaf.tokens for leaf in leaves] == [
        ("iran",),
        ("islamic", "revolutionary", "guard", "corps"),
        ("tehran",),
        ("тегеран",),
    ]
    assert {leaf.field for leaf in leaves} == {"title"}
    assert leaves[-1].prefix


def test_unknown_and_circular_aliases_are_errors_with_the_column():
    with pytest.raises(QuerySyntaxError) as caught:
        resolve_aliases(parse_query("missile AND @irna"), {"iran": [parse_entry("Iran")]})
    assert caught.value.column == 13 and "did you mean @iran?" in caught.value.hint
    circle = {"a": [parse_entry("@b")], "b": [parse_entry("@a")]}
    with pytest.raises(QuerySyntaxError, match="refers to itself"):
        resolve_aliases(parse_query("@a"), circle)


def test_a_long_chain_of_aliases_is_refused():
    chain = {f"a{i}": [parse_entry(f"@a{i + 1}")] for i in range(100)} | {"a100": [parse_entry("x")]}
    with pytest.raises(QuerySyntaxError, match="nest more than"):
        resolve_aliases(parse_query("@a0"), chain)


def test_alias_entries_and_weights_are_literal_terms():
    assert parse_entry("ballistic missile*") == Term(
        "ballistic missile*", ("ballistic", "missile"), True, None, 1
    )
    assert parse_entry('"Fath-360"').tokens == ("fath", "360")
    assert isinstance(parse_entry("@iran"), AliasRef)
    assert isinstance(parse_entry("(iran NEAR/3 missile*)"), Near)
