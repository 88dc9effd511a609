"""Before a watchlist goes live: what it would match among stored articles, against what is in force; and
the same walk to apply it (retag). Also running each topic's examples (``monitor watchlist test``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.store import matches as match_store
from monitor.watchlist.model import Example, Watchlist

EXAMPLES = 3  # articles gained and lost shown per topic


@dataclass(frozen=True)
class ArticleRef:
    id: int
    title: str
    url: str


@dataclass
class TopicChange:
    """One topic over the stored articles: matched before (in force) and after (the candidate)."""

    topic: str
    before: int = 0
    after: int = 0
    gained: int = 0
    lost: int = 0
    gained_examples: list[ArticleRef] = field(default_factory=list)
    lost_examples: list[ArticleRef] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.gained or self.lost)


def compare(
    session: Session,
    candidate: Watchlist,
    *,
    since: datetime | None,
    baseline: Watchlist | None = None,
    write: bool = False,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[TopicChange], int]:
    """Match stored articles with ``candidate`` and count, per topic, what changes.

    Args:
        candidate: the watchlist to try (or, with ``write``, to apply).
        since: only articles fetched since then; all when None.
        baseline: the watchlist in force, matched live; None takes the matches stored in the database.
        write: store the candidate's matches in place of the stored ones (retag).
        progress: called with the number of articles done after each batch.

    Returns:
        The changes per topic (topics of both sides, in the candidate's order first), and the number of
        articles looked at.
    """
    changes: dict[str, TopicChange] = {name: TopicChange(name) for name in candidate.names}
    done = 0
    for batch in match_store.stored_articles(session, since=since):
        if baseline is None:
            stored = match_store.stored_topics(session, article_ids=[article.id for article in batch])
        for article in batch:
            matches = candidate.match(article.text, explain=write)
            after = {match.topic for match in matches}
            if baseline is None:
                before = stored.get(article.id, set())
            else:
                before = {match.topic for match in baseline.match(article.text, explain=False)}
            ref = ArticleRef(article.id, article.text.title, article.url)
            for topic in before | after:
                change = changes.setdefault(topic, TopicChange(topic))
                change.before += topic in before
                change.after += topic in after
                if topic in after and topic not in before:
                    change.gained += 1
                    if len(change.gained_examples) < EXAMPLES:
                        change.gained_examples.append(ref)
                elif topic in before and topic not in after:
                    change.lost += 1
                    if len(change.lost_examples) < EXAMPLES:
                        change.lost_examples.append(ref)
            if write and (matches or before):
                match_store.replace_matches(
                    session,
                    article_id=article.id,
                    matches=matches,
                    watchlist=candidate.fingerprint,
                    now=now or article.fetched_at,
                )
        done += len(batch)
        if progress:
            progress(done)
    return list(changes.values()), done


@dataclass(frozen=True)
class ExampleResult:
    example: Example
    passed: bool
    detail: str  # why it failed, or the score when it passed


def run_examples(watchlist: Watchlist, *, session: Session | None = None) -> list[ExampleResult]:
    """Every topic's ``should_match`` and ``should_not_match`` examples against that topic.

    Args:
        session: to look up examples given as URLs of stored articles; without it they fail with a hint.
    """
    results = []
    for topic in watchlist.topics:
        for example in topic.examples:
            article = example.article
            if article is None:  # then the example is a URL
                stored = (
                    match_store.find_article(session, url=example.url)
                    if session is not None and example.url is not None
                    else None
                )
                if stored is None:
                    results.append(
                        ExampleResult(
                            example,
                            False,
                            "no stored article has this URL (poll its feed "
                            "first, or give the example as text)",
                        )
                    )
                    continue
                article = stored.text
            found = next((m for m in watchlist.match(article) if m.topic == topic.name), None)
            if found is not None and example.expected:
                results.append(ExampleResult(example, True, f"score {found.score:g}"))
            elif found is None and not example.expected:
                results.append(ExampleResult(example, True, "no match"))
            elif found is not None:
                terms = ", ".join(t.term for t in found.evidence.terms)
                results.append(
                    ExampleResult(
                        example,
                        False,
                        f"matched (score {found.score:g}) on {terms}: {found.evidence.marked()}",
                    )
                )
            else:
                results.append(ExampleResult(example, False, _why_not(watchlist, topic.name, article)))
    return results


def _why_not(watchlist: Watchlist, name: str, article) -> str:
    """Why a topic did not match: the parts of its query that failed, or a score below its minimum."""
    missing = watchlist.matcher.missing(article, name)
    if missing:
        return "did not match: no " + "; no ".join(missing)
    topic = watchlist.topic(name)
    if topic is not None and topic.spec.min_score is not None:
        relaxed = replace(topic, spec=replace(topic.spec, min_score=None))
        found = Watchlist([relaxed]).match(article, explain=False)
        if found and topic.spec.weights:  # a weighted topic's min_score is a total of weights
            total = found[0].evidence.total_weight
            return f"did not match: total weight {total:g} is below min_score {topic.spec.min_score:g}"
        if found:
            return f"did not match: score {found[0].score:g} is below min_score {topic.spec.min_score:g}"
    return "did not match"
