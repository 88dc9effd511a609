"""The database's own INSERT, for what standard SQL cannot say (ON CONFLICT), on SQLite and PostgreSQL."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from sqlalchemy import Table

if TYPE_CHECKING:
    from sqlalchemy.dialects.sqlite import Insert


def dialect_insert(dialect: str, table: Table) -> Insert:
    """An INSERT into ``table`` with the ON CONFLICT clauses of ``dialect`` ("sqlite" or "postgresql"); both
    offer the same ``on_conflict_do_nothing``, ``on_conflict_do_update`` and ``excluded``.

    The dialect's package is imported only when asked for: PostgreSQL's costs a process that uses SQLite a
    fiftieth of a second at every start, and the CLI's start is what every command waits for.
    """
    module = import_module(
        "sqlalchemy.dialects.postgresql" if dialect == "postgresql" else "sqlalchemy.dialects.sqlite"
    )
    insert: Insert = module.insert(table)
    return insert
