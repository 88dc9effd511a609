"""The deduplication stage: place a stored article in a wire cluster and a story, and say why.

Levels, each stored on the article:

1. **exact**: same canonical URL or GUID never gets here (ingest links it to the stored article); the same
   normalized body (``content_hash``) joins that article's cluster with score 1.0.
2. **wire copy**: LSH band keys (``lsh_bands``) give candidates within the window; the exact shingle
   containment/Jaccard (``fingerprint.compare``) confirms the best one at ``wire_threshold``.
3. **story**: an article joining a wire cluster joins its story; otherwise its TF-IDF vector is compared with
   the profiles of the stories active within the window that share one of its strongest terms
   (``story_keys``), and the best at ``story_threshold`` is joined.

The pure parts live beside this module (fingerprint, agency, representative, stories); the queries in
``monitor/store/clusters.py`` (wire level), ``stories.py`` (story level) and ``counts.py`` (what the stage
learns). Everything runs inside the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitor.config import DedupSettings
from monitor.dedupe import fingerprint as fp
from monitor.dedupe.agency import Provenance, detect_agency
from monitor.dedupe.boilerplate import BOILERPLATE_CLUSTERS, keyed_paragraphs
from monitor.dedupe.outlets import outlet_domain
from monitor.dedupe.representative import choose_representative, representative_after_join
from monitor.dedupe.stories import (
    KEY_TIME_SLACK,
    SCORING,
    Scoring,
    StoryScore,
    StoryVector,
    article_vector,
    core_terms,
    evidence,
    key_terms,
    keys_fall_behind,
    merge_profile,
    paragraph_keys,
    story_score,
    term_counts,
    time_gap,
)
from monitor.dedupe.tally import TermTally
from monitor.store import clusters as store
from monitor.store import counts as counts_store
from monitor.store import locks
from monitor.store import stories as stories_store
from monitor.store.db import unavailability
from monitor.store.records import Article, BodySource

log = logging.getLogger(__name__)

MAX_CANDIDATES = 20
"""Candidates confirmed exactly per article, most shared bands first: bounds the work on a hot story."""
MAX_STORY_CANDIDATES = 30
"""Stories compared per article (those sharing the most key terms): bounds the story level's work."""
COMMON_TERM_SHARE = 0.1
COMMON_TERM_MIN = 50
"""Terms in more than a tenth of the counted articles (and in 50 or more) are not lookup keys: see ``_too_common``."""
_HASH_LOCKS, _BAND_LOCKS = 0, 1
"""Namespaces of the advisory locks that serialise placing copies of one text (``monitor.store.locks``)."""
PLACE_TRIES = 3
"""Placements tried when the database breaks a deadlock between instances by failing ours."""
MIN_EXACT_WORDS = 50
"""Identical bodies with fewer words than this beside their boilerplate ("Subscribe to read", a cookie notice,
an outlet's header and footer around a teaser) are not the same article."""


class Method:
    """How an article joined its wire cluster (stored as text in ``articles.wire_method``)."""

    EXACT = "exact"
    MINHASH = "minhash"
    NEW = "new"


@dataclass(frozen=True)
class WireMatch:
    cluster_id: int
    method: str
    match_id: int | None
    score: float | None
    joined_existing: bool
    added_paragraphs: tuple[int, ...] = ()
    """Keys of the copy's paragraphs that the text it matched does not have: its outlet's furniture, mostly."""
    joined: store.ClusterHead | None = None
    """The cluster as it was before the copy joined it (its representative, agency and longest member)."""


@dataclass(frozen=True)
class Placement:
    """Where deduplication put an article."""

    wire_cluster_id: int
    story_id: int | None
    method: str
    match_id: int | None
    wire_score: float | None
    story_score: float | None
    agency: str | None


def place(
    session: Session,
    *,
    article_id: int,
    article: Article,
    settings: DedupSettings,
    changed: bool = False,
    tally: TermTally | None = None,
) -> Placement | None:
    """The pipeline's entry point: ``deduplicate`` a new article (``recluster`` a changed one) in a savepoint.

    A failure here is logged and leaves the article stored but unclustered: deduplication must never cost
    an article. ``tally`` gathers the term counts to write them behind (see ``monitor.dedupe.tally``).
    """
    if not settings.enabled:
        return None
    for attempt in range(1, PLACE_TRIES + 1):
        try:
            # A savepoint that rolls back takes the article's term counts back with its placement.
            with tally.savepoint() if tally is not None else nullcontext(), session.begin_nested():
                if changed:
                    return recluster(
                        session, article_id=article_id, article=article, settings=settings, tally=tally
                    )
                return deduplicate(
                    session, article_id=article_id, article=article, settings=settings, tally=tally
                )
        except Exception as error:
            # Two instances' transactions, each holding the locks of an article it placed earlier, waited
            # for each other: the database failed this statement to break the circle. Tried again, the
            # placement waits its turn (or the other transaction's statement is the one failed this time).
            if locks.is_deadlock(error) and attempt < PLACE_TRIES:
                log.info(
                    "deduplication met another instance's; trying again: article=%d url=%s",
                    article_id,
                    article.url,
                    extra={"url": article.url},
                )
                continue
            if unavailability(error) is not None:
                # The database went away under the placement: the article's own transaction is lost with
                # it, so there is nothing to keep unclustered; the poll fails and its entries come again.
                raise
            log.exception(
                "deduplication failed: article=%d url=%s", article_id, article.url, extra={"url": article.url}
            )
            return None
    return None


def event_time(article: Article) -> datetime:
    """The time an article is placed at in the windows: its publication, else when it was fetched."""
    return article.published or article.fetched_at


def deduplicate(
    session: Session,
    *,
    article_id: int,
    article: Article,
    settings: DedupSettings,
    count_terms: bool = True,
    story_scoring: Scoring = SCORING,
    tally: TermTally | None = None,
) -> Placement:
    """Place a just-stored article in a wire cluster and a story.

    Args:
        session: the transaction that stored the article.
        article_id: its row id.
        article: its value, as extracted.
        settings: the ``dedup:`` section (window, thresholds).
        count_terms: add its terms to the IDF counts (False when an updated article is placed again).
        story_scoring: how the story level weighs terms and time (the evaluation passes the old one).
        tally: where term counts wait to be written (None: they are written at once).

    Returns:
        Its cluster and story, how it got there, and its agency.
    """
    provenance = detect_agency(article.body, author=article.author, url=article.url)
    agency = provenance.agency if provenance else None
    wire = assign_wire_cluster(
        session, article_id=article_id, article=article, settings=settings, provenance=provenance
    )
    story_id, story_score, story_evidence = _assign_story(
        session,
        article_id=article_id,
        article=article,
        settings=settings,
        wire=wire,
        count=count_terms,
        scoring=story_scoring,
        tally=tally,
    )
    store.record_dedup(
        session,
        article_id=article_id,
        wire_cluster_id=wire.cluster_id,
        story_id=story_id,
        method=wire.method,
        match_id=wire.match_id,
        wire_score=wire.score,
        story_score=story_score,
        story_evidence=story_evidence,
        agency=agency,
        agency_evidence=f"{provenance.where}: {provenance.evidence}"[:500] if provenance else None,
    )
    if wire.joined_existing:
        _representative_after_join(session, wire=wire, article_id=article_id, agency=agency)
    log.debug(
        "dedup article=%d url=%s cluster=%d (%s %.2f) story=%s",
        article_id,
        article.url,
        wire.cluster_id,
        wire.method,
        wire.score or 0.0,
        story_id,
        extra={"url": article.url},
    )
    return Placement(
        wire.cluster_id,
        story_id,
        wire.method,
        wire.match_id,
        wire.score,
        story_score,
        provenance.agency if provenance else None,
    )


def assign_wire_cluster(
    session: Session,
    *,
    article_id: int,
    article: Article,
    settings: DedupSettings,
    provenance: Provenance | None = None,
) -> WireMatch:
    """The wire level alone: exact body, then LSH candidates confirmed by shingle similarity; index the bands.

    Outlet boilerplate does not count (``fp.WireText``, ``fp.confirm``): an outlet's header, footer and
    sign-up lines, shared by its unrelated articles, must not make them copies of each other.

    An exact copy is neither fingerprinted nor indexed: its text is its original's, so the original's band
    keys already find it (``recluster`` hands them on if the original's text changes). Hot wire stories come
    in dozens of identical copies, and each would otherwise add forty-odd rows that lookups must skip.

    The article row is not written here (``deduplicate`` records the placement); the cluster's size is.
    """
    at = event_time(article)
    since, until = at - settings.window, at + settings.window
    agency = provenance.agency if provenance else None
    # Two instances placing copies of one story at the same moment must not each miss the other and open
    # two clusters. Each holds the keys it looks up by (the body's hash, then its band keys) until its
    # transaction commits, so the second waits and then finds the first (no-op on SQLite's single writer).
    # The hash is always taken before the bands: lower ranks first, so no two placements wait in a circle.
    locks.lock(session, rank=_HASH_LOCKS, values=[article.content_hash])
    text = fp.wire_text(keyed_paragraphs(article.body))
    known = counts_store.boilerplate_keys(session, keys=text.key_set, min_clusters=BOILERPLATE_CLUSTERS)
    # At least MIN_EXACT_WORDS words of its own: an outlet's paywall notice or error page, identical under
    # every address, is not one article.
    if text.own_words(known, at_most=MIN_EXACT_WORDS) >= MIN_EXACT_WORDS:
        match = _exact_match(session, article_id=article_id, article=article, since=since)
        if match is not None:
            return _join(session, match, at=at, agency=agency)
    signature = fp.fingerprint(article.body, text.signature_shingles(known))
    match = None
    if signature.comparable:
        locks.lock(session, rank=_BAND_LOCKS, values=signature.band_keys)
        match = near_match(
            session,
            article_id=article_id,
            body=article.body,
            keys=signature.band_keys,
            since=since,
            until=until,
            threshold=settings.wire_threshold,
            text=text,
            known=known,
            url=article.url,
        )
        store.add_bands(session, article_id=article_id, keys=signature.band_keys, seen_at=at)
    if match is None:
        return WireMatch(
            store.new_cluster(
                session, at=at, article_id=article_id, agency=agency, body_length=len(article.body)
            ),
            Method.NEW,
            None,
            None,
            False,
        )
    match = _join(session, match, at=at, agency=agency)
    # The paragraphs a copy adds to its original are held by one more wire cluster: counted, so an outlet
    # that only reprints has its header and footer learnt too (the story level counts the originals').
    counts_store.count_paragraphs(session, keys=match.added_paragraphs, at=article.fetched_at)
    return match


def _join(session: Session, match: WireMatch, *, at: datetime, agency: str | None) -> WireMatch:
    """Count the copy in the cluster it matched; the match, with the cluster as it was before."""
    joined = store.cluster_head(session, cluster_id=match.cluster_id)
    store.grow_cluster(session, cluster_id=match.cluster_id, at=at, agency=agency)
    return replace(match, joined=joined)


def _exact_match(session: Session, *, article_id: int, article: Article, since: datetime) -> WireMatch | None:
    if article.body_source == BodySource.FAILED:
        return None
    found = store.same_content(session, content_hash=article.content_hash, exclude_id=article_id, since=since)
    if found is None:
        return None
    other, cluster_id = found
    return WireMatch(cluster_id, Method.EXACT, other, 1.0, True)


def near_match(
    session: Session,
    *,
    article_id: int,
    body: str,
    keys: tuple[int, ...],
    since: datetime,
    until: datetime,
    threshold: float,
    text: fp.WireText | None = None,
    known: Collection[int] | None = None,
    url: str | None = None,
) -> WireMatch | None:
    """The stored text within the window that this body copies best, at ``threshold`` or above, if any.

    Each candidate is confirmed on both texts with their boilerplate left out (``fp.confirm``); whether the
    two are of one outlet is told by their addresses' registered domains (``url`` is this body's). ``text``
    and ``known`` (its learnt boilerplate keys) are the body's, when the caller has them already.
    """
    candidates = store.band_candidates(
        session, keys=keys, since=since, until=until, exclude_id=article_id, limit=MAX_CANDIDATES
    )
    if not candidates:
        return None
    mine = fp.wire_text(keyed_paragraphs(body)) if text is None else text
    stored = store.bodies(session, ids=[c for c, _ in candidates])
    # Stored before deduplication ran, or being placed again: not a cluster to join.
    cluster_of = {c: t.wire_cluster_id for c, t in stored.items() if t.wire_cluster_id is not None}
    theirs = {c: fp.wire_text(keyed_paragraphs(stored[c].body)) for c in cluster_of}
    # One lookup of the learnt boilerplate for the candidates' paragraphs (and this text's, unless known).
    wanted = frozenset().union(*(t.key_set for t in theirs.values()))
    if known is None:
        known = counts_store.boilerplate_keys(
            session, keys=wanted | mine.key_set, min_clusters=BOILERPLATE_CLUSTERS
        )
    else:
        known = set(known) | counts_store.boilerplate_keys(
            session, keys=wanted - mine.key_set, min_clusters=BOILERPLATE_CLUSTERS
        )
    outlet = outlet_domain(url) if url else None
    best: tuple[float, int] | None = None
    for candidate_id, _ in candidates:
        if candidate_id not in theirs:
            continue
        same_outlet = outlet is not None and outlet_domain(stored[candidate_id].url) == outlet
        score = fp.confirm(
            mine, theirs[candidate_id], known=known, same_outlet=same_outlet, threshold=threshold
        )
        if score is not None and (best is None or score > best[0]):
            best = (score, candidate_id)
    if best is None:
        return None
    score, other = best
    cluster = cluster_of[other]
    # What the copy adds to the cluster: paragraphs that none of its members among the candidates holds (a
    # paragraph that another copy reworded is still the original's, and counted with it).
    held = frozenset().union(*(t.key_set for c, t in theirs.items() if cluster_of[c] == cluster))
    return WireMatch(
        cluster, Method.MINHASH, other, round(score, 4), True, tuple(sorted(mine.key_set - held))
    )


def wire_comparison(
    session: Session, *, body: str, url: str | None, other_body: str, other_url: str | None
) -> tuple[fp.WireScore, int, int]:
    """Two stored texts compared as the wire level compares them (``near_match``, ``fp.confirm``): furniture
    and learnt boilerplate left out, the outlet rule by their addresses. The scores, and the shingles each
    text keeps. For ``monitor explain``, so the figures it prints are this stage's own."""
    mine, theirs = fp.wire_text(keyed_paragraphs(body)), fp.wire_text(keyed_paragraphs(other_body))
    known = counts_store.boilerplate_keys(
        session, keys=mine.key_set | theirs.key_set, min_clusters=BOILERPLATE_CLUSTERS
    )
    same_outlet = bool(url and other_url) and outlet_domain(url) == outlet_domain(other_url)
    (_, a), (_, b) = fp.compared_texts(mine, theirs, known=known, same_outlet=same_outlet)
    return fp.compare(a, b), len(a), len(b)


def _assign_story(
    session: Session,
    *,
    article_id: int,
    article: Article,
    settings: DedupSettings,
    wire: WireMatch,
    count: bool,
    scoring: Scoring = SCORING,
    tally: TermTally | None = None,
) -> tuple[int | None, float | None, dict | None]:
    """Join the story of the article's wire cluster, else the best-scoring story in the window, else a new one.

    Returns the story, the score that placed the article there (None: a copy, or a new story) and its
    evidence (``stories.evidence``), which ``monitor explain`` prints as it was when it decided.

    Term and paragraph counts are kept per wire cluster, not per copy: twenty reprints of one agency story
    are one text, and counting them twenty times would make that story's own words look common (low IDF)
    exactly while it is news.
    """
    at = event_time(article)
    cluster_story = store.cluster_story(session, cluster_id=wire.cluster_id) if wire.joined_existing else None
    if cluster_story is not None:
        # A copy belongs to the story of its original; no need to compare words again.
        grow_story(session, story_id=cluster_story, at=at, profile=None)
        return cluster_story, None, None
    count = count and not wire.joined_existing
    vector, frequencies, counted = story_vector(
        session,
        title=article.title,
        body=article.body,
        count=count,
        scoring=scoring,
        fetched_at=article.fetched_at,
        tally=tally,
    )
    mine = vector.as_dict()
    lookup = tuple(term for term in key_terms(mine) if not _too_common(frequencies.get(term, 0), counted))
    best = _best_story(
        session,
        vector=mine,
        lookup=lookup,
        counted=counted,
        article=article,
        settings=settings,
        scoring=scoring,
    )
    if best is None:
        # A new story's profile keeps the strongest terms, as every later profile does (``merge_profile``):
        # the article's whole vector (about 200 terms) made twice the key rows a story's profile needs,
        # and the evaluation's stories came out the same.
        first = merge_profile({}, 0, vector).as_dict()
        story_id = stories_store.new_story(
            session, at=at, title=article.title, article_id=article_id, profile=first
        )
        stories_store.index_story(session, story_id=story_id, terms=tuple(first), at=at)
        score, why = None, None
    else:
        result, story = best
        story_id = story.id
        # The evidence is taken against the profile that decided, before this article is merged into it.
        why = evidence(mine, story.profile, result, _gap(article, story))
        profile = merge_profile(story.profile, story.size, vector).as_dict()
        latest = grow_story(session, story_id=story_id, at=at, profile=profile)
        stories_store.reindex_story(
            session, story_id=story_id, before=story.profile.keys(), after=profile.keys(), at=latest
        )
        score = why["score"]
    store.set_cluster_story(session, cluster_id=wire.cluster_id, story_id=story_id)
    return story_id, score, why


def grow_story(
    session: Session, *, story_id: int, at: datetime, profile: dict[str, float] | None
) -> datetime:
    """Count one more member of a story (with its new profile, when given), and keep the story within reach
    of lookups: its key times follow its latest member, within ``stories.KEY_TIME_SLACK``. Returns the time
    of the story's latest member, this one or an earlier-published one."""
    latest_before = stories_store.story_last_seen(session, story_id=story_id)
    stories_store.grow_story(session, story_id=story_id, at=at, profile=profile)
    if keys_fall_behind(at, latest_before):
        stories_store.move_story_keys(session, story_id=story_id, at=at)
    return at if latest_before is None else max(at, latest_before)


def story_vector(
    session: Session,
    *,
    title: str | None,
    body: str,
    count: bool,
    scoring: Scoring,
    fetched_at: datetime | None = None,
    tally: TermTally | None = None,
) -> tuple[StoryVector, dict[str, int], int]:
    """The article's TF-IDF vector, boilerplate paragraphs left out, its terms' document frequencies and how
    many articles they counted; counts its terms and paragraphs if asked. ``monitor explain`` reads the
    vector here too (not counting), so the similarity it prints is the one this stage computes."""
    paragraphs = paragraph_keys(body)
    boilerplate = counts_store.boilerplate_keys(session, keys=paragraphs, min_clusters=BOILERPLATE_CLUSTERS)
    counts = term_counts(title, body, boilerplate=boilerplate, scoring=scoring)
    if count:
        counts_store.count_paragraphs(session, keys=paragraphs, at=fetched_at)
    frequencies, total = counts_store.document_frequencies(session, terms=counts)
    if tally is not None:  # the counts this process gathered and has not written yet
        waiting, articles = tally.waiting(counts.keys())
        for term, documents in waiting.items():
            frequencies[term] = frequencies.get(term, 0) + documents
        total += articles
    vector = article_vector(counts, frequencies, total, scoring)
    if count and tally is not None:
        tally.add(counts, at=fetched_at)
    elif count:
        counts_store.count_terms(session, terms=counts, at=fetched_at)
    return vector, frequencies, total


def _too_common(documents: int, counted: int) -> bool:
    """A term in more than ``COMMON_TERM_SHARE`` of the counted articles (and at least ``COMMON_TERM_MIN`` of
    them) finds nearly every story of the window and tells none apart: it is not used to look stories up
    (it still counts in the score)."""
    return documents >= COMMON_TERM_MIN and documents > COMMON_TERM_SHARE * counted


def _best_story(
    session: Session,
    *,
    vector: dict[str, float],
    lookup: tuple[str, ...],
    counted: int,
    article: Article,
    settings: DedupSettings,
    scoring: Scoring,
) -> tuple[StoryScore, stories_store.StoryProfile] | None:
    """The story of the window with the best score at ``story_threshold`` or above, if any, among those found
    by the ``lookup`` terms."""
    if not vector or not lookup:
        return None
    at = event_time(article)
    candidates = stories_store.story_candidates(
        session,
        terms=lookup,
        since=at - settings.window,
        until=at + settings.window,
        limit=MAX_STORY_CANDIDATES,
        key_lag=timedelta(seconds=KEY_TIME_SLACK),
    )
    core = core_terms(vector, scoring)
    best: tuple[StoryScore, stories_store.StoryProfile] | None = None
    for story in candidates:
        result = story_score(
            vector,
            story.profile,
            gap=_gap(article, story),
            scoring=scoring,
            core=core,
            counted=counted,
            floor=settings.story_threshold,
        )
        if result.score >= settings.story_threshold and (best is None or result.score > best[0].score):
            best = (result, story)
    return best


def _gap(article: Article, story: stories_store.StoryProfile):
    """Time between the article's publication and the story's members (None when it was not published)."""
    return time_gap(article.published, story.first_seen_at, story.last_seen_at)


def _representative_after_join(
    session: Session, *, wire: WireMatch, article_id: int, agency: str | None
) -> None:
    """The cluster's representative once the article has joined it: weighed against the representative
    alone when the rule allows it (``representative_after_join``), else chosen again over every member."""
    before = wire.joined
    current = (
        store.member(session, article_id=before.representative_id)
        if before is not None and before.representative_id is not None
        else None
    )
    # As stored (a revision keeps the stored date when the new version has none), as the whole rule reads it;
    # not read when the whole rule is to be asked anyway.
    joining = store.member(session, article_id=article_id) if current is not None else None
    if before is not None and current is not None and joining is not None:
        chosen = representative_after_join(
            current,
            joining,
            longest=before.longest_body,
            agency_before=before.agency,
            agency=before.agency or agency,  # as grow_cluster credits it
        )
        if chosen is not None:
            # It answers only when the longest is known. An exact copy of the representative, the commonest
            # join of all, changes nothing to write.
            if chosen.id != current.id or joining.body_length > (before.longest_body or 0):
                store.record_join(
                    session,
                    cluster_id=wire.cluster_id,
                    representative_id=chosen.id,
                    body_length=joining.body_length,
                )
            return
    _refresh_representative(session, cluster_id=wire.cluster_id)


def _refresh_representative(session: Session, *, cluster_id: int) -> None:
    """Choose the cluster's representative over every member, and note its longest."""
    cluster = store.cluster_head(session, cluster_id=cluster_id)
    members = store.cluster_members(session, cluster_id=cluster_id)
    if cluster is None or not members:
        return
    chosen = choose_representative(members, agency=cluster.agency)
    longest = max(m.body_length for m in members)
    if chosen.id != cluster.representative_id or longest != cluster.longest_body:
        store.set_cluster(session, cluster_id=cluster_id, representative_id=chosen.id, longest_body=longest)


def recluster(
    session: Session,
    *,
    article_id: int,
    article: Article,
    settings: DedupSettings,
    tally: TermTally | None = None,
) -> Placement:
    """Place an article again after its text changed: out of its old cluster and story (and the band index),
    then in as if new, never matching itself.

    Its band keys, which stood for its exact copies too, go to the oldest of those copies, which keep the
    old text.
    """
    old_cluster, _ = store.detach(session, article_id=article_id)
    # The oldest copy inherits: it is the one the others were most likely copied from.
    copies = store.exact_copies(session, article_id=article_id)
    store.hand_over_bands(session, article_id=article_id, heir=min(copies, default=None))
    if old_cluster is not None:
        _refresh_representative(session, cluster_id=old_cluster)
    # Not counted again; ``tally`` only lends the counts that wait to the IDF its new place is found with.
    return deduplicate(
        session, article_id=article_id, article=article, settings=settings, count_terms=False, tally=tally
    )
