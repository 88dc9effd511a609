"""An article page to its body and metadata (trafilatura), and the choice between that and the feed's text.

``extract_page`` is pure and CPU-bound: the pipeline runs it in worker processes.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from urllib.parse import urlsplit

from monitor.ingest.feedbytes import decode_html
from monitor.ingest.feeditems import FeedItem
from monitor.ingest.text import normalize_whitespace
from monitor.ingest.urls import MAX_URL_LENGTH, canonical_url
from monitor.store.records import Article, Body, BodySource, ExtractedPage, content_hash

log = logging.getLogger(__name__)

# A page date with a time-zone abbreviation that dateutil does not know ("2014-12-29 08:57:25 EST" in a
# last-modified meta tag) is read without its zone, as htmldate chooses. dateutil's warning about it names
# no page and asks nothing of the user: it was a log line in every extraction worker that met one.
warnings.filterwarnings("ignore", message=r"tzname \S+ identified but not understood", module=r"dateutil\.")

_HTML_LANG = re.compile(rb"<html[^>]*?\slang\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?)", re.I)
SITE_NAME_CHARS = 200
_MIDNIGHT = time(0, 0)
_GZIP = b"\x1f\x8b\x08"
# With its offset (%z): a page's "2024-09-01T23:30:00-05:00" was read as 23:30 UTC, five hours early. A date
# that names no zone, or only the day, comes without one and is read as UTC.
_DATE_PARAMS = {"original_date": True, "extensive_search": False, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


@dataclass(frozen=True)
class Wanted:
    """Which of a page's dearer metadata to look for: not what its entry's feed already gave (the feed
    wins on both), so that no worker searches a page's bylines for an author it would throw away."""

    author: bool = True
    date: bool = True


EVERYTHING = Wanted()


def extract_page(
    html: bytes, url: str, content_type: str = "", *, wanted: Wanted = EVERYTHING
) -> ExtractedPage | None:
    """Extract the main text and metadata of a news page.

    Args:
        html: the page as received; read in the charset its ``Content-Type`` or ``<meta>`` names
            (``feedbytes.decode_html``), else trafilatura detects its encoding.
        url: the page's URL, used to resolve relative links and as the canonical URL's fallback.
        content_type: the response's Content-Type header, for its charset.
        wanted: the dearer metadata to look for; what the entry's feed already gave is not (the feed wins).

    Returns:
        The page's text and metadata, or None when trafilatura finds no main text.
    """
    trafilatura, load_html, unpack, page_metadata = _trafilatura()
    try:
        if html.startswith(_GZIP):  # compressed, though its server did not say so: unpacked (bounded) first,
            html = unpack(html)  # or its charset's label would decode the compressed bytes
        tree = load_html(decode_html(html, content_type) or html)
        if tree is None:
            return None
        metadata = page_metadata(
            tree, url, search_author=wanted.author, search_date=wanted.date, date_params=_DATE_PARAMS
        )
        # The tree is copied before the text is taken out of it (trafilatura prunes what it reads).
        document = trafilatura.bare_extraction(tree, url=url, include_comments=False, include_tables=False)
    except Exception:  # noqa: BLE001 - a hostile page must not take the worker down
        log.warning("extraction crashed on %s", url, exc_info=True)
        return None
    # A dict comes only with as_dict=True, which is not asked for: the test narrows the declared type.
    if document is None or isinstance(document, dict):
        return None
    text = document.text
    if not text or not text.strip():
        return None
    canonical = metadata.url if metadata.url and urlsplit(metadata.url).scheme in ("http", "https") else None
    return ExtractedPage(
        text=_without_headline(normalize_whitespace(text), metadata.title),
        title=_clean(metadata.title),
        author=_clean(metadata.author),
        published=_parse_date(metadata.date),
        language=_clean(metadata.language) or _html_language(html),
        canonical_url=canonical,
        site_name=_site_name(metadata.sitename),
    )


_JOINERS = frozenset("\u200c\u200d")
"""The zero-width non-joiner and joiner: letters of Persian (ZWNJ between a stem and its suffix) and of
Indic scripts."""


@functools.cache
def _trafilatura():
    """trafilatura, its page parser and monitor's metadata steps, imported on first use; the parser made
    cheaper and the text cleaning made to keep ``_JOINERS``, once.

    Imported here: extraction runs in the worker processes (monitor.ingest.extract_worker loads it there),
    and the pipeline's own process, which only chooses and stores texts, need not carry trafilatura and lxml.

    trafilatura drops every character that is not printable from the text, the zero-width joiners with
    them: Persian words ran together in the text readers see (موشکها for موشک‌ها, "missiles"), unlike the
    outlet's own. Its cleaning looks the function up at each call, so the one given here is used.

    lxml.html's parser asks a Python method which class each element object gets (a form's, an input's, a
    plain element's) every time one is made: some 6,000 calls a page, 5% of an extraction. trafilatura
    uses none of the form classes, so one class for every element, chosen in C, gives the same text.
    """
    import trafilatura
    import trafilatura.utils
    from lxml import etree
    from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction
    from trafilatura.utils import HTML_PARSER, handle_compressed_file, load_html

    from monitor.ingest.pagemeta import page_metadata

    HTML_PARSER.set_element_class_lookup(
        etree.ElementDefaultClassLookup(
            element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
        )
    )
    drop_unprintable = trafilatura.utils.return_printables_and_spaces

    @functools.lru_cache(maxsize=2**14)
    def printable_or_joiner(char: str) -> str:
        return char if char in _JOINERS else drop_unprintable(char)

    trafilatura.utils.return_printables_and_spaces = printable_or_joiner
    trafilatura.utils.line_processing.cache_clear()  # lines cleaned before are cached
    return trafilatura, load_html, handle_compressed_file, page_metadata


def _without_headline(text: str, title: str | None) -> str:
    """``text`` without a first line that is the page's headline (trafilatura keeps an ``<h1>`` inside the
    article): the title is matched on its own, and counted again in the body it inflated a match's mentions,
    put the title's words in the lead and numbered the body's words from the headline."""
    first, _, rest = text.partition("\n")
    if title and rest.strip() and " ".join(first.split()).casefold() == " ".join(title.split()).casefold():
        return rest.lstrip("\n")
    return text


def _site_name(value: str | None) -> str | None:
    # A page's site name can be a whole slogan; a publisher's name is short.
    value = _clean(value)
    return value[:SITE_NAME_CHARS].rstrip() if value else None


def choose_body(
    page: ExtractedPage | None, feed_text: str, *, page_problem: str | None, min_chars: int
) -> Body:
    """The article's body: the extracted text if it is long enough, else the feed's own text, with the reason.

    Args:
        page: the extraction result, None when the page was not fetched or gave nothing.
        feed_text: the feed entry's content or summary (``FeedItem.feed_text``), the fallback.
        page_problem: why there is no page (fetch failure, robots.txt, pages disabled), if that is the case.
        min_chars: extracted text shorter than this is considered a failed extraction.
    """
    if page is not None and len(page.text) >= min_chars:
        return Body(page.text, BodySource.EXTRACTED)
    if page is not None and len(page.text) >= len(feed_text):
        # Short, but still more than the feed gives: keep it, and say why it is short.
        return Body(page.text, BodySource.EXTRACTED, f"extracted text is short ({len(page.text)} characters)")
    if page_problem is None:
        page_problem = (
            "no main text found in page" if page is None else f"extracted only {len(page.text)} characters"
        )
    if feed_text:
        return Body(feed_text, BodySource.FEED, page_problem)
    return Body("", BodySource.FAILED, page_problem)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo:
        return parsed
    if parsed.time() == _MIDNIGHT:
        # The page gave its day alone (htmldate says a time with its offset): placed at the day's noon UTC,
        # it reads as that day from UTC-11 to UTC+11, where midnight UTC showed the day before in the
        # Americas. A day still to come here is clamped to when it was fetched (``build_article``).
        return parsed.replace(hour=12, tzinfo=UTC)
    return parsed.replace(tzinfo=UTC)


def _html_language(html: bytes) -> str | None:
    match = _HTML_LANG.search(html[:8192])
    return match.group(1).decode("ascii").replace("_", "-").lower() if match else None


def _clean(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value or None


def build_article(
    item: FeedItem,
    page: ExtractedPage | None,
    body: Body,
    *,
    url: str,
    fetched_at: datetime,
    canonical: str | None = None,
) -> Article:
    """Merge what the feed says with what the page says.

    The feed wins on title, author and date (page titles carry site names, page dates are often the day only),
    except on a title that is only a link's text (a front page's); the page wins on language and canonical
    URL.
    """
    canonical = canonical or canonical_url((page.canonical_url if page else None) or url)
    published = item.published or (page.published if page else None)
    if published is not None and published > fetched_at:
        published = fetched_at  # a clock running ahead must not put an article in the future
    return Article(
        entry_key=item.key,
        url=url,
        canonical_url=canonical,
        guid=item.guid if item.guid and len(item.guid) <= MAX_URL_LENGTH else None,
        title=_headline(item.title, page.title if page else None, from_link=item.title_from_link),
        author=item.author or (page.author if page else None),
        published=published,
        fetched_at=fetched_at,
        language=(page.language if page else None) or item.language,
        body=body.text,
        summary=item.summary or (item.content[:1000] if item.content else None),
        body_source=body.source,
        body_note=body.note,
        content_hash=content_hash(body.text or item.title or url),
        site_name=page.site_name if page else None,
    )


def _headline(feed_title: str | None, page_title: str | None, *, from_link: bool) -> str | None:
    """An article's title: the feed's (page titles carry site names), unless it is only the text of a link to
    the page (``from_link``: a front page's "Read more"), which the page's own headline replaces."""
    if from_link:
        return page_title or feed_title
    return feed_title or page_title


def revision_of(stored: Article, new: Article) -> Article | None:
    """What a changed entry makes of the stored article, or None when there is nothing to keep of it.

    A fetch that fell back to the feed's text never replaces an extracted body: nothing stored is lost to a
    failing page. What the new version does not say (a title, a date) keeps its stored value. With the text
    unchanged, only a new title counts (a corrected headline, which digests show and topics match on); a
    date bumped on the same text is no new version.
    """
    if stored.content_hash == new.content_hash:
        return replace(stored, title=new.title) if new.title and new.title != stored.title else None
    if stored.body_source is BodySource.EXTRACTED and new.body_source is not BodySource.EXTRACTED:
        return None
    return _with_body_of(_as_told_by(stored, new), new)


def taken_over_by(stored: Article, new: Article) -> Article | None:
    """The stored article as its own site's feed tells it (``new``: built from that feed's entry), or None
    when that changes nothing: the title, author, summary and date are the site's; the body is the page's
    as before, or the new one when it is the page's or the stored one was not."""
    taken = _as_told_by(stored, new)
    if new.body_source is BodySource.EXTRACTED or stored.body_source is not BodySource.EXTRACTED:
        taken = _with_body_of(taken, new)
    return None if taken == stored else taken


def _as_told_by(stored: Article, new: Article) -> Article:
    """``stored`` with what ``new`` says of it (title, author, date, summary, language, site); what it does
    not say keeps its stored value."""
    return replace(
        stored,
        title=new.title or stored.title,
        author=new.author or stored.author,
        published=new.published or stored.published,
        summary=new.summary or stored.summary,
        language=new.language or stored.language,
        site_name=new.site_name or stored.site_name,
    )


def _with_body_of(article: Article, new: Article) -> Article:
    return replace(
        article,
        body=new.body,
        body_source=new.body_source,
        body_note=new.body_note,
        content_hash=new.content_hash,
    )


def completed_by_page(
    stored: Article, page: ExtractedPage, body: Body, *, title_from_link: bool = False
) -> Article:
    """A stored article whose page was fetched at last, with ``body`` chosen from it. As when an article is
    first stored (``build_article``), the feed's title, author and date stay, the page's fill what the feed
    did not give (a date no later than when the entry was first seen) and the page's language wins; a title
    that is only a link's text (``title_from_link``: a front page's) gives way to the page's headline."""
    published = stored.published or page.published
    if published is not None and published > stored.fetched_at:
        published = stored.fetched_at
    return replace(
        stored,
        body=body.text,
        body_source=body.source,
        body_note=body.note,
        title=_headline(stored.title, page.title, from_link=title_from_link),
        author=stored.author or page.author,
        published=published,
        language=page.language or stored.language,
        site_name=page.site_name or stored.site_name,
        content_hash=content_hash(body.text),
        page_retry_at=None,
    )
