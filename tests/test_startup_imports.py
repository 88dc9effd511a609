"""What a poll's start loads: every command waits for the CLI's imports, so what only some configurations
or some feeds need is imported when they first need it."""

from __future__ import annotations

import json
import subprocess
import sys

from monitor.store.db import Database, upgrade

# Loaded on first need: rendering a digest (Jinja), a digest's schedule (APScheduler's cron trigger), a feed
# whose charset no label gives (charset_normalizer), a front page listed as a source (courlan's filters
# through monitor.ingest.listing), PostgreSQL's dialect on SQLite.
LOADED_ON_FIRST_NEED = (
    "jinja2",
    "apscheduler.triggers.cron",
    "charset_normalizer",
    "monitor.ingest.listing",
    "sqlalchemy.dialects.postgresql",
)


def test_a_poll_without_digests_or_front_pages_loads_none_of_them(tmp_path):
    config = tmp_path / "feeds.yaml"
    # Nothing listens on port 9 of the loopback address: the feed fails at once, and the poll goes on.
    config.write_text("feeds:\n  - name: one\n    url: http://127.0.0.1:9/feed.xml\n")
    url = f"sqlite:///{tmp_path}/m.db"
    db = Database(url)
    upgrade(db)  # here, not in the probe: migrating loads Alembic and every dialect, and is not a poll
    db.dispose()
    probe = (
        "import json, sys\n"
        "from monitor.cli import app\n"
        "try:\n"
        f"    app(['--config', {str(config)!r}, '--db', {url!r}, 'poll', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([name for name in {LOADED_ON_FIRST_NEED!r} if name in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"a plain poll loaded {loaded}"


def test_a_command_that_ends_leaves_what_it_built_out_of_the_collections_at_exit(tmp_path):
    # The interpreter's last collections would walk every object a poll built (a fifth of a second after a
    # poll of a few hundred articles, between its last feed and its exit); the command freezes them first.
    probe = (
        "import gc, sys\n"
        "from monitor.__main__ import main\n"
        "sys.argv = ['monitor', '--version']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(gc.get_freeze_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(result.stdout.split()[-1]) > 10_000, result.stdout
