"""Deleting what is old: articles with every row that depends on them, counts only old articles made, match
evidence, delivery rows; and
giving SQLite's freed pages back to the file system.

No policy lives here: which ages count as old and how many rows one call touches are the caller's arguments
(``monitor.retention`` decides them). Each function works on one batch in the caller's transaction, so the
caller decides how long the writer is held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, exists, func, select, text, update
from sqlalchemy.orm import Session, aliased

from monitor.store.dialects import dialect_insert
from monitor.store.models import (
    Article,
    ArticleFeed,
    ArticleMatch,
    Delivery,
    DeliveryItem,
    LshBand,
    ParagraphCount,
    PrunedEntry,
    Story,
    StoryKey,
    TermCount,
    WireCluster,
)
from monitor.store.results import rowcount

EMPTY_EVIDENCE = "{}"


# --- Articles ------------------------------------------------------------------------------------------------


def old_articles(
    session: Session,
    *,
    before: datetime,
    limit: int,
    after_id: int = 0,
    sparing: Sequence[str] = (),
) -> list[int]:
    """Ids of articles fetched before ``before``, lowest first, at most ``limit`` (above ``after_id``),
    but those that a delivery in one of the ``sparing`` states has not delivered yet."""
    query = select(Article.id).where(Article.fetched_at < before, Article.id > after_id)
    if sparing:
        query = query.where(~_owed(Article.id, sparing))
    return list(session.scalars(query.order_by(Article.id).limit(limit)))


def owed_old_articles(session: Session, *, before: datetime, sparing: Sequence[str]) -> int:
    """How many articles fetched before ``before`` a delivery in one of the ``sparing`` states owes."""
    query = (
        select(func.count())
        .select_from(Article)
        .where(Article.fetched_at < before, _owed(Article.id, sparing))
    )
    return int(session.scalar(query) or 0)


def _owed(article_id, statuses: Sequence[str]):
    return exists(
        select(DeliveryItem.id)
        .join(Delivery, Delivery.id == DeliveryItem.delivery_id)
        .where(
            DeliveryItem.article_id == article_id,
            DeliveryItem.delivered_at.is_(None),
            Delivery.status.in_(statuses),
        )
    )


def delete_articles(session: Session, *, article_ids: Sequence[int], now: datetime) -> dict[str, int]:
    """Delete these articles with their feed links, matches, band keys and delivery items; drop the wire
    clusters and stories (with their keys) left empty, and give the others a representative still stored.

    Each feed link is kept as a ``pruned_entries`` row (entry key, GUID, canonical URL, seen ``now``), so that
    a feed still listing the article does not bring it back.

    Returns:
        Rows deleted per table (and ``pruned_entries`` added).
    """
    ids = sorted(set(article_ids))
    if not ids:
        return {}
    counts: dict[str, int] = {}
    remembered = [
        {"feed_id": feed_id, "entry_key": key, "guid": guid, "canonical_url": canonical, "seen_at": now}
        for feed_id, key, guid, canonical in session.execute(
            select(ArticleFeed.feed_id, ArticleFeed.entry_key, Article.guid, Article.canonical_url)
            .join(Article, Article.id == ArticleFeed.article_id)
            .where(ArticleFeed.article_id.in_(ids))
        )
    ]
    if remembered:
        counts["pruned_entries"] = _insert_ignoring_duplicates(session, remembered)
    # The queries leave NULL out; the tests on None are for the type checker.
    clusters = {
        cid
        for cid in session.scalars(
            select(Article.wire_cluster_id)
            .distinct()
            .where(Article.id.in_(ids), Article.wire_cluster_id.is_not(None))
        )
        if cid is not None
    }
    stories = {
        sid
        for sid in session.scalars(
            select(Article.story_id).distinct().where(Article.id.in_(ids), Article.story_id.is_not(None))
        )
        if sid is not None
    }
    for name, column in (
        ("delivery_items", DeliveryItem.article_id),
        ("article_matches", ArticleMatch.article_id),
        ("lsh_bands", LshBand.article_id),
        ("article_feeds", ArticleFeed.article_id),
    ):
        counts[name] = rowcount(session.execute(delete(column.table).where(column.in_(ids))))
    counts["articles"] = rowcount(session.execute(delete(Article).where(Article.id.in_(ids))))
    counts.update(_drop_empty_groups(session, clusters=sorted(clusters), stories=sorted(stories), gone=ids))
    return {name: count for name, count in counts.items() if count}


# Declarative types ``__table__`` as any FromClause; these are Tables, and typed so their columns and DML are.
_pruned_entries = cast(Table, PrunedEntry.__table__)


def _insert_ignoring_duplicates(session: Session, rows: list[dict]) -> int:
    """Insert pruned entries; one already there (another instance pruning at the same time) is left."""
    dialect = session.connection().dialect.name
    # The id of each row added comes back; a row left for a conflict returns none. The rowcount is not
    # told: PostgreSQL's driver gives -1 for an insert with RETURNING, which SQLAlchemy adds for the key,
    # and the prune report said "-3 pruned_entries".
    statement = (
        dialect_insert(dialect, _pruned_entries)
        .on_conflict_do_nothing(index_elements=["feed_id", "entry_key"])
        .returning(_pruned_entries.c.id)
    )
    # All rows in one execution, which SQLAlchemy sends as multi-row INSERTs: one statement a row was a
    # round trip each, a thousand and more per batch of articles (3 ms each to PostgreSQL on loopback).
    return len(session.connection().execute(statement, rows).all())


def _drop_empty_groups(
    session: Session, *, clusters: list[int], stories: list[int], gone: list[int]
) -> dict[str, int]:
    counts = {"wire_clusters": 0, "stories": 0, "story_keys": 0}
    if clusters:
        empty = [
            cid
            for cid in clusters
            if not session.scalar(select(exists().where(Article.wire_cluster_id == cid)))
        ]
        if empty:
            counts["wire_clusters"] = rowcount(
                session.execute(delete(WireCluster).where(WireCluster.id.in_(empty)))
            )
        kept = sorted(set(clusters) - set(empty))
        if kept:
            first = (
                select(func.min(Article.id))
                .where(Article.wire_cluster_id == WireCluster.id)
                .scalar_subquery()
            )
            session.execute(
                update(WireCluster)
                .where(WireCluster.id.in_(kept), WireCluster.representative_id.in_(gone))
                .values(representative_id=first)
            )
            # The longest member may be gone: the next copy to join has the representative chosen over every
            # member again (``monitor.dedupe.representative``), which notes the longest anew.
            session.execute(update(WireCluster).where(WireCluster.id.in_(kept)).values(longest_body=None))
    if stories:
        empty = [
            sid for sid in stories if not session.scalar(select(exists().where(Article.story_id == sid)))
        ]
        if empty:
            session.execute(update(WireCluster).where(WireCluster.story_id.in_(empty)).values(story_id=None))
            counts["story_keys"] = rowcount(
                session.execute(delete(StoryKey).where(StoryKey.story_id.in_(empty)))
            )
            counts["stories"] = rowcount(session.execute(delete(Story).where(Story.id.in_(empty))))
        kept = sorted(set(stories) - set(empty))
        if kept:
            first = select(func.min(Article.id)).where(Article.story_id == Story.id).scalar_subquery()
            session.execute(
                update(Story)
                .where(Story.id.in_(kept), Story.representative_id.in_(gone))
                .values(representative_id=first)
            )
    return counts


# --- Entries of pruned articles -------------------------------------------------------------------------------


def touch_pruned(session: Session, *, ids: Sequence[int], now: datetime, older_than: datetime) -> None:
    """Record that a feed still lists these pruned entries (rows seen before ``older_than`` only, so that a
    feed polled every few minutes does not rewrite them at every poll)."""
    if ids:
        session.execute(
            update(PrunedEntry)
            .where(PrunedEntry.id.in_(list(ids)), PrunedEntry.seen_at < older_than)
            .values(seen_at=now)
        )


def forget_pruned(
    session: Session, *, seen_before: datetime, limit: int, dry_run: bool = False, after_id: int = 0
) -> tuple[int, int]:
    """Delete (or, ``dry_run``, count) up to ``limit`` pruned entries no feed listed since ``seen_before``,
    of ids above ``after_id``. Returns how many, and the last id looked at (to go on from)."""
    ids = list(
        session.scalars(
            select(PrunedEntry.id)
            .where(PrunedEntry.seen_at < seen_before, PrunedEntry.id > after_id)
            .order_by(PrunedEntry.id)
            .limit(limit)
        )
    )
    if dry_run or not ids:
        return len(ids), ids[-1] if ids else after_id
    return rowcount(session.execute(delete(PrunedEntry).where(PrunedEntry.id.in_(ids)))), ids[-1]


# --- Term and paragraph counts -----------------------------------------------------------------------------

_COUNTS: dict[str, tuple[Table, str]] = {
    "term_counts": (cast(Table, TermCount.__table__), "term"),
    "paragraph_counts": (cast(Table, ParagraphCount.__table__), "key"),
}
COUNT_TABLES = tuple(_COUNTS)
"""The counts deduplication keeps (``store.counts``): term document frequencies and paragraph clusters."""


def counts_last_counted_before(
    session: Session, *, table: str, before: datetime, limit: int, after: int | str | None = None
) -> list:
    """Keys of up to ``limit`` rows of the count table ``table`` last counted before ``before``, in key order
    (above ``after``)."""
    counts, name = _COUNTS[table]
    key = counts.c[name]
    query = select(key).where(counts.c.last_counted < int(before.timestamp())).order_by(key).limit(limit)
    if after is not None:
        query = query.where(key > after)
    return list(session.scalars(query))


def delete_counts(session: Session, *, table: str, keys: Sequence) -> int:
    """Delete these rows of the count table ``table``."""
    if not keys:
        return 0
    counts, name = _COUNTS[table]
    return rowcount(session.execute(delete(counts).where(counts.c[name].in_(list(keys)))))


# --- Match evidence -----------------------------------------------------------------------------------------


def reduce_evidence(
    session: Session,
    *,
    before: datetime,
    limit: int,
    dry_run: bool = False,
    after_id: int = 0,
    of_articles_since: datetime | None = None,
) -> tuple[int, int]:
    """Empty the evidence JSON of up to ``limit`` matches made before ``before``, of ids above ``after_id``
    (the match, its score and its snippet stay); only those of articles fetched since ``of_articles_since``
    when given (a dry run's count leaves out the matches that go with their articles). Returns how many
    were (or, ``dry_run``, would be) reduced, and the last id looked at."""
    query = select(ArticleMatch.id).where(
        ArticleMatch.matched_at < before, ArticleMatch.evidence != EMPTY_EVIDENCE, ArticleMatch.id > after_id
    )
    if of_articles_since is not None:
        kept = select(Article.id).where(
            Article.id == ArticleMatch.article_id, Article.fetched_at >= of_articles_since
        )
        query = query.where(kept.exists())
    ids = list(session.scalars(query.order_by(ArticleMatch.id).limit(limit)))
    if dry_run or not ids:
        return len(ids), ids[-1] if ids else after_id
    session.execute(update(ArticleMatch).where(ArticleMatch.id.in_(ids)).values(evidence=EMPTY_EVIDENCE))
    return len(ids), ids[-1]


# --- Deliveries ---------------------------------------------------------------------------------------------


def old_deliveries(session: Session, *, before: datetime, limit: int, after_id: int = 0) -> list[int]:
    """Ids of deliveries for periods before ``before`` that are not being sent, lowest first."""
    query = (
        select(Delivery.id)
        .where(Delivery.period < before, Delivery.status != "sending", Delivery.id > after_id)
        .order_by(Delivery.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def items_of_old_articles(
    session: Session, *, delivery_ids: Sequence[int], before: datetime, sparing: Sequence[str] = ()
) -> int:
    """How many items of these deliveries carry an article that ``old_articles`` picks (fetched before
    ``before``, not owed by a delivery in one of the ``sparing`` states): those go with their articles."""
    item = aliased(DeliveryItem)
    query = (
        select(func.count())
        .select_from(item)
        .join(Article, Article.id == item.article_id)
        .where(item.delivery_id.in_(list(delivery_ids)), Article.fetched_at < before)
    )
    if sparing:
        query = query.where(~_owed(Article.id, sparing))
    return int(session.scalar(query) or 0)


def delete_deliveries(session: Session, *, delivery_ids: Sequence[int]) -> dict[str, int]:
    """Delete these deliveries and their items."""
    ids = list(delivery_ids)
    if not ids:
        return {}
    items = rowcount(session.execute(delete(DeliveryItem).where(DeliveryItem.delivery_id.in_(ids))))
    rows = rowcount(session.execute(delete(Delivery).where(Delivery.id.in_(ids))))
    return {name: count for name, count in (("deliveries", rows), ("delivery_items", items)) if count}


# --- Space (SQLite) -----------------------------------------------------------------------------------------


def sqlite_free_pages(session: Session) -> tuple[int, str]:
    """The pages SQLite holds free, and its auto_vacuum mode (none, full or incremental)."""
    connection = session.connection()
    free = connection.execute(text("PRAGMA freelist_count")).scalar() or 0
    mode: int = connection.execute(text("PRAGMA auto_vacuum")).scalar_one()  # the pragma always answers
    return free, {0: "none", 1: "full", 2: "incremental"}.get(mode, str(mode))


def sqlite_incremental_vacuum(session: Session, *, pages: int) -> None:
    """Give up to ``pages`` free pages back to the file system (auto_vacuum=INCREMENTAL databases only).

    Each step of the pragma's statement frees one page, and Python's sqlite3 steps a pragma that returns
    no columns once: ``incremental_vacuum(1000)`` freed one page. It is asked once a page.
    """
    connection = session.connection()
    for _ in range(int(pages)):
        connection.exec_driver_sql("PRAGMA incremental_vacuum(1)")


def sqlite_vacuum(engine) -> tuple[int, int]:
    """Rebuild an SQLite file whole (``VACUUM``), switching it to auto_vacuum=INCREMENTAL on the way: the
    one-time step an existing database needs before incremental vacuums can free anything. It holds the
    database for as long as copying it takes. Returns its size in bytes before and after."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:

        def size() -> int:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar() or 0
            return pages * (connection.exec_driver_sql("PRAGMA page_size").scalar() or 0)

        before = size()
        connection.exec_driver_sql("PRAGMA auto_vacuum=INCREMENTAL")
        connection.exec_driver_sql("VACUUM")
        return before, size()
