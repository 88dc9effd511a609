"""Text as the matcher sees it: folded (case, diacritics, script variants) and cut into word tokens.

Queries and articles go through the same ``fold`` and the same tokenizer, so whatever folding does, a term
finds its own spelling. What folding does:

* case: ``str.casefold`` (ß -> ss, Greek final sigma, ...); compatibility forms by NFKD (ﬁ -> fi,
  full-width letters, superscripts);
* diacritics: every combining mark is dropped after NFKD (é -> e, ё -> е, й -> и), and so are the Arabic
  harakat (fatha, kasra, shadda, sukun, tanwin ...) and the superscript alef, which are combining marks too;
* Persian and Arabic letter variants: Arabic yeh and alef maksura -> Persian yeh (ي ى -> ی), Arabic kaf ->
  keheh (ك -> ک), teh marbuta -> heh (ة -> ه), heh with yeh above -> heh (ۀ -> ه); hamza-carrying alefs lose
  the hamza through NFKD (أ إ آ -> ا); the tatweel (ـ), a pure stretching stroke, is removed;
* digits of every script -> ASCII digits (۳۶۰ -> 360);
* invisible format characters are removed: the ZWNJ (U+200C) that Persian writes inside a word between
  a stem and its suffix (موشک‌ها, "missiles"), the ZWJ, the soft hyphen, direction marks. Outlets and
  people write the same word with the ZWNJ or joined (موشکها), as keyboards and sites allow, and either
  spelling finds the other; a stem finds its inflected words with a wildcard (موشک*), as in English.
  (Kept as a separator, the ZWNJ made موشک‌ها the phrase "موشک ها", which the joined word never matched.)

A token is a maximal run of letters and digits (``[^\\W_]+`` on the folded text), in any script. Everything
else (spaces, punctuation, hyphens, apostrophes) separates tokens, so ``Shahed-136`` is the two tokens
``shahed 136`` in a query and in an article alike. Chinese and Japanese put no spaces between words, so there
each Han character and kana is a token of its own: a term ``伊朗`` is then the phrase ``伊 朗``, found inside
``伊朗向俄罗斯提供导弹`` (as search engines index these scripts), where a whole sentence was one token that no
term could find.

Articles are long and many, so the common case is kept in C: ASCII text is only lower-cased; other text
is folded run by run of non-ASCII characters, with a cache. Offsets back into the original text are
needed only to show evidence, so they are computed lazily, and only for texts whose folding changed
their length.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import accumulate, chain, compress, repeat

from monitor.runtime.scripts import SPACELESS

WORD = re.compile(r"[^\W_]+")
_SEPARATORS = re.compile(r"[\W_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")

# Letter variants folded before and after decomposition; values are what the letter becomes ("" = removed).
_LETTERS = {
    "\u064a": "\u06cc",  # ي Arabic yeh -> ی Persian yeh
    "\u0649": "\u06cc",  # ى alef maksura -> ی
    "\u0643": "\u06a9",  # ك Arabic kaf -> ک keheh
    "\u0629": "\u0647",  # ة teh marbuta -> ه heh
    "\u06c0": "\u0647",  # ۀ heh with yeh above -> ه
    "\u06d5": "\u0647",  # ە ae (what NFKD leaves of ۀ) -> ه
    "\u0640": "",  # tatweel: a stretching stroke, no letter at all
}
# The commonest non-ASCII characters of news text, with what fold_char makes of them.
_COMMON = tuple((char, " ") for char in "\u2019\u2018\u201c\u201d\u2013\u2014\u00a0\u2026\u00ab\u00bb\u2022")
_MAX_CACHED_RUN = 64
_ASCII_SEPARATORS = str.maketrans(
    {char: " " for char in map(chr, range(128)) if not char.isalnum()}
)  # longer runs of non-ASCII text are folded character by character, uncached


@lru_cache(maxsize=8192)
def fold_char(char: str) -> str:
    """One character folded: see the module docstring. May be empty or longer than one character."""
    if char in _LETTERS:
        return _LETTERS[char]
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    category = unicodedata.category(char)
    if category[0] in "PSZ" or category == "Cc":
        # Punctuation, symbols and spaces only separate words: one space each keeps offsets and lets
        # English text with typographic quotes and dashes fold to plain ASCII, which regexes scan fastest.
        return " "
    # NFKD, then casefold, then NFKD again: casefold can produce composed letters (e.g. from U+0130).
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())
    kept = []
    for part in decomposed:
        category = unicodedata.category(part)
        if category in ("Mn", "Cf"):
            continue  # combining marks (diacritics, harakat) and invisible format characters
        kept.append(_LETTERS.get(part, part))
    folded = "".join(kept)
    if len(folded) == 1 and SPACELESS.match(folded):
        return f" {folded} "  # a word of its own, also beside Latin letters or digits (提供Shahed)
    return folded


def _origins(char: str, index: int) -> list[int]:
    """The original offset of each character that ``char``, at ``index`` of the original text, folds to."""
    folded = fold_char(char)
    if len(folded) == 3 and SPACELESS.match(folded[1]):
        return [index, index, index + 1]  # the space after a Han character or kana is where its token ends
    return [index] * len(folded)


@lru_cache(maxsize=65536)
def _fold_run(run: str) -> str:
    return "".join(fold_char(char) for char in run)


def _fold_match(match: re.Match[str]) -> str:
    run = match.group()
    if len(run) > _MAX_CACHED_RUN:
        return "".join(fold_char(char) for char in run)
    return _fold_run(run)


class FoldedText:
    """A text folded for matching, which can map positions in the folded text back to the original."""

    __slots__ = ("original", "folded", "_origin", "_same_length", "_word_starts", "_word_ends")

    def __init__(self, original: str) -> None:
        self.original = original
        text = original
        if not text.isascii():
            for common, plain in _COMMON:  # str.replace is C-fast; most news then needs no more folding
                if common in text:
                    text = text.replace(common, plain)
            if not text.isascii():
                text = _NON_ASCII.sub(_fold_match, text)
        self.folded = text.lower()
        self._origin: list[int] | None = None  # original offset of each folded offset, when lengths differ
        self._same_length: bool | None = None
        self._word_starts: list[int] | None = None
        self._word_ends: list[int] | None = None

    def tokens(self) -> list[str]:
        if self.folded.isascii():  # the same tokens as WORD finds, several times faster on ASCII text
            return self.folded.translate(_ASCII_SEPARATORS).split()
        return WORD.findall(self.folded)

    def to_original(self, offset: int) -> int:
        """The offset in the original text that folded ``offset`` came from (an end offset maps to an end)."""
        if self._same_length is None:
            self._same_length = len(self.folded) == len(self.original) and self._same_length_everywhere()
        if self._same_length:
            return offset
        if self._origin is None:
            origin: list[int] = []
            done = 0
            for run in _NON_ASCII.finditer(self.original):
                origin.extend(range(done, run.start()))
                for index in range(run.start(), run.end()):
                    origin.extend(_origins(self.original[index], index))
                done = run.end()
            origin.extend(range(done, len(self.original) + 1))
            self._origin = origin
        return self._origin[min(offset, len(self._origin) - 1)]

    def _same_length_everywhere(self) -> bool:
        # Equal total length almost always means one character for one, but a removed mark and an expanded
        # ligature could cancel out; checking each distinct non-ASCII character settles it.
        return all(len(fold_char(char)) == 1 for char in set(self.original) if not char.isascii())

    def word_span(self, index: int) -> tuple[int, int]:
        """(start, end) in the original text of token number ``index``."""
        if self._word_starts is None:
            # Word boundaries without a Python loop over the words: lengths of separators and words,
            # interleaved and summed up, all in C.
            if self.folded.isascii():
                parts = self.folded.translate(_ASCII_SEPARATORS).split(" ")  # "" for each separator
                lengths = chain.from_iterable(zip(repeat(1), map(len, parts)))
                offsets = list(accumulate(lengths, initial=-1))[1:]  # no separator before the first part
                self._word_starts = list(compress(offsets[0::2], parts))
                self._word_ends = list(compress(offsets[1::2], parts))
            else:
                separators, words = _SEPARATORS.findall(self.folded), WORD.findall(self.folded)
                if WORD.match(self.folded):  # the text starts with a word: nothing separates it
                    separators.insert(0, "")
                lengths = chain.from_iterable(zip(map(len, separators), map(len, words)))
                offsets = list(accumulate(lengths))
                self._word_starts, self._word_ends = offsets[0::2], offsets[1::2]
        assert self._word_ends is not None
        return self.to_original(self._word_starts[index]), self.to_original(self._word_ends[index])


def fold(text: str) -> str:
    """``text`` folded for matching (see the module docstring)."""
    return FoldedText(text).folded


def tokenize(text: str) -> list[str]:
    """The folded word tokens of ``text``."""
    return FoldedText(text).tokens()
