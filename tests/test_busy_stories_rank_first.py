"""On a breaking-news day many stories and topics reach the top score (it is capped at 100): among equals,
the story carried by more reports comes first, counting every one of them (not only the write-ups a story
lists), and so does the topic, in the digest and in its subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.digest.content import View, build_content
from monitor.digest.notify.render import render
from monitor.store.deliveries import ItemRef
from monitor.store.digests import Material, StoredArticle, StoredMatch

T0 = datetime(2026, 12, 7, 6, tzinfo=UTC)
VIEW = View("digest", "email", ("digest",), 0.0, 10, {"port": "Port explosion", "election": "Election"})


def story(first_id: int, story_id: int, reports: int, topic: str, hours: float) -> list[tuple]:
    """``reports`` write-ups of one story, each its own text on its own site, all at the top score."""
    return [
        (
            StoredArticle(
                i,
                f"https://outlet{i}.test/{story_id}",
                f"{topic} report {i}",
                f"Outlet {i}",
                T0 + timedelta(hours=hours),
                T0 + timedelta(hours=hours, minutes=5),
                "Officials said the port was closed.",
                story_id,
                None,
            ),
            StoredMatch(i, topic, 100.0, {"terms": []}),
        )
        for i in range(first_id, first_id + reports)
    ]


def test_among_top_scores_the_story_and_the_topic_with_more_reports_lead():
    rows = [
        *story(1, 1, 40, "port", hours=1),  # the breaking story: forty write-ups
        *story(100, 2, 9, "port", hours=2),  # a smaller, later one
        *story(200, 3, 2, "election", hours=3),  # a routine topic, at the top score too
    ]
    material = Material({a.id: a for a, _ in rows}, tuple(m for _, m in rows), {}, {}, {})
    built = build_content(
        material,
        name="daily",
        timezone="UTC",
        view=VIEW,
        items=[ItemRef(a.id, a.story_id, m.topic) for a, m in rows],
        period=T0 + timedelta(days=1),
    )
    assert [section.name for section in built.sections] == ["port", "election"]
    assert [item.story_id for item in built.sections[0].items] == [1, 2]
    assert render(built).subject == "Digest daily: port report 1 and 2 more"
