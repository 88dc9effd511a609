"""End to end: articles served on 127.0.0.1 are tagged as they are ingested; the real CLI shows why
(match, matches), checks examples (watchlist test), compares (watchlist backtest) and re-applies (retag)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import yaml
from support.httpserver import Route
from support.news import BASE_TIME, Entry, article_html, rss

REPO = Path(__file__).resolve().parents[1]
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}

ARTICLES = {
    "transfer": (
        "Tehran ships missiles to Moscow",
        [
            "Western officials said on Friday that Iran had delivered a first batch of short-range "
            "ballistic missiles "
            "to Russia, weeks after Russian military crews trained on the launchers.",
            "The Kremlin declined to comment. Iranian officials denied any transfer of weapons to either "
            "side.",
        ],
    ),
    "drones": (
        "Drone factory",
        [
            "A new factory in Tatarstan now assembles Shahed drones under licence from Iran, with parts "
            "shipped to "
            "Russia across the Caspian Sea, according to a report by independent researchers.",
        ],
    ),
    "nuclear": (
        "Atomic agency report",
        [
            "Iran expanded its enrichment of uranium, the atomic agency said. Russia urged all parties to "
            "return to "
            "talks on the nuclear agreement, and the foreign ministry in Moscow called for calm.",
        ],
    ),
    "weather": (
        "Storms in the north",
        [
            "Heavy rain and storms are expected across the north of the country this weekend, forecasters "
            "said.",
        ],
    ),
}

WATCHLIST = {
    "aliases": {"iran": ["Iran", "Iranian", "Tehran"], "russia": ["Russia", "Russian", "Moscow", "Kremlin"]},
    "topics": [
        {
            "name": "arms",
            "description": "Iran–Russia arms transfers",
            "query": "@iran AND @russia AND (missil* OR drone* OR weapon*) NEAR/10 (deliver* OR ship* OR "
            "transfer*)",
            "should_match": ["Iran shipped drones to Russia."],
            "should_not_match": ["Iran and Russia discussed wheat."],
        },
        {"name": "nuclear", "query": "@iran AND (nuclear OR enrichment OR uranium)"},
        {"name": "headlines", "query": "title:(missil* OR drone*)"},
    ],
}


def serve(web, slugs: list[str]) -> str:
    entries = []
    for i, slug in enumerate(slugs):
        title, paragraphs = ARTICLES[slug]
        url = web.url(f"/news/{slug}")
        web.set(f"/news/{slug}", article_html(title, paragraphs))
        entries.append(
            Entry(slug, title, paragraphs[0][:80], url, f"urn:test:{slug}", BASE_TIME + timedelta(minutes=i))
        )
    web.set("/feed.xml", Route(rss("News", web.url("/"), entries), headers=RSS))
    return web.url("/feed.xml")


def configure(workspace, feed_url: str, watchlist: dict | None = WATCHLIST) -> None:
    workspace.write_config([{"name": "News", "url": feed_url}])
    if watchlist is not None:
        with workspace.config_path.open("a", encoding="utf-8") as file:
            file.write(yaml.safe_dump({"watchlist": watchlist}, sort_keys=False, allow_unicode=True))


def stored(workspace) -> dict[str, set[str]]:
    """Stored topics by article title."""
    found: dict[str, set[str]] = {}
    for match in workspace.json("matches", "--limit", "0"):
        found.setdefault(match["title"], set()).add(match["topic"])
    return found


def test_articles_are_tagged_as_they_are_ingested_and_matches_explain_themselves(web, workspace):
    configure(workspace, serve(web, list(ARTICLES)))
    workspace.cli("poll")
    assert stored(workspace) == {
        "Tehran ships missiles to Moscow": {"arms", "headlines"},
        "Drone factory": {"arms", "headlines"},
        "Atomic agency report": {"nuclear"},
    }
    (arms,) = [m for m in workspace.json("matches", "--topic", "arms") if m["title"] == "Drone factory"]
    evidence = arms["evidence"]
    assert evidence["clauses"][:2] == ["@iran", "@russia"]
    terms = {t["term"]: t for t in evidence["terms"]}
    hits = [(h["field"], h["text"]) for h in terms["drone*"]["hits"]]
    # drone* sits inside a NEAR: its evidence is the occurrence near "shipped", not the one in the title.
    assert ("body", "drones") in hits and ("title", "Drone") not in hits
    assert terms["ship*"]["hits"][0]["text"] == "shipped"
    assert evidence["snippet_field"] == "body" and evidence["highlights"]
    assert 0 < arms["score"] <= 100 and arms["url"].endswith("/news/drones")
    assert evidence["prominence"] > 0 and evidence["strength"] is not None  # what the score is made of

    listed = workspace.cli("matches", "--topic", "arms")
    assert "clause" in listed.stdout and "drone*" in listed.stdout and "Drone factory" in listed.stdout
    assert "note:" not in listed.stderr
    # A topic the watchlist does not have (a typo) listed nothing and said nothing.
    typo = workspace.cli("matches", "--topic", "armz")
    assert (
        typo.stdout == "Matches (0) of armz\n"
        and "the watchlist has no topic 'armz' (no match of it is stored)" in typo.stderr
    )


def test_match_command_on_text_url_and_file(web, workspace, tmp_path):
    configure(workspace, serve(web, ["transfer"]))
    workspace.cli("poll")

    shown = workspace.cli("match", "--text", "Iran will deliver more drones to Russia next month.").stdout
    assert "arms" in shown and "score" in shown and "term" in shown and "deliver*" in shown
    assert workspace.json("match", "--text", "Storms in the north", expect=1) == []

    by_url = workspace.json("match", "--url", web.url("/news/transfer"))  # stored: no fetch
    assert [m["topic"] for m in by_url] == ["arms", "headlines"]
    web.set("/news/unstored", article_html("Missiles for Moscow", ARTICLES["transfer"][1]))
    fetched = workspace.json("match", "--url", web.url("/news/unstored"))  # not stored: fetched and extracted
    assert {m["topic"] for m in fetched} == {"arms", "headlines"}

    text_file = tmp_path / "article.txt"
    text_file.write_text("Moscow received Iranian drones, shipped by sea.", encoding="utf-8")
    assert [m["topic"] for m in workspace.json("match", "--file", str(text_file))] == ["arms"]
    workspace.cli("match", expect=2)  # neither --text, --url nor --file


def test_watchlist_test_passes_on_the_bundled_watchlist(workspace):
    shutil.copy(REPO / "feeds.yaml", workspace.config_path)
    result = workspace.cli("watchlist", "test")
    assert "0 failed" in result.stdout and "FAIL" not in result.stdout


def test_watchlist_test_fails_on_a_broken_example(web, workspace):
    broken = yaml.safe_load(yaml.safe_dump(WATCHLIST))
    broken["topics"][0]["should_match"].append("Iran and Russia discussed wheat.")
    broken["topics"][0]["should_not_match"].append(web.url("/news/transfer"))
    broken["topics"][1]["should_match"] = ["https://unknown.example/article"]
    configure(workspace, serve(web, ["transfer"]), broken)
    workspace.cli("poll")
    result = workspace.cli("watchlist", "test", expect=1)
    assert "2 passed, 3 failed" in result.stdout
    report = workspace.json("watchlist", "test", expect=1)
    failed = {(r["topic"], r["example"]): r["detail"] for r in report if not r["passed"]}
    assert failed[("arms", "Iran and Russia discussed wheat.")] == (
        "did not match: no (missil* OR drone* OR weapon*) NEAR/10 (deliver* OR ship* OR transfer*)"
    )
    assert "matched" in failed[("arms", web.url("/news/transfer"))]
    assert "no stored article" in failed[("nuclear", "https://unknown.example/article")]


def test_an_invalid_watchlist_is_reported_with_its_place(web, workspace):
    broken = yaml.safe_load(yaml.safe_dump(WATCHLIST))
    broken["topics"][1]["query"] = "@iran AND (nuclear OR"
    configure(workspace, serve(web, ["transfer"]), broken)
    result = workspace.cli("watchlist", "test", expect=2)
    assert (
        "watchlist.topics[1].query" in result.stderr and "topic 'nuclear': query column 22" in result.stderr
    )
    assert "hint" in result.stderr


def test_backtest_then_retag(web, workspace, tmp_path):
    configure(workspace, serve(web, list(ARTICLES)))
    workspace.cli("poll")

    # An edited watchlist: "arms" loses the drone factory (no more drone*), "storms" is new.
    edited = yaml.safe_load(yaml.safe_dump(WATCHLIST))
    edited["topics"][0]["query"] = "@iran AND @russia AND missil*"
    edited["topics"].append({"name": "storms", "query": "storm* OR rain"})
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(edited, allow_unicode=True), encoding="utf-8")

    report = workspace.json("watchlist", "backtest", "--candidate", str(candidate), "--since", "30d")
    assert report["articles"] == 4
    topics = {t["topic"]: t for t in report["topics"]}
    assert (topics["arms"]["before"], topics["arms"]["after"], topics["arms"]["lost"]) == (2, 1, 1)
    assert topics["arms"]["lost_examples"][0]["title"] == "Drone factory"
    assert (topics["storms"]["gained"], topics["storms"]["gained_examples"][0]["title"]) == (
        1,
        "Storms in the north",
    )
    assert topics["nuclear"]["gained"] == topics["nuclear"]["lost"] == 0
    table = workspace.cli("watchlist", "backtest", "--candidate", str(candidate)).stdout
    assert "+ storms: Storms in the north" in table and "- arms: Drone factory" in table

    # Deploy it: the configured watchlist becomes the edited one; backtest against stored matches, then retag.
    configure(workspace, web.url("/feed.xml"), edited)
    before = {t["topic"]: t for t in workspace.json("watchlist", "backtest")["topics"]}
    assert before["storms"]["gained"] == 1 and before["arms"]["lost"] == 1
    retag = {t["topic"]: t for t in workspace.json("retag")["topics"]}
    assert retag["storms"]["gained"] == 1 and retag["arms"]["lost"] == 1
    assert stored(workspace) == {
        "Tehran ships missiles to Moscow": {"arms", "headlines"},
        "Drone factory": {"headlines"},
        "Atomic agency report": {"nuclear"},
        "Storms in the north": {"storms"},
    }
    again = {t["topic"]: t for t in workspace.json("retag")["topics"]}
    assert not any(t["gained"] or t["lost"] for t in again.values())


def test_daemon_reloads_a_changed_watchlist_and_keeps_it_when_the_next_one_is_broken(
    web, workspace, tmp_path
):
    from support.waiting import wait_for
    from test_daemon import start_daemon, stop

    feed_url = serve(web, ["transfer"])
    workspace.write_config([{"name": "News", "url": feed_url, "interval": "1s"}], poll_tick="0.5s")
    config = workspace.config_path.read_text(encoding="utf-8")
    topics_file = workspace.root / "topics.yaml"
    topics_file.write_text(
        yaml.safe_dump({"topics": [{"name": "first", "query": "missil*"}]}), encoding="utf-8"
    )
    workspace.config_path.write_text(config + "watchlist: {file: topics.yaml, reload_every: 0.3s}\n")

    log_path = tmp_path / "daemon.log"
    daemon = start_daemon(workspace, log_path)
    try:
        assert wait_for(lambda: stored(workspace).get("Tehran ships missiles to Moscow") == {"first"})
        topics_file.write_text(yaml.safe_dump({"topics": [{"name": "second", "query": "drone*"}]}))
        assert wait_for(lambda: "watchlist reloaded: 1 topics" in log_path.read_text())
        serve(web, ["transfer", "drones"])
        assert wait_for(lambda: stored(workspace).get("Drone factory") == {"second"})

        topics_file.write_text(yaml.safe_dump({"topics": [{"name": "third", "query": "storm* AND ("}]}))
        assert wait_for(lambda: "configuration not reloaded" in log_path.read_text())
        serve(web, ["transfer", "drones", "weather", "nuclear"])
        assert wait_for(lambda: "Atomic agency report" in str(workspace.json("articles")))
        assert "Storms in the north" not in stored(workspace)  # the broken watchlist never took effect
    finally:
        code = stop(daemon)
    log = log_path.read_text()
    assert code == 0, log
    assert "topic 'third': query column" in log and "topics.yaml" in log


def test_matches_says_when_there_are_none(workspace):
    workspace.write_config([])
    assert workspace.cli("matches", "--since", "2d").stdout.strip() == "Matches (0) since 2d"
