"""All topics at once: one Aho-Corasick automaton over every term of every topic, then each topic's tree
evaluated on the hits, and evidence for the topics that match.

How a text is scanned: its folded tokens are joined by single spaces, with a space at each end
(`` iran denies sending missiles ``). A whole-word term is the key `` iran `` with its spaces, a
wildcard term the key `` missil`` without the trailing one, a phrase `` ballistic missiles ``. So the
automaton, in C and in one pass, reports only whole-word (or word-prefix) occurrences, however many terms
there are; Python then sees only real hits. A hit's word number is the count of spaces before it.

Only topics that have a hit are evaluated, plus the few that can match with no hit at all (``NOT x``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from urllib.parse import urlsplit

import ahocorasick

from monitor.store.records import ArticleText
from monitor.watchlist.compiled import (
    AllOf,
    AnyOf,
    CompiledTopic,
    FieldHits,
    Fired,
    Leaf,
    NearNode,
    NotNode,
    Scan,
    Span,
    anchor,
    label,
    top_parts,
)
from monitor.watchlist.evidence import MAX_HITS_PER_TERM, Evidence, Hit, Match, TermEvidence, snippet
from monitor.watchlist.score import query_score, weighted_score
from monitor.watchlist.text import FoldedText
from monitor.watchlist.tree import And, Near, Node, Not, Or, Term


@dataclass(frozen=True)
class TopicSpec:
    """A topic ready to compile: its query with aliases expanded, its weighted terms, its minimum score."""

    name: str
    query: Node | None
    weights: tuple[tuple[str, Node, float], ...] = ()  # (entry as written, tree, weight)
    min_score: float | None = None


# --- The matcher ----------------------------------------------------------------------------------------


class Matcher:
    """Matches articles against every topic at once. Build once per watchlist; ``match`` is thread-safe."""

    def __init__(self, topics: Sequence[TopicSpec]) -> None:
        self._keys: dict[str, int] = {}
        self._automaton = ahocorasick.Automaton()
        self._topics = [self._compile_topic(spec) for spec in topics]
        if self._keys:
            self._automaton.make_automaton()
        self.fields = {"title", "body"} | {leaf.field for leaf in self._all_leaves() if leaf.field}
        # Each topic is tried only on articles that have a hit of its anchor: the smallest set of terms of
        # which one must be present for the topic to match (e.g. the shortest OR among the parts of an AND).
        self._by_pid: list[list[int]] = [[] for _ in range(len(self._keys))]
        for index, topic in enumerate(self._topics):
            needed = anchor(topic.tree) if topic.tree is not None and not topic.weights else None
            for pid in needed if needed is not None else topic.pids:
                self._by_pid[pid].append(index)
        empty = Scan({})
        self._always = [i for i, topic in enumerate(self._topics) if self._score(topic, empty) is not None]

    @property
    def term_count(self) -> int:
        """Distinct search keys over all topics."""
        return len(self._keys)

    def _all_leaves(self) -> Iterable[Leaf]:
        for topic in self._topics:
            roots = ([topic.tree] if topic.tree else []) + [node for _, node, _ in topic.weights]
            stack = list(roots)
            while stack:
                node = stack.pop()
                if isinstance(node, Leaf):
                    yield node
                elif isinstance(node, (AllOf, AnyOf)):
                    stack += node.children
                elif isinstance(node, NotNode):
                    stack.append(node.child)
                elif isinstance(node, NearNode):
                    stack += [node.left, node.right]

    def _compile_topic(self, spec: TopicSpec) -> CompiledTopic:
        pids: set[int] = set()
        tree = self._compile(spec.query, pids) if spec.query is not None else None
        weights = [(text, self._compile(node, pids), weight) for text, node, weight in spec.weights]
        return CompiledTopic(spec.name, tree, weights, spec.min_score, pids)

    def _compile(self, node: Node, pids: set[int]):
        if isinstance(node, Term):
            key = " " + " ".join(node.tokens) + ("" if node.prefix else " ")
            pid = self._keys.get(key)
            if pid is None:
                pid = self._keys[key] = len(self._keys)
                self._automaton.add_word(key, pid)
            pids.add(pid)
            return Leaf(pid, node, len(key))
        if isinstance(node, And):
            return AllOf(tuple(self._compile(c, pids) for c in node.children), node)
        if isinstance(node, Or):
            return AnyOf(tuple(self._compile(c, pids) for c in node.children), node)
        if isinstance(node, Not):
            return NotNode(self._compile(node.child, pids), node)
        if isinstance(node, Near):
            return NearNode(
                self._compile(node.left, pids),
                self._compile(node.right, pids),
                node.distance,
                node.ordered,
                node,
            )
        raise TypeError(f"cannot compile {node!r}: aliases must be resolved first")

    def scan(self, article: ArticleText) -> Scan:
        """Every hit of every term in the article's fields."""
        texts = {"title": article.title or "", "body": article.body or ""}
        if "url" in self.fields:
            texts["url"] = article.url or ""
        if "source" in self.fields:
            host = urlsplit(article.url).hostname or "" if article.url else ""
            texts["source"] = " | ".join((*article.sources, host))
        if "lang" in self.fields:
            texts["lang"] = article.language or ""
        fields: dict[str, FieldHits] = {}
        if not self._keys:
            return Scan(fields)
        iterate = self._automaton.iter
        for name, text in texts.items():
            if not text:
                continue
            folded = FoldedText(text)
            tokens = folded.tokens()
            pairs = list(iterate(" " + " ".join(tokens) + " "))  # the hits, collected in C
            if pairs:
                fields[name] = FieldHits(folded, tokens, pairs)
        return Scan(fields)

    def match(self, article: ArticleText, *, explain: bool = True) -> tuple[Match, ...]:
        """The topics ``article`` matches, in watchlist order, each with its evidence.

        Args:
            article: the texts to match.
            explain: build evidence (positions, snippet); without it evidence is empty, which is faster.
        """
        scan = self.scan(article)
        candidates = set(self._always)
        for field in scan.fields.values():
            candidates.update(chain.from_iterable(map(self._by_pid.__getitem__, field.hits)))
        matches = []
        topics, default = self._topics, scan.default
        for index in sorted(candidates):
            topic = topics[index]
            if topic.test is not None and not topic.test(scan, default):
                continue  # most candidates end here, so this test is done inline
            scored = self._score(topic, scan, tested=True)
            if scored is not None:
                if explain:
                    evidence = self._evidence(topic, scan, scored)
                else:
                    evidence = Evidence((), (), "", (), None, *scored[1:])
                matches.append(Match(topic.name, scored[0], evidence))
        return tuple(matches)

    def missing(self, article: ArticleText, name: str) -> tuple[str, ...]:
        """The parts of topic ``name``'s query that ``article`` does not satisfy, as query text."""
        topic = next((t for t in self._topics if t.name == name), None)
        if topic is None or topic.tree is None:
            return ()
        scan = self.scan(article)
        return tuple(label(part) for part in top_parts(topic.tree) if not part.holds(scan))

    def _score(
        self, topic: CompiledTopic, scan: Scan, *, tested: bool = False
    ) -> tuple[float, float, float, float | None] | None:
        """(score, prominence, strength, total weight) if the article matches the topic, else None
        (``tested``: the tree is known to hold). See ``monitor.watchlist.score``.

        ``min_score`` is compared with the total weight on a weighted topic (as its author wrote the
        weights) and with the score, 0 to 100, on a query topic.
        """
        if not tested and topic.test is not None and not topic.test(scan, scan.default):
            return None
        if topic.weights:
            fired = [(node, weight) for _, node, weight in topic.weights if node.holds(scan)]
            total = float(sum(weight for _, weight in fired))
            if topic.min_score is not None and total < topic.min_score:
                return None
            threshold = topic.min_score if topic.min_score is not None else 0.0
            return (*weighted_score(fired, scan, total, threshold, topic.most), total)
        score, prominence, strength = query_score(topic.scored_parts, scan)
        if topic.min_score is not None and score < topic.min_score:
            return None
        return score, prominence, strength, None

    def _evidence(
        self, topic: CompiledTopic, scan: Scan, scored: tuple[float, float, float, float | None]
    ) -> Evidence:
        clauses: list[str] = []
        fired: list[Fired] = []
        weight_of: dict[int, float] = {}
        if topic.tree is not None:
            tree = topic.tree
            alias = isinstance(tree, AnyOf) and tree.source.alias  # an alias is one clause, not its spellings
            parts = tree.children if isinstance(tree, (AllOf, AnyOf)) and not alias else (tree,)
            clauses += [label(part) for part in parts if part.holds(scan)]
            tree.collect(scan, fired)
        for text, node, weight in topic.weights:
            if node.holds(scan):
                clauses.append(f"{text} ({weight:+g})")
                if weight <= 0:
                    continue  # it counted against the match: named as a clause, never highlighted
                before = len(fired)
                node.collect(scan, fired)
                for leaf, _ in fired[before:]:
                    weight_of[id(leaf)] = weight
        # One entry per term: all its occurrences if any clause counts them all, else those that a NEAR kept.
        occurrences: dict[tuple[int, str | None], tuple[Leaf, set[Span] | None]] = {}
        for leaf, allowed in fired:
            if allowed is not None and not allowed:
                continue  # a term of a NEAR none of whose occurrences the NEAR kept
            key = (leaf.pid, leaf.field)
            known = occurrences.get(key)
            first_leaf, kept = known if known else (leaf, set())
            if allowed is None or kept is None:
                occurrences[key] = (first_leaf, None)
            else:
                occurrences[key] = (first_leaf, kept | set(allowed))
        terms: list[TermEvidence] = []
        spans_by_field: dict[str, list[tuple[int, int]]] = {}
        for leaf, shown in occurrences.values():
            spans = leaf.spans(scan) if shown is None else sorted(shown)
            hits = []
            for field_name, first, after in spans[:MAX_HITS_PER_TERM]:  # all are counted, these are shown
                field = scan.fields[field_name]
                start, _ = field.folded.word_span(first)
                _, end = field.folded.word_span(after - 1)  # whole words, also for a prefix
                hits.append(Hit(field_name, first, start, end, field.folded.original[start:end]))
                spans_by_field.setdefault(field_name, []).append((start, end))
            terms.append(TermEvidence(leaf.label, len(spans), tuple(hits), weight_of.get(id(leaf))))
        snippet_field = next(
            (name for name in ("body", "title", "source", "url", "lang") if name in spans_by_field), None
        )
        text = ""
        highlights: tuple[tuple[int, int], ...] = ()
        if snippet_field is not None:
            text, highlights = snippet(
                scan.fields[snippet_field].folded.original, spans_by_field[snippet_field]
            )
        return Evidence(tuple(clauses), tuple(terms), text, highlights, snippet_field, *scored[1:])
