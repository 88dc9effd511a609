"""Article values as the ingest stage hands them to the store, and storing and placing one: for tests (and
benchmarks) that place articles directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.config import DedupSettings
from monitor.dedupe import deduplicate
from monitor.dedupe.stage import Placement
from monitor.store.models import Article as ArticleRow
from monitor.store.records import Article, BodySource, content_hash


def extracted_article(url: str, body: str, at: datetime, **fields: Any) -> Article:
    """An article whose page was extracted, published and fetched at ``at``; ``fields`` replace the rest."""
    values: dict[str, Any] = {
        "entry_key": url,
        "url": url,
        "canonical_url": url,
        "guid": None,
        "title": None,
        "author": None,
        "published": at,
        "fetched_at": at,
        "language": "en",
        "body": body,
        "summary": None,
        "body_source": BodySource.EXTRACTED,
        "body_note": None,
        "content_hash": content_hash(body),
    }
    return Article(**(values | fields))


def stored_and_placed(
    session, article: Article, settings: DedupSettings, **options: Any
) -> tuple[ArticleRow, Placement]:
    """Store the article's row as the pipeline does, then place it through the stage (``options`` go to
    ``deduplicate``): its row and where it was placed."""
    row = stored_row(session, article)
    return row, deduplicate(session, article_id=row.id, article=article, settings=settings, **options)


def stored_row(session, article: Article) -> ArticleRow:
    """The article's row, stored (flushed, so it has its id) and not yet placed."""
    row = ArticleRow(
        url=article.url,
        canonical_url=article.canonical_url,
        title=article.title,
        published_at=article.published,
        fetched_at=article.fetched_at,
        body=article.body,
        body_source=str(article.body_source),
        content_hash=article.content_hash,
    )
    session.add(row)
    session.flush()
    return row
