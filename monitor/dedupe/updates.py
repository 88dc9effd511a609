"""Updates are not copies: how the pipeline notices that a known entry changed. Pure.

A feed that edits an entry keeps its GUID or link but changes its title, text or date. The hash of what
the feed says of the entry is kept on the entry's ``article_feeds`` row; when a later poll gives another
hash, the page is fetched and extracted again, and the stored article is updated in place (its revision
count goes up) and placed in the clusters again, so it never becomes a duplicate of itself.
"""

from __future__ import annotations

import hashlib

from monitor.ingest.feeditems import FeedItem


def entry_hash(item: FeedItem) -> str:
    """A hash of an entry's title, summary, content and date, as the feed gives them."""
    parts = (
        item.title or "",
        item.summary or "",
        item.content or "",
        item.published.isoformat() if item.published else "",
    )
    digest = hashlib.sha256()
    for part in parts:
        folded = " ".join(part.split())  # whitespace-only changes are no edit
        digest.update(len(folded).to_bytes(4, "little"))
        digest.update(folded.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
