"""A front or section page to ``FeedItem`` values: the links on it that lead to articles of the same site.

Many ministries, agencies and regional outlets publish no feed, but their front page lists the latest
articles. This module reads such a page (bytes, as fetched by the pipeline) and keeps the links that look
like articles: on the page's own site, not navigation (tags, authors, categories, pagination, archives),
not files, not login or contact pages, and with a path that reads like an article's rather than a
section's. The site's configuration can narrow the links to a part of the page (a CSS ``selector``) or
replace the guess by a ``pattern`` the URLs must match.

courlan decides what is navigation and what cannot be crawled; the rest is the article-likeness guess in
``looks_like_article``, which errs towards skipping: a missed article is seen in the next poll's feed of
a better source, a section page taken as an article is noise in every digest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import courlan
from courlan.filters import type_filter
from lxml import etree, html

from monitor.ingest.feedbytes import decode_html
from monitor.ingest.feeditems import FeedItem, NotAFeed, ParsedFeed
from monitor.ingest.text import normalize_whitespace
from monitor.ingest.urls import MAX_URL_LENGTH, canonical_url

log = logging.getLogger(__name__)

MAX_LINKS_READ = 20_000  # anchors looked at on one page; a page with more is a sitemap in disguise
# Query parameters that page through a listing or sort it: such a link is another view of the list.
_PAGING_PARAMS = frozenset(
    {"page", "p", "pg", "paged", "offset", "start", "sort", "order", "filter", "cursor"}
)
# A path segment that is only a section name, a number or a date part: "/world", "/2024", "/09".
_SECTION_SEGMENT = re.compile(r"^[a-z]+$|^\d{1,4}$", re.IGNORECASE)
_WORDS = re.compile(r"[^\W_]+")
_NOT_ARTICLES = re.compile(
    r"/(?:search|login|logout|register|signup|subscribe|account|profile|newsletter|rss|feed|sitemap|"
    r"about(?:-us)?|contact(?:-us)?|privacy(?:-policy)?|terms(?:-of-(?:use|service))?|cookies?|impressum|"
    r"imprint|help|faq|donate|shop|jobs|careers|video|videos|"
    r"photos?|gallery|galleries|live|podcasts?|weather|horoscopes?)(?:[/.?#]|$)",
    re.IGNORECASE,
)


def parse_listing(
    body: bytes,
    *,
    url: str,
    headers: dict[str, str] | None = None,
    selector: str | None = None,
    pattern: str | None = None,
) -> ParsedFeed:
    """Find the article links of a front or section page.

    Args:
        body: the page's bytes as received.
        url: where the page came from (its ``<base href>``, if any, wins for relative links).
        headers: the response headers (Content-Type's charset, Content-Language).
        selector: a CSS selector: only links inside (or being) the matched elements count.
        pattern: a regular expression searched in each absolute URL; when given, it replaces the guess of
            what an article looks like (the link must still be on the site and not navigation).

    Returns:
        A feed of the article links in page order (top of the page first, as sites put the latest news
        there), each once, with the link's text as the title.

    Raises:
        NotAFeed: the document is not an HTML page.
    """
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    document = html_document(body, url, headers.get("content-type", ""))
    base = _base_url(document, url)
    compiled = re.compile(pattern) if pattern else None
    language = (document.get("lang") or headers.get("content-language", "").split(",")[0]).strip() or None
    items: dict[str, FeedItem] = {}
    skipped = 0
    for anchor in _anchors(document, selector):
        link = _absolute(anchor.get("href"), base)
        if link is None or link in items:
            continue
        if not is_article_link(link, page_url=url, pattern=compiled):
            skipped += 1
            continue
        title = normalize_whitespace(anchor.text_content()) or normalize_whitespace(anchor.get("title") or "")
        # Keyed by the canonical URL: the same article linked with tracking parameters is not new.
        items[link] = FeedItem(
            key=canonical_url(link),
            guid=None,
            url=link,
            title=title or None,
            author=None,
            published=None,
            summary=None,
            content=None,
            language=language,
            title_from_link=True,
        )
    log.debug(
        "page %s: %d article links, %d other links skipped", url, len(items), skipped, extra={"url": url}
    )
    page_title = normalize_whitespace(document.findtext(".//title") or "") or None
    warning = None
    if not items:
        where = f" inside {selector!r}" if selector else ""
        warning = f"no article links found on the page{where}" + (f" matching {pattern!r}" if pattern else "")
    return ParsedFeed(
        title=page_title, link=url, language=language, items=tuple(items.values()), warning=warning
    )


def is_article_link(link: str, *, page_url: str, pattern: re.Pattern[str] | None = None) -> bool:
    """Whether ``link``, found on ``page_url``, leads to an article of the same site."""
    if not same_site(link, page_url) or _same_page(link, page_url):
        return False
    if (
        courlan.is_navigation_page(link)
        or courlan.is_not_crawlable(link)
        or not type_filter(link, strict=True)
    ):
        return False
    if _is_paging(link):
        return False
    if pattern is not None:
        return bool(pattern.search(link))
    return looks_like_article(link)


def looks_like_article(link: str) -> bool:
    """An article's path says something: several words in a segment ("/world/talks-resume-in-geneva"),
    or an identifier ("/news/2024/09/09/123456", "/a/8f3c2e"), not only a section name ("/world/europe").
    """
    path = urlsplit(link).path
    if _NOT_ARTICLES.search(path):
        return False
    segments = [s for s in path.split("/") if s]
    if not segments:
        return bool(urlsplit(link).query) and "id" in dict(parse_qsl(urlsplit(link).query))
    last = re.sub(r"\.(?:s?html?|php|aspx?|jsp)$", "", segments[-1], flags=re.IGNORECASE)
    if len(_WORDS.findall(last)) >= 3 or re.search(r"\d{5,}", last):
        return True
    if len(segments) >= 2 and not all(_SECTION_SEGMENT.match(s) for s in segments):
        # "/a/8f3c2e91", "/news/ab12cd": an identifier under a section
        return bool(re.search(r"\d", last)) and len(last) >= 6
    # "/2024/09/09/1234": a dated path ending in a number
    return len(segments) >= 3 and last.isdigit() and any(len(s) == 4 and s.isdigit() for s in segments[:-1])


def same_site(link: str, page_url: str) -> bool:
    """Same host, or the same registered domain (news.example.org and www.example.org)."""
    link_host, page_host = urlsplit(link).hostname, urlsplit(page_url).hostname
    if not link_host or not page_host:
        return False
    if link_host.removeprefix("www.") == page_host.removeprefix("www."):
        return True
    link_domain, page_domain = courlan.extract_domain(link), courlan.extract_domain(page_url)
    return bool(link_domain) and link_domain == page_domain


def _same_page(link: str, page_url: str) -> bool:
    a, b = urlsplit(link), urlsplit(page_url)
    return (a.hostname, a.path.rstrip("/"), a.query) == (b.hostname, b.path.rstrip("/"), b.query)


def _is_paging(link: str) -> bool:
    query = parse_qsl(urlsplit(link).query, keep_blank_values=True)
    return any(name.lower() in _PAGING_PARAMS for name, _ in query) or bool(
        re.search(r"/(?:page|seite|pagina)/?\d+/?$|[/-]p\d+/?$", urlsplit(link).path, re.IGNORECASE)
    )


def html_document(body: bytes, url: str, content_type: str) -> html.HtmlElement:
    """The page's HTML, read in the charset pages are read in (``feedbytes.decode_html``): a body that is
    UTF-8 is UTF-8 whatever its labels say (a server's default ``charset=ISO-8859-1`` on a UTF-8 page made
    every title mojibake); a page in another charset is read in the one its header or ``<meta>`` names."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if not head or head.startswith((b"{", b"[")) or (head.startswith(b"<?xml") and b"<html" not in head):
        raise NotAFeed("not an HTML page: found no HTML to read links from")
    charset = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    encoding = charset.group(1) if charset and _known(charset.group(1)) else None
    decoded = decode_html(body, content_type)
    if decoded is not None:
        body, encoding = decoded.encode("utf-8"), "utf-8"
    elif _is_utf8(body):
        encoding = "utf-8"
    parser = html.HTMLParser(
        encoding=encoding,
        remove_comments=True,
        no_network=True,
        huge_tree=False,
    )
    try:
        document = html.document_fromstring(body, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise NotAFeed(f"not an HTML page: {exc}") from None
    return document


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _known(encoding: str) -> bool:
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def _base_url(document: html.HtmlElement, url: str) -> str:
    base = document.find(".//base[@href]")
    return _absolute(base.get("href"), url) or url if base is not None else url


def _anchors(document: html.HtmlElement, selector: str | None) -> Iterable[html.HtmlElement]:
    if selector is None:
        roots = [document]
    else:
        from lxml.cssselect import CSSSelector

        roots = CSSSelector(selector)(document)
    seen = 0
    for root in roots:
        anchors = [root] if root.tag == "a" else root.iter("a")
        for anchor in anchors:
            if anchor.get("href"):
                seen += 1
                if seen > MAX_LINKS_READ:
                    return
                yield anchor


def _absolute(href: str | None, base: str) -> str | None:
    """``href`` made absolute, without its fragment; None unless it is an http(s) URL of sane length."""
    href = (href or "").strip()
    if not href or href.startswith("#"):
        return None
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    link = urlunsplit(parts._replace(fragment=""))
    return link if len(link) <= MAX_URL_LENGTH else None
