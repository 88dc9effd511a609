"""Feed bytes made safe for the XML parser: decoded once, in one charset, and their entities bounded.

Two things in a feed's bytes can cost far more than their size. A charset that is wrong or a single bad
byte made feedparser decode the whole document again in a legacy charset (windows-1252), garbling every
entry; here the document is decoded once, per the charset we trust most, bad bytes replaced by U+FFFD, and
handed on as UTF-8. And entities declared in the document's own DTD expand (``&lol9;`` in a few KB can be
hundreds of MB): the internal subset is taken out before any parser sees it, and its general entities are
expanded here, within a budget; once that is spent, further references are cut and the feed is warned.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass

_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
)
_WIDE_STARTS = (
    (b"\x00\x00\x00<", "utf-32be"),
    (b"<\x00\x00\x00", "utf-32le"),
    (b"\x00<\x00", "utf-16be"),
    (b"<\x00", "utf-16le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # EBCDIC
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)
_DECLARATION = re.compile(rb"""\A<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_DECLARATION_TEXT = re.compile(r"""\A(\s*<\?xml\s[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._:-]+)(["'])""")
# Charsets servers send by default, not because they know: a document declaring another one is believed.
_DEFAULT_CHARSETS = frozenset({"latin-1", "iso8859-1", "cp1252", "ascii"})
# UTF-8 with a few bad bytes: at least this many good non-ASCII characters for each undecodable byte.
_UTF8_ERRORS_PER_CHARACTER = 10
_DETECT_SAMPLE = 200_000

# The prolog before a DOCTYPE, the DOCTYPE's name and external id, then its internal subset.
_DOCTYPE = re.compile(
    r"""\A((?:\s|<\?.*?\?>|<!--.*?-->)*+)<!DOCTYPE(\s[^\[>]*)"""
    r"""(\[(?:"[^"]*"|'[^']*'|<!--.*?-->|<\?.*?\?>|[^\]"'])*+\])?\s*>""",
    re.DOTALL | re.IGNORECASE,
)
_ENTITY = re.compile(
    r"""<!ENTITY\s+(%\s+)?([^\s"'>%]+)\s+(?:"([^"]*)"|'([^']*)'|(?:SYSTEM|PUBLIC)\b[^>]*)\s*>""", re.DOTALL
)
_PREDEFINED = frozenset({"lt", "gt", "amp", "apos", "quot"})
_NAME = r"[A-Za-z_:][\w.:-]*"
_REFERENCE = re.compile(rf"&({_NAME});")
# What may hold a reference in the document: entity references count only outside CDATA and comments.
_MARKED = re.compile(rf"<!\[CDATA\[.*?\]\]>|<!--.*?-->|&({_NAME});", re.DOTALL)


@dataclass(frozen=True)
class Prepared:
    """A feed document as UTF-8 bytes with no internal DTD subset, and what was done to it."""

    body: bytes
    charset: str
    warnings: tuple[str, ...] = ()


def prepare(body: bytes, headers: Mapping[str, str], *, max_chars: int) -> Prepared:
    """Decode ``body`` once and bound its entities.

    Args:
        body: the document's bytes.
        headers: response headers, names in lower case (Content-Type's charset).
        max_chars: how long the document may grow by expanding its own entities (total, in characters).

    Returns:
        The document re-encoded as UTF-8 (its XML declaration saying so), the charset it was read in, and
        warnings for what was replaced or cut.
    """
    text, charset, warnings = decode(body, headers)
    text, entity_warning = expand_internal_entities(text, max_chars=max_chars)
    if entity_warning:
        warnings.append(entity_warning)
    text = _DECLARATION_TEXT.sub(r"\g<1>utf-8\g<3>", text, count=1)
    # Defuse any declaration left (one outside the DOCTYPE, in a subset we could not read): no parser
    # after this one may expand what it declares.
    text = text.replace("<!ENTITY", "&lt;!ENTITY")
    return Prepared(text.encode("utf-8", "replace"), charset, tuple(warnings))


def decode(body: bytes, headers: Mapping[str, str]) -> tuple[str, str, list[str]]:
    """The document as text, the charset it was read in, and a warning if bytes had to be replaced.

    The order of trust: a byte-order mark (RFC 7303); UTF-8, when the body is UTF-8 but for a few bad bytes
    (legacy 8-bit text is almost never valid UTF-8, so the labels of such a body are wrong, as miniflux
    decides too); the header's charset, unless it is a server's default (ISO-8859-1, windows-1252, ASCII)
    and the document declares another; the XML declaration; a detector; UTF-8. A charset is taken only if
    the body decodes in it without error; otherwise the next one is tried, and if none does, the first
    named one is used with bad bytes replaced.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom) and not (encoding.startswith("utf-16") and body[2:4] == b"\x00\x00"):
            return _decoded(body[len(bom) :], encoding)
    for start, encoding in _WIDE_STARTS:  # no byte-order mark, but '<' in a wider encoding (XML 1.0, F.1)
        if body.startswith(start):
            return _decoded(body, encoding)
    ascii_only = body.isascii()
    if not ascii_only and (utf8 := _mostly_utf8(body)) is not None:
        return utf8
    header = _codec(_first(_HEADER_CHARSET.search(headers.get("content-type", ""))))
    match = _DECLARATION.match(body.lstrip(b" \t\r\n"))
    declared = _codec(match.group(1).decode("ascii") if match else None)
    labels = (
        [declared, header]
        if header in _DEFAULT_CHARSETS and declared and declared != header
        else [header, declared]
    )
    # Not UTF-16 or UTF-32 whatever the labels say: the document would have begun with a BOM or a wide '<'.
    candidates = [c for c in dict.fromkeys(labels) if c and not c.startswith(("utf-16", "utf-32"))]
    # A server's default (ISO-8859-1, windows-1252) is no label, as for pages: text in Arabic letters is in
    # none of them, and read in ISO-8859-1 it was stored as Latin gibberish.
    unlabelled = not candidates or (not declared and header in _DEFAULT_CHARSETS)
    if unlabelled and not ascii_only and (by_language := _declared_language_charset(body)) is not None:
        return _decoded(body, by_language)
    for charset in candidates:
        try:
            return body.decode(charset), charset, []
        except UnicodeDecodeError:
            continue
    detected = _detect(body) if not ascii_only else None
    if detected and (not candidates or detected not in candidates):
        try:
            return body.decode(detected), detected, []
        except UnicodeDecodeError:
            pass
    return _decoded(body, candidates[0] if candidates else "utf-8")


_META_CHARSET = re.compile(rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HTML_PRESCAN = 8192
# Legacy labels that browsers read as the superset code page (WHATWG Encoding), which pages labelled so use.
_HTML_SUPERSETS = {"gb2312": "gbk", "shift_jis": "cp932", "euc_kr": "cp949"}
# The language a document declares in its first 8 KB: <html lang>, xml:lang, or RSS's <language>.
_DECLARED_LANGUAGE = re.compile(
    rb"""<html\s[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3})\b|\bxml:lang\s*=\s*["']([A-Za-z]{2,3})\b"""
    rb"""|<(?:\w+:)?language>\s*([A-Za-z]{2,3})\b""",
    re.IGNORECASE,
)
# Languages in Arabic letters, whose unlabelled legacy pages are windows-1256 (ISO-8859-6 has no Persian
# letters). The detector is not asked: it counts the byte of Persian's zero-width non-joiner (0x9D) as noise
# and read such pages as windows-1251, Cyrillic gibberish. Other scripts are left to it: Russian pages come in
# KOI8-R as well as windows-1251, which it tells apart.
_ARABIC_SCRIPT_LANGUAGES = frozenset({"fa", "ar", "ur", "ps", "ckb", "sd", "ug"})


def _declared_language_charset(body: bytes) -> str | None:
    """windows-1256 for a document that declares a language written in Arabic letters, else None."""
    match = _DECLARED_LANGUAGE.search(body[:_HTML_PRESCAN])
    language = next((group for group in match.groups() if group), b"") if match else b""
    return "cp1256" if language.decode("ascii").lower() in _ARABIC_SCRIPT_LANGUAGES else None


def decode_html(body: bytes, content_type: str = "") -> str | None:
    """An HTML page's text in the charset it is labelled with, or None when its labels say nothing the
    extractor's own detector should not decide (trafilatura guesses from the bytes alone, and took a page
    labelled windows-1256, Persian, for windows-1251).

    A body that is UTF-8 (or starts with a byte-order mark) is left to the extractor. Otherwise the charset of
    ``content_type`` is taken, unless it is a server's default (ISO-8859-1, windows-1252, ASCII), then the
    first ``<meta charset>`` (or ``http-equiv``) of the page's first 8 KB, as browsers read it; a default or
    UTF-8 there is no label either, and a label the body does not decode in is passed over.
    """
    if any(body.startswith(bom) for bom, _ in _BOMS) or body.isascii():
        return None
    try:
        body.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(body[:_HTML_PRESCAN])
    labels = (
        _first(_HEADER_CHARSET.search(content_type or "")),
        meta.group(1).decode("ascii") if meta else None,
    )
    for label in labels:
        charset = _codec(label)
        if charset is None or charset in _DEFAULT_CHARSETS or charset.startswith(("utf-", "utf_")):
            continue
        try:
            return body.decode(_HTML_SUPERSETS.get(charset, charset))
        except UnicodeDecodeError:
            continue
    if _mostly_utf8(body) is not None:
        return None  # UTF-8 but for a few bytes (a slip, a body cut mid-letter): no legacy page, whatever its language
    if (by_language := _declared_language_charset(body)) is not None:
        return body.decode(by_language, errors="replace")
    return None


def expand_internal_entities(text: str, *, max_chars: int) -> tuple[str, str | None]:
    """``text`` without its DOCTYPE's internal subset, the general entities declared there expanded.

    The document may grow to ``max_chars`` characters in all; an expansion that does not fit is cut where
    the budget ends, and every reference after that is dropped. Recursive entities expand to nothing.

    Returns:
        The document, and a warning if an expansion was cut.
    """
    match = _DOCTYPE.match(text)
    if match is None or match.group(3) is None:
        return text, None
    entities: dict[str, str] = {}
    for declaration in _ENTITY.finditer(match.group(3)):
        parameter, name, double, single = declaration.groups()
        value = double if double is not None else single
        if not parameter and value is not None and name not in _PREDEFINED:
            entities.setdefault(name, value)  # the first declaration binds (XML 1.0, 4.2)
    prolog = match.group(1) + "<!DOCTYPE" + match.group(2).rstrip() + ">"
    rest = text[match.end() :]
    if not entities:
        return prolog + rest, None
    expander = _Expander(entities, budget=max(max_chars - len(prolog) - len(rest), 0))
    expanded = _MARKED.sub(expander.replace, rest)
    warning = None
    if expander.cut:
        warning = (
            f"entities declared in the document expand past {max_chars} characters: "
            f"{expander.cut} references cut"
        )
    return prolog + expanded, warning


class _Expander:
    """Expands references to declared entities while a budget of characters lasts."""

    def __init__(self, entities: dict[str, str], *, budget: int) -> None:
        self.entities = entities
        self.budget = budget
        self.cut = 0
        self._sizes: dict[str, int] = {}
        self._full: dict[str, str] = {}

    def replace(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None or name not in self.entities:
            return match.group()
        size = self._size(name, ())
        if size <= self.budget:
            self.budget -= size
            return self._expand(name)
        self.cut += 1
        part = self._prefix(name, self.budget, ())
        self.budget = 0
        return part

    def _size(self, name: str, stack: tuple[str, ...]) -> int:
        """How long ``name`` expands (capped just past the budget; a recursive one counts as empty)."""
        if name in self._sizes:
            return self._sizes[name]
        if name in stack:
            return 0
        value = self.entities[name]
        references = [r.group(1) for r in _REFERENCE.finditer(value) if r.group(1) in self.entities]
        size = len(value) - sum(len(reference) + 2 for reference in references)
        for reference in references:
            size += self._size(reference, (*stack, name))
            if size > self.budget:
                break
        self._sizes[name] = size = min(size, self.budget + 1)
        return size

    def _expand(self, name: str, stack: tuple[str, ...] = ()) -> str:
        """The whole expansion of ``name``; only called once its size is known to fit the budget."""
        if name in self._full:
            return self._full[name]
        if name in stack:
            return ""

        def inner(reference: re.Match[str]) -> str:
            return (
                self._expand(reference.group(1), (*stack, name))
                if reference.group(1) in self.entities
                else reference.group()
            )

        self._full[name] = full = _REFERENCE.sub(inner, self.entities[name])
        return full

    def _prefix(self, name: str, room: int, stack: tuple[str, ...]) -> str:
        """The first ``room`` characters of the expansion of ``name``, cut before any half reference."""
        if room <= 0 or name in stack:
            return ""
        if self._size(name, stack) <= room:
            return self._expand(name)
        value, parts, position = self.entities[name], [], 0
        for reference in _REFERENCE.finditer(value):
            literal = value[position : reference.start()]
            if len(literal) >= room:
                parts.append(literal[:room])
                return "".join(parts)
            parts.append(literal)
            room -= len(literal)
            position = reference.end()
            if reference.group(1) not in self.entities:
                parts.append(reference.group())
                room -= len(reference.group())
                continue
            part = self._prefix(reference.group(1), room, (*stack, name))
            parts.append(part)
            room -= len(part)
            if room <= 0:
                return "".join(parts)
        parts.append(value[position : position + room])
        return "".join(parts)


def _decoded(body: bytes, charset: str) -> tuple[str, str, list[str]]:
    try:
        return body.decode(charset), charset, []
    except UnicodeDecodeError:
        return _replaced(body.decode(charset, errors="replace"), charset)


def _replaced(text: str, charset: str) -> tuple[str, str, list[str]]:
    return (
        text,
        charset,
        [f"feed is not valid {charset}: {text.count(chr(0xFFFD))} undecodable bytes replaced"],
    )


def _mostly_utf8(body: bytes) -> tuple[str, str, list[str]] | None:
    """The body decoded as UTF-8 (as ``_decoded`` would) if it is UTF-8 but perhaps for a few bytes; None
    otherwise: legacy 8-bit text decoded as UTF-8 is mostly errors."""
    try:
        return body.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    errors = replaced - body.count(b"\xef\xbf\xbd")
    wide = len(text) - len(text.encode("ascii", "ignore")) - replaced  # good non-ASCII ones
    return _replaced(text, "utf-8") if errors * _UTF8_ERRORS_PER_CHARACTER <= wide else None


# Markup, links and references: ASCII that says nothing of the text's charset, but that a detector reads as
# English and that outweighs short accented titles (a Portuguese feed then comes out in a Baltic code page).
_MARKUP = re.compile(rb"<!\[CDATA\[|\]\]>|<[^>]*>|&#?\w+;|[a-z][a-z0-9+.-]*://[^\s<>\"']*", re.IGNORECASE)
# Single-byte code pages of the Latin script: for text they all decode cleanly, the detector can only guess
# between them, and unlabelled 8-bit Western text on the web is windows-1252 (as WHATWG's default).
_LATIN_SINGLE_BYTE = frozenset(
    {
        "cp1250",
        "cp1252",
        "cp1254",
        "cp1257",
        "cp1258",
        "cp437",
        "cp775",
        "cp850",
        "cp852",
        "cp858",
        "cp860",
        "cp861",
        "cp863",
        "cp865",
        "iso8859-1",
        "iso8859-2",
        "iso8859-3",
        "iso8859-4",
        "iso8859-9",
        "iso8859-10",
        "iso8859-13",
        "iso8859-14",
        "iso8859-15",
        "iso8859-16",
        "mac-roman",
        "mac-latin2",
        "mac-iceland",
        "mac-turkish",
    }
)
_TIE = 0.05  # coherence within this of the best counts as the same guess


def _detect(body: bytes) -> str | None:
    """A detector's guess at the charset of a body no label decodes."""
    # Imported when first needed: few feeds come to this, and every start of the CLI would pay for it.
    from charset_normalizer import from_bytes

    sample = body[:_DETECT_SAMPLE]
    text = _MARKUP.sub(b" ", sample)
    results = from_bytes(sample if text.isascii() else text)
    best = results.best()
    charset = _codec(best.encoding) if best is not None else None
    if best is None or charset is None or charset.startswith(("utf-16", "utf-32")):
        return None
    if charset in _LATIN_SINGLE_BYTE and charset != "cp1252":
        for match in results:
            if (
                _codec(match.encoding) == "cp1252"
                and match.chaos <= best.chaos
                and match.coherence >= best.coherence - _TIE
            ):
                return "cp1252"
    return charset


def _codec(name: str | None) -> str | None:
    """Python's name for the charset ``name``; None if Python knows no such codec."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        return None


def _first(match: re.Match[str] | None) -> str | None:
    return match.group(1) if match else None
