"""Three mornings of an analyst's digest, end to end. Four outlets on four loopback hosts publish one story
over two days (an agency's report, a reprint of it under the reprinting outlet's sign-up boilerplate, an
independent write-up, then a denial and a ministry statement); after each day's poll the real CLI sends the
digest by email (aiosmtpd) and to Slack (a local receiver).

Day 1 brings the story once, an original as headline, the other write-up linked, the reprint counted as a
wire copy, no boilerplate. Day 2 brings the follow-ups as an update of that story (its earlier coverage
summed up, not repeated) and not an older unrelated story. Day 3 repeats nothing. Variants: two topics
matching the story, and an alert channel. With the seed articles present, the same mornings run on them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url
from support.httpserver import LocalWebServer, Route, free_loopback_hosts
from support.news import Entry, article_html, rss
from support.queryplans import watched_statements
from support.smtp import SmtpServer, email_channel
from support.waiting import wait_for

from monitor.config import load_config
from monitor.digest.runner import DigestRunner, alert_period
from monitor.store.db import open_database

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime.now(UTC).replace(microsecond=0)
SIGN_UP = "Sign up for the Courier's morning briefing: the day's top stories in your inbox before 7am."

AGENCY = (
    "Iran ships Fath-360 missiles to Russia across the Caspian, officials say",
    [
        "Iran has shipped a first consignment of Fath-360 short-range ballistic missiles to Russia, loading them "
        "at the Caspian port of Amirabad for the Russian port of Astrakhan, two Western security officials said.",
        "The officials said Russian crews trained on the Fath-360 in Iran over the summer and that more than two "
        "hundred missiles were expected to reach Russian units within weeks.",
        "Iran's mission to the United Nations did not reply to a request for comment. The Kremlin declined to "
        "comment on the Fath-360 consignment.",
    ],
)
COURIER = ("Iran sends missiles to Russia, officials say", [SIGN_UP, *AGENCY[1], "Read more: world news."])
OBSERVER = (
    "Fath-360 consignment leaves Amirabad for Astrakhan",
    [
        "Sign up to the Observer newsletter for the week's defence news.",
        "A cargo ship carrying Iranian Fath-360 ballistic missiles left Amirabad on the Caspian for Astrakhan, "
        "according to Western officials who briefed reporters on the missile consignment for Russia.",
        "Russia is expected to field the Fath-360 missiles against Ukraine; Iran's supply of the missiles would "
        "deepen its military partnership with Moscow, the officials said.",
    ],
)
DENIAL = (
    "Iran denies shipping Fath-360 missiles to Russia",
    [
        "Sign up for Kyiv Ledger alerts and get breaking news in your inbox.",
        "Iran's foreign ministry denied on Tuesday that it had shipped Fath-360 ballistic missiles to Russia, "
        "calling reports of a consignment from Amirabad to Astrakhan Western propaganda.",
        "The ministry's spokesman said Iran's defence cooperation with Russia broke no law, and that no "
        "missiles had been sent across the Caspian.",
    ],
)
MINISTRY = (
    "Russian foreign ministry calls Fath-360 reports a provocation",
    [
        "Sign up to the Observer newsletter for the week's defence news.",
        "Russia's foreign ministry said reports that Iran had shipped Fath-360 ballistic missiles to Russia "
        "through Astrakhan were a provocation, without denying the consignment from Amirabad.",
        "Moscow and Tehran would keep developing their military cooperation, the ministry said, as Kyiv "
        "warned that the Iranian missiles could strike Ukrainian cities within weeks.",
    ],
)
HELICOPTERS = (
    "Iran to receive Mi-28 attack helicopters from Russia next spring",
    [
        "Russia will deliver the first Mi-28 attack helicopters to Iran's army aviation next spring, an Iranian "
        "member of parliament told the ISNA agency in Tehran on Monday, under a contract signed in 2023.",
        "The helicopters come armed with Ataka anti-tank missiles, the lawmaker said; Iran's ageing fleet of "
        "Cobra helicopters dates from before the 1979 revolution.",
    ],
)
OTHER = (
    "Harbour strike ends after wage deal in Rotterdam",
    [
        "Dock workers in Rotterdam ended a four-day strike after unions accepted a wage deal with port employers, "
        "the union said on Monday, reopening the container terminals to shipping.",
        "The deal raises wages by six percent over two years and limits night shifts, the union said.",
    ],
)
WATCHLIST = {
    "aliases": {"iran": ["Iran", "Iranian", "Tehran"], "russia": ["Russia", "Russian", "Moscow", "Kremlin"]},
    "topics": [
        {"name": "arms", "title": "Iran–Russia arms", "query": "@iran AND @russia AND (missile* OR Fath*)"}
    ],
}
SECOND_TOPIC = {"name": "caspian", "query": "Caspian OR Astrakhan"}

# Outlet (site name, host index) -> the articles it publishes each day (slug -> title, paragraphs, days ago).
DAYS = {
    1: {
        ("Wire Agency", 0): {"agency": (*AGENCY, 1.0), "helicopters": (*HELICOPTERS, 1.1)},
        ("The Courier", 1): {"courier": (*COURIER, 0.95)},
        ("Eastern Observer", 2): {"observer": (*OBSERVER, 0.9), "harbour": (*OTHER, 0.9)},
    },
    2: {
        ("Kyiv Ledger", 3): {"denial": (*DENIAL, 0.2)},
        ("Eastern Observer", 2): {"ministry": (*MINISTRY, 0.1)},
    },
}


def publish(web: LocalWebServer, day: int, outlets: dict) -> list[dict]:
    """Serve the pages of ``day`` and every outlet's feed as it stands that day; the feeds to configure."""
    feeds = []
    for (site, index), _ in sorted(outlets.items(), key=lambda kv: kv[0][1]):
        host = web.hosts[index]
        entries = []
        for upto in range(1, day + 1):
            for slug, (title, paragraphs, days_ago) in DAYS.get(upto, {}).get((site, index), {}).items():
                url = web.url(f"/news/{slug}", host=host)
                web.set(f"/news/{slug}", article_html(title, paragraphs, site_name=site), host=host)
                entries.append(
                    Entry(
                        slug, title, paragraphs[-1][:120], url, f"urn:{slug}", NOW - timedelta(days=days_ago)
                    )
                )
        web.set("/feed.xml", Route(rss(site, web.url("/", host=host), entries[::-1]), headers=RSS), host=host)
        feeds.append({"name": f"{site} – news", "url": web.url("/feed.xml", host=host)})
        if index == 0:  # the agency's site also lists its news in a second feed: still one outlet
            web.set("/top.xml", Route(rss(site, web.url("/", host=host), entries), headers=RSS), host=host)
            feeds.append({"name": f"{site} – top stories", "url": web.url("/top.xml", host=host)})
    return feeds


def outlets_of(day: int) -> dict:
    found: dict = {}
    for upto in range(1, day + 1):
        for outlet in DAYS[upto]:
            found.setdefault(outlet, None)
    return {outlet: None for outlet in sorted(found, key=lambda o: o[1])}


def configure(workspace, feeds, smtp_port: int, slack_url: str, *, topics=(), alerts=None) -> None:
    workspace.write_config(feeds)
    watchlist = dict(WATCHLIST, topics=[*WATCHLIST["topics"], *topics])
    digest = {
        "name": "morning",
        "schedule": "0 7 * * *",
        "timezone": "UTC",
        "lookback": "3d",
        "channels": {
            "email": email_channel(smtp_port),
            "slack": {"webhook_url": slack_url},
        },
    }
    if alerts:
        digest["alerts"] = alerts
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(
            yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False, allow_unicode=True)
        )


def morning(workspace, web, smtp, day: int) -> tuple[str, str, list[dict]]:
    """Poll, regroup the window's stories (as the daemon does every hour), send the digest; the email's text
    and HTML ('' when none came) and Slack's new payloads."""
    mails, posts = len(smtp.messages), len(web.requests_for("/hooks/slack"))
    workspace.cli("poll")
    regrouped = workspace.cli("regroup", "--json")
    assert json.loads(regrouped.stdout) == [], regrouped.stdout  # one story's write-ups hold together
    result = workspace.cli("digest", "morning", "--send-now")
    assert "email:" in result.stdout and "slack:" in result.stdout, result.stdout
    new_mail = smtp.messages[mails:]
    assert len(new_mail) <= 1
    # decoded with the wire's CRLF
    text = new_mail[0].get_body(("plain",)).get_content().replace("\r\n", "\n") if new_mail else ""
    html = new_mail[0].get_body(("html",)).get_content() if new_mail else ""
    slack = [json.loads(r.body) for r in web.requests_for("/hooks/slack")[posts:]]
    return text, html, slack


@pytest.fixture
def outlets():
    with LocalWebServer(hosts=free_loopback_hosts(4)) as server:
        for host in server.hosts:
            server.set("/robots.txt", "User-agent: *\nAllow: /\n", host=host)
        server.set("/hooks/slack", Route(body="ok"))
        yield server


def three_mornings(workspace, web, smtp, **options):
    mornings = []
    for day in (1, 2, 3):
        configure(
            workspace,
            publish(web, min(day, 2), outlets_of(min(day, 2))),
            smtp.port,
            web.url("/hooks/slack"),
            **options,
        )
        mornings.append(morning(workspace, web, smtp, day))
    return mornings


def test_three_mornings_of_a_developing_story(workspace, outlets):
    with SmtpServer() as smtp:
        (text1, html1, slack1), (text2, _, slack2), (text3, _, slack3) = three_mornings(
            workspace, outlets, smtp
        )

    # Day 1: the story once, an original as headline (never the Courier's reprint), the independent
    # write-up linked with its outlet, the reprint counted as a wire copy; no boilerplate in the excerpt.
    assert "2 new stories" in text1 and "Rotterdam" not in text1 and HELICOPTERS[0] in text1
    stories = text1.split("## Iran–Russia arms", 1)[1].split("\n* ")[1:]
    assert len(stories) == 2
    [story] = [s for s in stories if "Fath" in s]
    headline = story.splitlines()[0]
    assert headline in (AGENCY[0], OBSERVER[0])
    assert COURIER[0] not in story
    assert "Other write-ups (1):" in story
    assert "Wire copy carried by 1 more outlet:" in story and "The Courier:" in story
    assert "Sign up" not in text1 and "Sign up" not in html1 and "Read more" not in text1
    for site in ("Wire Agency", "Eastern Observer"):
        assert site in story
    # One URL once, and the agency's two feeds are one outlet.
    agency_url = outlets.url("/news/agency", host=outlets.hosts[0])
    assert story.count(agency_url) == 1 and "top stories" not in story
    [slack_day1] = slack1
    blocks = json.dumps(slack_day1["blocks"], ensure_ascii=False)
    assert "Wire copy carried by 1 more outlet" in blocks and "Sign up" not in blocks

    # Day 2: the follow-ups arrive as an update of the same story; what day 1 said is summed up.
    assert "1 update" in text2 and "new story" not in text2.split("\n", 3)[2]
    update = text2.split("## Iran–Russia arms", 1)[1]
    assert update.count("\n* ") == 1 and "[Update] " in update
    read = " ".join(update.split())  # as read: the plain text is wrapped at 76 columns
    assert DENIAL[0] in read and MINISTRY[0] in read
    assert "first reported" in read and "5 reports from 4 outlets so far" in read
    assert AGENCY[0] not in update and OBSERVER[0] not in update and COURIER[0] not in update
    assert "Rotterdam" not in text2 and HELICOPTERS[0] not in text2  # the older story had no news
    assert "Sign up" not in text2 and "Sign up" not in json.dumps(slack2)
    assert "*Update*" in json.dumps(slack2, ensure_ascii=False)

    # Day 3: nothing new, nothing repeated, on either channel.
    assert text3 == "" and slack3 == []


def test_a_source_down_since_yesterday_is_named_in_the_morning_digest_until_it_is_back(workspace, outlets):
    """Day 2, the Courier's site has failed since the day before: its readers are told, under the day's
    stories, that they have not heard from it. Day 3 it is back: a morning with nothing new (sent all the
    same, ``send_empty``) names no one."""
    from sqlalchemy import update

    from monitor.store.models import Feed

    courier = outlets.hosts[1]
    with SmtpServer() as smtp:
        feeds = publish(outlets, 1, outlets_of(1))
        configure(workspace, feeds, smtp.port, outlets.url("/hooks/slack"))
        text1, _, _ = morning(workspace, outlets, smtp, 1)
        assert "Not heard from" not in text1

        configure(workspace, publish(outlets, 2, outlets_of(2)), smtp.port, outlets.url("/hooks/slack"))
        outlets.set("/feed.xml", Route(status=503), host=courier)
        db = open_database(workspace.database_url)
        try:
            with db.session() as session:  # its last success a day and a half ago: down since yesterday
                session.execute(
                    update(Feed)
                    .where(Feed.name == "The Courier – news")
                    .values(created_at=NOW - timedelta(days=3), last_success_at=NOW - timedelta(hours=36))
                )
                session.commit()
            text2, html2, slack2 = morning(workspace, outlets, smtp, 2)
            assert "1 update" in text2  # the day's news still comes, from the others
            footer = text2.split("Not heard from: 1 of 5 feeds\n", 1)[1]
            assert footer.startswith("- The Courier – news: failing since ") and "(http_5xx)" in footer
            assert "Not heard from: 1 of 5 feeds" in html2
            assert "The Courier – news: failing since" in json.dumps(slack2, ensure_ascii=False)

            # Day 3: back, and nothing new anywhere; the digest comes all the same and names no one.
            publish(outlets, 2, outlets_of(2))
            config = yaml.safe_load(workspace.config_path.read_text())
            config["digests"][0]["send_empty"] = True
            workspace.config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
            text3, _, slack3 = morning(workspace, outlets, smtp, 3)
        finally:
            db.dispose()
    assert text3.startswith("Digest morning: nothing new") and "Not heard from" not in text3
    assert len(slack3) == 1 and "Not heard from" not in json.dumps(slack3)


def test_a_story_matching_two_topics_comes_once_naming_both(workspace, outlets):
    with SmtpServer() as smtp:
        (text1, _, slack1), (text2, _, _), _ = three_mornings(workspace, outlets, smtp, topics=[SECOND_TOPIC])
    assert "2 new stories" in text1
    fath = [s for s in text1.split("\n* ")[1:] if "Fath" in s.splitlines()[0]]
    assert len(fath) == 1 and "topics: " in fath[0]
    assert text1.count(AGENCY[0]) <= 2  # once in the subject, once as the story's headline
    assert "1 update" in text2 and text2.count("\n* ") == 1
    sections = [
        block["text"]["text"]
        for payload in slack1
        for block in payload["blocks"]
        if block["type"] == "section" and block["text"]["text"].startswith(("*<", "*Update*"))
    ]
    assert len([s for s in sections if "Fath" in s.splitlines()[0]]) == 1


def test_an_alerted_story_is_not_repeated_on_slack_and_is_marked_in_the_email(
    workspace, outlets, database_url
):
    with SmtpServer() as smtp:
        configure(
            workspace,
            publish(outlets, 1, outlets_of(1)),
            smtp.port,
            outlets.url("/hooks/slack"),
            alerts={"min_score": 0, "channels": ["slack"]},
        )
        workspace.cli("poll")
        db = open_database(database_url)
        runner = DigestRunner(db, load_config(workspace.config_path).digests[0], owner="test")
        now = datetime.now(UTC)
        [alert] = runner.run(kind="alert", period=alert_period(timedelta(minutes=1), now), now=now)
        db.dispose()
        assert alert.status == "sent" and alert.stories == 2
        posts = len(outlets.requests_for("/hooks/slack"))
        result = workspace.cli("digest", "morning", "--send-now")
        assert "email: sent" in result.stdout and "slack: empty" in result.stdout, result.stdout
        assert len(outlets.requests_for("/hooks/slack")) == posts  # Slack got the story from the alert
        text = (
            smtp.messages[-1].get_body(("plain",)).get_content().replace("\r\n", "\n")
        )  # decoded with the wire's CRLF
    assert "Story alerted " in text and "2 new stories" in text


@pytest.mark.corpus
@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed articles absent")
def test_three_mornings_of_the_seeds_story(workspace, outlets):
    seeds = []
    for path in sorted(SEEDS.glob("*.txt"))[:4]:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        paragraphs = [line for line in lines if len(line) > 60]
        title = next((line for line in paragraphs if 30 < len(line) < 200), paragraphs[0])[:120]
        seeds.append((title, paragraphs))
    days = {
        1: {
            ("Outlet A", 0): {"seed-0": (*seeds[0], 1.0)},
            ("Outlet B", 1): {
                "seed-1": (*seeds[1], 0.9),
                "reprint": (seeds[0][0][:60] + " (reprint)", [SIGN_UP, *seeds[0][1]], 0.8),
            },
        },
        2: {("Outlet C", 2): {"seed-2": (*seeds[2], 0.2)}, ("Outlet D", 3): {"seed-3": (*seeds[3], 0.1)}},
    }
    watchlist = {
        "aliases": WATCHLIST["aliases"],
        "topics": [{"name": "arms", "query": "@iran AND @russia AND (missil* OR drone* OR weapon*)"}],
    }
    original_days, original_watchlist = dict(DAYS), dict(WATCHLIST)
    DAYS.clear()
    DAYS.update(days)
    WATCHLIST.clear()
    WATCHLIST.update(watchlist)
    try:
        with SmtpServer() as smtp:
            (text1, _, _), (text2, _, _), (text3, _, slack3) = three_mornings(workspace, outlets, smtp)
    finally:
        DAYS.clear()
        DAYS.update(original_days)
        WATCHLIST.clear()
        WATCHLIST.update(original_watchlist)
    print(text1, text2, sep="\n\n")  # with -s: what the desk reads on the two mornings
    assert "Sign up" not in text1 and "(reprint)" not in text1.split("\n* ", 1)[1].splitlines()[0]
    for slug in ("seed-0", "seed-1"):
        assert f"/news/{slug}" in text1
    for slug in ("seed-2", "seed-3"):
        assert f"/news/{slug}" in text2 and f"/news/{slug}" not in text1
    assert "/news/seed-0" not in text2.split("## ", 1)[-1].split("first reported", 1)[-1]
    assert text3 == "" and slack3 == []


def test_a_digest_whose_sender_was_killed_mid_send_comes_at_the_next_run_not_a_quarter_hour_later(
    workspace, outlets
):
    # The sender is killed (SIGKILL, as the OOM killer or a redeploy would) while the mail server holds its
    # message unanswered: its delivery stays "sending" under a lease of a quarter of an hour. The next run on
    # this host sees the lease's process gone and sends the digest at once, under the same Message-ID; Slack,
    # which the killed run never reached, gets it too; a third run repeats nothing.
    with SmtpServer() as smtp:
        configure(workspace, publish(outlets, 1, outlets_of(1)), smtp.port, outlets.url("/hooks/slack"))
        workspace.cli("poll")
        smtp.holding = True
        sender = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workspace.config_path), "--db"]
            + [workspace.database_url, "digest", "morning", "--send-now"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_for(lambda: len(smtp.messages) == 1, timeout=60)
        finally:
            sender.kill()
            sender.wait()
        smtp.holding = False
        [first] = smtp.messages
        assert outlets.requests_for("/hooks/slack") == []

        result = workspace.cli("digest", "morning", "--send-now")
        assert len(smtp.messages) == 2, result.stdout
        assert smtp.messages[1]["Message-ID"] == first["Message-ID"]
        assert smtp.messages[1]["Subject"] == first["Subject"]
        assert len(outlets.requests_for("/hooks/slack")) == 1

        workspace.cli("digest", "morning", "--send-now")
        assert len(smtp.messages) == 2 and len(outlets.requests_for("/hooks/slack")) == 1


def test_three_mornings_find_their_rows_by_index_not_by_reading_the_history(workspace, outlets, database_url):
    """Every statement of the mornings (polls, placing, tagging, regrouping, digests and alerts, the ledger's
    listing) finds its rows of the growing tables by an index: after a year, a scan costs twelve times what it
    did after a month."""
    if not database_url.startswith("sqlite"):
        pytest.skip("query plans are read from SQLite")
    alerts = {"min_score": 10, "channels": ["slack"]}
    with SmtpServer() as smtp, watched_statements() as statements:
        three_mornings(workspace, outlets, smtp, alerts=alerts)
        workspace.cli("deliveries")  # what the desk reads of the ledger
        config = load_config(workspace.config_path)
        db = open_database(workspace.database_url)
        try:
            runner = DigestRunner(db, config.digests[0], owner="test")
            runner.run(kind="alert", period=alert_period(timedelta(minutes=1), NOW), now=NOW)
        finally:
            db.dispose()
    assert len(statements.seen) > 50
    scans = statements.scans(make_url(database_url).database)
    assert not scans, "\n\n".join(f"{steps}\n{sql}" for sql, steps in scans)
