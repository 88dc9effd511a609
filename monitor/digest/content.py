"""From what a delivery carries (articles) to what a digest shows (stories). Pure: the stored material comes
in (``monitor.store.digests.Material``), ``DigestContent`` goes out.

The unit of delivery is the article; a story is how articles are shown:

- a story appears once, under the topic its articles score best on, naming every topic it matched;
- its headline is an original write-up: the representative of a wire cluster, never a reprint when the
  original is stored; among several write-ups, the best-scoring one (then the earliest);
- its other new write-ups are linked with their outlet; new wire reprints are counted apart, one per outlet;
- when the story had reports before these, the item says so in one line ("first reported Mon 2 Dec;
  7 reports from 5 outlets so far") and, when this channel carried it before, it is an *update*;
- an outlet is a publisher (``monitor.dedupe.outlets``), and one address is listed once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.dedupe.outlets import outlet_key, outlet_name
from monitor.digest.notify.content import QuietSource, SourceHealth
from monitor.digest.notify.render import Coverage, DigestContent, DigestItem, Excerpt, Report, TopicSection
from monitor.store.deliveries import ItemRef
from monitor.store.digests import Material, StoredArticle, StoredMatch
from monitor.store.feeds import FeedHealth

MAX_QUIET_SOURCES = 5  # feeds not heard from, listed under a digest's stories; the rest are counted
FAILING_FOR = timedelta(hours=24)
"""A feed failing this long without a success is said to be failing in a digest: a site down for an hour is
not news to its readers, a day without it is a gap in what they read."""
EXCERPT_CHARS = 360
MAX_WRITEUPS = 8  # listed per story; the rest are counted ("and 3 more write-ups")
MAX_COPIES = 12  # wire copies linked per story; all are counted
MAX_SENTENCES = 3
_SENTENCE_END = re.compile(r"(?<=[.!?…؟۔])\s+")


@dataclass(frozen=True)
class View:
    """How one delivery sees the material: what counts as sent before on its channel, and from what score a
    match counts."""

    kind: str  # digest | alert
    channel: str | None  # None: a preview, nothing was sent
    counted_kinds: tuple[str, ...]  # deliveries on the channel that make an article "sent before"
    min_score: float
    max_items: int
    titles: Mapping[str, str]  # topic name -> its title


def build_content(
    material: Material,
    *,
    name: str,
    timezone: str,
    view: View,
    items: Sequence[ItemRef],
    period: datetime,
    clean: Callable[[str], str] = lambda text: text,
) -> DigestContent:
    """The digest's sections for the delivery's ``items``.

    Args:
        material: the stored articles, matches and delivery history the items need.
        view: the delivery's channel and rules.
        items: the articles the delivery carries (articles since deleted are left out).
        clean: strips outlet boilerplate from an article's text before it is excerpted.
    """
    articles = material.articles
    units: dict[tuple[str, int], list[int]] = {}
    fallback_topic: dict[tuple[str, int], str] = {}
    for item in items:
        article = articles.get(item.article_id)
        if article is None:
            continue
        key = ("story", article.story_id) if article.story_id is not None else ("article", article.id)
        units.setdefault(key, [])
        if article.id not in units[key]:
            units[key].append(article.id)
        if item.topic:
            fallback_topic.setdefault(key, item.topic)

    members_of: dict[int, list[StoredArticle]] = defaultdict(list)
    for article in articles.values():
        if article.story_id is not None:
            members_of[article.story_id].append(article)
    matches_of: dict[int, list[StoredMatch]] = defaultdict(list)
    for match in material.matches:
        if match.score >= view.min_score:
            matches_of[match.article_id].append(match)

    placed: dict[str, list[DigestItem]] = defaultdict(list)
    best_of: dict[str, float] = {}
    for key, new_ids in units.items():
        kind, ident = key
        members = members_of[ident] if kind == "story" else [articles[ident]]
        built, topic = _story(
            material, view, members, new_ids, matches_of, fallback_topic.get(key, ""), clean
        )
        placed[topic].append(built)
        best_of[topic] = max(best_of.get(topic, 0.0), built.score)

    # Ties on the score are common (it is capped at 100, and a headline naming the terms reaches it): then the
    # topic with more reports leads, and the story with more reports, all of them counted, not only the few
    # listed. Else on a breaking-news day the alphabet put a routine topic first, in the subject too, and a
    # story carried by fifty outlets ranked as one of eight write-ups.
    reports: dict[str, int] = {t: sum(len(i.article_ids) for i in items) for t, items in placed.items()}
    sections = []
    for topic in sorted(placed, key=lambda t: (-best_of[t], -reports[t], t)):
        ranked = sorted(
            placed[topic],
            key=lambda i: (
                -i.score,
                i.is_update,
                -len(i.article_ids),
                -_epoch(i.published_at),
                i.headline,
            ),
        )
        shown, rest = ranked[: view.max_items], ranked[view.max_items :]
        sections.append(
            TopicSection(
                view.titles.get(topic) or topic,
                tuple(shown),
                len(rest),
                tuple(i for item in rest for i in item.article_ids),
                name=topic,
            )
        )
    return DigestContent(name, view.kind, period, timezone, tuple(sections))


def source_health(feeds: Sequence[FeedHealth], *, now: datetime) -> SourceHealth:
    """The feeds a digest's readers have not heard from: gone (410), failing for ``FAILING_FOR`` or more
    since their last success (or since they were added), or silent (answering, but listing nothing new);
    the latest to fall quiet first, ``MAX_QUIET_SOURCES`` of them, the rest counted."""
    quiet: list[tuple[datetime | None, QuietSource]] = []  # (when its gap began, the feed)
    for feed in feeds:
        if feed.gone_at is not None:
            quiet.append((feed.gone_at, QuietSource(feed.name, "gone", feed.gone_at)))
        elif feed.failing:
            began = feed.last_success_at or feed.created_at
            if began is None or now - began >= FAILING_FOR:
                source = QuietSource(feed.name, "failing", feed.last_success_at, feed.last_error_kind)
                quiet.append((began, source))
        elif feed.silent_since is not None:
            quiet.append((feed.silent_since, QuietSource(feed.name, "silent", feed.silent_since)))
    quiet.sort(key=lambda gap: (-_epoch(gap[0]), gap[1].name))
    listed = tuple(source for _, source in quiet[:MAX_QUIET_SOURCES])
    return SourceHealth(len(feeds), listed, max(len(quiet) - MAX_QUIET_SOURCES, 0))


def _story(
    material: Material,
    view: View,
    members: list[StoredArticle],
    new_ids: list[int],
    matches_of: Mapping[int, list[StoredMatch]],
    fallback_topic: str,
    clean: Callable[[str], str],
) -> tuple[DigestItem, str]:
    """One story (or lone article) as an item, and the topic it is placed under."""
    articles = material.articles
    by_id = {a.id: a for a in members} | {i: articles[i] for i in new_ids}
    new = [by_id[i] for i in new_ids]

    # Topics: every one the story matched; it is placed under the one its articles score best on together
    # (the sum of their scores), so that one write-up that also names another topic (a morning round-up of
    # two events) does not carry the whole story off to that topic; it is scored by its best new match.
    topic_scores: dict[str, float] = {}
    topic_totals: dict[str, float] = defaultdict(float)
    for article in by_id.values():
        for match in matches_of.get(article.id, ()):
            topic_scores[match.topic] = max(topic_scores.get(match.topic, 0.0), match.score)
            topic_totals[match.topic] += match.score
    new_scores = [m.score for a in new for m in matches_of.get(a.id, ())]
    topic = (
        max(topic_scores, key=lambda t: (topic_totals[t], topic_scores[t], t))
        if topic_scores
        else fallback_topic
    )
    topics = tuple(view.titles.get(t) or t for t in sorted(topic_scores, key=lambda t: (-topic_scores[t], t)))
    score = max(new_scores) if new_scores else max(topic_scores.values(), default=0.0)

    # Write-ups: the new articles by wire cluster, each cluster shown by its original.
    clusters: dict[int | tuple[str, int], list[StoredArticle]] = defaultdict(list)
    for article in new:
        clusters[
            article.wire_cluster_id if article.wire_cluster_id is not None else ("own", article.id)
        ].append(article)
    originals = {}
    for cluster, cluster_articles in clusters.items():
        representative = material.representatives.get(cluster) if isinstance(cluster, int) else None
        chosen = articles.get(representative) if representative is not None else None
        if chosen is not None and (version := _new_version(material, view, chosen, cluster_articles)):
            chosen = version
        originals[cluster] = chosen or min(cluster_articles, key=_first)

    # A cluster's best match over all its stored copies (a reprint may carry the words the original lacks).
    best_of_cluster: dict[int, float] = {}
    for article in by_id.values():
        if article.wire_cluster_id is not None:
            scores = [m.score for m in matches_of.get(article.id, ()) if m.topic == topic]
            best_of_cluster[article.wire_cluster_id] = max(
                [best_of_cluster.get(article.wire_cluster_id, -1.0), *scores]
            )
    fresh = set(new_ids)

    def cluster_rank(cluster) -> tuple:
        original = originals[cluster]
        # Scored on the topic the story is placed under: its headline is a write-up of that topic.
        if original.wire_cluster_id is not None:
            best = best_of_cluster.get(original.wire_cluster_id, -1.0)
        else:
            best = max((m.score for m in matches_of.get(original.id, ()) if m.topic == topic), default=-1.0)
        # What is new leads: a cluster whose original arrived now before one that only gained a copy.
        return (original.id not in fresh, -best, _first(original))

    ordered = sorted(clusters, key=cluster_rank)
    site_names = {outlet_key(a.url): a.site_name for a in by_id.values() if a.site_name}
    lead = originals[ordered[0]]
    listed = {lead.url}
    writeups: list[Report] = []
    copies: list[Report] = []
    # The lead's wire copies are listed under it; another write-up's are counted beside it (a write-up known
    # before that only gained copies is listed for them). Listed together under the lead, they read as
    # reprints of a text they did not carry.
    for cluster in ordered:
        original = originals[cluster]
        reprints = [
            article
            for article in sorted(clusters[cluster], key=_first)
            if article.id != original.id and article.url not in listed and article.url != original.url
        ]
        listed.update(article.url for article in reprints)
        carriers = _other_outlets(reprints, original)
        if cluster == ordered[0]:
            copies += [_report(article, site_names) for article in carriers]
        elif original.url not in listed and (original.id in fresh or carriers):
            listed.add(original.url)
            # One sent before is listed again for its new copies only: said so, not read as a new write-up.
            writeups.append(
                replace(
                    _report(original, site_names),
                    carried_by=len(carriers),
                    sent_before=original.id not in fresh and _sent_here(material, view, original.id),
                )
            )

    evidence = _evidence_for(lead, by_id.values(), matches_of)
    return DigestItem(
        headline=lead.title or lead.url,
        url=lead.url,
        outlet=_outlet(lead, site_names),
        published_at=lead.published_at or lead.fetched_at,
        undated=lead.published_at is None,
        excerpt=excerpt(clean(lead.body), lead.title, evidence),
        score=round(score, 3),
        article_ids=tuple(sorted(new_ids)),
        story_id=lead.story_id,
        writeups=tuple(writeups[:MAX_WRITEUPS]),
        copies=tuple(copies[:MAX_COPIES]),
        more_writeups=max(0, len(writeups) - MAX_WRITEUPS),
        more_copies=max(0, len(copies) - MAX_COPIES),
        topics=topics if len(topics) > 1 else (),
        coverage=_coverage(material, view, list(by_id.values()), new_ids),
        alerted_at=_alerted(material, view, new_ids),
    ), topic


def _coverage(
    material: Material, view: View, members: list[StoredArticle], new_ids: list[int]
) -> Coverage | None:
    """The story so far, when it had reports before the new ones."""
    earlier = [a for a in members if a.id not in new_ids]
    if not earlier:
        return None
    story_id = members[0].story_id
    reports = max(len(members), material.story_sizes.get(story_id, 0) if story_id is not None else 0)
    outlets = len({outlet_key(a.url, a.site_name) for a in members})
    sent = [
        s.at
        for a in earlier
        for s in material.sent.get(a.id, ())
        if view.channel is not None and s.channel == view.channel and s.kind in view.counted_kinds
    ]
    return Coverage(min(_first(a)[0] for a in members), reports, outlets, max(sent, default=None))


def _new_version(
    material: Material, view: View, shown: StoredArticle, new: Sequence[StoredArticle]
) -> StoredArticle | None:
    """The latest of ``new`` that ``shown``'s own outlet put out under another headline, when the channel
    carried ``shown`` before: the outlet's later version of its text (rewritten as the story develops, at a
    new address), shown in its place. Under the headline sent before, it read as an update with nothing new."""
    if any(article.id == shown.id for article in new) or not _sent_here(material, view, shown.id):
        return None
    versions = [
        article
        for article in new
        if outlet_key(article.url) == outlet_key(shown.url) and not same_headline(article.title, shown.title)
    ]
    return max(versions, key=_first, default=None)


def same_headline(one: str | None, other: str | None) -> bool:
    """Whether two headlines are one, spacing and case aside."""
    if not one or not other:
        return False
    return " ".join(one.split()).casefold() == " ".join(other.split()).casefold()


def _sent_here(material: Material, view: View, article_id: int) -> bool:
    """Whether the channel carried the article before (not merely: it is not new in this delivery; a wire
    text older than the lookback that only a reprint made match was never sent)."""
    return view.channel is not None and any(
        s.channel == view.channel and s.kind in view.counted_kinds for s in material.sent.get(article_id, ())
    )


def _alerted(material: Material, view: View, new_ids: list[int]) -> datetime | None:
    """When an alert (on any channel) carried one of these articles before this digest."""
    if view.kind != "digest" or view.channel is None:
        return None
    times = [s.at for i in new_ids for s in material.sent.get(i, ()) if s.kind == "alert"]
    return min(times, default=None)


def _other_outlets(reprints: Sequence[StoredArticle], original: StoredArticle) -> list[StoredArticle]:
    """One reprint per outlet besides the original's: "carried by N more outlets" counts publishers, not the
    addresses one outlet put the text under (a site republishing a piece under five URLs read as four more
    outlets)."""
    seen = {outlet_key(original.url)}
    kept = []
    for article in reprints:
        if (key := outlet_key(article.url)) not in seen:
            seen.add(key)
            kept.append(article)
    return kept


def _report(article: StoredArticle, site_names: Mapping[str, str]) -> Report:
    return Report(
        _outlet(article, site_names),
        article.url,
        article.title or article.url,
        article.published_at or article.fetched_at,
    )


def _outlet(article: StoredArticle, site_names: Mapping[str, str]) -> str:
    """The outlet's name: the article's page's own, else one another article of the same outlet in the story
    gave (a page whose fetch failed has none: "127.0.0.2:8080" stood beside "Wirewire" for one site)."""
    return outlet_name(article.url, article.site_name or site_names.get(outlet_key(article.url)))


def _first(article: StoredArticle) -> tuple[datetime, int]:
    return (article.published_at or article.fetched_at, article.id)


def _evidence_for(lead: StoredArticle, members, matches_of: Mapping[int, list[StoredMatch]]) -> dict:
    """The evidence of the lead's own best match, else of a copy of its text (same wire cluster)."""
    own = matches_of.get(lead.id, [])
    if not own and lead.wire_cluster_id is not None:
        own = [
            m for a in members if a.wire_cluster_id == lead.wire_cluster_id for m in matches_of.get(a.id, ())
        ]
    return max(own, key=lambda m: m.score).evidence if own else {}


def excerpt(text: str, title: str | None, evidence: Mapping) -> Excerpt:
    """Two or three sentences of the article with the words that made the match marked; the stored snippet
    (centred on the densest matches) when the opening sentences hold none of them."""
    text = " ".join((text or "").split())
    if title and text.startswith(title):
        text = text[len(title) :].lstrip(" .:-–—")
    lead = ""
    for sentence in _SENTENCE_END.split(text)[:MAX_SENTENCES]:
        if lead and len(lead) + len(sentence) + 1 > EXCERPT_CHARS:
            break
        lead = f"{lead} {sentence}".strip()
    if len(lead) > EXCERPT_CHARS:
        lead = lead[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…"
    words = {
        hit["text"]
        for term in evidence.get("terms", ())
        if isinstance(term, Mapping)
        for hit in term.get("hits", ())
        if isinstance(hit, Mapping) and isinstance(hit.get("text"), str)
    }
    spans = find_words(lead, words)
    if not spans and evidence.get("snippet"):
        snippet = " ".join(str(evidence["snippet"]).split("\n"))
        marks = tuple(tuple(span) for span in evidence.get("highlights", ()) if len(span) == 2)
        return Excerpt(snippet, tuple(s for s in marks if 0 <= s[0] < s[1] <= len(snippet)))
    return Excerpt(lead, spans)


def find_words(text: str, words: Collection[str]) -> tuple[tuple[int, int], ...]:
    """Where ``words`` occur in ``text`` as whole words (ignoring case), merged where they overlap."""
    spans = []
    folded = text.casefold() if len(text.casefold()) == len(text) else text
    for word in words:
        needle = word.casefold()
        if not needle.strip() or len(needle) != len(word):
            continue  # casefolding changed its length ("ß"): positions would not line up
        for found in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", folded):
            spans.append(found.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0
