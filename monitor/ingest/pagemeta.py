"""What an article page says about itself (title, author, date, canonical URL, site name, language), read
by trafilatura's own metadata steps, without the steps whose answer monitor would throw away.

``trafilatura.extract_metadata`` also looks for the page's categories, tags and licence, which monitor
never keeps, and for its author and date, which monitor keeps only when the feed did not give them (the
feed wins on both: ``monitor.ingest.extract.build_article``). The author's search copies and prunes the
whole page and is the dearest of them: skipped where the feed named the author, together with the others
it saves about a fifth of an extraction. The steps kept are trafilatura's, called in its order, so what they
find is what ``extract_metadata`` finds (``tests/test_page_metadata.py`` holds the two side by side).

Runs in the extraction workers, like trafilatura itself: only ``monitor.ingest.extract`` imports it, on
first use.
"""

from __future__ import annotations

import logging
from typing import Any

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura import metadata as steps
from trafilatura.settings import Document

log = logging.getLogger(__name__)


def page_metadata(
    tree: HtmlElement, url: str | None, *, search_author: bool, search_date: bool, date_params: dict[str, Any]
) -> Document:
    """The page's metadata as ``trafilatura.extract_metadata(tree, url, date_params)`` finds it, for the
    fields monitor keeps. Without ``search_author`` the author is only one its meta tags name (the page's
    bylines are not searched); without ``search_date`` the date is None."""
    found = steps.examine_meta(tree)
    if found.author and " " not in found.author:  # as trafilatura: a one-word "author" is a site's handle
        found.author = None
    try:
        found = steps.extract_meta_json(tree, found)
    except Exception:  # noqa: BLE001 - trafilatura's own guard: its JSON-LD reader has bugs on odd pages
        log.debug("JSON-LD metadata not read on %s", url, exc_info=True)
    if not found.title:
        found.title = steps.extract_title(tree)
    if not found.author and search_author:
        found.author = steps.extract_author(tree)
    if not found.url:
        found.url = steps.extract_url(tree, url)
    found.date = find_date(tree, **{**date_params, "url": found.url}) if search_date else None
    if not found.sitename:
        found.sitename = steps.extract_sitename(tree)
    if found.sitename:
        found.sitename = found.sitename.lstrip("@")  # a Twitter handle
        if found.sitename and "." not in found.sitename and not found.sitename[0].isupper():
            found.sitename = found.sitename.title()
    elif found.url and (domain := steps.META_URL.match(found.url)):
        found.sitename = domain[1]
    found.clean_and_trim()
    return found
