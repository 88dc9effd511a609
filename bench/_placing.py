"""What the deduplication benchmarks share: an extracted article's value, and storing one and placing it
through the production stage, as the pipeline does (its row first, then ``monitor.dedupe.deduplicate``)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from support.articles import extracted_article  # noqa: E402

from monitor.config import DedupSettings  # noqa: E402
from monitor.dedupe import deduplicate  # noqa: E402
from monitor.dedupe.stage import Placement  # noqa: E402
from monitor.store.models import Article as ArticleRow  # noqa: E402
from monitor.store.records import Article  # noqa: E402


def article_value(url: str, body: str, at: datetime, **fields: Any) -> Article:
    """An article extracted from ``url``, published and fetched at ``at``, of no known language unless
    ``fields`` say otherwise (they replace any field)."""
    return extracted_article(url, body, at, **({"language": None} | fields))


def store_and_place(session, article: Article, settings: DedupSettings, **options: Any) -> Placement:
    """Store the article's row and place it (``options`` go to ``deduplicate``)."""
    row = ArticleRow(
        url=article.url,
        canonical_url=article.canonical_url,
        title=article.title,
        fetched_at=article.fetched_at,
        published_at=article.published,
        body=article.body,
        body_source=str(article.body_source),
        content_hash=article.content_hash,
    )
    session.add(row)
    session.flush()
    return deduplicate(session, article_id=row.id, article=article, settings=settings, **options)
