"""OPML subscription lists in and out: how feed lists move between readers.

Reading: every ``<outline>`` with an ``xmlUrl`` is a feed; its name is its ``title`` (else ``text``, else
its host); the outlines it sits in (folders) become its tags, as does an OPML 2.0 ``category`` attribute.
Writing: each feed under a folder named by its first tag, with all its tags in ``category``, so that a
round trip keeps names, URLs and tags.

OPML files come from anywhere, so they are read as hostile: a size cap, no DTD, entity declarations
refused (billion laughs), no network, no huge trees; a feed whose URL is not http(s) is reported and
skipped. Every problem names the file, and the line where there is one.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from monitor.config import FeedConfig
from monitor.config.boundedread import FileTooLarge, read_bounded
from monitor.errors import MonitorError
from monitor.ingest.text import normalize_whitespace

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_OUTLINES = 20_000
MAX_DEPTH = 32
_BARE_AMPERSAND = re.compile(rb"&(?!#[0-9]+;|#x[0-9a-fA-F]+;|[A-Za-z][\w.-]*;)")
KINDS = {
    "rss": "rss",
    "atom": "rss",
    "rdf": "rss",
    "json": "rss",
    "": "rss",
    "sitemap": "sitemap",
    "page": "page",
}


class OpmlError(MonitorError):
    """An OPML file that cannot be read at all."""


@dataclass(frozen=True)
class OpmlFeed:
    """One feed of an OPML list."""

    name: str
    url: str
    tags: tuple[str, ...] = ()
    kind: str = "rss"
    line: int | None = None

    def entry(self) -> dict:
        """As a feeds.yaml entry."""
        return (
            {"name": self.name, "url": self.url}
            | ({"kind": self.kind} if self.kind != "rss" else {})
            | ({"tags": list(self.tags)} if self.tags else {})
        )


@dataclass(frozen=True)
class OpmlList:
    """The feeds read from an OPML file, and the outlines skipped with the reason (file:line: why)."""

    title: str | None
    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[str, ...]


def read_opml(path: Path) -> OpmlList:
    """Read the feeds of an OPML file.

    Raises:
        OpmlError: the file is missing, too large, not XML, not OPML, or declares entities.
    """
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except FileTooLarge:
        raise OpmlError(
            f"{path}: the file is larger than 5 MB", hint="is this an OPML subscription list?"
        ) from None
    except OSError as exc:
        raise OpmlError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    return parse_opml(data, name=str(path))


_WIDE = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    # Without a byte order mark, as XML's appendix F tells them apart (and libxml2 reads them): UTF-32 first,
    # whose "<" also starts UTF-16's "<\x00".
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[^"']*""")


def _as_utf8(data: bytes) -> bytes:
    """A list exported in UTF-16 or UTF-32 (as some Windows readers do) as UTF-8, its declaration changed to
    say so: the checks made on the bytes (entity declarations, bare ampersands) read ASCII, and would pass
    over a declaration or cut a character in two in a wide encoding."""
    for mark, codec in _WIDE:
        if data.startswith(mark):
            text = data.decode(codec, errors="replace").lstrip("\ufeff")
            return _DECLARED_ENCODING.sub(r"\1UTF-8", text, count=1).encode("utf-8")
    return data


def parse_opml(data: bytes, *, name: str) -> OpmlList:
    """Read the feeds of OPML bytes; ``name`` is the file named in messages."""
    data = _as_utf8(data)
    if b"<!ENTITY" in data or b"<!entity" in data:
        raise OpmlError(
            f"{name}: the file declares XML entities, which OPML never needs; refusing to read it",
            hint="export the list again from your reader",
        )
    problems: list[str] = []
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        try:
            # Careless exporters leave '&' in URLs and names unescaped; readers take it as a literal '&'.
            root = etree.fromstring(_BARE_AMPERSAND.sub(b"&amp;", data), _parser())
        except etree.XMLSyntaxError:
            root = _salvage(data, name, exc)
            line = f":{exc.lineno}" if getattr(exc, "lineno", None) else ""
            problems.append(
                f"{name}{line}: not well-formed XML ({exc.msg}); read as far as possible, "
                "outlines that could not be read are missing"
            )
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        raise OpmlError(f"{name}: not an OPML file (the root element is not <opml>)")
    body = next(
        (c for c in root if isinstance(c.tag, str) and etree.QName(c).localname.lower() == "body"), None
    )
    if body is None:
        raise OpmlError(f"{name}: the OPML file has no <body>")
    title = normalize_whitespace(root.findtext("head/title") or "") or None
    feeds: list[OpmlFeed] = []
    skipped: list[str] = problems
    _walk(body, (), 0, name, feeds, skipped, [0])
    if problems and not feeds:
        raise OpmlError(
            problems[0].split(";")[0].replace(" (", ": ", 1).rstrip(")"),
            hint="is this an OPML file? it should start with <opml>",
        )
    return OpmlList(title, tuple(feeds), tuple(skipped))


def _parser(*, recover: bool = False) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
    )


def _salvage(data: bytes, name: str, error: etree.XMLSyntaxError) -> etree._Element:
    """The document of a broken list, read as readers read it, or OpmlError if nothing can be made of it.

    Quotes inside attributes and the like cannot be repaired reliably: libxml2's recovery reads what it can,
    and an outline it cannot read is lost, not guessed.
    """
    root = None
    try:
        root = etree.fromstring(_BARE_AMPERSAND.sub(b"&amp;", data), _parser(recover=True))
    except etree.XMLSyntaxError:
        pass
    if root is None or not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        line = f":{error.lineno}" if getattr(error, "lineno", None) else ""
        raise OpmlError(
            f"{name}{line}: not well-formed XML: {error.msg}",
            hint="is this an OPML file? it should start with <opml>",
        )
    return root


def _walk(
    element,
    folders: tuple[str, ...],
    depth: int,
    name: str,
    feeds: list[OpmlFeed],
    skipped: list[str],
    count: list[int],
) -> None:
    if depth > MAX_DEPTH:
        raise OpmlError(f"{name}:{element.sourceline}: outlines nested more than {MAX_DEPTH} deep")
    for outline in element:
        if not isinstance(outline.tag, str) or etree.QName(outline).localname != "outline":
            continue
        count[0] += 1
        if count[0] > MAX_OUTLINES:
            raise OpmlError(
                f"{name}: more than {MAX_OUTLINES} outlines", hint="split the list into smaller files"
            )
        label = normalize_whitespace(outline.get("title") or outline.get("text") or "")
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url:
            _walk(outline, folders + ((label,) if label else ()), depth + 1, name, feeds, skipped, count)
            continue
        where = f"{name}:{outline.sourceline}"
        try:
            parts = urlsplit(url.replace("feed://", "https://", 1) if url.startswith("feed://") else url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:  # an unclosed IPv6 bracket, a port that is no port
            skipped.append(f"{where}: {label or 'a feed'}: the URL {url[:200]!r} is not usable: {exc}")
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname:
            skipped.append(f"{where}: {label or 'a feed'}: the URL {url[:200]!r} is not an http(s) URL")
            continue
        kind = KINDS.get((outline.get("type") or "").strip().lower(), "rss")
        categories = [c.strip().strip("/") for c in (outline.get("category") or "").split(",")]
        tags = tuple(dict.fromkeys(t for t in (*folders, *categories) if t))
        feeds.append(OpmlFeed(label[:200] or parts.hostname, parts.geturl(), tags, kind, outline.sourceline))


def write_opml(feeds: Sequence[FeedConfig], *, title: str = "monitor feeds") -> bytes:
    """The feeds as an OPML 2.0 document: a folder per first tag, all tags in ``category``."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    body = etree.SubElement(root, "body")
    folders: dict[str, etree._Element] = {}
    for feed in feeds:
        parent = body
        if feed.tags:
            folder = folders.get(feed.tags[0])
            if folder is None:
                folder = folders[feed.tags[0]] = etree.SubElement(
                    body, "outline", text=feed.tags[0], title=feed.tags[0]
                )
            parent = folder
        outline = etree.SubElement(
            parent, "outline", type=feed.kind, text=feed.name, title=feed.name, xmlUrl=feed.url
        )
        if len(feed.tags) > 1:
            outline.set("category", ",".join(f"/{tag}" for tag in feed.tags))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
