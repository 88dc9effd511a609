"""Plain text from HTML fragments (feed summaries and content), keeping paragraph breaks."""

from __future__ import annotations

import html
import re

import lxml.etree
import lxml.html

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "dl",
        "dd",
        "dt",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "tr",
        "section",
        "article",
        "aside",
        "header",
        "footer",
        "nav",
        "main",
        "figure",
        "figcaption",
        "hr",
        "address",
        "details",
        "summary",
    }
)
_CELL_TAGS = frozenset({"td", "th"})
_DROPPED = ".//script|.//style|.//noscript|.//template"
# Characters lxml refuses (C0 controls but tab/newline/CR, lone surrogates, U+FFFE/U+FFFF) and U+FEFF.
_UNPARSABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufeff\ufffe\uffff]")
_TAG = re.compile(r"<[^>]*>")
# Every whitespace character except the newline: runs of them become one space.
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment: blocks become paragraphs, whitespace is collapsed."""
    if not fragment or not fragment.strip():
        return ""
    fragment = _UNPARSABLE.sub(_replace_unparsable, fragment)
    if "<" not in fragment and "&" not in fragment:
        return normalize_whitespace(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.LxmlError, ValueError):
        return normalize_whitespace(html.unescape(_TAG.sub(" ", fragment)))
    for bad in root.xpath(_DROPPED):
        bad.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag in _BLOCK_TAGS:
            # A break before the block's own text and after it, so neither end runs into its neighbours.
            element.text = "\n\n" + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
        elif tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif tag in _CELL_TAGS:
            element.tail = " " + (element.tail or "")
    return normalize_whitespace(root.text_content())


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, keep single blank lines between paragraphs, strip each line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    lines = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip()


def _replace_unparsable(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\x0b\x0c":
        return " "
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return ""
