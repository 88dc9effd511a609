"""Aliases: named lists of spellings, written as ``@name`` in queries; and the literal terms that alias
lists and ``weights:`` keys hold."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from monitor.watchlist.query import ALIAS_NAME, FIELDS, QuerySyntaxError, make_term, parse_query
from monitor.watchlist.tree import AliasRef, And, Near, Node, Not, Or, Term

MAX_ALIAS_DEPTH = 16  # a hostile chain of aliases must not exhaust the stack
# Aliases that name aliases multiply: ten aliases of two others each are a thousand terms. Counted as
# they are expanded, so a query that would expand to more stops here rather than filling memory.
MAX_ALIAS_TERMS = 10_000

# An entry written as a query without its parentheses ("Russia OR Moscow", "title:Iran"): read as a phrase,
# it would look for the words "russia or moscow" or "title iran" and silently find nothing.
_OPERATOR = re.compile(r"(?:^|\s)(?:AND|OR|NOT|(?:NEAR|ONEAR|PRE)/\d+)(?=\s|$)")
_FIELD = re.compile(rf"(?:{'|'.join(FIELDS)}):", re.IGNORECASE)


def resolve_aliases(node: Node, aliases: Mapping[str, Sequence[Term | AliasRef]], query: str = "") -> Node:
    """``node`` with each ``@name`` replaced by an OR of that alias's terms (nested aliases too).

    Raises:
        QuerySyntaxError: for an unknown alias, one that refers back to itself, aliases nested more than
            ``MAX_ALIAS_DEPTH`` deep, or more than ``MAX_ALIAS_TERMS`` terms in all.
    """
    expanded = 0  # terms written out so far, over every @name of the query

    def expand(name: str, field: str | None, column: int, seen: tuple[str, ...]) -> Node:
        if name not in aliases:
            close = difflib.get_close_matches(name, list(aliases), n=1)
            known = ", ".join(f"@{a}" for a in aliases) or "none are defined"
            hint = (f"did you mean @{close[0]}? " if close else "") + f"aliases: {known}"
            raise QuerySyntaxError(f"unknown alias @{name}", column, hint, query)
        if name in seen:
            cycle = " -> ".join(f"@{a}" for a in (*seen, name))
            raise QuerySyntaxError(
                f"alias @{name} refers to itself ({cycle})",
                column,
                "an alias may use other aliases, but not in a circle",
                query,
            )
        if len(seen) >= MAX_ALIAS_DEPTH:
            raise QuerySyntaxError(
                f"aliases nest more than {MAX_ALIAS_DEPTH} deep at @{name}",
                column,
                "let aliases use other aliases a few levels deep at most",
                query,
            )
        nonlocal expanded
        children: list[Node] = []
        for entry in aliases[name]:
            if isinstance(entry, AliasRef):
                children.append(expand(entry.name, field, column, (*seen, name)))
                continue
            expanded += 1
            if expanded > MAX_ALIAS_TERMS:
                root = seen[0] if seen else name
                raise QuerySyntaxError(
                    f"aliases expand to more than {MAX_ALIAS_TERMS} terms (at @{root})",
                    column,
                    "aliases that list other aliases multiply; list each spelling in one alias once",
                    query,
                )
            children.append(Term(entry.text, entry.tokens, entry.prefix, field or entry.field, column))
        return Or(tuple(children), alias=name)

    def walk(node: Node) -> Node:
        if isinstance(node, AliasRef):
            return expand(node.name, node.field, node.column, ())
        if isinstance(node, And | Or):
            return type(node)(tuple(walk(child) for child in node.children))
        if isinstance(node, Not):
            return Not(walk(node.child))
        if isinstance(node, Near):
            return Near(walk(node.left), walk(node.right), node.distance, node.ordered)
        return node

    return walk(node)


def parse_entry(entry: str) -> Term | AliasRef | Node:
    """One item of an alias list or one key of ``weights:``: a literal term as written (``ballistic
    missile*`` is a phrase with a wildcard), ``@alias``, or a query: in parentheses, or one with an operator
    in capitals or a field (``Russia OR Moscow``, ``title:Iran``); in double quotes, a phrase as written."""
    text = entry.strip()
    if text.startswith("("):
        return parse_query(text)
    if text.startswith("@"):
        if not ALIAS_NAME.fullmatch(text[1:]):
            raise QuerySyntaxError(
                f"'{text}' is not an alias name", 1, "alias names are letters, digits, _ and -", text
            )
        return AliasRef(text[1:])
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]  # quoted: a phrase as written, whatever words it holds
    elif _OPERATOR.search(text) or _FIELD.match(text):  # a query, not a phrase: read it as one
        return parse_query(text)
    try:
        return make_term(text, phrase=True)
    except QuerySyntaxError as error:
        error.query = text
        raise
