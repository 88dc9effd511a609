"""``monitor deliveries --digest NAME`` with a name feeds.yaml does not have says so on stderr (a typo listed
nothing and exited 0, read as a digest that never ran), as ``matches --topic`` does; a configured name, or one
it was renamed from, is listed without a note."""

from __future__ import annotations

import yaml


def _config(workspace) -> None:
    workspace.config_path.write_text(
        yaml.safe_dump(
            {
                "feeds": [{"name": "Wire", "url": "http://127.0.0.1:9/feed.xml"}],
                "digests": [{"name": "morning", "schedule": "0 7 * * *", "renamed_from": ["daily"]}],
            }
        )
    )


def test_an_unknown_digest_is_noted_and_the_json_stays_clean(workspace):
    _config(workspace)
    result = workspace.cli("deliveries", "--digest", "mornin", "--json")
    assert result.stdout.strip() == "[]"
    assert "no digest 'mornin'" in result.stderr
    assert "its digests: morning" in result.stderr


def test_a_configured_or_former_name_has_no_note(workspace):
    _config(workspace)
    for name in ("morning", "daily"):
        assert "note:" not in workspace.cli("deliveries", "--digest", name).stderr
