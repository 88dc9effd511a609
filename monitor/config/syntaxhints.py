"""What a YAML syntax error in a hand-edited file most likely comes from, said in the editor's terms.

The parser names the token it did not expect ("mapping values are not allowed here"); the person who
pasted a feed's name from a web page needs to hear that it holds ': ', or that the web page brought a
non-breaking space that looks like a space and is none.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Spaces that look like one but are text to YAML: pasted from web pages, emails and word processors.
_LOOKALIKE_SPACES = "\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000\ufeff"
# Where YAML needs a plain space: in a line's indentation (and after a list's '-'), and after the ':' of the
# line's key (not in a value: "Note:\u00a0this" in quotes is text).
_STRUCTURAL_LOOKALIKE = re.compile(
    rf"^[ \t-]*(?:([{_LOOKALIKE_SPACES}])|[^\s'\"#:][^'\"#:\n]*:([{_LOOKALIKE_SPACES}]))", re.MULTILINE
)
_CANNOT_START = re.compile(r"found character '(.)' that cannot start any token")
_UNDEFINED_ALIAS = re.compile(r"found undefined alias '([^']*)'")
_DEFAULT_HINT = "check the indentation and quoting here"


@dataclass(frozen=True)
class SyntaxHint:
    """The message and hint to report, and where (0-based line and column, as the parser's marks count)."""

    message: str
    hint: str
    line: int
    column: int


def syntax_hint(text: str, problem: str, line: int, column: int, context: str | None = None) -> SyntaxHint:
    """The report for the parser's ``problem`` (found ``context``, "while scanning an alias") at ``line``
    and ``column`` (0-based) of ``text``."""
    lookalike = _lookalike_space_before(text, line)
    if lookalike is not None:
        return lookalike
    message = f"YAML syntax error: {problem}"
    if alias := _UNDEFINED_ALIAS.search(problem):
        hint = (
            f"'*{alias.group(1)}' repeats what '&{alias.group(1)}' marks above, and nothing is so marked; "
            f"if the value is text, put it in quotes: '{_value_at(text, line, column)}'"
        )
        return SyntaxHint(message, hint, line, column)
    if context in ("while scanning an alias", "while scanning an anchor"):
        char = "*" if "alias" in context else "&"
        hint = (
            f"a value that starts with {char} is read as YAML's {context.rpartition(' ')[2]} mark: put the "
            f"whole value in quotes, e.g. '{_value_at(text, line, column, char)}'"
        )
        return SyntaxHint(message, hint, line, column)
    if "'\\t'" in problem:
        return SyntaxHint(message, "indent with spaces, not tabs", line, column)
    if start := _CANNOT_START.search(problem):
        char = start.group(1)
        hint = f"a value cannot start with {char}: put the whole value in quotes, e.g. '{char}...'"
        return SyntaxHint(message, hint, line, column)
    if "found '<scalar>'" in problem and _after_closing_quote(text, line, column):
        hint = (
            "a value that starts with a quote ends at its closing quote: put the whole value in single "
            """quotes ('"Shahed" AND drone'), and write a ' inside them as ''"""
        )
        return SyntaxHint(message, hint, line, column)
    if "but found '?'" in problem or "but found '<block mapping start>'" in problem:  # a key out of line
        hint = "line this key up with the keys it belongs with, e.g. 'url:' right under 'name:'"
        return SyntaxHint(message, hint, line, column)
    if "mapping values are not allowed here" in problem:
        hint = "a value holding ': ' needs quotes (name: \"Reuters: World\"); else check the indentation"
        return SyntaxHint(message, hint, line, column)
    return SyntaxHint(message, _DEFAULT_HINT, line, column)


def _lookalike_space_before(text: str, line: int) -> SyntaxHint | None:
    """A look-alike space where YAML needs a plain one, on the error's line or before it (the parser may
    stumble over it a few lines later)."""
    for found in _STRUCTURAL_LOOKALIKE.finditer(text):
        offset = found.start(1) if found.group(1) else found.start(2)
        at_line = text.count("\n", 0, offset)
        if at_line > line:
            return None
        char = text[offset]
        column = offset - (text.rfind("\n", 0, offset) + 1)
        name = unicodedata.name(char, "space").lower()
        return SyntaxHint(
            f"the {name} U+{ord(char):04X} stands where YAML needs a plain space",
            "retype the spaces of this line: text pasted from a web page or an email brings such look-alikes",
            at_line,
            column,
        )
    return None


def _value_at(text: str, line: int, column: int, start: str = "*") -> str:
    """The value at ``column`` of ``line``, from its ``start`` character on: what to put in quotes."""
    lines = text.split("\n")
    here = lines[line] if line < len(lines) else ""
    begin = here.rfind(start, 0, column + 1)
    return here[max(begin, 0) :].split(" #", 1)[0].strip()


def _after_closing_quote(text: str, line: int, column: int) -> bool:
    """Whether the token at ``line``/``column`` follows a quoted value on its line ("a" AND b)."""
    lines = text.split("\n")
    before = lines[line][:column].rstrip() if line < len(lines) else ""
    return before.endswith(('"', "'"))
