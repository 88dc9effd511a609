"""``monitor digest NAME --preview FILE.html``: a path it cannot write is said in one line (exit 2), and the
text beside the HTML never overwrites it."""

from __future__ import annotations

import yaml


def _digest_config(workspace) -> None:
    workspace.config_path.write_text(
        yaml.safe_dump(
            {
                "settings": {"host_delay": "0s", "extract_workers": 1},
                "feeds": [{"name": "Wire", "url": "http://127.0.0.1:9/feed.xml"}],
                "watchlist": {"topics": [{"name": "arms", "query": "missile"}]},
                "digests": [{"name": "morning", "schedule": "0 7 * * *"}],
            }
        )
    )


def test_a_preview_into_a_directory_is_an_error_not_a_traceback(workspace, tmp_path):
    _digest_config(workspace)
    result = workspace.cli("digest", "morning", "--preview", str(tmp_path), expect=2)
    assert f"cannot write the preview to {tmp_path}" in result.stderr
    assert "Is a directory" in result.stderr
    assert not isinstance(result.exception, OSError)


def test_a_preview_where_no_directory_can_be_made_is_an_error(workspace, tmp_path):
    _digest_config(workspace)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = workspace.cli("digest", "morning", "--preview", str(blocker / "morning.html"), expect=2)
    assert "cannot write the preview" in result.stderr
    assert not isinstance(result.exception, OSError)


def test_a_preview_named_txt_is_refused_before_its_html_is_overwritten(workspace, tmp_path):
    _digest_config(workspace)
    target = tmp_path / "morning.txt"
    result = workspace.cli("digest", "morning", "--preview", str(target), expect=2)
    assert "FILE.html" in result.stderr
    assert not target.exists()


def test_a_preview_writes_the_html_and_the_text_beside_it(workspace, tmp_path):
    _digest_config(workspace)
    workspace.cli("digest", "morning", "--preview", str(tmp_path / "out" / "morning.html"))
    assert (tmp_path / "out" / "morning.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert "nothing new" in (tmp_path / "out" / "morning.txt").read_text()
