"""Term counts written behind: what deduplication adds to the IDF counts, gathered for a few seconds and
written together, instead of an upsert of a few hundred rows for every article placed.

Why: an article adds one to the count of each of its distinct terms, and each term's row sits on a page of
the count table of its own. A transaction writes every page it touched, so on SQLite counting an article's
terms was more than half of what placing it wrote to disk, and a fifth of its CPU. Gathered over a few
seconds, the pages of the terms that most articles share are written once for all of them.

What it costs, and why that is acceptable: counts this process has gathered but not yet written are unseen
by other instances for up to ``flush_every`` seconds (this process adds them to what it reads, so its own
placements see every article it counted); a process killed in between leaves those articles uncounted. The
counts are statistics (how rare a term is): a few seconds of articles missing from them moves no
document frequency by more than that share.

Used from one thread (the pipeline's writer), alongside the transactions that place articles. Entries are
journalled so that a transaction (or savepoint) that rolls back takes its articles' counts back with it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from monitor.store import counts as counts_store
from monitor.store.hotpath import epoch

FLUSH_EVERY = 2.0
"""Seconds gathered counts may wait before the next transaction writes them."""
MAX_WAITING = 500
"""Articles whose counts may wait at most: a burst writes them sooner, and memory stays small."""


class TermTally:
    """The term counts of placed articles, kept here until ``write`` stores them in a transaction.

    The journal holds one entry per counted article (its terms, its fetch time, when it was added here); the
    first ``_written`` were written by the transaction in progress (not committed yet), the rest wait, and
    ``_waiting`` sums their terms (looked up for every article placed: summing the journal there cost what
    writing the counts had).
    """

    def __init__(
        self,
        *,
        flush_every: float = FLUSH_EVERY,
        max_waiting: int = MAX_WAITING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._journal: list[tuple[frozenset[str], int, float]] = []
        self._written = 0
        self._waiting: Counter[str] = Counter()
        self._flush_every = flush_every
        self._max_waiting = max_waiting
        self._clock = clock

    def add(self, terms: Iterable[str], at: datetime | None = None) -> None:
        """Count one more article holding ``terms``, fetched ``at`` (default now)."""
        held = frozenset(terms)
        self._journal.append((held, epoch(at or datetime.now(UTC)), self._clock()))
        self._waiting.update(held)

    def waiting(self, terms: Collection[str]) -> tuple[dict[str, int], int]:
        """Of ``terms``, how many articles gathered here and not yet written hold each, and how many such
        articles there are: what to add to the stored counts."""
        waiting = self._waiting
        return {term: waiting[term] for term in terms if term in waiting}, self.waiting_articles

    @property
    def waiting_articles(self) -> int:
        return len(self._journal) - self._written

    def due(self) -> bool:
        """Whether the gathered counts should be written now: the oldest waited long enough, or many wait."""
        if self.waiting_articles == 0:
            return False
        oldest_added = self._journal[self._written][2]
        return self.waiting_articles >= self._max_waiting or self._clock() - oldest_added >= self._flush_every

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Around a savepoint: if it raises, the articles counted inside are taken back with it."""
        mark = len(self._journal)
        try:
            yield
        except BaseException:
            start = max(mark, self._written)
            for held, _, _ in self._journal[start:]:
                self._waiting.subtract(held)
            self._waiting = +self._waiting  # without the terms no waiting article holds any more
            del self._journal[start:]
            raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Around a transaction in which ``write`` may run: if it commits, what was written is stored and
        forgotten here; if it raises, its articles' counts go (they were not stored) and what it wrote waits
        again (that was not stored either)."""
        mark = len(self._journal)
        try:
            yield
        except BaseException:
            del self._journal[mark:]
            self._written = 0
            self._waiting = Counter()
            for held, _, _ in self._journal:
                self._waiting.update(held)
            raise
        del self._journal[: self._written]
        self._written = 0

    def write(self, session: Session) -> None:
        """Add the waiting counts to the store in ``session``'s transaction (see ``transaction``)."""
        entries = self._journal[self._written :]
        if not entries:
            return
        latest: dict[str, int] = {}
        for held, at, _ in entries:
            for term in held:
                if latest.get(term, 0) < at:
                    latest[term] = at
        counts_store.add_term_counts(
            session,
            documents=self._waiting,
            articles=len(entries),
            latest=latest,
            last=max(at for _, at, _ in entries),
        )
        self._written = len(self._journal)
        self._waiting = Counter()
