"""Retention: what is old enough to go, applied in short batches so the writer is never held for long.

The windows come from the ``retention:`` section of feeds.yaml (``monitor.config.RetentionSettings``):

* ``articles``: an article fetched longer ago goes, with its feed links, matches, band keys and delivery
  items, and the wire clusters and stories it leaves empty. Each feed link stays as a ``pruned_entries``
  row (entry key, GUID, canonical URL), so a feed that still lists the article does not bring it back; a
  row no feed listed within the same window is forgotten. The deduplication counts (``term_counts``, the
  story level's document frequencies, and ``paragraph_counts``, what boilerplate is learnt from) lose the
  rows that only pruned articles counted: a row last counted by an article fetched before the cutoff has
  no kept article behind it. They cannot be decremented by what each pruned article added, because that is
  not recorded and cannot be told again (which paragraphs counted as boilerplate, and which a copy added to
  its cluster, depended on the counts and candidates of that moment); rebuilding them from the kept
  articles would read every kept text each day. So the rows that stay keep their counts from all time,
  pruned articles' included, and so does the number of articles counted (the N of IDF): a document
  frequency never exceeds N, a term's IDF among the terms still seen is unchanged, and a paragraph that
  outlets still print stays learnt as boilerplate. What only pruned articles held is forgotten as if
  never seen.
* ``evidence``: a match made longer ago keeps its score and snippet; its evidence JSON is emptied.
* ``deliveries``: ledger rows of older periods go with their items (the configuration makes sure their
  articles are out of every digest's reach by then: ``monitor.config._ledger_problem``).

Each batch is its own transaction; a dry run makes the same deletions and rolls each batch back, so what it
reports is exactly what a real run would do. On SQLite the freed pages are then given back to the file
system in bounded steps (``PRAGMA incremental_vacuum``), when the file is in auto_vacuum=INCREMENTAL mode.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.config import RetentionSettings
from monitor.store import prune as store
from monitor.store.db import Database
from monitor.store.deliveries import OWED

log = logging.getLogger(__name__)

ARTICLE_BATCH = 1000  # articles deleted per transaction
ROW_BATCH = 5000  # evidence rows, deliveries or pruned entries per transaction
SEEN_EVERY = timedelta(days=1)  # a pruned entry still listed by its feed is marked seen at most this often
VACUUM_STEP = 1000  # SQLite pages freed per incremental vacuum step (4 MB at the default page size)
VACUUM_STEPS = 1000  # at most this many steps after one prune
PAUSE = 0.05  # seconds between two batches: other writers get the database in between


@dataclass
class PruneReport:
    """What a prune removed (or, dry run, would remove), per table."""

    dry_run: bool
    cutoffs: dict[str, datetime | None]
    rows: Counter = field(default_factory=Counter)
    evidence_reduced: int = 0
    owed_kept: int = 0  # articles past the window kept for the deliveries that owe them
    vacuumed_pages: int = 0
    vacuum_mode: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "cutoffs": {k: v.isoformat() if v else None for k, v in self.cutoffs.items()},
            "deleted": dict(sorted(self.rows.items())),
            "evidence_reduced": self.evidence_reduced,
            "owed_kept": self.owed_kept,
            "vacuumed_pages": self.vacuumed_pages,
            "vacuum_mode": self.vacuum_mode,
            "seconds": round(self.seconds, 3),
        }


class _RolledBack(Exception):
    """Raised inside a dry run's transaction so that it is rolled back."""


def prune(
    db: Database,
    retention: RetentionSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    article_batch: int = ARTICLE_BATCH,
    pause: float = PAUSE,
    vacuum: bool = True,
) -> PruneReport:
    """Apply the retention windows once.

    Args:
        now: the present (a fake clock in tests and benchmarks).
        dry_run: count what would go, changing nothing.
        vacuum: on SQLite, give freed pages back to the file system afterwards (incremental mode only).

    Returns:
        What went (or would go), per table.
    """
    started = time.monotonic()
    now = now or datetime.now(UTC)
    cutoffs = {
        name: None if window is None else now - window
        for name, window in (
            ("articles", retention.articles),
            ("evidence", retention.evidence),
            ("deliveries", retention.deliveries),
        )
    }
    report = PruneReport(dry_run, cutoffs)
    if cutoffs["articles"] is not None:
        # The articles an owed delivery carries stay until they are sent: a channel down for longer than the
        # window lost them, without a word. The ledger forgets such a delivery after ``deliveries`` (a channel
        # removed from the configuration), and they go then.
        _prune_articles(db, report, before=cutoffs["articles"], now=now, batch=article_batch, pause=pause)
        with db.session() as session:
            report.owed_kept = store.owed_old_articles(session, before=cutoffs["articles"], sparing=OWED)
        if report.owed_kept:
            log.warning(
                "retention: %d articles past retention.articles are kept: deliveries not sent yet owe them "
                "(monitor deliveries lists them)",
                report.owed_kept,
            )
        _forget_entries(db, report, seen_before=cutoffs["articles"], pause=pause)
        _forget_counts(db, report, counted_before=cutoffs["articles"], pause=pause)
    if cutoffs["evidence"] is not None:
        # A dry run's article deletes were rolled back: their matches, which a real run deletes first, are not
        # counted among those whose evidence would be emptied.
        kept_since = cutoffs["articles"] if dry_run else None
        _reduce_evidence(db, report, before=cutoffs["evidence"], pause=pause, of_articles_since=kept_since)
    if cutoffs["deliveries"] is not None:
        # A dry run's article deletes were rolled back: the items of those articles, which a real run deletes
        # with them, are not counted again with their deliveries.
        gone_before = cutoffs["articles"] if dry_run else None
        _prune_deliveries(db, report, before=cutoffs["deliveries"], pause=pause, articles_before=gone_before)
    if db.is_sqlite and not dry_run and vacuum:
        report.vacuumed_pages, report.vacuum_mode = _vacuum(db, pause=pause)
    report.seconds = time.monotonic() - started
    if not dry_run and (report.rows or report.evidence_reduced):
        log.info(
            "retention: %s; %d match evidences reduced; %d pages freed in %.1fs",
            ", ".join(f"{count} {table}" for table, count in sorted(report.rows.items())) or "no rows",
            report.evidence_reduced,
            report.vacuumed_pages,
            report.seconds,
        )
    return report


def _batch(db: Database, dry_run: bool, work):
    """Run ``work(session)`` in one transaction, rolled back on a dry run; return its result."""
    try:
        with db.session() as session:
            result = work(session)
            if dry_run:
                raise _RolledBack(result)
    except _RolledBack as rolled_back:
        return rolled_back.args[0]
    return result


def _prune_articles(
    db: Database, report: PruneReport, *, before: datetime, now: datetime, batch: int, pause: float
) -> None:
    _by_id(
        db,
        report,
        lambda session, last: store.old_articles(
            session, before=before, limit=batch, after_id=last, sparing=OWED
        ),
        lambda session, ids: store.delete_articles(session, article_ids=ids, now=now),
        batch=batch,
        pause=pause,
    )


def _by_id(db: Database, report: PruneReport, select, delete, *, batch: int, pause: float) -> None:
    """Delete, batch after batch, the rows ``select(session, after_id)`` picks (ascending ids, at most
    ``batch``) with ``delete(session, ids)`` (counts per table) until a batch comes back short. Paging by id
    lets a dry run, whose batches are rolled back, go on past the rows it has already counted."""
    last = 0
    while True:

        def work(session, last=last):
            ids = select(session, last)
            return ids, delete(session, ids)

        ids, counts = _batch(db, report.dry_run, work)
        if not ids:
            return
        report.rows.update(counts)
        last = ids[-1]
        if len(ids) < batch:
            return
        time.sleep(pause)


def _forget_entries(db: Database, report: PruneReport, *, seen_before: datetime, pause: float) -> None:
    forgotten = _until_done(
        db,
        report,
        lambda session, last: store.forget_pruned(
            session, seen_before=seen_before, limit=ROW_BATCH, dry_run=report.dry_run, after_id=last
        ),
        pause=pause,
    )
    if forgotten:
        report.rows["pruned_entries forgotten"] += forgotten


def _forget_counts(db: Database, report: PruneReport, *, counted_before: datetime, pause: float) -> None:
    """Delete the count rows no kept article counted, batch after batch in key order."""
    for table in store.COUNT_TABLES:
        after = None
        while True:

            def work(session, after=after, table=table):
                keys = store.counts_last_counted_before(
                    session, table=table, before=counted_before, limit=ROW_BATCH, after=after
                )
                return keys, store.delete_counts(session, table=table, keys=keys)

            keys, deleted = _batch(db, report.dry_run, work)
            if deleted:
                report.rows[table] += deleted
            if len(keys) < ROW_BATCH:
                break
            after = keys[-1]
            time.sleep(pause)


def _reduce_evidence(
    db: Database,
    report: PruneReport,
    *,
    before: datetime,
    pause: float,
    of_articles_since: datetime | None = None,
) -> None:
    report.evidence_reduced += _until_done(
        db,
        report,
        lambda session, last: store.reduce_evidence(
            session,
            before=before,
            limit=ROW_BATCH,
            dry_run=report.dry_run,
            after_id=last,
            of_articles_since=of_articles_since,
        ),
        pause=pause,
    )


def _until_done(db: Database, report: PruneReport, step, *, pause: float) -> int:
    """Run ``step(session, after_id)`` (rows done, at most ROW_BATCH, and the last id it looked at) batch
    after batch until one comes back short; the rows done in all. Paging by id lets a dry run, whose batches
    are rolled back, count past its first batch (it counted that one alone, and said 5,000 where 11,053
    went)."""
    total, last = 0, 0
    while True:
        done, last = _batch(db, report.dry_run, lambda session, last=last: step(session, last))
        total += done
        if done < ROW_BATCH:
            return total
        time.sleep(pause)


def _prune_deliveries(
    db: Database,
    report: PruneReport,
    *,
    before: datetime,
    pause: float,
    articles_before: datetime | None = None,
) -> None:
    def delete(session, ids):
        counted = 0
        if articles_before is not None:
            counted = store.items_of_old_articles(
                session, delivery_ids=ids, before=articles_before, sparing=OWED
            )
        counts = store.delete_deliveries(session, delivery_ids=ids)
        if counted:
            counts["delivery_items"] -= counted
        return {name: count for name, count in counts.items() if count}

    _by_id(
        db,
        report,
        lambda session, last: store.old_deliveries(session, before=before, limit=ROW_BATCH, after_id=last),
        delete,
        batch=ROW_BATCH,
        pause=pause,
    )


def _vacuum(db: Database, *, pause: float) -> tuple[int, str]:
    """Free SQLite pages in bounded steps, each its own short transaction."""
    freed = 0
    with db.session() as session:
        free, mode = store.sqlite_free_pages(session)
    if mode != "incremental":
        if free:
            log.info(
                "retention: %d free pages stay in the SQLite file (auto_vacuum=%s); run "
                "`monitor prune --vacuum` once to switch it to incremental mode",
                free,
                mode,
            )
        return 0, mode
    for _ in range(VACUUM_STEPS):
        if free <= 0:
            break
        with db.session() as session:
            store.sqlite_incremental_vacuum(session, pages=min(VACUUM_STEP, free))
            left, _ = store.sqlite_free_pages(session)
        freed += free - left
        if left >= free:
            break
        free = left
        time.sleep(pause)
    return freed, mode


def vacuum_whole(db: Database) -> tuple[int, int] | None:
    """Rebuild the SQLite file in auto_vacuum=INCREMENTAL mode (once, for a database made before it); its
    size in bytes before and after (None: not SQLite, nothing done)."""
    return store.sqlite_vacuum(db.engine) if db.is_sqlite else None


def mark_seen(session, *, pruned_ids, now: datetime) -> None:
    """Record that a feed still lists these pruned entries, so they are remembered while it does."""
    store.touch_pruned(session, ids=pruned_ids, now=now, older_than=now - SEEN_EVERY)
