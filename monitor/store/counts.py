"""The counts deduplication learns from: term document frequencies (IDF) and paragraph keys seen in several
wire clusters (boilerplate). None commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from monitor.store.hotpath import RowsByKeys, add_counts, epoch
from monitor.store.models import (
    ParagraphCount,
    TermCount,
)

_CHUNK = 512
TOTAL_TERM = ""
"""The ``term_counts`` row whose count is the number of articles counted (the N of IDF)."""


# --- Term counts (IDF) --------------------------------------------------------------------------------------

_terms = cast(Table, TermCount.__table__)
_LOOKUP_STEP = 64
"""Term lookups are padded to a multiple of this many keys (``numbered``): an article's few hundred terms
would otherwise make nearly every size a compiled statement of its own."""


_FREQUENCIES = RowsByKeys(_terms, key="term", columns=("term", "documents"), step=_LOOKUP_STEP, chunk=_CHUNK)


def document_frequencies(session: Session, *, terms: Iterable[str]) -> tuple[dict[str, int], int]:
    """How many counted articles hold each term, and how many articles were counted."""
    found = dict(_FREQUENCIES.read(session, sorted(set(terms) | {TOTAL_TERM})))
    total = found.pop(TOTAL_TERM, 0)
    return found, total


def count_terms(session: Session, *, terms: Iterable[str], at: datetime | None = None) -> None:
    """Count one more article holding ``terms`` (an upsert, safe against concurrent instances), fetched
    ``at`` (default now): the time retention reads to know when no kept article counted a term."""
    counted = epoch(at or datetime.now(UTC))
    held = set(terms)
    add_term_counts(
        session,
        documents=dict.fromkeys(held, 1),
        articles=1,
        latest=dict.fromkeys(held, counted),
        last=counted,
    )


def add_term_counts(
    session: Session, *, documents: Mapping[str, int], articles: int, latest: Mapping[str, int], last: int
) -> None:
    """Count ``articles`` more articles at once: ``documents`` says how many of them hold each term, ``latest``
    when (Unix seconds) the last of those was fetched, ``last`` when the last of all was."""
    rows = [{"term": TOTAL_TERM, "documents": articles, "last_counted": last}]
    rows += [
        {"term": term, "documents": documents[term], "last_counted": latest[term]}
        for term in documents
        if term != TOTAL_TERM
    ]
    add_counts(session, _terms, "documents", rows)


_paragraphs = cast(Table, ParagraphCount.__table__)
# The wire level asks for every article, so this is a hot statement: sixteen keys for an article's paragraphs,
# up to 256 for its candidates' (or a long text's), a statement for each multiple of sixteen on SQLite.
_BOILERPLATE = RowsByKeys(
    _paragraphs, key="key", columns=("key",), where="clusters >= :least", step=16, chunk=256
)


def boilerplate_keys(session: Session, *, keys: Collection[int], min_clusters: int) -> frozenset[int]:
    """Which of these paragraph keys are counted under at least ``min_clusters`` wire clusters (the caller's
    rule for boilerplate: ``monitor.dedupe.boilerplate.BOILERPLATE_CLUSTERS``)."""
    return frozenset(key for (key,) in _BOILERPLATE.read(session, sorted(set(keys)), least=min_clusters))


def count_paragraphs(session: Session, *, keys: Iterable[int], at: datetime | None = None) -> None:
    """Count one more wire cluster holding these paragraphs, by an article fetched ``at`` (default now; see
    ``count_terms``)."""
    counted = epoch(at or datetime.now(UTC))
    add_counts(
        session,
        _paragraphs,
        "clusters",
        [{"key": k, "clusters": 1, "last_counted": counted} for k in set(keys)],
    )
