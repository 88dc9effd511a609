"""Opening the database (SQLite in WAL mode, or PostgreSQL) and migrating it with Alembic.

Alembic is imported only to migrate or to read the migration scripts: the commands that need the schema
as it is (``poll``, ``articles``...) read its revision with one query, and importing Alembic (with Mako
and every dialect's DDL) cost each of them 0.15 s of CPU.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy
from pydantic import ByteSize
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

import monitor
from monitor.errors import StoreError
from monitor.store import locks

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

DEFAULT_DB_NAME = "monitor.db"
SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds an SQLite writer waits for another's lock before its statement fails with "database is locked"."""
SQLITE_WAL_LIMIT = 16 * 1024 * 1024
"""Bytes the SQLite write-ahead log is cut back to once its content is checkpointed (``journal_size_limit``)."""


def sqlite_file(url: str | sqlalchemy.URL) -> Path | None:
    """The file of an SQLite database URL; None for an in-memory, a server database or a URL that is not one."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def default_database_url(config_path: Path) -> str:
    """An SQLite file next to the configuration file."""
    return f"sqlite:///{(config_path.resolve().parent / DEFAULT_DB_NAME)}"


def migrations_dir() -> Path:
    """Alembic scripts: inside an installed wheel, or at the top of a source checkout."""
    package = Path(monitor.__file__).resolve().parent
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError("the database migrations are missing from this installation", hint="reinstall monitor")


POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}
"""libpq's own defaults wait for ever on a server that stops answering: a connection opened to a server
that never completes the handshake waited 130 s (the kernel's SYN retries) with no word, and a query on a
connection whose server vanished (a failover, a dropped route, a suspended host) waited without end, every
job behind it. Now an opening fails after 10 s, a silent peer is found by TCP keepalives within a minute
and a half, and data the server does not acknowledge for a minute breaks the connection: the job fails
with the database's cause, in one line, and the next one opens a new connection. A slow query is not
limited: a server that answers slowly is still answering."""


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StoreError(
                f"invalid database URL {url!r}",
                hint="e.g. sqlite:///monitor.db or postgresql+psycopg://user@host/dbname",
            ) from exc
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            # MySQL and others may be installed and connect, but the schema and its queries are not theirs.
            raise StoreError(
                f"database {parsed.render_as_string()}: {parsed.get_backend_name()} is not supported",
                hint="use SQLite (sqlite:///monitor.db) or PostgreSQL (postgresql+psycopg://user@host/dbname)",
            )
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # The SQLite file, None for an in-memory or a server database.
        self.sqlite_path: Path | None = sqlite_file(parsed)
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        options: dict = {"future": True}
        if self.is_sqlite:
            # The file's directory is made by `upgrade` only: opening the database must create nothing.
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
        else:
            # Defaults only: SQLAlchemy's connect_args win over the URL's query, where an operator tunes them
            # (``?connect_timeout=30`` for a distant server, ``?keepalives=0`` behind a proxy).
            defaults = {key: value for key, value in POSTGRES_CONNECT_ARGS.items() if key not in parsed.query}
            options.update(pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=defaults)
        try:
            self.engine: Engine = sqlalchemy.create_engine(parsed, **options)
        except (ArgumentError, ModuleNotFoundError) as exc:
            raise StoreError(
                f"cannot use database {parsed.render_as_string()}: {exc}",
                hint="for PostgreSQL install the extra: pip install 'monitor[postgres]'",
            ) from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._probe: Engine | None = None  # fresh connections for health checks (see ping)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session that holds the write lock from its first statement, for work that reads and then writes.

        On SQLite a transaction that read first and writes later fails at once with "database is locked"
        when another connection (the daemon's claims, another command) committed in between: its snapshot
        is stale, and no busy timeout helps. ``BEGIN IMMEDIATE`` takes the lock before the first read,
        waiting out ``busy_timeout`` like any writer; the savepoints inside are then nested in one real
        transaction (a savepoint opened outside one would commit on its release). PostgreSQL needs none of it.
        """
        with self.session() as session:
            if self.is_sqlite:
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._probe is not None:
            self._probe.dispose()

    def describe(self) -> str:
        """The URL with any password hidden."""
        return self.describe_url(self.url)

    @staticmethod
    def describe_url(url: str | sqlalchemy.URL) -> str:
        """A database URL with any password hidden (as written when it is not one)."""
        try:
            return make_url(url).render_as_string(hide_password=True)
        except ArgumentError:
            return str(url)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the CLI read while the daemon writes; busy_timeout makes writers wait instead of failing.
    cursor = dbapi_connection.cursor()
    # Takes effect on a new file only (before its first table): freed pages can then be given back in small
    # steps after a prune (monitor.retention). An older file keeps its mode until `monitor prune --vacuum`.
    # Set on an empty file only: on a file already in that mode the pragma opens a write transaction, so
    # every new connection would wait for the writer (a second at the start of a busy poll) or fail with
    # "database is locked" behind a long one, just to restate the mode.
    if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
    # The WAL file keeps the size of the most it ever held until the last connection closes, which a running
    # daemon's never do: after a prune it held more than the pages the prune gave back (9 MB beside a file
    # cut from 2.8 to 1.7 MB). It is cut back to this size once its content is in the database.
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT}")
    cursor.close()


def ping(db: Database, *, timeout: float = 5.0) -> None:
    """Raise StoreError unless a new connection reaches the database and reads from it.

    A new connection each time, not one from the pool: an SQLite file whose directory went away still
    answers on the connections opened before, and a health check must see what the next one would meet.
    """
    try:
        engine = _probe_engine(db, timeout)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT count(*) FROM alembic_version")).scalar()
    except (sqlalchemy.exc.SQLAlchemyError, OSError, sqlite3.Error) as exc:
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(f"cannot reach {db.describe()}: {reason}".strip()) from exc


def _probe_engine(db: Database, timeout: float) -> Engine:
    if db._probe is None:
        if db.is_sqlite:
            if db.sqlite_path is None:
                return db.engine  # nothing on disk to lose: the engine's own connection is the database
            # mode=rw: a missing file is an error, not a new empty database.
            uri = f"{db.sqlite_path.resolve().as_uri()}?mode=rw"
            db._probe = sqlalchemy.create_engine(
                "sqlite://",
                poolclass=NullPool,
                creator=lambda: sqlite3.connect(uri, uri=True, timeout=timeout),
            )
        else:
            db._probe = sqlalchemy.create_engine(
                db.engine.url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(timeout))}
            )
    return db._probe


def size_bytes(db: Database) -> int | None:
    """The database's size on disk: the SQLite file with its write-ahead log, or pg_database_size."""
    if db.is_sqlite:
        return _file_bytes(db.sqlite_path) if db.sqlite_path is not None else None
    with db.engine.connect() as connection:
        return connection.execute(sqlalchemy.text("SELECT pg_database_size(current_database())")).scalar()


def alembic_config(db: Database) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = db.engine
    return config


def unavailability(error: BaseException) -> str | None:
    """What kept the database from doing its work, when that is the database's state and not the work: a
    lock another program holds past the busy timeout, a server gone or restarting, a connection cut, a pool
    with no free connection. None for anything else (a bug, a refused statement).

    The daemon's jobs log such a failure in one line and try again at their next run: its traceback would
    show only where the job happened to be when the database went away.
    """
    error = _underlying(error)
    if isinstance(error, PoolTimeout):
        return "no free connection in the pool"
    if isinstance(error, PendingRollbackError) and "invalid transaction" in str(error):
        return "the connection was lost under an earlier statement of the transaction"
    cause = getattr(error, "orig", None) or error
    if getattr(cause, "sqlite_errorcode", None) == _SQLITE_ERROR:
        # SQLite reports a statement it cannot run ("no such column", a syntax error) as an OperationalError
        # too: that is the code's fault, and keeps its traceback.
        return None
    if (
        isinstance(error, OperationalError | InterfaceError)
        or (isinstance(error, DBAPIError) and error.connection_invalidated)
        # A server that takes no writes (a standby the address now leads to after a failover): psycopg
        # files it under InternalError, but it is the server's state, not a fault of the statement.
        or getattr(cause, "sqlstate", None) == _PG_READ_ONLY
    ):
        return " ".join(str(cause).split())[:300] or type(cause).__name__
    return None


_SQLITE_ERROR = 1
"""SQLite's generic result code, which its own state (busy, locked, I/O, cannot open, full) never uses."""


def _underlying(error: BaseException) -> BaseException:
    """The error a failed savepoint hides, else ``error`` itself.

    On some errors (a full disk, an I/O error) SQLite rolls the whole transaction back by itself: the
    savepoint around the failed statement is gone with it, and rolling back to it fails in turn with "no
    such savepoint", a generic error raised while the first was handled. The first is what happened.
    """
    cause = getattr(error, "orig", None) or error
    if "no such savepoint" not in str(cause):
        return error
    earlier = error.__context__
    for _ in range(_CONTEXT_DEPTH):
        if earlier is None:
            break
        if unavailability(earlier) is not None:
            return _underlying(earlier)  # itself a savepoint's failure, when savepoints were nested
        earlier = earlier.__context__
    return error


_CONTEXT_DEPTH = 5
"""Handled errors looked through for the one a failed savepoint hides: its own wrapper and a few more."""
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14
_NO_ROOM, _ROOM_ENOUGH = 2**20, 2**26
"""Bytes free under which an SQLite I/O error is taken for a full disk; over which (and over twice the
database's size, what a VACUUM may write) a "disk is full" is taken for another disk's: its temporary files'."""
_PG_READ_ONLY, _PG_DISK_FULL = "25006", "53100"  # SQLSTATEs read_only_sql_transaction, disk_full
# The server's refusal at connection time carries no SQLSTATE in psycopg: its text does.
_PG_NO_DATABASE = re.compile(r'database "([^"]{1,100})" does not exist')


def remedy(error: BaseException, sqlite_path: Path | None) -> str | None:
    """What the user can do about a database that refused work for the cause ``error`` gives, when that
    cause is theirs to mend (a full disk, a database monitor may not write); None for other causes (a lock,
    a server restarting), which pass by themselves.

    Args:
        sqlite_path: the SQLite file (``Database.sqlite_path``), named in the advice; None for PostgreSQL.
    """
    error = _underlying(error)
    cause = getattr(error, "orig", None) or error
    # Extended result codes (SQLITE_READONLY_DBMOVED...) carry the primary one in their low byte.
    code = (getattr(cause, "sqlite_errorcode", None) or 0) & 0xFF
    state = getattr(cause, "sqlstate", None)
    free = disk_space(sqlite_path) if sqlite_path is not None else None
    # On a disk with no room left, SQLite may fail before it writes a page: mapping its shared-memory
    # file, which it grows on opening a database in WAL mode, ends in an I/O error, not "disk is full".
    full = code == _SQLITE_FULL or (code == _SQLITE_IOERR and free is not None and free[0] < _NO_ROOM)
    if full or state == _PG_DISK_FULL:
        if sqlite_path is None:
            return "the database server's disk is full: free space there"
        if free is not None and free[0] >= max(_ROOM_ENOUGH, 2 * _file_bytes(sqlite_path)):
            return (
                f"SQLite found no room to write, though the disk holding {sqlite_path.parent} has "
                f"{ByteSize(free[0]).human_readable()} free: the full one may be that of its temporary files "
                "(the directory SQLITE_TMPDIR names, else /var/tmp or /tmp)"
            )
        left = f" ({ByteSize(free[0]).human_readable()} free)" if free is not None else ""
        return (
            f"the disk holding {sqlite_path.parent} is full{left}: free space there (what is stored is kept)"
        )
    missing = _PG_NO_DATABASE.search(str(cause)) if sqlite_path is None else None
    if missing is not None:
        return (
            f"create the database {missing.group(1)!r} on the server first (`createdb {missing.group(1)}`): "
            "`monitor db upgrade` creates the schema in a database, not the database"
        )
    if code == _SQLITE_CANTOPEN and sqlite_path is not None:
        return (
            f"{sqlite_path} cannot be opened: check that {sqlite_path.parent} is there (a volume mounted) "
            "and that the user monitor runs as may write in it"
        )
    if code == _SQLITE_READONLY or state == _PG_READ_ONLY:
        if sqlite_path is None:
            return "the server takes no writes (a standby, or default_transaction_read_only): use the primary"
        return (
            f"{sqlite_path} cannot be written: the user monitor runs as needs write access to it, to its "
            f"-wal and -shm files and to {sqlite_path.parent}"
        )
    return None


def _file_bytes(sqlite_path: Path) -> int:
    """The SQLite database's size: its file and its write-ahead log."""
    return sum(path.stat().st_size for path in (sqlite_path, Path(f"{sqlite_path}-wal")) if path.exists())


def disk_space(sqlite_path: Path) -> tuple[int, int] | None:
    """(bytes free for monitor, bytes in all) of the file system holding an SQLite database; None when
    it cannot be read (its directory is gone)."""
    try:
        found = os.statvfs(sqlite_path.parent)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize, found.f_blocks * found.f_frsize


@contextmanager
def _reachable(db: Database, doing: str) -> Iterator[None]:
    """Turn "cannot connect" into an error the user can act on."""
    try:
        yield
    except OperationalError as exc:
        raise StoreError(
            f"cannot {doing} {db.describe()}: {exc.orig}",
            hint=remedy(exc, db.sqlite_path)
            or (
                f"check that {db.sqlite_path} is an SQLite database monitor may read and write"
                if db.sqlite_path is not None
                else "check that the database server runs and the URL is right"
            ),
        ) from exc


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema up to ``revision`` (creating an SQLite file and its directory if need be), one
    process at a time (``_migrating_alone``)."""
    if db.sqlite_path is not None:
        db.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    with _reachable(db, "migrate"), _migrating_alone(db):
        command.upgrade(alembic_config(db), revision)


_MIGRATION_LOCKS = 3
"""The namespace of the lock that migrations take (``monitor.store.locks``)."""
_WAITING = "waiting for another process to finish migrating {}"


@contextmanager
def _migrating_alone(db: Database) -> Iterator[None]:
    """Let one process at a time migrate the database. Two instances started together on a new database (or
    a new version on an older one) both found it behind and both created its tables: the second failed, with
    "table articles already exists" on SQLite and a duplicate row of PostgreSQL's catalogue there. Now the
    second waits, then finds the schema current and changes nothing.

    PostgreSQL: a session advisory lock on a connection of its own. SQLite: an exclusive ``flock`` on a file
    beside the database (``monitor.db-migrate.lock``), since SQLite's own lock is released at every commit
    and Alembic commits as it goes; an in-memory database has one process by nature.
    """
    waiting = _WAITING.format(db.describe())
    if not db.is_sqlite:
        with (
            db.engine.connect() as holder,
            locks.held(holder, rank=_MIGRATION_LOCKS, value="schema", waiting=waiting),
        ):
            yield
        return
    if db.sqlite_path is None:
        yield
        return
    with open(db.sqlite_path.with_name(f"{db.sqlite_path.name}-migrate.lock"), "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("%s", waiting)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def sole_daemon(db: Database) -> Iterator[None]:
    """Hold, while the daemon runs on an SQLite file, an exclusive ``flock`` on a file beside the database
    (``monitor.db-run.lock``); a second daemon on that file is refused, naming the process that holds it.

    SQLite serves one daemon, which at its start takes over every lease left in the database (a killed
    predecessor's, from any host name). A second daemon started on the same file took the live one's leases
    all the same: it polled the feeds the first was polling, and sent again, under the same Message-ID, the
    digest the first was sending. The lock goes with the process that holds it, even one killed with SIGKILL.
    """
    if not db.is_sqlite or db.sqlite_path is None:
        yield
        return
    path = db.sqlite_path.with_name(f"{db.sqlite_path.name}-run.lock")
    try:
        # Taken before the schema is made: a new database's directory may not be there yet (``upgrade``).
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(path, "a+")  # noqa: SIM115 - held open for as long as the daemon runs
    except OSError as exc:
        raise StoreError(
            f"cannot open {path}: {exc.strerror}",
            hint="let the user the daemon runs as write beside its database (the file may be deleted while "
            "no monitor runs)",
        ) from exc
    with lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip()
            raise StoreError(
                f"another monitor daemon{f' (pid {holder})' if holder.isdigit() else ''} runs on "
                f"{db.describe()}; SQLite serves one daemon",
                hint="stop it first; to run several instances, share a PostgreSQL database",
            ) from None
        try:
            try:  # who holds it, for the refusal's message: a full disk leaves it unsaid, not the daemon down
                os.ftruncate(lock_file.fileno(), 0)
                os.pwrite(lock_file.fileno(), str(os.getpid()).encode(), 0)
            except OSError:
                pass
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None: no schema), read as Alembic stores it: the one row of
    ``alembic_version`` (this project's history is linear, so there is never more than one)."""
    with _reachable(db, "read the schema of"), db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.scalar(sqlalchemy.text("SELECT version_num FROM alembic_version"))


@cache
def script_directory() -> ScriptDirectory:
    """The migrations this version ships, read once per process."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(migrations_dir()))


def head_revision() -> str:
    """The latest revision this version ships (Alembic answers None for a directory without any)."""
    head = script_directory().get_current_head()
    if head is None:
        raise StoreError(
            "the database migrations are missing from this installation", hint="reinstall monitor"
        )
    return head


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the database and, unless told otherwise, upgrade its schema to the latest revision."""
    db = Database(url)
    if migrate:
        upgrade(db)
    return db
