"""Two events of one kind, end to end: four outlets on loopback hosts write up two landslides in two
villages; the stage joins them into one story (their write-ups share a landslide's words), the first
morning's digest sends it, the regrouping pass (``monitor regroup``, as the daemon runs it hourly) splits it,
and the next morning a new write-up of one landslide comes as an update of that landslide's story alone,
with nothing already sent repeated. The real CLI polls and sends (aiosmtpd)."""

from __future__ import annotations

import json
import random

import test_e2e_mornings as mornings
from support.smtp import SmtpServer
from test_e2e_mornings import configure, outlets, outlets_of, publish  # noqa: F401 - outlets is a fixture
from test_regrouping import event, write_ups

NORTH = event("Kalvik", "Anna Berglund", "Ostra", 14, 23, "the Red Cross")
SOUTH = event("Marrano", "Pietro Vanni", "Serra", 6, 41, "civil protection")


def articles(texts: list[str], first_day_ago: float) -> list[tuple[str, list[str], float]]:
    return [
        (text.split(".")[0][:100], text.split("\n\n"), first_day_ago - 0.01 * n)
        for n, text in enumerate(texts)
    ]


def test_a_story_split_by_the_regrouping_comes_back_as_two(workspace, outlets):  # noqa: F811
    rng = random.Random(3)
    north, south = articles(write_ups(rng, NORTH, 8), 1.0), articles(write_ups(rng, SOUTH, 9), 0.9)
    days = {
        1: {
            ("North Daily", 0): {f"north-{n}": north[n] for n in range(0, 4)},
            ("Valley Post", 1): {f"north-{n}": north[n] for n in range(4, 8)},
            ("South Herald", 2): {f"south-{n}": south[n] for n in range(0, 4)},
            ("Mountain News", 3): {f"south-{n}": south[n] for n in range(4, 8)},
        },
        2: {("Mountain News", 3): {"south-8": (*south[8][:2], 0.1)}},
    }
    watchlist = {"topics": [{"name": "landslides", "title": "Landslides", "query": "landslide*"}]}
    saved_days, saved_watchlist = dict(mornings.DAYS), dict(mornings.WATCHLIST)
    mornings.DAYS.clear()
    mornings.DAYS.update(days)
    mornings.WATCHLIST.clear()
    mornings.WATCHLIST.update(watchlist, aliases={})
    try:
        with SmtpServer() as smtp:
            slack = outlets.url("/hooks/slack")
            configure(workspace, publish(outlets, 1, outlets_of(1)), smtp.port, slack)
            workspace.cli("poll")
            merged = json.loads(workspace.cli("stories", "--json").stdout)
            assert len(merged) == 1 and merged[0]["articles"] == 16  # the stage's join of two events
            workspace.cli("digest", "morning", "--send-now")
            day1 = smtp.messages[-1].get_body(("plain",)).get_content()

            split = json.loads(workspace.cli("regroup", "--json").stdout)
            assert [len(s["wire_clusters"]) for s in split] == [8]
            stories = json.loads(workspace.cli("stories", "--json").stdout)
            assert sorted(s["articles"] for s in stories) == [8, 8]
            assert json.loads(workspace.cli("regroup", "--json").stdout) == []  # nothing left to split

            configure(workspace, publish(outlets, 2, outlets_of(2)), smtp.port, slack)
            workspace.cli("poll")
            sent = len(smtp.messages)
            workspace.cli("digest", "morning", "--send-now")
            assert len(smtp.messages) == sent + 1
            day2 = smtp.messages[-1].get_body(("plain",)).get_content()
            sent = len(smtp.messages)
            workspace.cli("digest", "morning", "--send-now")
            day3 = smtp.messages[sent:]
    finally:
        mornings.DAYS.clear()
        mornings.DAYS.update(saved_days)
        mornings.WATCHLIST.clear()
        mornings.WATCHLIST.update(saved_watchlist)

    print(day1, day2, sep="\n\n")  # with -s: what the desk reads
    assert "1 new story" in day1 and "Marrano" in day1 and "Kalvik" in day1
    # The next morning: one update, of the southern landslide's story, its new write-up linked; the
    # northern story had no news, and nothing sent on day 1 comes again as new.
    assert "1 update" in day2 and "new story" not in day2.split("\n", 3)[2]
    update = day2.split("## Landslides", 1)[1]
    assert update.count("\n* ") == 1 and "/news/south-8" in update
    assert "Kalvik" not in update
    assert not any(f"/news/north-{n}" in day2 for n in range(8))
    assert "so far" in update  # the earlier coverage summed up, not repeated
    assert day3 == []
