"""A stdout that cannot encode every character (``PYTHONIOENCODING=ascii``, a Latin-1 locale): listings show
what it cannot encode as escapes, and ``--json`` writes JSON's own ``\\u`` escapes, which read back whole;
never a UnicodeEncodeError traceback halfway through."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from test_daemon import monitor_argv

NAME = "Вечерние новости – «Мир»"


def monitor(workspace, *args, encoding):
    return subprocess.run(
        monitor_argv(workspace, *args),
        capture_output=True,
        env=dict(os.environ, PYTHONIOENCODING=encoding),
        timeout=120,
    )


@pytest.fixture
def named_feed(workspace):
    workspace.write_config([{"name": NAME, "url": "http://127.0.0.1:9/feed.xml"}])
    workspace.cli("db", "upgrade")
    return workspace


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_json_is_valid_and_whole_on_a_narrow_stdout(named_feed, encoding):
    done = monitor(named_feed, "feeds", "--json", encoding=encoding)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert json.loads(done.stdout.decode(encoding))[0]["name"] == NAME


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_table_shows_escapes_on_a_narrow_stdout(named_feed, encoding):
    done = monitor(named_feed, "feeds", encoding=encoding)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr
    assert "\\u0412" in done.stdout.decode(encoding)  # the В of its name, escaped


def test_a_utf8_stdout_gets_the_characters_themselves(named_feed):
    done = monitor(named_feed, "feeds", "--json", encoding="utf-8")
    assert NAME in done.stdout.decode("utf-8")
