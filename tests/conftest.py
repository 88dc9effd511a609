"""Shared fixtures: a local web server, a database per test (SQLite, or PostgreSQL when
MONITOR_TEST_DATABASE_URL is set), config files, and the real CLI."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from support.httpserver import LocalWebServer, free_loopback_hosts

from monitor.cli import app
from monitor.store.db import open_database

PG_URL = os.environ.get("MONITOR_TEST_DATABASE_URL")


@pytest.fixture
def web():
    with LocalWebServer(hosts=free_loopback_hosts(3)) as server:
        server.set("/robots.txt", "User-agent: *\nAllow: /\n")
        yield server


@pytest.fixture(scope="session")
def postgres_url():
    """A database of this test run's own on the PostgreSQL server, so parallel runs cannot collide.

    Falls back to the given database itself when the role may not create databases.
    """
    base = sqlalchemy.engine.make_url(PG_URL)
    name = f"{base.database}_run_{os.getpid()}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.ProgrammingError:
        admin.dispose()
        yield PG_URL
        return
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(sqlalchemy.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(request, tmp_path: Path) -> str:
    """An empty database: a fresh SQLite file, or this run's PostgreSQL database wiped clean."""
    if PG_URL:
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
def db(database_url):
    """An empty database, migrated to the latest schema."""
    database = open_database(database_url)
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    # httpx honours proxy variables; a proxy from the environment must never carry loopback test traffic.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


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
        # The CLI sets up logging as a process does (``logging.basicConfig(force=True)``), which removes the
        # root's handlers, pytest's capture (``caplog``) among them: they are put back once it has run.
        handlers, level = logging.root.handlers[:], logging.root.level
        try:
            result = self.runner.invoke(
                app, ["--config", str(self.config_path), "--db", self.database_url, *args]
            )
        finally:
            logging.root.handlers[:] = handlers
            logging.root.setLevel(level)
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
    """A workspace whose database is migrated, as after `monitor db upgrade` (only run and db upgrade migrate)."""
    open_database(database_url).dispose()
    return Workspace(tmp_path, database_url)
