"""A digest too large for one Slack message goes out in parts, each headed "(2/3)": the part number stays
whole when the subject (a digest's long name, a long headline with an "&", which escaped as "&amp;" is
longer) must be cut to fit the header's 150 characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.digest.content import View, build_content
from monitor.digest.notify.render import render
from monitor.digest.notify.slack_blocks import MAX_HEADER
from monitor.store.deliveries import ItemRef
from monitor.store.digests import Material, StoredArticle, StoredMatch

T0 = datetime(2026, 12, 7, 6, tzinfo=UTC)
VIEW = View("digest", "slack", ("digest", "alert"), 0.0, 200, {"ferries": "Ferries"})


@pytest.mark.parametrize("lead", ["P&O", "P&O & Stena"])
def test_every_part_of_a_split_digest_keeps_its_number(lead):
    articles = [
        StoredArticle(
            i,
            f"https://outlet{i}.test/ferries",
            f"{lead} ferries cancel every crossing of the strait as the storm closes ports along the coast "
            f"for a third day, stranding lorries ({i})",
            f"Outlet {i}",
            T0 - timedelta(minutes=i),
            T0 - timedelta(minutes=i),
            "The ferry company said crossings would resume once the storm had passed.",
            i,
            i,
        )
        for i in range(1, 61)  # sixty stories: more than the fifty blocks of one message
    ]
    matches = tuple(StoredMatch(a.id, "ferries", 50.0, {"terms": []}) for a in articles)
    built = build_content(
        Material({a.id: a for a in articles}, matches, {}, {}, {}),
        name="breaking-news-desk-for-the-channel",
        timezone="UTC",
        view=VIEW,
        items=[ItemRef(a.id, a.id, "ferries") for a in articles],
        period=T0,
    )
    messages = render(built).slack
    assert len(messages) >= 2
    for number, message in enumerate(messages, start=1):
        header = message.payload["blocks"][0]["text"]["text"]
        assert header.startswith("Digest breaking-news-desk-for-the-channel: ") and header.endswith(
            f" ({number}/{len(messages)})"
        ), header
        assert len(header) <= MAX_HEADER
        assert message.payload["text"].endswith(f" ({number}/{len(messages)})")
