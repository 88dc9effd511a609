"""feeds.yaml and a watchlist file as editors save them: UTF-16 or UTF-32 with a byte order mark (Windows
Notepad's "Unicode") is read; a file in another charset (windows-1252) is an error at the first byte that
is not UTF-8, with the way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.config.edit import add_feeds
from monitor.watchlist.model import load_watchlist

FEEDS = (
    "feeds:\r\n  - name: Café «Monde»\r\n    url: http://127.0.0.1:9/a.xml\r\n"
    "watchlist:\r\n  file: topics.yaml\r\n"
)
TOPICS = "topics:\r\n  - name: arms\r\n    query: Иран AND ракет*\r\n"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_file_with_a_byte_order_mark_is_read_in_its_encoding(tmp_path: Path, codec: str) -> None:
    bom = "\ufeff" if codec.endswith("-be") else ""  # the codecs without an endianness write their own
    (tmp_path / "feeds.yaml").write_bytes((bom + FEEDS).encode(codec))
    (tmp_path / "topics.yaml").write_bytes((bom + TOPICS).encode(codec))
    config = load_config(tmp_path / "feeds.yaml", {})
    assert config.feeds[0].name == "Café «Monde»"
    assert load_watchlist(config).topic("arms") is not None


def test_a_feed_is_added_to_a_utf16_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes("feeds:\r\n  - name: Café\r\n    url: http://127.0.0.1:9/a.xml\r\n".encode("utf-16"))
    add_feeds(path, [{"name": "B", "url": "http://127.0.0.1:9/b.xml"}])
    assert [feed.name for feed in load_config(path, {}).feeds] == ["Café", "B"]


def test_a_windows_1252_file_names_the_line_and_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes("feeds:\n  - name: “Café”\n    url: http://127.0.0.1:9/a.xml\n".encode("cp1252"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 11)
    assert "not UTF-8" in problem.message and "0x93" in problem.message
    assert problem.hint is not None and "save it as UTF-8" in problem.hint


def test_utf16_without_a_byte_order_mark_is_told_to_be_saved_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes("feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\n".encode("utf-16-le"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (1, 2)
    assert problem.message == "the character U+0000 is not allowed in YAML"
    assert problem.hint is not None and "UTF-16 without a byte order mark" in problem.hint


def test_a_control_character_is_named_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - name: A\x01\n    url: http://127.0.0.1:9/a.xml\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.column, problem.hint) == (2, 12, "delete it")
    assert "\n" not in str(problem)  # one line in the daemon's log
