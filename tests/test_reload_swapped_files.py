"""A configuration swapped in whole is seen changed even when it has the old size and modification time: a
Kubernetes ConfigMap's ..data link turned to a new directory, a file copied with its times kept (cp -p,
rsync -a) and renamed over the old one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from monitor.config import load_config
from monitor.daemon.reload import ConfigReloader

FEEDS = "watchlist:\n  file: topics.yaml\nfeeds:\n  - name: {name}\n    url: https://example.org/feed.xml\n"
TOPICS = "topics:\n  - name: arms\n    query: {query}\n"


def version(root: Path, label: str, name: str, query: str, *, times_of: Path | None = None) -> Path:
    """A ConfigMap version directory; with ``times_of``, its files carry that one's times (as cp -p)."""
    directory = root / f"..{label}"
    directory.mkdir()
    for file, text in (("feeds.yaml", FEEDS.format(name=name)), ("topics.yaml", TOPICS.format(query=query))):
        (directory / file).write_text(text, encoding="utf-8")
        if times_of is not None:
            shutil.copystat(times_of / file, directory / file)
    return directory


def swap_data_link(root: Path, directory: Path) -> None:
    """Point ..data at ``directory`` in one rename, as the kubelet does."""
    (root / "..data_tmp").symlink_to(directory.name)
    os.replace(root / "..data_tmp", root / "..data")


def test_a_configmap_swapped_to_files_of_the_same_size_and_times_is_reloaded(tmp_path: Path) -> None:
    first = version(tmp_path, "v1", "A", "iran")
    (tmp_path / "..data").symlink_to(first.name)
    for file in ("feeds.yaml", "topics.yaml"):
        (tmp_path / file).symlink_to(Path("..data") / file)
    reloader = ConfigReloader(load_config(tmp_path / "feeds.yaml"))
    assert reloader.load() is None

    swap_data_link(tmp_path, version(tmp_path, "v2", "B", "irak", times_of=first))
    loaded = reloader.load()
    assert loaded is not None, "the swapped configuration was not seen"
    assert [feed.name for feed in loaded.config.feeds] == ["B"]
    assert loaded.watchlist.topic("arms") is not None and loaded.watchlist.topic("arms").query == "irak"
    assert reloader.load() is None


def test_a_file_copied_with_its_times_over_the_old_one_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    (tmp_path / "topics.yaml").write_text(TOPICS.format(query="iran"), encoding="utf-8")
    path.write_text(FEEDS.format(name="A"), encoding="utf-8")
    reloader = ConfigReloader(load_config(path))
    staged = tmp_path / "feeds.yaml.new"
    staged.write_text(FEEDS.format(name="B"), encoding="utf-8")
    shutil.copystat(path, staged)
    os.replace(staged, path)
    loaded = reloader.load()
    assert loaded is not None and [feed.name for feed in loaded.config.feeds] == ["B"]
