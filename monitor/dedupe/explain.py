"""Why an article is where deduplication put it: the evidence ``monitor explain`` prints.

Scores are recomputed from the stored texts, so the explanation shows what the texts share now.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from monitor.dedupe import fingerprint as fp
from monitor.dedupe.stories import cosine, idf, shared_terms, term_counts, vectorize
from monitor.store import clusters as store
from monitor.store.models import Article


def explain_article(session: Session, article: Article) -> dict[str, Any]:
    """The article's cluster and story, how it joined them, with scores; ``lines`` holds the text form."""
    report: dict[str, Any] = {
        "id": article.id, "url": article.url, "title": article.title, "agency": article.agency,
        "agency_evidence": article.agency_evidence, "wire_cluster_id": article.wire_cluster_id,
        "story_id": article.story_id, "wire_method": article.wire_method, "revisions": article.revisions,
        "updated_at": article.updated_at,
    }
    lines = [f"article {article.id}: {article.title or '(no title)'}", f"  url: {article.url}",
             "  agency: " + (f"{article.agency} ({article.agency_evidence})" if article.agency else "none credited")]
    if article.revisions:
        lines.append(f"  revisions: {article.revisions}, last updated {article.updated_at:%Y-%m-%d %H:%M} UTC")
    if article.wire_cluster_id is None:
        lines.append("not deduplicated (stored before deduplication ran, or deduplication is off)")
        report["lines"] = lines
        return report

    cluster = store.cluster_of(session, cluster_id=article.wire_cluster_id)
    representative = store.article(session, article_id=cluster.representative_id) if cluster else None
    lines.append(f"wire cluster {article.wire_cluster_id}: {cluster.size if cluster else '?'} articles, "
                 f"agency {cluster.agency or 'none'}" if cluster else f"wire cluster {article.wire_cluster_id}")
    if representative is not None:
        lines.append(f"  representative: article {representative.id} {representative.url}"
                     + (" (this one)" if representative.id == article.id else ""))
    match = store.article(session, article_id=article.wire_match_id) if article.wire_match_id else None
    report["wire_match"] = None
    if article.wire_method == "exact" and match is not None:
        lines.append(f"  joined: exact copy, the same normalized body as article {match.id} {match.url}")
    elif match is not None:
        score = fp.compare(fp.shingles(article.body), fp.shingles(match.body))
        mine, theirs = len(fp.shingles(article.body)), len(fp.shingles(match.body))
        report["wire_match"] = {"id": match.id, "url": match.url, "jaccard": round(score.jaccard, 4),
                                "containment": round(score.containment, 4), "shared_shingles": score.shared,
                                "share_of_this": round(score.shared / mine, 4) if mine else 0.0,
                                "share_of_match": round(score.shared / theirs, 4) if theirs else 0.0,
                                "stored_score": article.wire_score}
        lines.append(f"  joined: wire copy of article {match.id} {match.url}")
        lines.append(f"    score {article.wire_score} (containment {score.containment:.2f}, Jaccard "
                     f"{score.jaccard:.2f}); {score.shared} shared {fp.SHINGLE_WORDS}-word shingles = "
                     f"{score.shared / max(mine, 1):.0%} of this text, {score.shared / max(theirs, 1):.0%} of that one")
    else:
        lines.append("  joined: first of its cluster (no stored text within the window shares enough of it)")

    report["story"] = None
    if article.story_id is not None:
        story = store.story(session, story_id=article.story_id)
        if story is not None:
            counts = term_counts(article.title, article.body)
            frequencies, total = store.document_frequencies(session, terms=counts)
            vector = vectorize(counts, {t: idf(n, total) for t, n in frequencies.items()}, idf(0, total))
            profile = store.parse_profile(story.profile)
            terms = shared_terms(vector.as_dict(), profile)
            report["story"] = {"id": story.id, "title": story.title, "size": story.size,
                               "stored_score": article.story_score,
                               "similarity_now": round(cosine(vector.as_dict(), profile), 4),
                               "shared_terms": list(terms)}
            lines.append(f"story {story.id}: {story.title or '(no title)'} ({story.size} articles)")
            if article.story_score is not None:
                lines.append(f"  joined: TF-IDF similarity {article.story_score} to the story's profile; "
                             f"shared terms: {', '.join(terms) or '-'}")
            elif article.wire_method in ("exact", "minhash"):
                lines.append("  joined: with its wire cluster (a copy belongs to its original's story)")
            else:
                lines.append("  joined: started the story (no story within the window was similar enough)")
    report["lines"] = lines
    return report
