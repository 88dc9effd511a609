"""What the database reports of a write, typed: SQLAlchemy types these results more loosely than they are."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Row


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched.

    ``Session.execute`` is typed as returning any ``Result``; for DML it is a ``CursorResult``, which counts.
    """
    return cast(CursorResult[Any], result).rowcount


def new_id(result: CursorResult[Any]) -> int:
    """The primary key of the row a single-row INSERT added (every driver used here reports it)."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database did not report the new row's id")
    return int(key[0])


def values(row: Row[Any]) -> tuple[Any, ...]:
    """A row's values as a plain tuple, to spread into a dataclass (a Row is a tuple already; its typed
    ``tuple()`` is deprecated since SQLAlchemy 2.1)."""
    return tuple(row)
