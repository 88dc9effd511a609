"""Outlet boilerplate: what of an article's text is the outlet's furniture rather than its news. Pure.

Two kinds, and one place that says what they are, for the wire level (``stage.assign_wire_cluster``) and for
the digest's excerpts:

* **learnt**: a paragraph found word for word under texts of ``BOILERPLATE_CLUSTERS`` or more unrelated wire
  clusters (the ``paragraph_counts`` table, read with ``store.counts.boilerplate_keys``). It is named by
  its ``paragraph_keys`` key, so it is recognised however long it is, in any language.
* **by pattern**: a short line led by a call to action or a label that news prose does not start with
  ("Sign up for the morning briefing", "Read more:", "Advertisement", "Follow us on ...", a cookie notice).
  This is what a cold start has before anything is learnt. The list is kept conservative, because a wrongly
  dropped line is lost news: a line is furniture only when it has at most ``FURNITURE_MAX_WORDS`` words and
  either starts with one of the phrases below or pairs a sign-up verb with a newsletter noun.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from monitor.dedupe.stories import keyed_paragraphs, paragraph_keys

__all__ = [
    "BOILERPLATE_CLUSTERS",
    "FURNITURE_MAX_WORDS",
    "is_boilerplate",
    "is_furniture",
    "keyed_paragraphs",
    "paragraph_keys",
    "strip_boilerplate",
]

BOILERPLATE_CLUSTERS = 2
"""A paragraph already seen in two other wire clusters is boilerplate, not news: the threshold the dedup stage
learns with and every reader of ``paragraph_counts`` asks with."""

FURNITURE_MAX_WORDS = 30
"""Longer lines are prose, whatever they start with: a pattern never drops a paragraph of news."""

# Lead-ins of outlet furniture, at the start of a line (after bullets, quotes or a bracket). Each is a phrase
# that opens a call to action or a label, not a sentence of reporting: "Subscribe to", not "Subscribers".
_LEAD_INS = (
    r"sign(?:ing)? up (?:for|to|here|now|today)\b",
    r"subscribe\b",
    r"(?:get|receive) (?:our|the) [\w'’ -]{0,40}?(?:newsletter|briefing|bulletin|alerts?)\b",
    r"(?:read|see) (?:more|also|next)\b",
    r"also read\b",
    r"more on this (?:story|topic)\b",
    r"continue reading\b",
    r"keep reading\b",
    r"recommended(?: reading| for you)?\s*[:|]",
    r"related\s*[:|]",
    r"related (?:stories|articles|coverage|content|topics)\b",
    r"most (?:read|popular|viewed)\s*[:|]",
    r"advertisement\b",
    r"sponsored(?: content)?\s*(?:$|[:|])",
    r"promoted\s*(?:$|[:|])",
    r"follow us\b",
    r"like us on\b",
    r"share (?:this|on|via)\b",
    r"share\s*$",
    r"click here\b",
    r"tap here\b",
    r"(?:we|this (?:site|website)) uses? cookies\b",
    r"by (?:continuing|using) (?:to use )?(?:this|our) (?:site|website)\b",
    r"accept (?:all )?cookies\b",
    r"cookie (?:policy|settings|preferences)\b",
    r"download (?:our|the) [\w'’ -]{0,30}?app\b",
    r"already a subscriber\b",
    r"support (?:our|independent) journalism\b",
    r"copyright (?:©|\(c\)|\d{4})",
    r"©",
    r"all rights reserved\b",
)
_LEAD_IN = re.compile(r"[\s\W_]{0,4}(?:" + "|".join(_LEAD_INS) + ")", re.IGNORECASE)
# Anywhere in a short line: a sign-up verb together with what is signed up for ("Want the news first? Sign up
# to our daily newsletter").
_SIGN_UP = re.compile(r"\b(?:sign up|subscribe)\b", re.IGNORECASE)
_SIGN_UP_FOR = re.compile(r"\b(?:newsletters?|briefing|inbox|bulletin|alerts)\b", re.IGNORECASE)


def is_furniture(paragraph: str) -> bool:
    """A short line that only points elsewhere (sign up, read more, share, a cookie notice, a label)."""
    words = paragraph.split(None, FURNITURE_MAX_WORDS)  # no further: a long paragraph is prose already
    if not words or len(words) > FURNITURE_MAX_WORDS:
        return False
    return bool(_LEAD_IN.match(paragraph) or (_SIGN_UP.search(paragraph) and _SIGN_UP_FOR.search(paragraph)))


def is_boilerplate(line: str, key: int | None, known: Collection[int]) -> bool:
    """Whether a line (with its ``keyed_paragraphs`` key) is learnt boilerplate or furniture by pattern."""
    return (key is not None and key in known) or is_furniture(line)


def strip_boilerplate(text: str, known: Collection[int] = ()) -> str:
    """The text without its boilerplate: lines whose key is in ``known`` (learnt, see
    ``store.counts.boilerplate_keys``) and lines that are furniture by pattern (``is_furniture``).

    Kept lines are joined by a newline, blank lines dropped.
    """
    return "\n".join(line for line, key in keyed_paragraphs(text) if not is_boilerplate(line, key, known))
