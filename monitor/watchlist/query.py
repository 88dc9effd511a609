"""The query language: a lexer and a recursive-descent parser from query text to a tree of frozen nodes.

Grammar (operators in capitals; the tighter binding comes later)::

    query   := or
    or      := and ("OR" and)*
    and     := not ("AND" not)*
    not     := "NOT" not | near
    near    := scoped (("NEAR/" n | "ONEAR/" n | "PRE/" n) scoped)*
    scoped  := FIELD ":" atom | atom
    atom    := "(" or ")" | '"' phrase '"' | word | word* | @alias

``NEAR/n``: both sides within n words of each other, in either order; ``ONEAR/n`` (also written
``PRE/n``): the left side first. Two terms side by side with no operator are an error rather than a
guess, because products disagree on whether that means AND, OR or a phrase.

Errors carry the 1-based column and a hint, and ``QuerySyntaxError.render`` draws a caret under the place.
Hostile input is bounded: the query's length, the nesting depth (parentheses, NOT and NEAR chains), the
length of a NEAR chain and the NEAR distance are capped.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from monitor.errors import MonitorError
from monitor.watchlist.text import tokenize
from monitor.watchlist.tree import AliasRef, And, Near, Node, Not, Or, Term

FIELDS = ("title", "body", "url", "source", "lang")
MAX_QUERY_CHARS = 20_000
MAX_DEPTH = 64  # levels of parentheses, NOT and NEAR together: every walk over the tree recurses this deep
MAX_NEAR_CHAIN = 16  # NEARs in a row (a NEAR/5 b NEAR/5 c ...): each one nests the tree a level deeper
MAX_DISTANCE = 200
MIN_PREFIX_CHARS = 2  # "m*" would match half the dictionary

_NEAR = re.compile(r"(NEAR|ONEAR|PRE)(?:/(\d*))?$")
# Straight and typographic double quotes: a query pasted from a word processor or a web page has “ ” or „ “.
# A phrase opened with a straight quote ends at the next straight one, one opened with a typographic quote at
# the next typographic one (“…”, „…“, ”…”).
_QUOTES = '"\u201c\u201d\u201e\u201f'
_CLOSING = {'"': re.compile('"'), **dict.fromkeys(_QUOTES[1:], re.compile(f"[{_QUOTES[1:]}]"))}
_WORD_BREAK = set("()" + _QUOTES)  # and every kind of space (str.isspace): a pasted no-break space too
ALIAS_NAME = re.compile(r"[^\W\d][\w-]*")


class QuerySyntaxError(MonitorError, ValueError):
    """A query that cannot be read: what is wrong, at which column (1-based), and what to do about it. A
    ValueError too, so that pydantic and the callers that validate queries keep reporting it as a bad value."""

    hint = 'join words with AND, OR, NOT and parentheses; put phrases in "double quotes"'

    def __init__(self, problem: str, column: int, hint: str, query: str = "") -> None:
        super().__init__(f"column {column}: {problem}")
        self.problem, self.column, self.hint, self.query = problem, column, hint, query

    def render(self) -> str:
        """The query with a caret under the column, then the problem and the hint."""
        line = self.query.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * (self.column - 1)}^ column {self.column}: {self.problem} (hint: {self.hint})"


# --- Lexer ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) PHRASE WORD AND OR NOT NEAR FIELD ALIAS END
    text: str
    column: int  # 1-based
    distance: int = 0
    ordered: bool = False


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        column = i + 1
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, column))
            i += 1
        elif char in _QUOTES:
            closing = _CLOSING[char].search(query, i + 1)
            if closing is None:
                raise QuerySyntaxError("this quote is never closed", column, 'end the phrase with another "')
            end = closing.start()
            tokens.append(_Token("PHRASE", query[i + 1 : end], column))
            i = end + 1
        else:
            start = i
            while i < n and query[i] not in _WORD_BREAK and not query[i].isspace():
                if query[i] == ":" and i > start and query[start:i].isalpha():
                    break
                i += 1
            word = query[start:i]
            if i < n and query[i] == ":" and word.isalpha():
                tokens.append(_Token("FIELD", word, column))
                i += 1
                continue
            tokens.append(_word_token(word, column))
    tokens.append(_Token("END", "", n + 1))
    return tokens


def _word_token(word: str, column: int) -> _Token:
    if word in ("AND", "OR", "NOT"):
        return _Token(word, word, column)
    near = _NEAR.match(word)
    if near:
        if not near.group(2):
            raise QuerySyntaxError(
                f"{near.group(1)} needs a distance in words",
                column,
                f"write e.g. {near.group(1)}/5 for at most five words apart",
            )
        distance = int(near.group(2))
        if distance > MAX_DISTANCE:
            raise QuerySyntaxError(
                f"distance {distance} is too large",
                column,
                f"use at most {MAX_DISTANCE} words, or AND for anywhere in the article",
            )
        return _Token("NEAR", word, column, distance, near.group(1) != "NEAR")
    if word.startswith("@"):
        return _Token("ALIAS", word[1:], column)
    if word.startswith("-") and word[1:2].isalnum():
        # Google, Talkwalker and others exclude with a leading '-'; here '-' only separates words, so
        # "-russia" would silently mean russia: the opposite of what was meant.
        raise QuerySyntaxError(
            f"'{word}': a leading '-' does not exclude",
            column,
            f'write NOT to exclude (iran AND NOT {word[1:]}), or quote the term: "{word}"',
        )
    return _Token("WORD", word, column)


# --- Parser ---------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _lex(query)
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self) -> Node:
        if self.token.kind == "END":
            raise QuerySyntaxError(
                "the query is empty", 1, 'write a term, e.g. Iran AND "ballistic missile*"'
            )
        node = self.or_()
        if self.token.kind == ")":
            raise QuerySyntaxError(
                "this ')' closes nothing", self.token.column, "remove it or add a '(' before"
            )
        if self.token.kind != "END":
            self.missing_operator()
        return node

    def missing_operator(self) -> None:
        token = self.token
        if token.kind == "NOT":
            raise QuerySyntaxError(
                "NOT cannot join two terms", token.column, "write AND NOT (iran AND NOT nuclear) or OR NOT"
            )
        if re.fullmatch(r"[wW]/\d+", token.text):
            raise QuerySyntaxError(
                f"'{token.text}' is not an operator here",
                token.column,
                f"write NEAR/{token.text[2:]} for within {token.text[2:]} words",
            )
        if token.text.casefold() in ("and", "or", "not") or _NEAR.match(token.text.upper()):
            raise QuerySyntaxError(
                f"'{token.text}' is read as a word here",
                token.column,
                f"operators are written in capitals: {token.text.upper()}",
            )
        raise QuerySyntaxError(
            f"missing operator before '{token.text or token.kind}'",
            token.column,
            'put AND or OR between terms, or "quote a phrase"',
        )

    def binary(
        self, kind: str, operand: Callable[[], Node], build: Callable[[tuple[Node, ...]], Node]
    ) -> Node:
        children = [operand()]
        while self.token.kind == kind:
            self.take()
            children.append(operand())
        return children[0] if len(children) == 1 else build(tuple(children))

    def or_(self) -> Node:
        return self.binary("OR", self.and_, Or)

    def and_(self) -> Node:
        return self.binary("AND", self.not_, And)

    def not_(self) -> Node:
        if self.token.kind == "NOT":
            self.take()
            return Not(self.nested(self.not_))
        return self.near()

    def near(self) -> Node:
        node = self.scoped()
        chain = 0
        try:
            while self.token.kind == "NEAR":
                operator = self.take()
                if chain == MAX_NEAR_CHAIN:
                    raise QuerySyntaxError(
                        f"more than {MAX_NEAR_CHAIN} NEARs in a row",
                        operator.column,
                        "group the terms: (a OR b) NEAR/5 (c OR d)",
                    )
                chain += 1
                self.enter(operator.column)  # a chain of NEARs is a tree as deep as it is long
                right = self.scoped()
                node = Near(node, right, operator.distance, operator.ordered)
                _check_near_operand(node.left, operator)
                _check_near_operand(node.right, operator)
        finally:
            self.depth -= chain
        return node

    def scoped(self) -> Node:
        if self.token.kind != "FIELD":
            return self.atom(None)
        field_token = self.take()
        field = field_token.text.lower()
        if field not in FIELDS:
            close = difflib.get_close_matches(field, FIELDS, n=1)
            hint = (
                (f"did you mean {close[0]}:? " if close else "")
                + "fields: "
                + ", ".join(f"{f}:" for f in FIELDS)
                + "; quote text that contains a colon"
            )
            raise QuerySyntaxError(f"unknown field '{field_token.text}'", field_token.column, hint)
        return self.atom(field)

    def atom(self, field: str | None) -> Node:
        token = self.take()
        if token.kind == "(":
            node = self.nested(self.or_)
            if self.token.kind != ")":
                if self.token.kind == "END":
                    raise QuerySyntaxError(
                        "the query ends inside parentheses",
                        token.column,
                        "close the '(' opened here with a ')'",
                    )
                self.missing_operator()
            self.take()
            return _scope(node, field, token.column) if field else node
        if token.kind == "PHRASE":
            return make_term(token.text, column=token.column + 1, field=field, phrase=True)
        if token.kind == "WORD":
            return make_term(token.text, column=token.column, field=field)
        if token.kind == "ALIAS":
            if not ALIAS_NAME.fullmatch(token.text):
                raise QuerySyntaxError(
                    f"'@{token.text}' is not an alias name",
                    token.column,
                    "alias names are letters, digits, '_' and '-', e.g. @iran",
                )
            return AliasRef(token.text, field, token.column)
        if token.kind == "END":
            raise QuerySyntaxError(
                "the query ends where a term was expected",
                token.column,
                "add a term after the last operator, or remove the operator",
            )
        if token.kind == ")":
            raise QuerySyntaxError(
                "a term is missing before ')'", token.column, "remove the empty '()' or the operator"
            )
        if token.kind == "FIELD":
            raise QuerySyntaxError(
                f"'{token.text}:' where a term was expected",
                token.column,
                f'quote text that contains a colon: {field or token.text.lower()}:"{token.text}:..."',
            )
        raise QuerySyntaxError(
            f"{token.text} cannot start a term", token.column, f"put a term before {token.text}"
        )

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.enter(self.token.column)
        try:
            return parse()
        finally:
            self.depth -= 1

    def enter(self, column: int) -> None:
        """One level deeper (the caller steps back out), or an error past ``MAX_DEPTH``."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError(
                "the query nests too deeply",
                column,
                f"use at most {MAX_DEPTH} levels of parentheses, NOT and NEAR",
            )


def _check_near_operand(node: Node, operator: _Token) -> None:
    """NEAR compares word positions: only terms, phrases, aliases and ORs or NEARs of them have any."""
    if isinstance(node, (Term, AliasRef)):
        return
    if isinstance(node, Or):
        for child in node.children:
            _check_near_operand(child, operator)
        return
    if isinstance(node, Near):
        _check_near_operand(node.left, operator)
        _check_near_operand(node.right, operator)
        return
    kind = "NOT" if isinstance(node, Not) else "AND"
    raise QuerySyntaxError(
        f"{operator.text} cannot take an {kind} expression",
        operator.column,
        f"{operator.text} compares positions of terms, phrases or ORs of them; "
        f"move the {kind} outside, e.g. (a {operator.text} b) {kind} c",
    )


def _scope(node: Node, field: str, column: int) -> Node:
    """``node`` with every term inside limited to ``field``."""
    if isinstance(node, Term | AliasRef):
        if node.field and node.field != field:
            raise QuerySyntaxError(
                f"{node.field}: inside {field}:(...)",
                node.column,
                "a term can have one field; remove one of them",
            )
        return type(node)(**{**node.__dict__, "field": field})
    if isinstance(node, And | Or):
        return type(node)(tuple(_scope(child, field, column) for child in node.children))
    if isinstance(node, Not):
        return Not(_scope(node.child, field, column))
    return Near(
        _scope(node.left, field, column), _scope(node.right, field, column), node.distance, node.ordered
    )


def make_term(text: str, *, column: int = 1, field: str | None = None, phrase: bool = False) -> Term:
    """A term from a word or phrase as written; a trailing ``*`` makes its last word a prefix."""
    prefix = text.endswith("*")
    body = text[:-1] if prefix else text
    if "*" in body:
        raise QuerySyntaxError(
            f"'*' inside '{text}'",
            column + body.index("*"),
            "a wildcard can only end a word: missil* (write the variants out otherwise)",
        )
    if "?" in body and not phrase:
        raise QuerySyntaxError(
            f"'?' in '{text}'",
            column + body.index("?"),
            "single-letter wildcards are not supported; use a trailing * or list the spellings",
        )
    tokens = tuple(tokenize(body))
    if not tokens:
        raise QuerySyntaxError(f"'{text}' has no letters or digits", column, "remove it, or quote real words")
    if prefix and not body[-1:].isalnum():
        raise QuerySyntaxError(
            f"'*' must follow a word in '{text}'",
            column + len(body),
            "write it right after the letters: missil*",
        )
    # The bound is for a word alone ("m*"); in a phrase the words before narrow it: "Su-3*" is Su-30, Su-35.
    if prefix and len(tokens) == 1 and len(tokens[-1]) < MIN_PREFIX_CHARS:
        raise QuerySyntaxError(
            f"the wildcard '{text}' is too short",
            column,
            f"give at least {MIN_PREFIX_CHARS} letters before the *, e.g. drone*",
        )
    return Term(text.strip(), tokens, prefix, field, column)


def parse_query(query: str) -> Node:
    """The tree of ``query``, with alias references left in (see ``resolve_aliases``).

    Raises:
        QuerySyntaxError: with the column and a hint.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"the query is {len(query)} characters long",
            MAX_QUERY_CHARS,
            f"keep it under {MAX_QUERY_CHARS}; move lists of names into aliases",
            query,
        )
    try:
        return _Parser(query).parse()
    except QuerySyntaxError as error:
        error.query = query
        raise
