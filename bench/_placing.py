"""What the deduplication benchmarks share: an extracted article's value, storing one and placing it
through the production stage, as the pipeline does (its row first, then ``monitor.dedupe.deduplicate``),
and the daemon's regrouping pass over what was placed."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from sqlalchemy import select  # noqa: E402
from support.articles import extracted_article, stored_and_placed  # noqa: E402

from monitor.config import DedupSettings  # noqa: E402
from monitor.dedupe.regrouping import regroup_window  # noqa: E402
from monitor.dedupe.stage import Placement  # noqa: E402
from monitor.store.models import Article as ArticleRow  # noqa: E402
from monitor.store.records import Article  # noqa: E402


def article_value(url: str, body: str, at: datetime, **fields: Any) -> Article:
    """An article extracted from ``url``, published and fetched at ``at``, of no known language unless
    ``fields`` say otherwise (they replace any field)."""
    return extracted_article(url, body, at, **({"language": None} | fields))


def store_and_place(session, article: Article, settings: DedupSettings, **options: Any) -> Placement:
    """Store the article's row and place it (``options`` go to ``deduplicate``)."""
    return stored_and_placed(session, article, settings, **options)[1]


def stories_after_regrouping(
    db, ids: list[int], settings: DedupSettings, *, now: datetime
) -> list[int | None]:
    """Run the daemon's regrouping pass (``monitor.dedupe.regrouping``) over ``db`` as of ``now``; then the
    story of each of the articles ``ids``, in their order."""
    with db.write_session() as session:
        regroup_window(session, settings=settings, now=now)
    with db.session() as session:
        story_of = {i: story for i, story in session.execute(select(ArticleRow.id, ArticleRow.story_id))}
    return [story_of[i] for i in ids]
