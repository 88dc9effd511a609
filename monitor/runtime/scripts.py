"""What the modules that cut texts into words (the watchlist's tokens, the wire level's shingles, the story
level's terms) share about scripts other than Latin: those written without spaces between words, where
each character is a word of its own, and the letters outlets of one language write either way."""

from __future__ import annotations

import re

SPACELESS_RANGES = (
    "\u3005-\u3007\u303b\u3041-\u309f\u30a1-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003134f"
)
"""The ranges of ``SPACELESS``, for a pattern's character class."""
SPACELESS = re.compile(f"[{SPACELESS_RANGES}]")
"""One character of Han (CJK unified and compatibility ideographs, the iteration marks), hiragana or
katakana (halfwidth katakana are fullwidth once decomposed)."""

VARIANT_CHARS = "\u064a\u0649\u0643\u0629\u06c0\u0451\u0640\u064b-\u065f\u0670\u0660-\u0669\u06f0-\u06f9"
"""Characters a reprint or another outlet changes with its keyboard, code page or house style, for a
pattern's character class: Arabic yeh, alef maksura, kaf, teh marbuta and heh with yeh above (a page in
windows-1256 has no Persian yeh), Russian ё (many outlets print е), the tatweel and the harakat (strokes and
marks, no letters), and Arabic-Indic and Persian digits."""
_VARIANT_FOLDS = {
    "\u064a": "\u06cc",
    "\u0649": "\u06cc",
    "\u0643": "\u06a9",
    "\u0629": "\u0647",
    "\u06c0": "\u0647",
    "\u0451": "\u0435",
    **{chr(0x0660 + digit): str(digit) for digit in range(10)},
    **{chr(0x06F0 + digit): str(digit) for digit in range(10)},
}
VARIANTS = re.compile(f"[{VARIANT_CHARS}]")


def fold_variant(char: str) -> str:
    """One of ``VARIANT_CHARS`` as it is compared: the Persian letter, е, an ASCII digit, or nothing (the
    tatweel, the harakat)."""
    return _VARIANT_FOLDS.get(char, "")


def folded_variants(text: str) -> str:
    """``text`` with each of ``VARIANT_CHARS`` folded (``fold_variant``)."""
    return VARIANTS.sub(lambda match: fold_variant(match.group()), text)
