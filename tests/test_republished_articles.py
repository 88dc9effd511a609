"""A site that moves to a new CMS gives every entry of its feed a new GUID and a new address at once, the texts
unchanged; a site may also republish a piece in another section. The morning after, those texts are not news:
the digest does not bring back the stories it sent as updates (nor as new stories), while a text that is new,
on the same site, still comes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from support.httpserver import LocalWebServer, Route, free_loopback_hosts
from support.news import Entry, article_html, rss
from support.smtp import SmtpServer, email_channel

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime.now(UTC).replace(microsecond=0)

ARTICLES = {
    "dam": (
        "Kaldoria opens the Varn river dam after twelve years of works",
        [
            "The Varn river dam in northern Kaldoria opened on Monday after twelve years of construction, "
            "flooding a valley of four villages whose families were moved to new homes near the capital.",
            "Engineers said the turbines would supply a third of the country's electricity by next winter, "
            "while farmers downstream warned that the reservoir had already cut the spring floods they rely on.",
            "The opposition called for an inquiry into the cost, which tripled during the works.",
        ],
    ),
    "strike": (
        "Kaldorian rail workers strike over pensions",
        [
            "Rail workers across Kaldoria walked out at dawn on Tuesday over a pension reform that raises their "
            "retirement age by three years, halting freight trains at the ports of Ostel and Marrow.",
            "The transport ministry said talks with the unions would resume on Thursday; commuters queued for "
            "buses in the capital as only one train in five ran on the suburban lines.",
            "Union leaders promised a longer stoppage next month if the reform is not withdrawn.",
        ],
    ),
    "vaccine": (
        "Kaldoria approves locally made measles vaccine",
        [
            "Kaldoria's medicines agency approved the first measles vaccine made in the country, produced at a "
            "state laboratory in Tessin that will fill two million doses a year from the autumn.",
            "Health officials said the vaccine would end shortages that left rural clinics without doses for "
            "months last year, when an outbreak in the eastern hills sent three hundred children to hospital.",
            "The laboratory plans to export to neighbouring countries once its second line is built.",
        ],
    ),
}
NEW = (
    "Kaldorian central bank holds rates as inflation eases",
    [
        "Kaldoria's central bank kept its main interest rate at six percent on Wednesday, saying inflation had "
        "eased for a fourth month as fuel and bread prices fell after a good harvest in the southern plains.",
        "The governor said rates could fall next year if wages grew more slowly, and warned that the budget "
        "deficit planned by the government would make the bank's task harder.",
        "The currency firmed slightly against the euro after the decision.",
    ],
)


def serve(web: LocalWebServer, host: str, *, migrated: bool) -> None:
    """The site's feed and pages: before the move (``/old/<slug>``, GUIDs ``old:<slug>``), or after it (new
    addresses and GUIDs for the same texts, and one new article)."""
    articles = dict(ARTICLES, rates=NEW) if migrated else ARTICLES
    entries = []
    for age, (slug, (title, paragraphs)) in enumerate(articles.items()):
        path = f"/2026/news/{slug}-{age}.html" if migrated else f"/old/{slug}"
        web.set(path, article_html(title, paragraphs, site_name="Varn Times"), host=host)
        published = NOW - timedelta(hours=3 if slug == "rates" else 30 - age)
        guid = f"cms2:{slug}" if migrated else f"old:{slug}"
        entries.append(Entry(slug, title, paragraphs[0][:100], web.url(path, host=host), guid, published))
    feed = rss("Varn Times", web.url("/", host=host), entries[::-1])
    web.set("/feed.xml", Route(feed, headers=RSS), host=host)


@pytest.fixture
def site():
    with LocalWebServer(hosts=free_loopback_hosts(1)) as web:
        web.set("/robots.txt", "User-agent: *\nAllow: /\n")
        yield web


def mail_text(message) -> str:
    return message.get_body(("plain",)).get_content()


def configure(workspace, feed_url: str, smtp_port: int) -> None:
    workspace.write_config([{"name": "Varn Times", "url": feed_url}])
    digest = {
        "name": "morning",
        "schedule": "0 7 * * *",
        "timezone": "UTC",
        "lookback": "3d",
        "channels": {"email": email_channel(smtp_port)},
    }
    watchlist = {"topics": [{"name": "kaldoria", "query": "Kaldoria OR Kaldorian"}]}
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False))


def test_a_site_moving_to_a_new_cms_does_not_send_its_old_articles_again(workspace, site):
    host = site.hosts[0]
    with SmtpServer() as smtp:
        configure(workspace, site.url("/feed.xml", host=host), smtp.port)
        serve(site, host, migrated=False)
        workspace.cli("poll")
        workspace.cli("digest", "morning", "--send-now")
        [first] = smtp.messages
        assert "3 new stories" in mail_text(first)

        serve(site, host, migrated=True)
        workspace.cli("poll")
        assert len(workspace.json("articles")) == 7  # stored under their new addresses, known as copies
        workspace.cli("digest", "morning", "--send-now")
        [_, second] = smtp.messages
    text = mail_text(second)
    assert "1 new story" in text and NEW[0] in text
    assert "Update" not in text
    for title, _ in ARTICLES.values():
        assert title not in text


def test_a_piece_republished_by_its_own_site_alone_sends_nothing(workspace, site):
    host = site.hosts[0]
    with SmtpServer() as smtp:
        configure(workspace, site.url("/feed.xml", host=host), smtp.port)
        serve(site, host, migrated=False)
        workspace.cli("poll")
        workspace.cli("digest", "morning", "--send-now")
        title, paragraphs = ARTICLES["dam"]
        site.set("/features/dam", article_html(title, paragraphs, site_name="Varn Times"), host=host)
        again = Entry(
            "dam", title, paragraphs[0][:100], site.url("/features/dam", host=host), "features:dam", NOW
        )
        site.set(
            "/feed.xml", Route(rss("Varn Times", site.url("/", host=host), [again]), headers=RSS), host=host
        )
        workspace.cli("poll")
        result = workspace.cli("digest", "morning", "--send-now")
    assert len(smtp.messages) == 1, mail_text(smtp.messages[-1])
    assert "email: empty" in result.stdout


def test_a_longer_version_under_a_new_headline_is_still_news(workspace, site):
    host = site.hosts[0]
    with SmtpServer() as smtp:
        configure(workspace, site.url("/feed.xml", host=host), smtp.port)
        serve(site, host, migrated=False)
        workspace.cli("poll")
        workspace.cli("digest", "morning", "--send-now")
        _, paragraphs = ARTICLES["dam"]
        title = "Two die as Kaldoria's Varn dam opens its spillway without warning"
        longer = [
            *paragraphs,
            "Police said two fishermen drowned below the dam on Tuesday when the spillway gates were opened "
            "without the sirens sounding, and that a third man was missing downstream of the wall.",
            "The interior minister ordered an inquiry into the dam's operator and suspended its director.",
        ]
        site.set("/news/dam-deaths", article_html(title, longer, site_name="Varn Times"), host=host)
        entry = Entry(
            "dam", title, longer[3][:100], site.url("/news/dam-deaths", host=host), "dam-deaths", NOW
        )
        site.set(
            "/feed.xml", Route(rss("Varn Times", site.url("/", host=host), [entry]), headers=RSS), host=host
        )
        workspace.cli("poll")
        workspace.cli("digest", "morning", "--send-now")
        assert len(smtp.messages) == 2
        text = mail_text(smtp.messages[1])
    assert title in text
