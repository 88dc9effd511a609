"""Shared fixtures: a local web server, a database per test (SQLite, or PostgreSQL when
MONITOR_TEST_DATABASE_URL is set), config files, and the real CLI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from support.httpserver import LocalWebServer, free_loopback_hosts  # noqa: E402

from monitor.cli import app  # noqa: E402

PG_URL = os.environ.get("MONITOR_TEST_DATABASE_URL")


@pytest.fixture
def web():
    with LocalWebServer(hosts=free_loopback_hosts(3)) as server:
        server.set("/robots.txt", "User-agent: *\nAllow: /\n")
        yield server


def _reset_postgres(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(sqlalchemy.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """An empty database: a fresh SQLite file, or the PostgreSQL test database wiped clean."""
    if PG_URL:
        _reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'monitor.db'}"


class Workspace:
    """A config file, a database, and the CLI pointed at both."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.config_path = root / "feeds.yaml"
        self.database_url = database_url
        self.runner = CliRunner()

    def write_config(self, feeds: list[dict], **settings) -> Path:
        base = {"host_delay": "0s", "extract_workers": 1, "timeout": "5s"}
        base.update(settings)
        self.config_path.write_text(yaml.safe_dump({"settings": base, "feeds": feeds}, sort_keys=False))
        return self.config_path

    def cli(self, *args: str, expect: int | None = 0):
        result = self.runner.invoke(app, ["--config", str(self.config_path), "--db", self.database_url, *args])
        if expect is not None and result.exit_code != expect:
            raise AssertionError(
                f"monitor {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args: str, expect: int | None = 0):
        return json.loads(self.cli(*args, "--json", expect=expect).stdout)


@pytest.fixture
def workspace(tmp_path: Path, database_url: str) -> Workspace:
    return Workspace(tmp_path, database_url)
