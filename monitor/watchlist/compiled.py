"""Topics compiled for matching, and one article's hits as they are evaluated.

``FieldHits`` and ``Scan`` hold what the automaton found in an article; the node classes mirror the query
tree (``monitor.watchlist.tree``) with ``holds`` (does the article satisfy it), ``spans`` (word positions,
for NEAR) and ``collect`` (the terms that fired, for evidence). ``predicate`` turns a whole tree into one
compiled expression, and ``anchor`` finds the terms of which one must be present for a topic to match.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from itertools import accumulate
from operator import add, itemgetter

from monitor.watchlist.near import covered_by, minimal_spans, near_pairs
from monitor.watchlist.text import FoldedText
from monitor.watchlist.tree import Node, Or, Term

TEXT_FIELDS = ("title", "body")  # where a term without a field is looked for
Span = tuple[str, int, int]  # (field, first word, word after the last)
Fired = tuple["Leaf", list[Span] | None]  # a term that fired, and which of its occurrences count (None: all)


# --- One scanned article --------------------------------------------------------------------------------


class FieldHits:
    """One field of one article: its folded text and tokens, and the hits of the automaton in it.

    The automaton's hits are kept as they come, (end offset, pattern id); the set of pattern ids present
    is all that most topics need. Positions are grouped by pattern only when NEAR or evidence asks.
    """

    __slots__ = ("folded", "tokens", "pairs", "hits", "_ends", "_spans", "_starts")

    def __init__(self, folded: FoldedText, tokens: list[str], pairs: list[tuple[int, int]]) -> None:
        self.folded, self.tokens, self.pairs = folded, tokens, pairs
        self.hits = set(map(itemgetter(1), pairs))
        self._ends: dict[int, list[int]] | None = None
        self._spans: dict[int, list[tuple[int, int]]] = {}
        self._starts: list[int] = []  # filled with _ends, on the first call of spans

    def spans(self, pid: int, key_length: int, words: int) -> list[tuple[int, int]]:
        """(first word, word after the last) of each hit of pattern ``pid``, in order."""
        found = self._spans.get(pid)
        if found is None:
            if self._ends is None:
                ends: dict[int, list[int]] = {}
                for end, hit in self.pairs:
                    ends.setdefault(hit, []).append(end)
                self._ends = ends
                # Where each word starts in the line (" w0 w1 ..."): sums of lengths, computed in C.
                self._starts = list(
                    map(add, accumulate(map(len, self.tokens), initial=0), range(1, len(self.tokens) + 2))
                )
            starts = self._starts
            found = []
            for end in self._ends.get(pid, ()):
                word = bisect_left(
                    starts, end - key_length + 2
                )  # the key's first word starts after its space
                found.append((word, word + words))
            self._spans[pid] = found
        return found


class Scan:
    __slots__ = ("fields", "default", "memo")

    def __init__(self, fields: dict[str, FieldHits]) -> None:
        self.fields = fields
        # Spans of ORs and pairs of NEARs, by node: the score, the evidence and NEARs over NEARs ask again.
        self.memo: dict[int, list] = {}
        default: set[int] = set()
        for name in TEXT_FIELDS:
            if name in fields:
                default.update(fields[name].hits)
        self.default = default


# --- Compiled trees -------------------------------------------------------------------------------------


class Leaf:
    __slots__ = ("pid", "field", "term", "key_length", "words", "label")

    def __init__(self, pid: int, term: Term, key_length: int) -> None:
        self.pid, self.field, self.term = pid, term.field, term
        self.key_length, self.words = key_length, len(term.tokens)
        self.label = str(term)

    def holds(self, scan: Scan) -> bool:
        if self.field is None:
            return self.pid in scan.default
        field = scan.fields.get(self.field)
        return field is not None and self.pid in field.hits

    def spans(self, scan: Scan) -> list[tuple[str, int, int]]:
        found = []
        for name in TEXT_FIELDS if self.field is None else (self.field,):
            field = scan.fields.get(name)
            if field is not None and self.pid in field.hits:
                found += [(name, a, b) for a, b in field.spans(self.pid, self.key_length, self.words)]
        return found

    def collect(self, scan: Scan, out: list[Fired]) -> None:
        if self.holds(scan):
            out.append((self, None))


class AllOf:
    __slots__ = ("children", "source", "label")

    def __init__(self, children: tuple, source: Node) -> None:
        self.children, self.source = children, source

    def holds(self, scan: Scan) -> bool:
        return all(child.holds(scan) for child in self.children)

    def collect(self, scan: Scan, out: list[Fired]) -> None:
        for child in self.children:
            child.collect(scan, out)


class AnyOf:
    __slots__ = ("children", "source", "pids", "label")

    def __init__(self, children: tuple, source: Or) -> None:  # an OR, or an expanded @alias
        self.children, self.source = children, source
        # An OR of unscoped terms (an alias, typically) is one set test.
        plain = all(isinstance(c, Leaf) and c.field is None for c in children)
        self.pids = frozenset(c.pid for c in children) if plain else None

    def holds(self, scan: Scan) -> bool:
        if self.pids is not None:
            return not scan.default.isdisjoint(self.pids)
        return any(child.holds(scan) for child in self.children)

    def spans(self, scan: Scan) -> list[tuple[str, int, int]]:
        found = scan.memo.get(id(self))
        if found is None:
            found = scan.memo[id(self)] = sorted(
                span for child in self.children for span in child.spans(scan)
            )
        return found

    def collect(self, scan: Scan, out: list[Fired]) -> None:
        for child in self.children:
            if child.holds(scan):
                child.collect(scan, out)


class NotNode:
    __slots__ = ("child", "source", "label")

    def __init__(self, child, source: Node) -> None:
        self.child, self.source = child, source

    def holds(self, scan: Scan) -> bool:
        return not self.child.holds(scan)

    def collect(self, scan: Scan, out: list[Fired]) -> None:
        pass  # what is absent is no evidence


class NearNode:
    __slots__ = ("left", "right", "distance", "ordered", "source", "label")

    def __init__(self, left, right, distance: int, ordered: bool, source: Node) -> None:
        self.left, self.right, self.distance, self.ordered, self.source = (
            left,
            right,
            distance,
            ordered,
            source,
        )

    def holds(self, scan: Scan) -> bool:
        return self.left.holds(scan) and self.right.holds(scan) and bool(self.pairs(scan, first=True))

    def spans(self, scan: Scan) -> list[tuple[str, int, int]]:
        """Spans covering each pair of a left and a right span that are near enough (see ``pairs``)."""
        covering = (
            (left[0], min(left[1], right[1]), max(left[2], right[2])) for left, right in self.pairs(scan)
        )
        return sorted(dict.fromkeys(covering))  # each once; mostly in order already, which sorting checks

    def pairs(self, scan: Scan, first: bool = False) -> list[tuple[Span, Span]]:
        """(left span, right span) in one field, at most ``distance`` words apart (words strictly between
        them), the left one first if ``ordered``, where one of the two is the other's nearest partner on
        that side (see ``monitor.watchlist.near``); with ``first``, at most the first pair."""
        found = scan.memo.get(id(self))
        if found is None:
            found = scan.memo[id(self)] = near_pairs(
                _operand_spans(self.left, scan), _operand_spans(self.right, scan), self.distance, self.ordered
            )
        return found[:1] if first else found

    def collect(self, scan: Scan, out: list[Fired]) -> None:
        # Evidence of a NEAR is the occurrences that are near each other, not every occurrence of its terms.
        pairs = self.pairs(scan)
        for side, used in ((self.left, [p[0] for p in pairs]), (self.right, [p[1] for p in pairs])):
            inner: list[Fired] = []
            side.collect(scan, inner)
            within = covered_by(used)
            for leaf, allowed in inner:
                spans = leaf.spans(scan) if allowed is None else allowed
                kept = [span for span in spans if within(span)]
                if kept:  # a term of the NEAR with no occurrence near the other side made nothing match
                    out.append((leaf, kept))


EXACT_CHAIN_SPANS = 10_000
"""Spans of a NEAR within a chain beyond which only its minimal ones go on (``_operand_spans``)."""


def _operand_spans(node, scan: Scan) -> list[tuple[str, int, int]]:
    """The spans of a NEAR's operand; of a NEAR within it (``a NEAR b NEAR c``) with more than
    ``EXACT_CHAIN_SPANS`` of them, the minimal ones.

    Each level of a chain covers its pairs with spans that the next level pairs again: over a long text
    dense with its terms their number doubled at each level (a chain of 16 NEAR/200 took 89 s and 3.7 GB
    on 390 KB). Minimal spans, those holding no other, are at most one per word whatever the chain's
    length: the minimal-interval semantics of proximity search (Clarke, Cormack and Burkowski; Boldi and
    Vigna). They are not the exact answer (a wide span reaching a term the narrow one inside it does not is
    left out), so an article's text keeps it until its spans are far more than any real article gives.
    """
    spans = node.spans(scan)
    if isinstance(node, NearNode) and len(spans) > EXACT_CHAIN_SPANS:
        return minimal_spans(spans)
    return spans


class CompiledTopic:
    __slots__ = ("name", "tree", "weights", "min_score", "pids", "test", "most", "scored_parts")

    def __init__(self, name: str, tree, weights: list, min_score: float | None, pids: set[int]) -> None:
        self.name, self.tree, self.weights, self.min_score, self.pids = name, tree, weights, min_score, pids
        self.test = predicate(tree) if tree is not None else None
        self.most = float(sum(weight for _, _, weight in weights if weight > 0))  # the highest total
        # The parts of the query that can carry evidence for its score: NOT is absence, no evidence.
        self.scored_parts = tuple(part for part in top_parts(tree) if not isinstance(part, NotNode))


def top_parts(tree) -> tuple:
    """The operands of a compiled query's top-level AND (one part without one; none without a query)."""
    if tree is None:
        return ()
    return tree.children if isinstance(tree, AllOf) else (tree,)


def anchor(node) -> frozenset[int] | None:
    """Pattern ids of which at least one is present whenever ``node`` holds; None if it can hold on none."""
    if isinstance(node, Leaf):
        return frozenset((node.pid,))
    if isinstance(node, AnyOf):
        parts = [anchor(child) for child in node.children]
        known = [part for part in parts if part is not None]
        return None if len(known) < len(parts) else frozenset().union(*known)
    if isinstance(node, AllOf):
        present = [part for part in map(anchor, node.children) if part is not None]
        return min(present, key=len) if present else None
    if isinstance(node, NearNode):
        sides = [part for part in (anchor(node.left), anchor(node.right)) if part is not None]
        return min(sides, key=len) if sides else None
    return None  # NOT holds when its term is absent


def label(node) -> str:
    """A compiled node as query text (cached: evidence names the same clauses again and again)."""
    if isinstance(node, Leaf):
        return node.label
    label = getattr(node, "label", None)
    if label is None:
        label = node.label = str(node.source)
    return label


def predicate(tree) -> Callable[[Scan, set[int]], bool]:
    """``tree.holds`` as one Python expression, compiled: a topic is tried on many articles, and one
    expression of set tests costs a fraction of a walk over node objects. The source holds only integer
    pattern ids and names of nodes passed in, never text from the query."""
    nodes: dict[str, object] = {}

    def expression(node) -> str:
        if isinstance(node, Leaf) and node.field is None:
            return f"({node.pid} in d)"
        if isinstance(node, AnyOf) and node.pids is not None:
            nodes[name := f"p{len(nodes)}"] = node.pids
            return f"(not d.isdisjoint({name}))"
        if isinstance(node, AnyOf):
            return "(" + " or ".join(expression(child) for child in node.children) + ")"
        if isinstance(node, AllOf):
            return "(" + " and ".join(expression(child) for child in node.children) + ")"
        if isinstance(node, NotNode):
            return f"(not {expression(node.child)})"
        nodes[name := f"n{len(nodes)}"] = node  # a field-scoped term or a NEAR: asked as an object
        return f"{name}.holds(s)"

    try:
        source = f"lambda s, d: {expression(tree)}"
        return eval(source, {"__builtins__": {}, **nodes})  # noqa: S307 - generated from the tree, see above
    except (RecursionError, SyntaxError, MemoryError):  # too deep for the compiler: walk the nodes
        return lambda s, d: tree.holds(s)
