"""Article values as the ingest stage hands them to the store: for tests that place articles directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
