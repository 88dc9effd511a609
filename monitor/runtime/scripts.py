"""Scripts written without spaces between words, for the modules that cut texts into words (the watchlist's
tokens, the wire level's shingles): there each character is a word of its own."""

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
