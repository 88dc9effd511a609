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
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter

from monitor.runtime.scripts import SPACELESS_RANGES, folded_variants

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 1.0
BODY_WEIGHT = 1.0
ENTITY_BOOST = 2.0
LEAD_WORDS = 80
BODY_WORDS = 600
PROFILE_TERMS = 100
"""A story's profile keeps its strongest terms only: enough to compare, small to store."""
MAX_TERM_LENGTH = 60


@dataclass(frozen=True)
class Scoring:
    """How an article's terms are weighed, and how time between it and a story counts.

    One value for the stage and for ``monitor explain`` (and ``bench/story_eval.py``, which measures
    ``BASELINE_SCORING`` beside it). See ``SCORING`` for why the weights are what they are.
    """

    title_weight: float = TITLE_WEIGHT
    lead_weight: float = LEAD_WEIGHT
    body_weight: float = BODY_WEIGHT
    """Words past the lead. A write-up of a later event of a kind recalls the earlier one there (a team's
    second DUI arrest names the player arrested before); its headline and lead name its own people."""
    entity_boost: float = ENTITY_BOOST
    place_boost: float = ENTITY_BOOST
    """Names right after "in", "at", "near"...: a town or a country is shared by every event there."""
    number_weight: float = 0.0
    """Numbers (a magnitude, a death toll, an age, a year) as terms; 0 leaves them out."""
    grace_hours: float | None = None
    """Time between an article and a story's members that costs nothing; None: time is not a factor."""
    half_life_hours: float = 72.0
    """Beyond the grace, the score halves every ``half_life_hours``."""
    core_terms: int | None = None
    """The article's strongest terms that are looked for among the story's strongest (twice as many);
    None: no such check (see ``story_score``)."""
    core_shared: int = 2
    """How many of them the story must have for the full score; fewer scale it down in proportion."""


BASELINE_SCORING = Scoring()
"""The scoring before event precision was measured: kept so the evaluation can show what changed."""

SCORING = Scoring(
    title_weight=2.0,
    body_weight=0.5,
    number_weight=2.0,
    place_boost=1.0,
    grace_hours=24.0,
    core_terms=10,
    core_shared=3,
)
"""The stage's scoring, chosen on the tuning half of ECB+ (``bench/story_eval.py``), where every topic holds
two different events of one kind. What tells them apart is who, how many and which, and where it is said:
people and organisations count twice, numbers (not years) twice; places (names after "in", "at"...) once,
headlines included, since a town is shared by every event there; the headline twice and the lead once,
the rest of the body half, since that is where a write-up recalls earlier events of its kind (a second DUI
arrest at one team names the first player arrested, an offer by one club the other club's). Tuning half,
eight arrival orders, best threshold of each: B-cubed F1 0.877 at 0.20 against 0.861 at 0.20 with the whole
body counted once and the headline three times (0.858 at 0.16, the default then). Tried and dropped there:
names x3 (0.870), names and numbers x4, the title x5, IDF squared (0.86-0.87), a share of the score for
agreement on names, and checking a story's first article as well (both lost recall). Time cannot be
measured on ECB+ (it has no dates): write-ups of one event come within a day or two of each other, or of
the latest member of a developing story, so beyond a day the score halves every three days."""

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_TOKEN = re.compile(r"[^\W\d_][\w'’-]*|\d[\d,.]*\d|\d", re.UNICODE)
"""A word, or a number ("6.1", "2,000", "1989")."""
_YEAR = re.compile(r"(19|20)\d\d")
PLACE_PREPOSITIONS = frozenset({"in", "at", "near", "from", "outside", "across", "throughout"})
"""A capitalised name right after these is most likely a place."""
_LONGEST_PLACE_WORD = max(map(len, PLACE_PREPOSITIONS | {"the"}))
_SENTENCE_END = re.compile(r"[.!?:;\"“”'‘’()\[\]]\s*$")

# A word list reads best as text.
STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are around as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having he
her here hers herself him himself his how i if in into is it its itself just last like made make many may me
might more most much must my myself new news no nor not now of off on once one only or other our ours
ourselves out over own per said same say says she should since so some still such than that the their theirs
them themselves then there these they this those though through thus to too two under until up upon us very
was we week were what when where which while who whom why will with within without would year years yet you
your yours yourself told according another monday tuesday wednesday thursday friday saturday sunday today
yesterday january february march april june july august september october november december mr mrs ms
""".split()
)  # noqa: SIM905


@dataclass(frozen=True)
class StoryVector:
    """An L2-normalised term vector; terms sorted for a stable order."""

    terms: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, float]:
        return dict(self.terms)


_PERSIAN_PLURALS = ("\u0647\u0627\u06cc\u06cc", "\u0647\u0627\u06cc", "\u0647\u0627")
"""ها, های, هایی: the plural suffix, written after a zero-width non-joiner (موشک‌های, two tokens here) or joined
(موشکهای): either way the stem is the term, and the suffix alone is not one."""
_ARABIC_LETTER = re.compile("[\u0620-\u064a\u066e-\u06d3]")


_CYRILLIC = re.compile("[\u0430-\u044f]")
_RUSSIAN_ENDINGS = tuple(
    sorted(
        "ами ями ого его ому ему ыми ими ых их ой ей ом ем ам ям ах ях ую юю ая яя ое ее ые ие ый ий ов ев а я о е у ю ы и ь й".split(),
        key=len,
        reverse=True,
    )
)


def _russian_stem(word: str) -> str:
    """A Russian word without its case ending (Ирана, Иране, Ираном: иран), the stem kept at 4 letters."""
    for ending in _RUSSIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


@functools.lru_cache(maxsize=65536)  # a language has far fewer words than an article stream has tokens
def _fold(word: str) -> str:
    word = unicodedata.normalize("NFKC", word).casefold().replace("’", "'")
    if not word.isascii():
        word = folded_variants(word)  # as the wire level and the watchlist fold them
        if _ARABIC_LETTER.match(word):
            for suffix in _PERSIAN_PLURALS:
                if word.endswith(suffix):
                    stem = word[: -len(suffix)]
                    word = stem if len(stem) >= 3 or not stem else word
                    break
        elif _CYRILLIC.match(word):
            word = _russian_stem(word)
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
    return tuple(key for _, key in keyed_paragraphs(body) if key is not None)


def keyed_paragraphs(text: str | None) -> Iterator[tuple[str, int | None]]:
    """Each non-blank line of a text with its ``paragraph_keys`` key (None for lines under
    ``BOILERPLATE_MIN_WORDS`` words, which are not counted)."""
    return iter(_keyed_paragraphs(text or ""))


@functools.lru_cache(maxsize=16)
def _keyed_paragraphs(text: str) -> tuple[tuple[str, int | None], ...]:
    # Placing one article asks for its keys three times (the wire text, the story vector, the learnt
    # boilerplate left out of its terms); a string's hash is kept on it, so finding it here costs nothing.
    keyed = []
    for line in text.split("\n"):
        words = line.casefold().split()
        if not words:
            continue
        key = None
        if len(words) >= BOILERPLATE_MIN_WORDS:
            digest = hashlib.blake2b(" ".join(words).encode("utf-8", "surrogatepass"), digest_size=8).digest()
            key = int.from_bytes(digest, "little", signed=True)
        keyed.append((line, key))
    return tuple(keyed)


def term_counts(
    title: str | None,
    body: str | None,
    *,
    boilerplate: frozenset[int] = frozenset(),
    scoring: Scoring | None = None,
) -> dict[str, float]:
    """Weighted term frequencies of an article: title, lead and the rest of the body, names and numbers boosted.

    Paragraphs whose key is in ``boilerplate`` are left out.
    """
    scoring = scoring or SCORING
    # Weights are fractional (lead, boosts): a float tally, where Counter is typed for whole counts.
    counts: defaultdict[str, float] = defaultdict(float)
    numbers = bool(scoring.number_weight)
    tokens = _TOKEN if numbers else _WORD
    body = body or ""
    if boilerplate:
        body = "\n".join(p for p, key in keyed_paragraphs(body) if key not in boilerplate)
    places: set[str] = set()
    after_place_word = False  # the previous word was "in", "at"... or part of a name that followed one
    # The loop runs once for each of an article's hundreds of words: what it reads is taken out of it.
    lead_weight, body_weight = scoring.lead_weight, scoring.body_weight
    number_weight, place_boost, entity_boost = (
        scoring.number_weight,
        scoring.place_boost,
        scoring.entity_boost,
    )
    n = 0  # words so far: a Han or kana bigram counts as one
    for match in tokens.finditer(body, 0, 20_000):
        if n >= BODY_WORDS:
            break
        word = match.group(0)
        if not word.isascii() and _SPACELESS_RUN.search(word):
            after_place_word = False
            for piece in _spaceless_terms(word, numbers):
                weight = lead_weight if n < LEAD_WORDS else body_weight
                n += 1
                counts[piece] += weight * number_weight if piece[0].isdigit() else weight
            continue
        weight = lead_weight if n < LEAD_WORDS else body_weight
        n += 1
        entity = word[0].isupper() and _is_entity(body, match)
        place = entity and after_place_word
        if place:
            after_place_word = True
        elif len(word) <= _LONGEST_PLACE_WORD:
            folded = word.casefold()
            # "in the Harlow Valley": the article between a preposition and a name keeps the name a place.
            after_place_word = folded in PLACE_PREPOSITIONS or (after_place_word and folded == "the")
        else:
            after_place_word = False
        term = _term(word, numbers)
        if not term:
            continue
        if term[0].isdigit():
            counts[term] += weight * number_weight
        elif place:
            counts[term] += weight * place_boost
            places.add(term)
        else:
            counts[term] += weight * entity_boost if entity else weight
    for match in list(tokens.finditer(title or ""))[:60]:
        word = match.group(0)
        if not word.isascii() and _SPACELESS_RUN.search(word):
            for piece in _spaceless_terms(word, numbers):
                counts[piece] += scoring.title_weight * (scoring.number_weight if piece[0].isdigit() else 1.0)
            continue
        term = _term(word, numbers)
        if not term:
            continue
        if term[0].isdigit():
            counts[term] += scoring.title_weight * scoring.number_weight
        elif term in places and scoring.place_boost < scoring.entity_boost:
            # A headline names the town of any event there ("Millbrook breaks snowfall record"): it counts
            # as a place, not as a headline word.
            counts[term] += scoring.place_boost
        else:
            counts[term] += scoring.title_weight
    return dict(counts)


def _term(word: str, numbers: bool) -> str | None:
    """The term a token counts as, if any: a folded word, or a number when ``numbers`` count.

    Cached for words of ordinary length: an article's few hundred words are mostly the language's common
    ones, and folding each (normalising, the plural, the stop-word check) was a third of what counting an
    article's terms cost. A hostile page's tokens can be thousands of characters long: those are folded
    each time, so that the cache stays a few megabytes whatever the daemon reads for months.
    """
    return _folded_term(word, numbers) if len(word) <= _CACHED_WORD_LENGTH else _term_of(word, numbers)


_CACHED_WORD_LENGTH = 40


def _term_of(word: str, numbers: bool) -> str | None:
    if word[0].isdigit():
        number = word.replace(",", "").rstrip(".")
        if not number.isascii():
            number = folded_variants(number)  # ۳۶۰ and 360 are one number
        # Years are left out: within a window of days every event's articles name the same ones.
        if not numbers or len(number) < 2 or _YEAR.fullmatch(number):
            return None
        return number
    term = _fold(word)
    return term if len(term) >= 3 and term not in STOPWORDS else None


_folded_term = functools.lru_cache(maxsize=1 << 16)(_term_of)

_SPACELESS_RUN = re.compile(f"[{SPACELESS_RANGES}]+")
_HIRAGANA = re.compile("[\u3041-\u309f]+")


def _spaceless_terms(word: str, numbers: bool) -> list[str]:
    """The terms of a token holding Chinese or Japanese, which put no spaces between words, so that a token
    runs to the next punctuation and may be a whole clause (伊朗已从里海港口向俄罗斯运送导弹): each pair of
    adjacent Han characters and kana is a term (伊朗, 朗已, 已从...), as search engines index these scripts,
    and two write-ups share the names and words they share (伊朗, 俄罗, 罗斯, 导弹). Pairs of hiragana alone
    are grammar (した, ている), not words, and are left out; the Latin letters and digits between runs
    (Shahed, 360) are terms as elsewhere."""
    terms = []
    position = 0
    for run in _SPACELESS_RUN.finditer(word):
        terms.extend(_rest_terms(word[position : run.start()], numbers))
        chars = run.group()
        pairs = [chars[i : i + 2] for i in range(len(chars) - 1)] or [chars]
        terms.extend(pair for pair in pairs if len(pair) == 2 and not _HIRAGANA.fullmatch(pair))
        position = run.end()
    terms.extend(_rest_terms(word[position:], numbers))
    return terms


def _rest_terms(text: str, numbers: bool) -> list[str]:
    pattern = _TOKEN if numbers else _WORD
    return [term for match in pattern.finditer(text) if (term := _term(match.group(0), numbers))]


def _is_entity(text: str, match: re.Match[str]) -> bool:
    """A capitalised word (the caller checks its first letter) that does not start a sentence: most likely
    a name."""
    before = text[max(0, match.start() - 3) : match.start()]
    return bool(before.strip()) and not _SENTENCE_END.search(before) and "\n" not in before


def idf(documents: int, total: int) -> float:
    """Smoothed inverse document frequency (as scikit-learn's ``smooth_idf``)."""
    return math.log((1 + total) / (1 + documents)) + 1.0


def vectorize(counts: Mapping[str, float], idfs: Mapping[str, float], default_idf: float) -> StoryVector:
    """Sublinear TF times IDF, L2-normalised. Terms missing from ``idfs`` get ``default_idf`` (unseen: rare)."""
    weights = {
        term: (1.0 + math.log(tf)) * idfs.get(term, default_idf) for term, tf in counts.items() if tf >= 1
    }
    weights.update({term: tf * idfs.get(term, default_idf) for term, tf in counts.items() if tf < 1})
    return _normalised(weights)


def article_vector(
    counts: Mapping[str, float], frequencies: Mapping[str, int], total: int, scoring: Scoring
) -> StoryVector:
    """An article's vector from its term counts and the store's document frequencies (``total`` counted)."""
    return vectorize(counts, {term: idf(n, total) for term, n in frequencies.items()}, idf(0, total))


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
    """The ``n`` strongest terms of a vector, strongest first (equal weights in term order)."""
    # Two sorts in C rather than one with a Python key: by term, then stably by weight. A vector's terms
    # come in term order already, which the first sort only checks.
    by_weight = sorted(sorted(vector.items()), key=itemgetter(1), reverse=True)
    return tuple(t for t, _ in by_weight[:n])


KEY_TIME_SLACK = 86_400
"""Seconds a story's key times may lag its latest member. Keys are moved forward only when a member's time
enters a later day than the story's latest one, so a running story (a member every few minutes, its reprints
over hours) rewrites its hundred key rows once a day, not at every member: each move rewrites a row on a
page of its own, twice (the key and the story index), and moves were a sixth of what placing a reprint cost.
Lookups read keys this much further back and leave out the stories that ended before the window
(``monitor.store.stories.story_candidates``), so the lag costs a few more rows read, never a story; only where
a term is read no further than its latest rows (``ROWS_PER_TERM``) can a lagging story fall behind others
on that term, and it is found by the rarer terms it shares."""


def keys_fall_behind(at: datetime, latest_before: datetime | None) -> bool:
    """Whether a member at ``at`` must move its story's key times forward (see ``KEY_TIME_SLACK``).

    Keys always carry at least the start of the day (UTC) of the story's latest member: they are written with
    the member's time, and moved whenever a member starts a later day than the story's latest one.
    """
    if latest_before is None:
        return True
    return int(at.timestamp()) // KEY_TIME_SLACK > int(latest_before.timestamp()) // KEY_TIME_SLACK


def shared_terms(a: Mapping[str, float], b: Mapping[str, float], n: int = 8) -> tuple[str, ...]:
    """The terms that contribute most to the similarity of two vectors (for ``monitor explain``)."""
    return tuple(term for term, _ in contributions(a, b, n))


def time_gap(published: datetime | None, first: datetime, last: datetime) -> timedelta | None:
    """How far an article's publication lies outside a story's span of members; None when it is unknown."""
    if published is None:
        return None
    if published < first:
        return first - published
    return max(published - last, timedelta(0))


def time_factor(gap: timedelta | None, scoring: Scoring) -> float:
    """1 within the grace (or when the gap is unknown, or time is not a factor), then halving."""
    if gap is None or scoring.grace_hours is None:
        return 1.0
    beyond = gap.total_seconds() / 3600 - scoring.grace_hours
    return 1.0 if beyond <= 0 else 0.5 ** (beyond / scoring.half_life_hours)


@dataclass(frozen=True)
class StoryScore:
    """The score that places an article in a story, and its parts."""

    score: float
    similarity: float
    """Cosine of the article's vector and the story's profile."""
    time_factor: float
    core_factor: float = 1.0


def story_score(
    vector: Mapping[str, float],
    profile: Mapping[str, float],
    *,
    gap: timedelta | None,
    scoring: Scoring,
    core: tuple[str, ...] | None = None,
    counted: int | None = None,
    floor: float = 0.0,
) -> StoryScore:
    """The one score of an article against a story's profile: the stage decides on it, explain prints it.

    The cosine (names and numbers already weigh more in the vectors), times the time factor, times the core
    factor: the share of ``scoring.core_shared`` of the article's strongest terms (``core``) found among the
    story's strongest. Two write-ups of one event lead with the same few names; two events of one kind
    share many middling words (quake, magnitude, rescue) and a cosine adds those up.

    The core factor needs an IDF worth the name: with ``counted`` (the articles in the term counts) under
    ``CORE_TRUST_ARTICLES`` it is eased towards 1 in proportion. On a new store of a few articles, an event's
    own words are in most of them, so their IDF is low and the "strongest" terms are arbitrary ties.

    Below ``floor`` (the threshold) the core factor is not worked out: it can only lower the score, and
    most candidates of an article are far below.
    """
    similarity = cosine(vector, profile)
    factor = time_factor(gap, scoring)
    core_factor = 1.0
    if scoring.core_terms and similarity * factor >= floor:
        core = core if core is not None else core_terms(vector, scoring)
        # The weight of the profile's (2 x core_terms)-th strongest term: sorting bare floats runs in C.
        weights = sorted(profile.values(), reverse=True)
        cutoff = weights[min(len(weights), 2 * scoring.core_terms) - 1] if weights else math.inf
        core_factor = min(1.0, sum(profile.get(term, -1.0) >= cutoff for term in core) / scoring.core_shared)
        trust = 1.0 if counted is None else min(1.0, counted / CORE_TRUST_ARTICLES)
        core_factor = 1.0 - trust * (1.0 - core_factor)
    return StoryScore(similarity * factor * core_factor, similarity, factor, core_factor)


CORE_TRUST_ARTICLES = 500
"""Articles in the term counts from which the core factor counts fully (see ``story_score``)."""


def core_terms(vector: Mapping[str, float], scoring: Scoring) -> tuple[str, ...]:
    """An article's strongest terms, for the core factor of ``story_score``."""
    return key_terms(vector, scoring.core_terms) if scoring.core_terms else ()


def contributions(
    a: Mapping[str, float], b: Mapping[str, float], n: int = 8
) -> tuple[tuple[str, float], ...]:
    """The shared terms that contribute most to the cosine of two vectors, with their parts of it."""
    common = sorted(((a[t] * b[t], t) for t in a.keys() & b.keys()), reverse=True)
    return tuple((t, part) for part, t in common[:n])


def evidence(
    vector: Mapping[str, float], profile: Mapping[str, float], result: StoryScore, gap: timedelta | None
) -> dict:
    """What made a story score, to be kept with it: its parts and the shared terms that weighed most."""
    return {
        "score": round(result.score, 4),
        "similarity": round(result.similarity, 4),
        "time_factor": round(result.time_factor, 4),
        "core_factor": round(result.core_factor, 4),
        "hours_apart": None if gap is None else round(gap.total_seconds() / 3600, 1),
        "terms": [[term, round(part, 4)] for term, part in contributions(vector, profile)],
    }
