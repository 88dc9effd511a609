"""A feeds.yaml read by the running daemon while it is being saved (emptied, then written, as many editors and
tools save) is read once the save is done, not reported as an empty configuration."""

from __future__ import annotations

import logging
import threading
import time

import yaml

from monitor.config import load_config
from monitor.daemon import reload as reload_module
from monitor.daemon.reload import SETTLE, ConfigReloader


def feeds(*names: str) -> str:
    return yaml.safe_dump(
        {"feeds": [{"name": name, "url": f"http://127.0.0.1:9/{name}.xml"} for name in names]}
    )


def test_a_file_read_in_the_middle_of_its_save_is_read_once_the_save_is_done(tmp_path, caplog):
    # A SIGHUP (or the timed check) that came between the two steps of a save logged "configuration not
    # reloaded ... config file is empty", at ERROR, with a hint to add feeds, for a file saved whole a
    # moment later.
    path = tmp_path / "feeds.yaml"
    path.write_text(feeds("A"))
    reloader = ConfigReloader(load_config(path))
    path.write_text("")  # the save has emptied the file...
    rest = threading.Timer(0.2, path.write_text, args=(feeds("A", "B"),))  # ...and writes it a moment later
    rest.start()
    with caplog.at_level(logging.INFO):
        loaded = reloader.load(force=True)
    rest.join()
    assert loaded is not None
    assert [feed.name for feed in loaded.config.feeds] == ["A", "B"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


def test_a_save_that_starts_while_the_file_is_read_is_read_once_done(tmp_path, monkeypatch, caplog):
    # The files were stamped unchanged for long, then the save emptied the file just before it was read.
    path = tmp_path / "feeds.yaml"
    path.write_text(feeds("A"))
    reloader = ConfigReloader(load_config(path))
    read = reload_module.load_config
    rest = threading.Timer(0.2, path.write_text, args=(feeds("A", "B"),))

    def read_as_the_save_begins(source):
        if not rest.is_alive() and not rest.finished.is_set():
            path.write_text("")
            rest.start()
        return read(source)

    monkeypatch.setattr(reload_module, "load_config", read_as_the_save_begins)
    with caplog.at_level(logging.INFO):
        loaded = reloader.load(force=True)
    rest.join()
    assert loaded is not None
    assert [feed.name for feed in loaded.config.feeds] == ["A", "B"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


def test_a_file_left_empty_is_still_reported_once_it_has_settled(tmp_path, caplog):
    path = tmp_path / "feeds.yaml"
    path.write_text(feeds("A"))
    reloader = ConfigReloader(load_config(path))
    path.write_text("")
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        assert reloader.load(force=True) is None
    assert time.monotonic() - started < 10 * SETTLE  # it waited for the file to settle, not longer
    assert "config file is empty" in caplog.text
