"""The matcher against a brute-force oracle: random query trees, written out as an analyst would write them
(fewest parentheses the precedence allows, or every one), matched against random titles and bodies, and
compared with a plain evaluator over the words of each field; and the evidence of every match checked
against the text it quotes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.query import parse_query

# --- The oracle: its own tree, its own tokenizer, every pair of every NEAR ----------------------------


@dataclass(frozen=True)
class Word:  # a term: words, the last one a prefix when ``prefix``
    words: tuple[str, ...]
    prefix: bool = False
    field: str | None = None


@dataclass(frozen=True)
class All:
    children: tuple


@dataclass(frozen=True)
class Either:
    children: tuple


@dataclass(frozen=True)
class Neg:
    child: object


@dataclass(frozen=True)
class Prox:  # NEAR/ONEAR
    left: object
    right: object
    distance: int
    ordered: bool


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def spans(node, fields: dict[str, list[str]]) -> set[tuple[str, int, int]]:
    if isinstance(node, Word):
        found = set()
        for name in ("title", "body") if node.field is None else (node.field,):
            tokens = fields.get(name, [])
            k = len(node.words)
            for i in range(len(tokens) - k + 1):
                window = tokens[i : i + k]
                if window[:-1] != list(node.words[:-1]):
                    continue
                last = window[-1]
                if last == node.words[-1] or (node.prefix and last.startswith(node.words[-1])):
                    found.add((name, i, i + k))
        return found
    if isinstance(node, Either):
        return set().union(*(spans(child, fields) for child in node.children))
    assert isinstance(node, Prox)
    found = set()
    for left in spans(node.left, fields):
        for right in spans(node.right, fields):
            if left[0] != right[0]:
                continue
            after = right[1] >= left[2] and right[1] - left[2] <= node.distance
            before = left[1] >= right[2] and left[1] - right[2] <= node.distance
            if after or (before and not node.ordered):
                found.add((left[0], min(left[1], right[1]), max(left[2], right[2])))
    return found


def holds(node, fields: dict[str, list[str]]) -> bool:
    if isinstance(node, All):
        return all(holds(child, fields) for child in node.children)
    if isinstance(node, Either):
        return any(holds(child, fields) for child in node.children)
    if isinstance(node, Neg):
        return not holds(node.child, fields)
    return bool(spans(node, fields))


# --- Writing a tree as query text -----------------------------------------------------------------------

LEVEL = {Either: 1, All: 2, Prox: 3, Neg: 4, Word: 5}  # binds tighter the higher


def written(node, full: bool) -> str:
    def wrap(child, minimum: int) -> str:
        text = written(child, full)
        if isinstance(child, Word):
            return text
        return f"({text})" if full or LEVEL[type(child)] < minimum else text

    if isinstance(node, Word):
        text = " ".join(node.words) + ("*" if node.prefix else "")
        text = f"\x01{text}\x02" if len(node.words) > 1 else text  # quotes, chosen by the caller
        return f"{node.field}:{text}" if node.field else text
    if isinstance(node, Either):
        return " OR ".join(wrap(child, 2) for child in node.children)
    if isinstance(node, All):
        return " AND ".join(wrap(child, 3) for child in node.children)
    if isinstance(node, Neg):
        return "NOT " + wrap(node.child, 4)
    operator = f"{'ONEAR' if node.ordered else 'NEAR'}/{node.distance}"
    # NEAR chains are read from the left: a right operand that is a NEAR needs its parentheses.
    right = written(node.right, full)
    if not isinstance(node.right, Word):
        right = f"({right})" if full or LEVEL[type(node.right)] <= LEVEL[Prox] else right
    return f"{wrap(node.left, 3)} {operator} {right}"


# --- Strategies -----------------------------------------------------------------------------------------

VOCABULARY = ["iran", "russia", "drone", "drones", "shahed", "136", "missile", "missiles", "deal", "s"]
PREFIXES = ["dro", "mis", "ira", "sh", "de"]

terms = st.one_of(
    st.builds(lambda w: Word((w,)), st.sampled_from(VOCABULARY)),
    st.builds(lambda w: Word((w,), True), st.sampled_from(PREFIXES)),
    st.builds(
        lambda ws, p: Word(tuple(ws), p and len(ws[-1]) >= 2),
        st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=3),
        st.booleans(),
    ),
    st.builds(
        lambda w, f: Word((w,), False, f), st.sampled_from(VOCABULARY), st.sampled_from(["title", "body"])
    ),
)


def near_operands(inner):
    return st.one_of(
        terms,
        st.builds(lambda cs: Either(tuple(cs)), st.lists(terms, min_size=2, max_size=3)),
        st.builds(Prox, inner, terms, st.integers(0, 4), st.booleans()),
    )


nears = st.recursive(
    terms,
    lambda inner: st.builds(
        Prox, near_operands(inner), near_operands(inner), st.integers(0, 4), st.booleans()
    ),
    max_leaves=4,
)

queries = st.recursive(
    st.one_of(terms, nears),
    lambda inner: st.one_of(
        st.builds(lambda cs: All(tuple(cs)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda cs: Either(tuple(cs)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(Neg, inner),
    ),
    max_leaves=8,
)

SEPARATORS = [" ", " ", " ", ", ", ". ", "-", " (", ") ", "'", " — ", "\n"]
texts = st.lists(
    st.tuples(
        st.sampled_from(VOCABULARY + ["the", "said", "dromedary", "shahid"]), st.sampled_from(SEPARATORS)
    ),
    max_size=14,
).map(lambda parts: "".join((w.upper() if i % 5 == 0 else w) + s for i, (w, s) in enumerate(parts)))


# As queries reach us: typed, or pasted from a word processor or a web page (no-break and wide spaces,
# typographic quotes).
SPACES = [" ", " ", "\u00a0", "\t", "\n", "\u2003", "\u202f", "\u3000"]
QUOTES = [('"', '"'), ('"', '"'), ("\u201c", "\u201d"), ("\u201e", "\u201c")]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, st.booleans(), st.sampled_from(SPACES), st.sampled_from(QUOTES), texts, texts)
def test_matches_agree_with_a_brute_force_evaluator(tree, full, space, quotes, title, body):
    opening, closing = quotes
    query = written(tree, full).replace(" ", space).replace("\x01", opening).replace("\x02", closing)
    matcher = Matcher([TopicSpec("t", parse_query(query))])
    found = matcher.match(ArticleText(title=title, body=body))
    expected = holds(tree, {"title": words_of(title), "body": words_of(body)})
    assert bool(found) == expected, (query, title, body)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, texts, texts)
def test_evidence_quotes_real_occurrences_and_counts_no_more_than_there_are(tree, title, body):
    matcher = Matcher(
        [TopicSpec("t", parse_query(written(tree, False).replace("\x01", '"').replace("\x02", '"')))]
    )
    fields = {"title": words_of(title), "body": words_of(body)}
    texts_by_field = {"title": title, "body": body}
    for match in matcher.match(ArticleText(title=title, body=body)):
        evidence = match.evidence
        for term in evidence.terms:
            parsed = parse_query(term.term)
            occurrences = spans(Word(parsed.tokens, parsed.prefix, parsed.field), fields)
            assert 1 <= term.count <= len(occurrences), term
            for hit in term.hits:
                assert texts_by_field[hit.field][hit.start : hit.end] == hit.text
                assert (hit.field, hit.word, hit.word + len(parsed.tokens)) in occurrences, (term, hit)
        for start, end in evidence.highlights:
            assert words_of(evidence.snippet[start:end]), evidence
        if evidence.snippet_field:
            assert evidence.snippet.strip("…") in texts_by_field[evidence.snippet_field].replace("\n", " ")
