"""End to end: feeds on 127.0.0.1 are polled, deduplicated and tagged by the real CLI, then the digest goes
out by email (aiosmtpd) and Slack (a local receiver) with ``monitor digest --send-now``; a second send
carries nothing again. With the seed articles present, their story is served and arrives the same way."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from support.httpserver import Route
from support.news import BASE_TIME, Entry, article_html, rss
from support.smtp import SmtpServer, email_channel

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
WATCHLIST = {
    "aliases": {
        "iran": ["Iran", "Iranian", "Tehran", "Иран*", "ایران"],
        "russia": ["Russia", "Russian", "Moscow", "Kremlin", "Росси*", "روسیه"],
    },
    "topics": [{"name": "arms", "query": "@iran AND @russia AND (missil* OR drone* OR ракет* OR موشک*)"}],
}
STORY = [
    (
        "Officials in two Western capitals said on Tuesday that Tehran shipped a first batch of short-range "
        "missiles to Moscow, loaded at a Caspian port late last week."
    ),
    "The Kremlin declined to comment on the shipment. Iranian officials said no missiles had been sent.",
    "Analysts said the missiles could reach Russian units within weeks, adding to the drones already supplied.",
]
ARTICLES = {  # host index, slug, title, paragraphs
    "wire": (0, "Tehran ships missiles to Moscow, officials say", STORY),
    "reprint": (1, "Iran sends missiles to Russia: officials", STORY),
    "ru": (
        2,
        "Россия получила иранские ракеты",
        [
            "По словам чиновников, Иран отправил в Россию первую партию ракет малой дальности.",
            "В Кремле отказались от комментариев; в Иране поставки отрицают.",
        ],
    ),
    "fa": (
        2,
        "ارسال موشک‌های ایران به روسیه",
        [
            "مقام‌های غربی می‌گویند ایران نخستین محموله موشک‌های کوتاه‌برد را به روسیه فرستاده است.",
            "سخنگوی دولت ایران این گزارش را رد کرد.",
        ],
    ),
}


def serve(web, articles: dict[str, tuple[int, str, list[str]]]) -> list[dict]:
    """One feed (an outlet) per index, on the hosts in turn, carrying its articles; the feeds to configure."""
    feeds = []
    for host_index in sorted({index for index, _, _ in articles.values()}):
        host = web.hosts[host_index % len(web.hosts)]
        entries = []
        for n, (slug, (index, title, paragraphs)) in enumerate(articles.items()):
            if index != host_index:
                continue
            web.set(f"/news/{slug}", article_html(title, paragraphs), host=host)
            entries.append(
                Entry(
                    slug,
                    title,
                    paragraphs[0][:100],
                    web.url(f"/news/{slug}", host=host),
                    f"urn:test:{slug}",
                    BASE_TIME + timedelta(minutes=n),
                )
            )
        if entries:
            web.set(
                f"/feed-{host_index}.xml",
                Route(rss(f"Outlet {host_index}", web.url("/", host=host), entries), headers=RSS),
                host=host,
            )
            feeds.append(
                {"name": f"Outlet {host_index}", "url": web.url(f"/feed-{host_index}.xml", host=host)}
            )
    return feeds


def configure(workspace, feeds: list[dict], smtp_port: int, slack_url: str) -> None:
    workspace.write_config(feeds)
    digest = {
        "name": "morning",
        "schedule": "0 7 * * *",
        "timezone": "Europe/Berlin",
        "lookback": "7d",
        "channels": {
            "email": email_channel(smtp_port),
            "slack": {"webhook_url": slack_url},
        },
    }
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(
            yaml.safe_dump({"watchlist": WATCHLIST, "digests": [digest]}, sort_keys=False, allow_unicode=True)
        )


def test_ingested_story_arrives_by_email_and_slack_once(web, workspace):
    web.set("/hooks/slack", Route(body="ok"))
    with SmtpServer() as smtp:
        configure(workspace, serve(web, ARTICLES), smtp.port, web.url("/hooks/slack"))
        workspace.cli("poll")
        result = workspace.cli("digest", "morning", "--send-now")
        assert "email: sent" in result.stdout and "slack: sent" in result.stdout
        [message] = smtp.messages
        again = workspace.cli("digest", "morning", "--send-now")
        assert "email: empty" in again.stdout and "slack: empty" in again.stdout and len(smtp.messages) == 1
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    # The wire story and its reprint are one story: the original as headline, the reprint counted apart.
    body = html.split(">arms<", 1)[1]
    assert (
        body.count("missiles to Moscow, officials say") == 1 and "Iran sends missiles to Russia" not in body
    )
    assert "Wire copy carried by 1 more outlet" in html and "Wire copy carried by 1 more outlet" in text
    for title in ("Россия получила иранские ракеты", "ارسال موشک‌های ایران به روسیه"):
        assert title in html and title in text
    [request] = [r for r in web.requests_for("/hooks/slack")]
    payload = json.loads(request.body)
    blocks = json.dumps(payload["blocks"], ensure_ascii=False)
    assert "Россия получила иранские ракеты" in blocks and "Wire copy carried by 1 more outlet" in blocks


@pytest.mark.corpus
@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed articles absent")
def test_the_seeds_story_arrives_by_email_and_slack(web, workspace):
    articles = {}
    for n, path in enumerate(sorted(SEEDS.glob("*.txt"))):
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        paragraphs = [line for line in lines if len(line) > 60]
        title = next((line for line in paragraphs if 30 < len(line) < 200), paragraphs[0])[:120]
        articles[f"seed-{n}"] = (n, title, paragraphs)
    web.set("/hooks/slack", Route(body="ok"))
    with SmtpServer() as smtp:
        configure(workspace, serve(web, articles), smtp.port, web.url("/hooks/slack"))
        workspace.cli("poll")
        result = workspace.cli("digest", "morning", "--send-now")
        assert "email: sent" in result.stdout and "slack: sent" in result.stdout, result.stdout
        [message] = smtp.messages
    html = message.get_body(("html",)).get_content()
    linked = sum(f"/news/{slug}" in html for slug in articles)
    assert linked == len(articles)  # every seed shown, as a headline, another write-up or a wire copy
    assert "Other write-ups" in html
    print(message.get_body(("plain",)).get_content())  # shown with -s: what the desk would read
    assert web.requests_for("/hooks/slack")[0].status == 200


def test_the_digest_says_which_feeds_its_readers_have_not_heard_from(web, workspace, tmp_path):
    """A feed dead for two years, and one failing for over a day, leave gaps in what the digest's readers
    see: the digest lists them under its stories (email, Slack, the preview), the newest gap first; a feed
    that failed only today is not news yet."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from monitor.store.db import open_database
    from monitor.store.models import Feed

    web.set("/hooks/slack", Route(body="ok"))
    now = datetime.now(UTC)
    # At noon: the same day in the digest's time zone as in UTC, whatever the hour the test runs.
    long_ago = (now - timedelta(days=800)).replace(hour=12, minute=0, second=0, microsecond=0)
    title, paragraphs = ARTICLES["wire"][1:]
    web.set("/news/wire", article_html(title, paragraphs))
    fresh = [
        Entry("wire", title, STORY[0][:100], web.url("/news/wire"), "urn:test:wire", now - timedelta(hours=2))
    ]
    web.set("/live.xml", Route(rss("Outlet", web.url("/"), fresh), headers=RSS))
    old = [Entry("old", "An old report", "Old.", web.url("/news/old"), "urn:test:old", long_ago)]
    web.set("/news/old", article_html("An old report", ["Nothing about missiles here at all."]))
    web.set("/dead.xml", Route(rss("Dead desk", web.url("/"), old), headers=RSS))
    web.set("/down.xml", Route(status=503))
    feeds = [
        {"name": "Outlet", "url": web.url("/live.xml")},
        {"name": "Dead <desk>", "url": web.url("/dead.xml")},  # a name to escape in HTML and Slack
        {"name": "Down", "url": web.url("/down.xml")},
    ]
    with SmtpServer() as smtp:
        configure(workspace, feeds, smtp.port, web.url("/hooks/slack"))
        workspace.cli("poll", expect=None)
        result = workspace.cli("digest", "morning", "--send-now")
        assert "email: sent" in result.stdout
        [message] = smtp.messages
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # Down has failed for minutes only: not listed. The dead desk, since its last entry.
    assert "Not heard from: 1 of 3 feeds" in text
    day = long_ago.strftime("%-d %b %Y")
    assert "- Dead <desk>: lists nothing new since" in text and day in text
    assert "Dead &lt;desk&gt;: lists nothing new since" in html and "Dead <desk>" not in html
    [request] = web.requests_for("/hooks/slack")
    blocks = json.dumps(json.loads(request.body)["blocks"], ensure_ascii=False)
    assert "Not heard from: 1 of 3 feeds" in blocks and "Dead &lt;desk&gt;: lists nothing new" in blocks

    # A day on, Down still failing: it is listed too, first (its gap is the newer), with its error's kind.
    db = open_database(workspace.database_url)
    try:
        with db.session() as session:
            session.execute(
                update(Feed).where(Feed.name == "Down").values(created_at=now - timedelta(days=2))
            )
            session.commit()
    finally:
        db.dispose()
    preview = tmp_path / "preview.html"
    workspace.cli("digest", "morning", "--preview", str(preview))
    shown = preview.read_text()
    assert "Not heard from: 2 of 3 feeds" in shown
    assert shown.index("Down: failing, never polled with success (http_5xx)") < shown.index(
        "Dead &lt;desk&gt;"
    )


def test_a_digest_with_nothing_new_is_sent_when_asked_and_says_who_was_not_heard_from(web, workspace):
    """``send_empty: true``: a morning with nothing new still brings the digest, "nothing new", with the
    feeds that may be why; it was recorded as sent without any message going out before."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    old = [
        Entry("old", "An old report", "Old.", web.url("/news/old"), "urn:test:old", now - timedelta(days=800))
    ]
    web.set("/news/old", article_html("An old report", ["Nothing about the topic here at all."]))
    web.set("/dead.xml", Route(rss("Dead desk", web.url("/"), old), headers=RSS))
    web.set("/hooks/slack", Route(body="ok"))
    with SmtpServer() as smtp:
        configure(
            workspace,
            [{"name": "Dead desk", "url": web.url("/dead.xml")}],
            smtp.port,
            web.url("/hooks/slack"),
        )
        config = yaml.safe_load(workspace.config_path.read_text())
        config["digests"][0]["send_empty"] = True
        workspace.config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        workspace.cli("poll")
        result = workspace.cli("digest", "morning", "--send-now")
        assert "email: sent" in result.stdout and "slack: sent" in result.stdout, result.stdout
        [message] = smtp.messages
    assert message["Subject"] == "Digest morning: nothing new"
    text = message.get_body(("plain",)).get_content()
    assert "Not heard from: 1 of 1 feed" in text and "- Dead desk: lists nothing new since" in text
    [request] = web.requests_for("/hooks/slack")
    assert "Not heard from: 1 of 1 feed" in json.dumps(json.loads(request.body)["blocks"])
