"""A feeds.yaml written again while the daemon reads it is read again at the next check: a save that came in
parts, whose first part happened to be valid on its own (a list of feeds cut between two of them), was
applied, and the stamps taken after the read made the rest of the save look loaded already. The daemon then
ran without the feeds of the rest (disabled in the database) until the next edit or SIGHUP."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from monitor.config import load_config
from monitor.daemon import reload as reload_module
from monitor.daemon.reload import ConfigReloader


def _write(path: Path, names: list[str], bump: int) -> None:
    feeds = [{"name": name, "url": f"https://{name.lower()}.test/feed.xml"} for name in names]
    path.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))
    stat = path.stat()  # a visible change within the file system's time granularity
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_the_rest_of_a_save_that_lands_while_the_file_is_read_is_read_at_the_next_check(
    tmp_path, monkeypatch
):
    path = tmp_path / "feeds.yaml"
    _write(path, ["A", "B", "C"], bump=0)
    reloader = ConfigReloader(load_config(path))

    _write(path, ["A"], bump=1)  # the first part of a save: valid on its own
    read = reload_module.load_config

    def read_while_the_save_goes_on(source):
        config = read(source)
        _write(path, ["A", "B", "C", "D"], bump=2)  # the rest lands while the first part is being read
        return config

    monkeypatch.setattr(reload_module, "load_config", read_while_the_save_goes_on)
    first = reloader.load()
    monkeypatch.setattr(reload_module, "load_config", read)

    assert first is not None and [feed.name for feed in first.config.feeds] == ["A"]
    second = reloader.load()
    assert second is not None, "the rest of the save was never read"
    assert [feed.name for feed in second.config.feeds] == ["A", "B", "C", "D"]
    assert reloader.load() is None  # and then nothing changed
