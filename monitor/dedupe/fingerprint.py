"""Wire-copy fingerprints: normalized word shingles, their MinHash, LSH band keys, and the exact similarity
that confirms a candidate.

Pure functions, no database. The band keys are what ``store/clusters.py`` keeps in the ``lsh_bands`` table,
so every instance finds the same candidates; the constants below are therefore part of the stored format:
changing any of them means re-fingerprinting what is stored.

What is signed and compared is a body without its outlet boilerplate (``WireText``, ``confirm``): furniture
by pattern and the paragraphs the store has learnt (``monitor.dedupe.boilerplate``). A text is signed with
what was learnt when it came in; the confirmation always uses what is learnt now.
"""

from __future__ import annotations

import functools
import itertools
import re
import string
import unicodedata
import zlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.dedupe.boilerplate import is_furniture
from monitor.runtime.scripts import SPACELESS, SPACELESS_RANGES, VARIANT_CHARS, fold_variant

SHINGLE_WORDS = 5
"""Words per shingle: long enough that unrelated texts share almost none, short enough that one reworded
sentence spoils only the shingles that overlap it."""
NUM_PERM = 126
BANDS, ROWS = 42, 3
"""42 bands of 3 rows: a pair with Jaccard similarity s becomes a candidate with probability
1 - (1 - s^3)^42, which is 0.98 at s = 0.45 and 0.84 at s = 0.35 (a trimmed reprint with outlet boilerplate),
but 4e-5 at s = 0.01 (unrelated articles), so a lookup among 100,000 stored articles yields a handful of
false candidates, which the exact comparison then drops."""
SEED = 1
"""The permutations are datasketch's "affine64" scheme (64-bit affine maps after a mixing finalizer) drawn
from this seed: see ``minhash``."""
MIN_SHINGLES = 20
"""Below about 25 words a text is a teaser or a failure notice, not an article: no near-duplicate level."""
MAX_WORDS = 20_000
"""Longer bodies are cut here: a hostile page must not make fingerprinting unbounded."""

# Typographic variants that outlets change when they reprint are folded; punctuation separates words, except
# apostrophes, which are dropped ("don't" and "don’t" are both "dont"). Two substitutions of one constant
# each, not str.translate: translate looks every character up in a dict, and took three times as long on
# news text (0.5 ms an article, most of what finding its words cost).
_SEPARATORS = re.compile(
    "[" + re.escape(string.punctuation.replace("'", "") + "“”«»„‟–—‒―…•·¡¿、。，：；！？（）") + "]"
)
_DROPPED = re.compile("['’‘\u00ad\u200b]")
# Chinese and Japanese put no spaces between words: each Han character and kana is a word of its own, so that a
# shingle is five characters and an edited phrase spoils a few shingles, not a whole clause. Found in one pass
# with the letters outlets write either way (``VARIANT_CHARS``) and the zero-width joiners inside Persian
# words (موشک‌ها, موشکها: extraction may drop them, a feed's own text keeps them): all are rare in most news, and
# a pass over every text costs what it scans.
_RARE = re.compile(f"[{VARIANT_CHARS}\u200c\u200d{SPACELESS_RANGES}]")


def _rare(match: re.Match[str]) -> str:
    char = match.group()
    return f" {char} " if SPACELESS.match(char) else fold_variant(char)


def _folded(text: str) -> str:
    text = _DROPPED.sub("", unicodedata.normalize("NFKC", text or "").casefold())
    return _SEPARATORS.sub(" ", _RARE.sub(_rare, text))


# Odd 64-bit multipliers (from the golden ratio and splitmix64) that combine word hashes into shingle hashes.
_SHINGLE_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93, 0xCA5A826395121157],
    dtype=np.uint64,
)[:SHINGLE_WORDS]
_BAND_MULTIPLIERS = np.array([0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x2545F4914F6CDD1D], dtype=np.uint64)
_BAND_SALT = (np.arange(BANDS, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)


def normalize(text: str) -> str:
    """Text as compared: Unicode NFKC, case folded, punctuation and typographic variants folded away,
    whitespace collapsed."""
    return " ".join(_folded(text).split())


def words(text: str) -> list[str]:
    """The normalized words of a text, at most ``MAX_WORDS``."""
    return _folded(text).split()[:MAX_WORDS]


def shingles(text: str) -> np.ndarray:
    """The distinct 64-bit hashes of a text's runs of ``SHINGLE_WORDS`` words, sorted.

    Words are hashed once (CRC-32, stable across processes and machines, unlike ``hash()``), and each
    shingle's hash is a fixed combination of its words' hashes, computed for all shingles at once.
    """
    tokens = words(text)
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    table = {w: zlib.crc32(w.encode("utf-8", "surrogatepass")) for w in set(tokens)}
    hashes = np.fromiter(map(table.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    k = min(SHINGLE_WORDS, len(tokens))
    n = len(tokens) - k + 1
    combined = np.zeros(n, dtype=np.uint64)
    for offset in range(k):
        combined += hashes[offset : offset + n] * _SHINGLE_MULTIPLIERS[offset]  # wraps around modulo 2^64
    return np.unique(combined)


@dataclass(frozen=True)
class Fingerprint:
    """What the wire level knows of one text."""

    shingle_count: int
    band_keys: tuple[int, ...]
    """One signed 64-bit key per band (empty when the text is too short to compare)."""

    @property
    def comparable(self) -> bool:
        return bool(self.band_keys)


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The ``NUM_PERM`` affine permutations ``h -> a * h + b (mod 2^64)``, ``a`` odd, drawn from NumPy's
    ``RandomState(SEED)`` as datasketch's ``MinHash(num_perm, seed, scheme="affine64")`` draws them."""
    generator = np.random.RandomState(SEED)
    a = generator.randint(0, 1 << 63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = generator.randint(0, 1 << 64, NUM_PERM, dtype=np.uint64)
    return a.reshape(1, -1), b.reshape(1, -1)


def prepare() -> None:
    """Load what signing needs (NumPy, the permutations) now rather than at the first article: the pipeline
    calls it from a spare thread when a poll has its first page to fetch."""
    _permutations()


_FMIX_SHIFT = np.uint64(33)
_FMIX_MULTIPLIERS = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_SIGN_ROWS = 4096
"""Shingles permuted at once: bounds the temporary matrix (rows x ``NUM_PERM`` x 8 bytes) to 4 MB."""


def _premix(hashes: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, a bijection that spreads every input bit over the output (as
    datasketch pre-mixes before its affine permutations): shingle hashes are combinations of word hashes,
    which affine maps alone would keep correlated."""
    hashes = hashes ^ (hashes >> _FMIX_SHIFT)
    hashes = hashes * _FMIX_MULTIPLIERS[0]
    hashes = hashes ^ (hashes >> _FMIX_SHIFT)
    hashes = hashes * _FMIX_MULTIPLIERS[1]
    return hashes ^ (hashes >> _FMIX_SHIFT)


def minhash(shingle_hashes: np.ndarray) -> np.ndarray:
    """The MinHash signature of a text's shingle hashes: per permutation, the least permuted value
    (``NUM_PERM`` unsigned 64-bit values; all ones for no shingles).

    The same values as datasketch's ``MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine64")`` fed the
    hashes with an identity hash function (``tests/test_dedupe.py`` holds the two equal), computed here with
    NumPy: importing datasketch imports SciPy for its LSH classes, which this store does not use (its band
    keys are SQL rows), and that cost every process 60 MB and half a second of CPU.
    """
    a, b = _permutations()
    signature = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    hashes = np.asarray(shingle_hashes, dtype=np.uint64).reshape(-1, 1)
    for start in range(0, len(hashes), _SIGN_ROWS):
        permuted = _premix(hashes[start : start + _SIGN_ROWS]) * a + b  # wraps around modulo 2^64
        np.minimum(signature, permuted.min(axis=0), out=signature)
    return signature


def band_keys(signature: np.ndarray) -> tuple[int, ...]:
    """LSH band keys: each band's rows and its index combined into a signed 32-bit integer.

    32 bits, not 64: the key table is the largest index of the store, and SQLite stores small integers in
    fewer bytes (the inserts of 100,000 articles' keys got 10% faster). Unrelated bands then share a key with
    probability 2^-32: a lookup among the 1.2 million keys of a two-week window meets a false candidate about
    once in 80 articles, which the exact comparison drops.
    """
    rows = np.asarray(signature, dtype=np.uint64)[: BANDS * ROWS].reshape(BANDS, ROWS)
    keys = (rows * _BAND_MULTIPLIERS).sum(axis=1, dtype=np.uint64) + _BAND_SALT
    keys ^= keys >> np.uint64(32)  # fold the high half into the low, so every bit depends on every row
    return tuple(keys.astype(np.uint32).view(np.int32).tolist())


def fingerprint(text: str, shingle_hashes: np.ndarray | None = None) -> Fingerprint:
    """Shingle, sign and band a body text.

    Args:
        text: the article body (any length; cut at ``MAX_WORDS`` words).
        shingle_hashes: its ``shingles``, when the caller has them already.

    Returns:
        Its fingerprint; without band keys when the text has fewer than ``MIN_SHINGLES`` shingles.
    """
    hashes = shingles(text) if shingle_hashes is None else shingle_hashes
    if len(hashes) < MIN_SHINGLES:
        return Fingerprint(len(hashes), ())
    return Fingerprint(len(hashes), band_keys(minhash(hashes)))


@dataclass(frozen=True)
class WireScore:
    """How much two texts share, measured exactly on their shingles."""

    jaccard: float
    containment: float
    """Shared shingles over the smaller text's shingles: 1.0 when one text holds all of the other."""
    size_ratio: float
    """Smaller shingle count over larger: how much of the longer text the shorter one carries."""
    shared: int

    @property
    def similarity(self) -> float:
        """One score for thresholds: the containment, unless the shorter text is a small fraction of the
        longer (a quoted lead is not a reprint); then the Jaccard similarity."""
        return self.containment if self.size_ratio >= MIN_SIZE_RATIO else self.jaccard


MIN_SIZE_RATIO = 0.3
"""A text with under 30% of another's shingles is not taken as its reprint by containment alone."""


def compare(a: np.ndarray, b: np.ndarray) -> WireScore:
    """Jaccard similarity, containment and size ratio of two texts' ``shingles``."""
    if not len(a) or not len(b):
        return WireScore(0.0, 0.0, 0.0, 0)
    shared = int(np.intersect1d(a, b, assume_unique=True).size)
    smaller, larger = sorted((len(a), len(b)))
    return WireScore(shared / (len(a) + len(b) - shared), shared / smaller, smaller / larger, shared)


# --- What the wire level compares ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WireText:
    """A body as the wire level compares it: its lines without furniture by pattern, each with its paragraph
    key (``boilerplate.keyed_paragraphs``), and their shingles.

    Learnt boilerplate is left out of what is signed (``signature_shingles``) and of what confirms a
    candidate (``confirm``).
    """

    lines: tuple[str, ...]
    keys: tuple[int | None, ...]

    @functools.cached_property
    def shingles(self) -> np.ndarray:
        # Computed when first asked: an exact copy (most of a wire story's reprints) is placed without them.
        return shingles("\n".join(self.lines))

    @functools.cached_property  # asked for every candidate the text is confirmed against
    def key_set(self) -> frozenset[int]:
        return frozenset(key for key in self.keys if key is not None)

    def without(self, drop: frozenset[int]) -> tuple[tuple[str, ...], np.ndarray]:
        """The lines whose key is not in ``drop``, and their shingles."""
        if drop.isdisjoint(self.keys):
            return self.lines, self.shingles
        lines = tuple(line for line, key in zip(self.lines, self.keys, strict=True) if key not in drop)
        return lines, shingles("\n".join(lines))

    def edge_keys(self, learnt: frozenset[int]) -> frozenset[int]:
        """The learnt keys of the lines before the text's first line of its own and after its last: where an
        outlet puts its header and footer."""
        own = [n for n, key in enumerate(self.keys) if key not in learnt]
        if not own:
            return learnt
        return frozenset(key for n, key in enumerate(self.keys) if key in learnt and not own[0] < n < own[-1])

    def signature_shingles(self, known: Collection[int]) -> np.ndarray:
        """What to sign: the shingles of the lines that are not learnt boilerplate, so that copies under other
        outlets' furniture look alike to the index; all lines' when that leaves too few to look up (a story
        whose paragraphs were counted twice must still find its copies, which ``confirm`` then judges)."""
        learnt = self.key_set.intersection(known)
        if not learnt:
            return self.shingles
        own = self.without(learnt)[1]
        return own if len(own) >= MIN_SHINGLES else self.shingles

    def own_words(self, known: Collection[int], *, at_most: int) -> int:
        """Words of the lines that are not learnt boilerplate, counted up to ``at_most``."""
        own = " ".join(line for line, key in zip(self.lines, self.keys, strict=True) if key not in known)
        return len(own.split(None, at_most)[:at_most])


MAX_LINES = 300
"""Lines of a body the wire level reads (about 10,000 words of prose): a hostile page of short lines must not
make the learnt-boilerplate lookup, one key per line, unbounded."""


def wire_text(paragraphs: Iterable[tuple[str, int | None]]) -> WireText:
    """The ``WireText`` of a body's ``keyed_paragraphs`` (its first ``MAX_LINES``)."""
    kept = [(line, key) for line, key in itertools.islice(paragraphs, MAX_LINES) if not is_furniture(line)]
    lines = tuple(line for line, _ in kept)
    return WireText(lines, tuple(key for _, key in kept))


def confirm(
    mine: WireText, theirs: WireText, *, known: Collection[int], same_outlet: bool, threshold: float
) -> float | None:
    """The similarity of a candidate pair if it is a wire copy at ``threshold``, else None.

    Learnt boilerplate (``known``) is left out of both texts, except, for texts of two outlets, the
    paragraphs both carry that are not above or below the lines of their own in both: such a paragraph is
    more likely the agency's text (counted twice when a copy was missed, or quoted by a write-up) than
    furniture, which sits around an article, and which one outlet prints around all its articles even under
    two addresses. Each text must keep
    ``MIN_SHINGLES`` shingles: short articles are never joined on boilerplate alone. Two texts of one outlet
    must also differ by more than their common lines (``differ_beyond_common_lines``): the furniture of an
    outlet that nothing has taught the counts yet.
    """
    (lines_a, a), (lines_b, b) = compared_texts(mine, theirs, known=known, same_outlet=same_outlet)
    if min(len(a), len(b)) < MIN_SHINGLES:
        return None
    score = compare(a, b).similarity
    if score < threshold:
        return None
    if same_outlet and differ_beyond_common_lines(lines_a, lines_b, threshold):
        return None
    return score


def compared_texts(
    mine: WireText, theirs: WireText, *, known: Collection[int], same_outlet: bool
) -> tuple[tuple[tuple[str, ...], np.ndarray], ...]:
    """The lines and shingles of both texts as ``confirm`` compares them: learnt boilerplate (``known``) left
    out, but for texts of two outlets the paragraphs both carry inside their own lines kept."""
    learnt_mine, learnt_theirs = mine.key_set.intersection(known), theirs.key_set.intersection(known)
    if not same_outlet:
        both = mine.key_set & theirs.key_set
        kept = both - (mine.edge_keys(learnt_mine) & theirs.edge_keys(learnt_theirs))
        learnt_mine, learnt_theirs = learnt_mine - kept, learnt_theirs - kept
    return mine.without(learnt_mine), theirs.without(learnt_theirs)


MIN_REMAINDER_SHINGLES = 5
"""Of two texts of one outlet, what is left beside their common lines counts as a story of its own from
about nine words (a sentence); less is a trim's or an edit's leftover."""


def differ_beyond_common_lines(a: Sequence[str], b: Sequence[str], threshold: float) -> bool:
    """Whether two texts of one outlet are different stories inside the same furniture.

    The lines both hold word for word are taken out (an outlet's header, footer and plugs, which nothing has
    taught the store yet on a cold start); if each text keeps a substantial remainder and the shorter
    remainder is not contained in the longer at ``threshold``, the common lines were all they shared. A
    republication or a trim keeps (almost) nothing of its own, so it is not held apart.
    """
    folded_a, folded_b = [normalize(line) for line in a], [normalize(line) for line in b]
    common = set(folded_a) & set(folded_b)
    if not common:
        return False
    rest_a = [line for line in folded_a if line not in common]
    rest_b = [line for line in folded_b if line not in common]
    if not rest_a or not rest_b:  # one holds all of the other: a republication or a trim
        return False
    shingles_a, shingles_b = shingles("\n".join(rest_a)), shingles("\n".join(rest_b))
    if min(len(shingles_a), len(shingles_b)) < MIN_REMAINDER_SHINGLES:
        return False
    return compare(shingles_a, shingles_b).containment < threshold
