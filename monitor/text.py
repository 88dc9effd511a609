"""Plain text from HTML fragments (feed summaries and content), keeping paragraph breaks."""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

_BLOCK_TAGS = frozenset(
    "p div li ul ol h1 h2 h3 h4 h5 h6 blockquote pre table tr section article header footer figure"
    " figcaption dd dt".split()
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment: blocks become paragraphs, whitespace is collapsed."""
    if not fragment or not fragment.strip():
        return ""
    if "<" not in fragment and "&" not in fragment:
        return normalize_whitespace(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return normalize_whitespace(re.sub(r"<[^>]*>", " ", fragment))
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag in _BLOCK_TAGS:
            element.tail = "\n\n" + (element.tail or "")
        elif tag == "br":
            element.tail = "\n" + (element.tail or "")
    return normalize_whitespace(root.text_content())


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, keep single blank lines between paragraphs, strip each line."""
    text = _SPACES.sub(" ", text)
    lines = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip()
