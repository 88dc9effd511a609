"""Schema discipline: who may migrate the database, and what every other command accepts.

Only ``monitor run`` and ``monitor db upgrade`` migrate (``migrate``). Every other command needs the schema
this version was written for (``require_current``): a database that does not exist, is empty or is behind is
refused, and nothing is created (an SQLite file is never opened when it is missing, since opening creates
it). A database newer than this code is refused by every command, migrating ones included: a newer CLI must
not be undone by an older one, and alembic would only say it cannot find the revision.

Each refusal is one line that names the revision found, the one needed, and the command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.errors import StoreError
from monitor.store.db import Database, current_revision, script_directory, upgrade

SCHEMA_REVISION = "0025"
"""The revision this version's code is written for: the head of ``migrations/versions`` (a test holds the
two equal, so a new migration fails the suite until this names it). A constant, so that the commands that
only check the schema need not read the migration scripts, nor import Alembic to do so."""


class SchemaError(StoreError):
    """The database's schema is not the one this version of monitor needs."""


@dataclass(frozen=True)
class SchemaState:
    """Where the database stands. ``current`` is None for a database without schema (or without file)."""

    exists: bool
    current: str | None
    head: str

    @property
    def newer(self) -> bool:
        return self.current is not None and not _known(self.current)

    @property
    def behind(self) -> bool:
        return not self.newer and self.current != self.head


def schema_state(db: Database) -> SchemaState:
    """Read the database's revision without changing anything (a missing SQLite file stays missing)."""
    head = SCHEMA_REVISION
    if not sqlite_file_exists(db):
        return SchemaState(exists=False, current=None, head=head)
    return SchemaState(exists=True, current=current_revision(db), head=head)


def require_current(db: Database, *, behind_ok: bool = False) -> SchemaState:
    """Raise SchemaError unless the database has exactly the schema this version needs.

    Args:
        behind_ok: accept an existing database that is behind (``db current`` shows where it stands).
    """
    state = schema_state(db)
    if state.newer:
        raise _newer(db, state)
    if not state.exists:
        raise SchemaError(
            f"database {db.describe()} does not exist (this version needs schema revision "
            f"{state.head}); create it with `monitor db upgrade`"
        )
    if state.behind and not behind_ok:
        found = f"is at schema revision {state.current}" if state.current else "has no schema"
        raise SchemaError(
            f"database {db.describe()} {found}, this version needs {state.head}; "
            f"bring it up to date with `monitor db upgrade`"
        )
    return state


def refuse_newer(db: Database) -> SchemaState:
    """Raise SchemaError if the database is newer than this code; else return where it stands."""
    state = schema_state(db)
    if state.newer:
        raise _newer(db, state)
    return state


def migrate(db: Database) -> tuple[str | None, str | None]:
    """Bring the schema up to this version's (creating the database if need be), unless it is newer.

    Returns:
        The revisions before and after (None for an empty database).
    """
    before = refuse_newer(db).current
    if before == SCHEMA_REVISION:
        # Current already (every start but the first after an upgrade): Alembic would find nothing to do,
        # after a quarter of a second spent importing itself and reading the migration scripts.
        return before, before
    upgrade(db)
    return before, current_revision(db)


def sqlite_file_exists(db: Database) -> bool:
    """False only for an SQLite database whose file is missing; a server database is taken to exist."""
    return db.sqlite_path is None or db.sqlite_path.exists()


def _newer(db: Database, state: SchemaState) -> SchemaError:
    return SchemaError(
        f"database {db.describe()} is at schema revision {state.current}, newer than this "
        f"version of monitor knows (latest {state.head}); run a monitor that knows it"
    )


def _known(revision: str) -> bool:
    if revision == SCHEMA_REVISION:
        return True
    from alembic.util.exc import CommandError

    try:
        return script_directory().get_revision(revision) is not None
    except CommandError:  # alembic's ResolutionError: a revision of a later version
        return False
