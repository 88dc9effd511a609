"""Story level: same event, different words. Term vectors of title and lead (TF-IDF, named entities
weighted up), their cosine similarity, and the running profile of a story. Pure.

Why these features: two outlets writing up one event name the same people, places and organisations in
their headline and first paragraph, and choose the same few content words (missile, deny, sanctions);
the rest of their bodies differ in background and quotes. So the title counts most, the lead next, and
the body's remainder a little, and capitalised names mid-sentence count double.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 1.0
BODY_WEIGHT = 1.0
ENTITY_BOOST = 2.0
LEAD_WORDS = 80
BODY_WORDS = 600
PROFILE_TERMS = 100
"""A story's profile keeps its strongest terms only: enough to compare, small to store."""
MAX_TERM_LENGTH = 60

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?:;\"“”'‘’()\[\]]\s*$")

# A word list reads best as text.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are around as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having he
her here hers herself him himself his how i if in into is it its itself just last like made make many may me
might more most much must my myself new news no nor not now of off on once one only or other our ours
ourselves out over own per said same say says she should since so some still such than that the their theirs
them themselves then there these they this those though through thus to too two under until up upon us very
was we week were what when where which while who whom why will with within without would year years yet you
your yours yourself told according another monday tuesday wednesday thursday friday saturday sunday today
yesterday january february march april june july august september october november december mr mrs ms
""".split())  # noqa: SIM905


@dataclass(frozen=True)
class StoryVector:
    """An L2-normalised term vector; terms sorted for a stable order."""

    terms: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, float]:
        return dict(self.terms)


@functools.lru_cache(maxsize=65536)  # a language has far fewer words than an article stream has tokens
def _fold(word: str) -> str:
    word = unicodedata.normalize("NFKC", word).casefold().replace("’", "'")
    word = word.removesuffix("'s")
    # Light plural folding: "missiles" and "missile" are one term; "ss" and short words are left alone.
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word[:MAX_TERM_LENGTH]


BOILERPLATE_MIN_WORDS = 6
"""Shorter paragraphs ("Advertisement", "Read more") are too common to say anything; they are not tracked."""


def paragraph_keys(body: str | None) -> tuple[int, ...]:
    """A signed 64-bit key per paragraph of at least ``BOILERPLATE_MIN_WORDS`` words, case and spacing folded.

    Outlet boilerplate that extraction missed (a newsletter plug, a subscription footer) recurs word for
    word under unrelated articles; counting paragraphs across wire clusters finds it (``paragraph_counts``).
    """
    keys = []
    for paragraph in (body or "").split("\n"):
        folded = " ".join(paragraph.casefold().split())
        if len(folded.split()) >= BOILERPLATE_MIN_WORDS:
            digest = hashlib.blake2b(folded.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            keys.append(int.from_bytes(digest, "little", signed=True))
    return tuple(keys)


def term_counts(title: str | None, body: str | None, *, boilerplate: frozenset[int] = frozenset()) -> dict[str, float]:
    """Weighted term frequencies of an article: title, lead and the rest of the body, entities boosted.

    Paragraphs whose key is in ``boilerplate`` are left out.
    """
    counts: Counter[str] = Counter()
    _add(counts, title or "", TITLE_WEIGHT, limit=60)
    body = body or ""
    if boilerplate:
        body = "\n".join(p for p, key in _keyed_paragraphs(body) if key not in boilerplate)
    matches = list(_WORD.finditer(body[:20_000]))
    lead, rest = matches[:LEAD_WORDS], matches[LEAD_WORDS:BODY_WORDS]
    for group, weight in ((lead, LEAD_WEIGHT), (rest, BODY_WEIGHT)):
        for match in group:
            term = _fold(match.group(0))
            if len(term) < 3 or term in STOPWORDS:
                continue
            boost = ENTITY_BOOST if _is_entity(body, match) else 1.0
            counts[term] += weight * boost
    return dict(counts)


def _keyed_paragraphs(body: str):
    for paragraph in body.split("\n"):
        keys = paragraph_keys(paragraph)
        yield paragraph, keys[0] if keys else None


def _add(counts: Counter[str], text: str, weight: float, *, limit: int) -> None:
    for match in list(_WORD.finditer(text))[:limit]:
        term = _fold(match.group(0))
        if len(term) >= 3 and term not in STOPWORDS:
            counts[term] += weight


def _is_entity(text: str, match: re.Match[str]) -> bool:
    """A capitalised word that does not start a sentence: most likely a name."""
    word = match.group(0)
    if not word[0].isupper():
        return False
    before = text[max(0, match.start() - 3):match.start()]
    return bool(before.strip()) and not _SENTENCE_END.search(before) and "\n" not in before


def idf(documents: int, total: int) -> float:
    """Smoothed inverse document frequency (as scikit-learn's ``smooth_idf``)."""
    return math.log((1 + total) / (1 + documents)) + 1.0


def vectorize(counts: Mapping[str, float], idfs: Mapping[str, float], default_idf: float) -> StoryVector:
    """Sublinear TF times IDF, L2-normalised. Terms missing from ``idfs`` get ``default_idf`` (unseen: rare)."""
    weights = {term: (1.0 + math.log(tf)) * idfs.get(term, default_idf) for term, tf in counts.items() if tf >= 1}
    weights.update({term: tf * idfs.get(term, default_idf) for term, tf in counts.items() if tf < 1})
    return _normalised(weights)


def _normalised(weights: Mapping[str, float]) -> StoryVector:
    norm = math.sqrt(sum(w * w for w in weights.values()))
    if norm == 0:
        return StoryVector(())
    return StoryVector(tuple(sorted((t, w / norm) for t, w in weights.items())))


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine similarity of two normalised sparse vectors.

    Only shared terms count, and the set intersection finds them in C: an article is compared with up to a
    hundred story profiles of a hundred terms each, which share a few dozen. ``fsum`` makes the result
    independent of the (hash-seeded) order of the set.
    """
    return math.fsum(a[t] * b[t] for t in a.keys() & b.keys())


def merge_profile(profile: Mapping[str, float], size: int, vector: StoryVector) -> StoryVector:
    """A story's profile after one more member: the normalised mean of its members' vectors, strongest
    ``PROFILE_TERMS`` terms kept."""
    summed = {t: w * size for t, w in profile.items()}
    for term, weight in vector.terms:
        summed[term] = summed.get(term, 0.0) + weight
    strongest = sorted(summed.items(), key=lambda item: -item[1])[:PROFILE_TERMS]
    return _normalised(dict(strongest))


QUERY_TERMS = 100
"""An article looks for stories by its strongest terms; a story is indexed under every term of its profile
(``story_keys``). Write-ups of one event often share mid-weight terms rather than their strongest ones (a
big story's own words are common in the window, so their IDF is low): on the evaluation set, 12 or 40 query
terms lost 30 to 60% of the story pairs, 100 lose none."""


def key_terms(vector: Mapping[str, float], n: int = QUERY_TERMS) -> tuple[str, ...]:
    """The ``n`` strongest terms of a vector, strongest first."""
    return tuple(t for t, _ in sorted(vector.items(), key=lambda item: (-item[1], item[0]))[:n])


def shared_terms(a: Mapping[str, float], b: Mapping[str, float], n: int = 8) -> tuple[str, ...]:
    """The terms that contribute most to the similarity of two vectors (for ``monitor explain``)."""
    common = sorted(((a[t] * b[t], t) for t in a.keys() & b.keys()), reverse=True)
    return tuple(t for _, t in common[:n])
