"""Chinese and Japanese headlines have no spaces to wrap at: `monitor articles` and `monitor stories` fold
them over lines, as they wrap other titles, instead of cutting them to their first few characters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.httpserver import Route
from support.news import BASE_TIME, Entry, rss

TITLES = [
    "伊朗外交部发言人否认伊朗向俄罗斯运送弹道导弹的报道",
    "イラン外務省、ロシアへの弾道ミサイル供与を否定",
]


@pytest.mark.parametrize("command, column", [("articles", 4), ("stories", 3)])
def test_titles_without_spaces_are_shown_whole(web, workspace, command, column):
    entries = [
        Entry(f"n{i}", title, title * 3, web.url(f"/news/{i}"), f"urn:n{i}", BASE_TIME + timedelta(minutes=i))
        for i, title in enumerate(TITLES)
    ]
    web.set(
        "/feed.xml",
        Route(rss("新华社", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}),
    )
    workspace.write_config([{"name": "新华社", "url": web.url("/feed.xml"), "fetch_pages": False}])
    workspace.cli("poll")
    shown = workspace.cli(command, "--since", "3000d").stdout
    cells = "".join(line.split("│")[column] for line in shown.splitlines() if line.count("│") > column)
    for title in TITLES:
        assert title in cells.replace(" ", "")
