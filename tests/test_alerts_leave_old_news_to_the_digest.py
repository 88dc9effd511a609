"""An alert is news that breaks now. A feed that comes back after weeks of failures, or one just added, lists
its backlog at once: its articles published before the alert's reach (the digest's ``lookback``) ping no one;
the digest carries them, and the article published today is alerted as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import yaml
from support.httpserver import Route
from support.news import Entry, article_html, rss

from monitor.config import load_config
from monitor.digest.runner import DigestRunner, alert_period
from monitor.store.db import open_database

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime.now(UTC).replace(microsecond=0)
ARTICLES = {  # slug -> title, days since its publication, text
    "today": (
        "Kaldoria closes its border with Ostelia after shelling",
        0,
        [
            "Kaldoria closed its northern border with Ostelia on Monday after shells fell on two villages near "
            "the crossing at Brenn, wounding a farmer and setting fire to a grain store, the army said.",
            "The foreign ministry summoned Ostelia's ambassador and demanded an explanation; lorries queued for "
            "twelve kilometres on the Ostelian side as customs officers were sent home.",
        ],
    ),
    "weeks": (
        "Kaldorian rail workers strike over pensions",
        20,
        [
            "Rail workers across Kaldoria walked out at dawn on Tuesday over a pension reform that raises their "
            "retirement age by three years, halting freight trains at the ports of Ostel and Marrow.",
            "The transport ministry said talks with the unions would resume on Thursday; commuters queued for "
            "buses in the capital as only one train in five ran on the suburban lines.",
        ],
    ),
    "month": (
        "Kaldoria approves locally made measles vaccine",
        30,
        [
            "Kaldoria's medicines agency approved the first measles vaccine made in the country, produced at a "
            "state laboratory in Tessin that will fill two million doses a year from the autumn.",
            "Health officials said the vaccine would end shortages that left rural clinics without doses for "
            "months last year, when an outbreak in the eastern hills sent three hundred children to hospital.",
        ],
    ),
}


def test_a_backlog_of_old_articles_waits_for_the_digest(workspace, web):
    entries = []
    for slug, (title, days, paragraphs) in ARTICLES.items():
        web.set(f"/news/{slug}", article_html(title, paragraphs, site_name="Varn Times"))
        published = NOW - timedelta(days=days, hours=1)
        entries.append(Entry(slug, title, title, web.url(f"/news/{slug}"), f"urn:{slug}", published))
    web.set("/feed.xml", Route(rss("Varn Times", web.url("/"), entries), headers=RSS))
    web.set("/hooks/slack", Route(body="ok"))
    workspace.write_config([{"name": "Varn Times", "url": web.url("/feed.xml")}])
    digest = {
        "name": "morning",
        "schedule": "0 7 * * *",
        "timezone": "UTC",
        "lookback": "2d",
        "channels": {"slack": {"webhook_url": web.url("/hooks/slack")}},
        "alerts": {"min_score": 0, "channels": ["slack"]},
    }
    watchlist = {"topics": [{"name": "kaldoria", "query": "Kaldoria OR Kaldorian"}]}
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False))
    workspace.cli("poll")

    db = open_database(workspace.database_url)
    try:
        runner = DigestRunner(db, load_config(workspace.config_path).digests[0], owner="test")
        now = datetime.now(UTC)
        [alert] = runner.run(kind="alert", period=alert_period(timedelta(minutes=1), now), now=now)
    finally:
        db.dispose()
    assert alert.status == "sent" and alert.stories == 1
    [posted] = [json.loads(r.body) for r in web.requests_for("/hooks/slack")]
    said = json.dumps(posted, ensure_ascii=False)
    assert ARTICLES["today"][0] in said
    assert ARTICLES["weeks"][0] not in said and ARTICLES["month"][0] not in said

    workspace.cli("digest", "morning", "--send-now")
    said = json.dumps([json.loads(r.body) for r in web.requests_for("/hooks/slack")[1:]], ensure_ascii=False)
    assert ARTICLES["weeks"][0] in said and ARTICLES["month"][0] in said
    assert ARTICLES["today"][0] not in said  # Slack had it from the alert
