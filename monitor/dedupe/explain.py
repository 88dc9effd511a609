"""Why an article is where deduplication put it: the evidence ``monitor explain`` prints.

The wire figures are recomputed from the stored texts (they do not change under it) by the stage's own
comparison (``stage.wire_comparison``: furniture and learnt boilerplate left out, as when it decided); the
stored wire score is the one that decided. The story score is the
one the stage decided on, with the evidence it recorded then (``stories.evidence``: the cosine, the time
factor and the shared terms that weighed most, against the story's profile as it was before the article
joined): a story's profile moves with every member, so a score recomputed now would explain another
decision. Beside it, the same scoring code (``stories.story_score``) gives the similarity to the profile now.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from monitor.dedupe import fingerprint as fp
from monitor.dedupe.stage import story_vector, wire_comparison
from monitor.dedupe.stories import SCORING, contributions, story_score
from monitor.runtime.plurals import plural
from monitor.store import clusters as store
from monitor.store import stories as stories_store
from monitor.store.models import Article


def explain_article(session: Session, article: Article) -> dict[str, Any]:
    """The article's cluster and story, how it joined them, with scores; ``lines`` holds the text form."""
    report: dict[str, Any] = {
        "id": article.id,
        "url": article.url,
        "title": article.title,
        "agency": article.agency,
        "agency_evidence": article.agency_evidence,
        "wire_cluster_id": article.wire_cluster_id,
        "story_id": article.story_id,
        "wire_method": article.wire_method,
        "revisions": article.revisions,
        "updated_at": article.updated_at,
    }
    lines = [
        f"article {article.id}: {article.title or '(no title)'}",
        f"  url: {article.url}",
        "  agency: "
        + (f"{article.agency} ({article.agency_evidence})" if article.agency else "none credited"),
    ]
    if article.revisions:
        lines.append(
            f"  revisions: {article.revisions}, last updated {article.updated_at:%Y-%m-%d %H:%M} UTC"
        )
    if article.wire_cluster_id is None:
        lines.append("not deduplicated (stored before deduplication ran, or deduplication is off)")
        report["lines"] = lines
        return report

    cluster = store.cluster_of(session, cluster_id=article.wire_cluster_id)
    representative = (
        stories_store.article(session, article_id=cluster.representative_id)
        if cluster is not None and cluster.representative_id is not None
        else None
    )
    lines.append(
        f"wire cluster {article.wire_cluster_id}: {plural(cluster.size, 'article') if cluster else '?'}, "
        f"agency {cluster.agency or 'none'}"
        if cluster
        else f"wire cluster {article.wire_cluster_id}"
    )
    if representative is not None:
        lines.append(
            f"  representative: article {representative.id} {representative.url}"
            + (" (this one)" if representative.id == article.id else "")
        )
    match = (
        stories_store.article(session, article_id=article.wire_match_id) if article.wire_match_id else None
    )
    report["wire_match"] = None
    if article.wire_method == "exact" and match is not None:
        lines.append(f"  joined: exact copy, the same normalized body as article {match.id} {match.url}")
    elif match is not None:
        # The stage's own comparison: outlet furniture and learnt boilerplate left out of both texts.
        score, mine, theirs = wire_comparison(
            session, body=article.body, url=article.url, other_body=match.body, other_url=match.url
        )
        report["wire_match"] = {
            "id": match.id,
            "url": match.url,
            "jaccard": round(score.jaccard, 4),
            "containment": round(score.containment, 4),
            "shared_shingles": score.shared,
            "share_of_this": round(score.shared / mine, 4) if mine else 0.0,
            "share_of_match": round(score.shared / theirs, 4) if theirs else 0.0,
            "stored_score": article.wire_score,
        }
        lines.append(f"  joined: wire copy of article {match.id} {match.url}")
        lines.append(
            f"    score {article.wire_score} (containment {score.containment:.2f}, Jaccard "
            f"{score.jaccard:.2f}); {score.shared} shared {fp.SHINGLE_WORDS}-word shingles = "
            f"{score.shared / max(mine, 1):.0%} of this text, {score.shared / max(theirs, 1):.0%} of that one"
        )
    else:
        lines.append("  joined: first of its cluster (no stored text within the window shares enough of it)")

    report["story"] = None
    if article.story_id is not None:
        story = stories_store.story(session, story_id=article.story_id)
        if story is not None:
            report["story"] = _story_report(session, article, story, lines)
    report["lines"] = lines
    return report


def _story_report(session: Session, article: Article, story, lines: list[str]) -> dict[str, Any]:
    """The story part: the decisive score and its evidence as recorded, and the similarity now."""
    recorded = _recorded_evidence(article.story_evidence)
    now = _similarity_now(session, article, stories_store.parse_profile(story.profile))
    report = {
        "id": story.id,
        "title": story.title,
        "size": story.size,
        "stored_score": article.story_score,
        "evidence": recorded,
        "similarity_now": now["similarity"],
        "terms_now": now["terms"],
    }
    lines.append(f"story {story.id}: {story.title or '(no title)'} ({plural(story.size, 'article')})")
    if article.story_score is not None:
        lines.append(f"  joined: story score {article.story_score} (the score that decided)")
        if recorded is not None:
            apart = recorded.get("hours_apart")
            lines.append(
                f"    = cosine {recorded.get('similarity')} with the story's profile as it was then"
                f" x time factor {recorded.get('time_factor')}"
                + ("" if apart is None else f" ({apart} h from its other articles)")
                + f" x core factor {recorded.get('core_factor', 1.0)} (its strongest terms among the"
                " story's)"
            )
            terms = ", ".join(f"{term} {part}" for term, part in recorded.get("terms", ()))
            lines.append(f"    terms that made it (term, part of the cosine): {terms or '-'}")
        lines.append(f"  similarity to the story's profile now: {now['similarity']}")
    elif recorded is not None and isinstance(recorded.get("regrouped"), dict):
        moved = recorded["regrouped"]
        lines.append(
            f"  regrouped: split off story {moved.get('from_story')} at {moved.get('at')} with"
            f" {moved.get('write_ups')} write-up(s) whose nearest neighbours are each other's, not the rest"
            " of that story's (monitor.dedupe.regroup)"
        )
        lines.append(f"  similarity to the story's profile now: {now['similarity']}")
    elif article.wire_method in ("exact", "minhash"):
        lines.append("  joined: with its wire cluster (a copy belongs to its original's story)")
    else:
        lines.append("  joined: started the story (no story within the window scored high enough)")
    return report


def _recorded_evidence(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _similarity_now(session: Session, article: Article, profile: dict[str, float]) -> dict[str, Any]:
    """The stage's own scoring of the article against the profile as it is now (time left out): its vector
    as the stage builds it (learnt boilerplate paragraphs left out), nothing counted."""
    stage_vector, _, _ = story_vector(
        session, title=article.title, body=article.body, count=False, scoring=SCORING
    )
    vector = stage_vector.as_dict()
    result = story_score(vector, profile, gap=None, scoring=SCORING)
    return {
        "similarity": round(result.similarity, 4),
        "terms": [term for term, _ in contributions(vector, profile)],
    }
