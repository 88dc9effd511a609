"""End to end: wire copies, stories and updates through the real pipeline and CLI, pages on 127.0.0.1."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support.httpserver import Route
from support.news import BASE_TIME, Entry, article_html, rss
from support.queryplans import watched_statements

from monitor.store import counts as counts_store
from monitor.store.db import open_database

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}

# A made-up agency story: eight paragraphs, each its own sentences.
WIRE = [
    (
        "KYIV (AP) — Engineers restored power to the northern grain terminal of Pivdennyi on Tuesday after a "
        "two-day outage that halted loading of three cargo ships bound for Egypt and Tunisia."
    ),
    (
        "The terminal operator said backup generators had failed during the storm on Sunday night, leaving "
        "conveyor belts idle and forcing crews to seal the silos against the rain."
    ),
    (
        "Port director Olena Marchuk told reporters that about forty thousand tonnes of wheat were waiting on the "
        "quay and that night shifts would make up for the lost time by Friday."
    ),
    (
        "Shipping agents in Odesa said the delay had raised the cost of chartering a vessel in the region by a "
        "few hundred dollars a day, a small sum compared with the insurance premiums of last winter."
    ),
    (
        "The ministry of infrastructure promised to fund a second substation for the port before the autumn "
        "harvest, when the volume of grain passing through the terminal usually doubles."
    ),
    (
        "Farmers' associations welcomed the promise but warned that rail wagons remained scarce, with many "
        "trains from the central regions still waiting for days at the border crossings."
    ),
    (
        "An official of the regional grid company said the storm had brought down eleven high-voltage lines "
        "along the coast, and that repairs to the last of them should be finished on Thursday."
    ),
    (
        "Traders in Geneva said wheat futures barely moved on the news, since the outage had been expected to "
        "last only a few days and other ports of the region kept working normally."
    ),
]
OTHER = [
    (
        "A regional orchestra opened its summer season on Saturday with a programme of folk songs arranged for "
        "strings, drawing a crowd of several hundred listeners to the riverside park."
    ),
    (
        "The conductor said the musicians had rehearsed in a school gymnasium for months because their concert "
        "hall was still being repaired after a fire in the spring of last year."
    ),
    (
        "Tickets were free, paid for by a local bakery and a bicycle shop, and volunteers handed out blankets "
        "when the evening grew cold after the sun went down behind the hills."
    ),
    (
        "Organisers hope to bring the concerts to three more towns in August, if the weather holds and the "
        "municipal council approves the modest budget they requested in June."
    ),
    (
        "Children from a music school joined the orchestra for the final piece, a lullaby that many in the "
        "audience sang along to, and the applause lasted for several minutes."
    ),
]


def reprint(paragraphs, *, header=None, footer=None, keep=None, reword=None):
    body = list(paragraphs[:keep] if keep else paragraphs)
    if reword is not None:
        index, text = reword
        body[index] = text
    return ([header] if header else []) + body + ([footer] if footer else [])


def serve_story(web, path, title, paragraphs, *, host=None):
    web.set(path, article_html(title, paragraphs), host=host)
    return web.url(path, host=host)


def serve_feed(web, path, entries, *, host=None):
    web.set(path, Route(rss("Feed", web.url("/", host=host), entries), headers=RSS), host=host)
    return web.url(path, host=host)


def entry(url, title, minutes=0):
    slug = url.rsplit("/", 1)[-1]
    return Entry(
        slug=slug,
        title=title,
        summary=f"About {title}.",
        url=url,
        guid=f"urn:test:{url}",
        published=BASE_TIME + timedelta(minutes=minutes),
    )


def test_wire_copies_collapse_and_unrelated_news_stays_apart(web, workspace):
    urls = {
        "agency": serve_story(web, "/agency/grain", "Power back at Ukrainian grain terminal", WIRE),
        "trimmed": serve_story(
            web, "/gazette/1", "Grain port loads again", reprint(WIRE, keep=5), host="127.0.0.2"
        ),
        "decorated": serve_story(
            web,
            "/herald/7",
            "Ukraine: grain terminal power restored",
            reprint(
                WIRE,
                header="Sign up for the Herald morning briefing to get the day's news in your inbox.",
                footer="Read more: our full coverage of the war economy, shipping and the grain corridor.",
                reword=(
                    3,
                    (
                        "Agents who arrange shipments in Odesa reported that chartering a ship had become "
                        "somewhat dearer because of the delay, though far less than last winter."
                    ),
                ),
            ),
            host="127.0.0.3",
        ),
        "concert": serve_story(web, "/herald/8", "Orchestra plays in the park", OTHER, host="127.0.0.3"),
    }
    workspace.write_config(
        [
            {"name": "Agency", "url": serve_feed(web, "/a.xml", [entry(urls["agency"], "Power back", 0)])},
            {
                "name": "Gazette",
                "url": serve_feed(
                    web, "/g.xml", [entry(urls["trimmed"], "Grain port", 30)], host="127.0.0.2"
                ),
            },
            {
                "name": "Herald",
                "url": serve_feed(
                    web,
                    "/h.xml",
                    [entry(urls["decorated"], "Grain", 60), entry(urls["concert"], "Orchestra", 90)],
                    host="127.0.0.3",
                ),
            },
        ]
    )
    for feed in ("Agency", "Gazette", "Herald"):  # in this order, so that which copy came first is known
        workspace.cli("poll", "--feed", feed)

    articles = {a["url"]: a for a in workspace.json("articles")}
    assert len(articles) == 4
    clusters = {name: articles[url]["wire_cluster_id"] for name, url in urls.items()}
    assert clusters["agency"] == clusters["trimmed"] == clusters["decorated"] is not None
    assert clusters["concert"] != clusters["agency"]
    assert articles[urls["agency"]]["agency"] == "AP"
    stories_ = {a["story_id"] for a in articles.values()}
    assert len(stories_) == 2

    listed = workspace.json("stories")
    grain = next(s for s in listed if s["id"] == articles[urls["agency"]]["story_id"])
    assert grain["articles"] == 3 and grain["agencies"] == ["AP"]
    # Term counts are gathered and written behind (monitor.dedupe.tally); a poll ends with all of them
    # written: one article per text, the copies not counted again.
    db = open_database(workspace.database_url)
    with db.session() as session:
        assert counts_store.document_frequencies(session, terms=["grain"]) == ({"grain": 1}, 2)
    db.dispose()
    assert len(grain["outlets"]) == 3
    [cluster] = grain["clusters"]
    assert cluster["size"] == 3 and cluster["agency"] == "AP"
    # The rule: no member on the agency's own site, so the earliest complete text (the agency feed's).
    assert cluster["representative_id"] == articles[urls["agency"]]["id"]
    assert "Stories (2)" in workspace.cli("stories").stdout

    with watched_statements() as statements:
        why = workspace.json("explain", urls["trimmed"])
    assert why["wire_method"] == "minhash" and why["wire_match"]["containment"] > 0.9
    if workspace.database_url.startswith("sqlite"):
        # Found by its canonical address's index: asked with "or its address as fetched", the statement
        # scanned every article (half a second after a year), for the newest one most of all.
        lookups = [
            (statement, steps)
            for statement, steps in statements.scans(make_url(workspace.database_url).database)
            if "FROM articles" in statement and "canonical_url" in statement
        ]
        assert lookups == []
    text = workspace.cli("explain", urls["decorated"]).stdout
    assert "wire copy of article" in text and "shared 5-word shingles" in text
    assert "started the story" in workspace.cli("explain", urls["concert"]).stdout
    workspace.cli("explain", "http://127.0.0.1:1/nothing", expect=2)
    malformed = workspace.cli("explain", "http://[::1/unclosed", expect=2)  # not found, not a traceback
    assert "no stored article" in malformed.stderr and "Traceback" not in malformed.stderr


def test_an_updated_article_is_updated_not_duplicated(web, workspace):
    url = serve_story(web, "/agency/grain", "Power back at Ukrainian grain terminal", WIRE)
    first = entry(url, "Power back", 0)
    workspace.write_config([{"name": "Agency", "url": serve_feed(web, "/a.xml", [first])}])
    workspace.cli("poll")
    [before] = workspace.json("articles")

    # The outlet edits the story: a paragraph more and a new title, in the feed and on the page.
    serve_story(
        web,
        "/agency/grain",
        "Power back at grain terminal, ships loading",
        WIRE
        + [
            (
                "Later on Tuesday the first of the three ships left the quay, the operator said, with the other two "
                "expected to finish loading before the weekend."
            )
        ],
    )
    serve_feed(
        web,
        "/a.xml",
        [
            Entry(
                first.slug, "Power back, ships loading", first.summary, first.url, first.guid, first.published
            )
        ],
    )
    workspace.cli("poll")
    [after] = workspace.json("articles")
    assert after["id"] == before["id"] and after["revisions"] == 1
    assert "first of the three ships left" in after["body"]
    assert after["wire_cluster_id"] is not None
    [story] = workspace.json("stories")
    assert story["articles"] == 1 and story["clusters"][0]["size"] == 1

    # Polled again unchanged: nothing is fetched again.
    web.clear_requests()
    workspace.cli("poll")
    assert not [r for r in web.requests if r.path == "/agency/grain"]
    assert workspace.json("articles")[0]["revisions"] == 1


def _shared_dir() -> Path:
    return Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")


SEEDS = _shared_dir() / "seeds"
# When each seed was published: four on the September 2024 denial (dates as their texts give them), one
# on an event of 2023 (its text gives no day; any day of that year puts it outside the window).
SEED_DATES = {
    "000": (2024, 9, 9),
    "001": (2024, 9, 9),
    "002": (2024, 9, 10),
    "003": (2023, 6, 1),
    "004": (2024, 9, 10),
}


@pytest.mark.corpus
@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is absent")
def test_seeds_form_one_story_and_another(web, workspace):
    from datetime import UTC, datetime

    entries = []
    for path in sorted(SEEDS.glob("*.txt")):
        number = path.name[:3]
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        title = next(
            (line for line in lines if len(line.split()) >= 4 and not re.match(r"(?i)by |last update", line)),
            lines[0],
        )
        paragraphs = [line for line in lines if line != title]
        url = serve_story(web, f"/seed/{number}", title, paragraphs)
        entries.append(
            Entry(
                number,
                title,
                "",
                url,
                f"urn:seed:{number}",
                datetime(*SEED_DATES.get(number, (2024, 9, 9)), 12, tzinfo=UTC),
            )
        )
    workspace.write_config(
        [{"name": "Seeds", "url": serve_feed(web, "/seeds.xml", entries)}], min_body_chars=100
    )
    workspace.cli("poll")
    articles = {a["url"].rsplit("/", 1)[-1]: a for a in workspace.json("articles")}
    assert set(articles) >= {"000", "001", "002", "003", "004"}
    clusters = [articles[n]["wire_cluster_id"] for n in ("000", "001", "002", "003", "004")]
    assert len(set(clusters)) == 5, "no two seeds are wire copies of each other"
    story = articles["000"]["story_id"]
    assert [articles[n]["story_id"] == story for n in ("001", "002", "004")] == [True, True, True]
    assert articles["003"]["story_id"] != story
