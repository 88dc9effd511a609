"""Tagging: Article x watchlist -> matches with evidence, pure; and the tagger the pipeline calls for every
new article, which holds the watchlist in force so the daemon can swap it for a reloaded one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from monitor.store.records import Article
from monitor.watchlist import EMPTY, ArticleText, Match, Watchlist

log = logging.getLogger(__name__)


def article_text(article: Article, sources: tuple[str, ...] = ()) -> ArticleText:
    """What the matcher reads of an article: title, body, URL, language and the feeds that carried it."""
    return ArticleText(article.title or "", article.body or "", article.url, article.language or "", sources)


def tag(article: ArticleText, watchlist: Watchlist) -> tuple[Match, ...]:
    """The topics of ``watchlist`` that ``article`` matches, with evidence. Pure."""
    return watchlist.match(article)


class Tagger:
    """Holds the watchlist in force and matches articles against it; ``replace`` swaps in another one
    atomically. Pure: the pipeline stores what it finds (``monitor.pipeline.tag_stored``)."""

    def __init__(self, watchlist: Watchlist = EMPTY) -> None:
        self.watchlist = watchlist

    def replace(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist  # one reference: a tag in progress finishes with the old one

    def match(self, article: Article, sources: tuple[str, ...] = ()) -> Tagging:
        """The topics the article matches with the watchlist in force, and that watchlist's fingerprint.

        A matcher bug costs the article its matches (logged), never the article.
        """
        watchlist = self.watchlist
        try:
            matches = tag(article_text(article, sources), watchlist) if watchlist.topics else ()
        except Exception:  # noqa: BLE001 - a matcher bug must not cost us the article
            log.exception("tagging failed: url=%s", article.url, extra={"url": article.url})
            return Tagging((), watchlist.fingerprint, failed=True)
        return Tagging(matches, watchlist.fingerprint)


@dataclass(frozen=True)
class Tagging:
    """What tagging found for one article, under which watchlist."""

    matches: tuple[Match, ...]
    watchlist: str
    failed: bool = False
