"""``monitor watchlist backtest --candidate FILE`` with a file that is not there: the message names the file
and what to do, not a configuration that does not exist ("correct watchlist.file in None")."""

from __future__ import annotations


def test_a_missing_candidate_is_named_with_a_hint_that_fits(workspace, tmp_path):
    workspace.write_config([{"name": "Wire", "url": "http://127.0.0.1:9/feed.xml"}])
    missing = tmp_path / "edited.yaml"
    result = workspace.cli("watchlist", "backtest", "--candidate", str(missing), expect=2)
    assert str(missing) in result.stderr
    assert "None" not in result.stderr
    assert "check the path" in result.stderr


def test_a_missing_watchlist_file_of_a_config_still_names_the_config(workspace):
    workspace.config_path.write_text("feeds: []\nwatchlist:\n  file: topics.yaml\n", encoding="utf-8")
    result = workspace.cli("check", expect=2)
    assert f"correct watchlist.file in {workspace.config_path}" in result.stderr
