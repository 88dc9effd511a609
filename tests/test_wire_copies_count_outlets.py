""" "Wire copy carried by N more outlets" counts publishers: an outlet that republishes its own piece under
several addresses (section pages, a mobile or print edition) is no further outlet carrying it, for the
headline's copies as for another write-up's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.digest.content import View, build_content
from monitor.digest.notify.render import render
from monitor.store.deliveries import ItemRef
from monitor.store.digests import Material, StoredArticle, StoredMatch

T0 = datetime(2026, 12, 7, 6, tzinfo=UTC)
VIEW = View("digest", "email", ("digest",), 0.0, 10, {"port": "Port explosion"})


def article(id_: int, url: str, site: str, cluster: int, minutes: int = 0) -> StoredArticle:
    when = T0 + timedelta(minutes=minutes)
    body = f"Officials said the port of Portovero was closed after the explosion ({cluster})."
    return StoredArticle(id_, url, f"Port explosion {cluster}", site, when, when, body, 1, cluster)


def test_one_outlet_under_several_addresses_is_not_several_outlets():
    articles = [
        # The headline's text: its outlet republishes it under four more addresses; one other outlet reprints it.
        *(
            article(i, f"https://www.herald.test/{section}/blast", "The Herald", 10, i)
            for i, section in enumerate(["news", "world", "europe", "amp", "print"], start=1)
        ),
        article(6, "https://courier.test/blast", "The Courier", 10, 6),
        # Another write-up, on its own site twice and reprinted by one other outlet.
        article(7, "https://gazette.test/port", "The Gazette", 20, 7),
        article(8, "https://gazette.test/live/port", "The Gazette", 20, 8),
        article(9, "https://star.test/port", "Evening Star", 20, 9),
    ]
    matches = [
        StoredMatch(a.id, "port", 60.0 if a.wire_cluster_id == 10 else 50.0, {"terms": []}) for a in articles
    ]
    material = Material({a.id: a for a in articles}, tuple(matches), {10: 1, 20: 7}, {}, {})
    built = build_content(
        material,
        name="daily",
        timezone="UTC",
        view=VIEW,
        items=[ItemRef(a.id, 1, "port") for a in articles],
        period=T0 + timedelta(days=1),
    )
    [item] = built.sections[0].items
    assert item.url == "https://www.herald.test/news/blast"
    assert [copy.outlet for copy in item.copies] == ["The Courier"] and item.copy_count == 1
    [writeup] = item.writeups
    assert writeup.url == "https://gazette.test/port" and writeup.carried_by == 1
    assert len(item.article_ids) == 9  # every address is delivered all the same
    text = render(built).text
    assert "Wire copy carried by 1 more outlet:" in text and "(wire copy carried by 1 more outlet)" in text
