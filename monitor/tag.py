"""Tagging: Article x watchlist -> matches with evidence; and the tagger the pipeline calls for every new
article, which holds the watchlist in force so the daemon can swap it for a reloaded one."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from monitor.extract import Article
from monitor.store import matches as match_store
from monitor.watchlist import EMPTY, ArticleText, Match, Watchlist

log = logging.getLogger(__name__)


def article_text(article: Article, sources: tuple[str, ...] = ()) -> ArticleText:
    """What the matcher reads of an article: title, body, URL, language and the feeds that carried it."""
    return ArticleText(article.title or "", article.body or "", article.url, article.language or "", sources)


def tag(article: ArticleText, watchlist: Watchlist) -> tuple[Match, ...]:
    """The topics of ``watchlist`` that ``article`` matches, with evidence. Pure."""
    return watchlist.match(article)


class Tagger:
    """Tags stored articles with the watchlist in force; ``replace`` swaps in another one atomically."""

    def __init__(self, watchlist: Watchlist = EMPTY) -> None:
        self.watchlist = watchlist

    def replace(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist  # one reference: a tag in progress finishes with the old one

    def tag_stored(
        self, session: Session, article_id: int, article: Article, *, replace: bool = False
    ) -> tuple[Match, ...]:
        """Match a stored article and store its matches, in the caller's transaction.

        Args:
            replace: the article was stored before and its text changed: replace its matches.
        """
        watchlist = self.watchlist
        if not watchlist.topics and not replace:
            return ()
        sources = match_store.feed_names(session, article_ids=[article_id]).get(article_id, ())
        try:
            matches = tag(article_text(article, sources), watchlist)
        except Exception:  # noqa: BLE001 - a matcher bug must not cost us the article
            log.exception("tagging failed: url=%s", article.url, extra={"url": article.url})
            return ()
        store = match_store.replace_matches if replace else match_store.save_matches
        store(
            session,
            article_id=article_id,
            matches=matches,
            watchlist=watchlist.fingerprint,
            now=datetime.now(UTC),
        )
        for match in matches:
            log.info(
                "match topic=%s score=%g url=%s",
                match.topic,
                match.score,
                article.url,
                extra={"url": article.url, "topic": match.topic},
            )
        return matches
