"""The query tree: frozen nodes that the parser builds and the matcher compiles.

``str(node)`` writes a node back as query text (with only the parentheses it needs), which is how
evidence names the clauses that fired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPERATOR = re.compile(r"AND|OR|NOT|(?:NEAR|ONEAR|PRE)(?:/\d*)?")  # a term written so needs its quotes


@dataclass(frozen=True)
class Term:
    """A word, a phrase (several words in a row), or either with a trailing ``*`` on its last word."""

    text: str  # as written, for evidence
    tokens: tuple[str, ...]  # folded
    prefix: bool = False  # the last token is a prefix (written with a trailing *)
    field: str | None = None  # None: title or body
    column: int = 1

    def __str__(self) -> str:
        written = (
            (f'"{self.text}"' if '"' not in self.text else f"\u201c{self.text}\u201d")
            if len(self.tokens) > 1
            or not self.text.replace("*", "").isalnum()
            or _OPERATOR.fullmatch(self.text)
            else self.text
        )
        return f"{self.field}:{written}" if self.field else written


@dataclass(frozen=True)
class AliasRef:
    name: str
    field: str | None = None
    column: int = 1

    def __str__(self) -> str:
        return f"{self.field}:@{self.name}" if self.field else f"@{self.name}"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(_wrapped(child, And) for child in self.children)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    alias: str | None = None  # set when this is an expanded @alias, to show it by name

    def __str__(self) -> str:
        if self.alias:
            return f"@{self.alias}"
        return " OR ".join(_wrapped(child, Or) for child in self.children)


@dataclass(frozen=True)
class Not:
    child: Node

    def __str__(self) -> str:
        return f"NOT {_wrapped(self.child, Not)}"


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int
    ordered: bool = False

    def __str__(self) -> str:
        operator = f"{'ONEAR' if self.ordered else 'NEAR'}/{self.distance}"
        # A chain is read from the left (a NEAR/2 b NEAR/3 c is (a NEAR/2 b) NEAR/3 c): a NEAR on the
        # right keeps its parentheses, or the text would be another query.
        right = f"({self.right})" if isinstance(self.right, Near) else _wrapped(self.right, Near)
        return f"{_wrapped(self.left, Near)} {operator} {right}"


Node = Term | AliasRef | And | Or | Not | Near


def _wrapped(node: Node, parent: type) -> str:
    simple = isinstance(node, (Term, AliasRef, Not)) or (isinstance(node, Or) and node.alias)
    return str(node) if simple or type(node) is parent else f"({node})"


def term_count(node: Node) -> int:
    """How many terms ``node`` holds, aliases expanded (walked without recursion)."""
    count, stack = 0, [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Term):
            count += 1
        elif isinstance(item, And | Or):
            stack += item.children
        elif isinstance(item, Not):
            stack.append(item.child)
        elif isinstance(item, Near):
            stack += (item.left, item.right)
    return count
