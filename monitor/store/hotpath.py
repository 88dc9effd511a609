"""The hot path's statements: compiled once per dialect and run through the driver, with one placeholder per
key (on PostgreSQL the keys of a lookup of latest rows go as one array). Each stored article writes tens of
rows (band keys, term counts, story keys) and makes a few lookups; SQLAlchemy's per-execution work would cost
as much as the database's."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Table, TextClause, case, text
from sqlalchemy.orm import Session

from monitor.store.dialects import dialect_insert


def numbered(prefix: str, values: Sequence, *, step: int = 1) -> dict:
    """``values`` as the parameters ``{prefix}0`` ... of a lookup by keys, as many as the next multiple of
    ``step``: the places past the values are NULL, which neither ``=`` nor ``IN`` finds (a repeated key would
    be counted again by a lookup of one scan per key, ``LatestPerKey``).

    One placeholder per key, not an expanding IN list (rendered again at every execution), so each statement
    is compiled once per number of placeholders (see ``run_compiled``). Band lookups have nearly always the
    same number of keys; term lookups, anything from one to hundreds, are padded to a ``step`` so that their
    statements stay few too.
    """
    padding = -len(values) % step if values else 0
    return {f"{prefix}{n}": value for n, value in enumerate([*values, *[None] * padding])}


@dataclass(frozen=True)
class _KeyedLookup:
    """A lookup by many keys of one column, in the form each database runs best: on SQLite one placeholder
    per key, in chunks of ``chunk`` padded to a multiple of ``step`` (see ``numbered``); on PostgreSQL the
    keys as one array, one short statement planned once. A statement with a placeholder per key was planned
    again at every execution there, and its placeholders rewritten by the driver, which caches that for short
    statements only: a hundred key scans took longer to plan (5-8 ms) than to run, and the document
    frequencies of an article's 200 terms 2.4-3.9 ms against 0.7-1.2 ms as an array."""

    table: Table
    key: str
    where: str = ""
    step: int = 1
    chunk: int = 512

    def _rows(self, session: Session, keys: Sequence, params: dict[str, Any]) -> list[tuple]:
        if not keys:
            return []
        dialect = session.get_bind().dialect
        if dialect.name == "postgresql":
            statement = self._by_array(dialect)
            return fetch_rows(session, self._name, statement, {"keys": list(keys), **params})
        found: list[tuple] = []
        for start in range(0, len(keys), self.chunk):
            numbered_keys = numbered("k", keys[start : start + self.chunk], step=self.step)
            slots = len(numbered_keys)
            statement = self._by_slots(slots)
            found += fetch_rows(session, f"{self._name} {slots}", statement, numbered_keys | params)
        return found

    @functools.cached_property
    def _name(self) -> str:
        """What ``run_compiled`` knows this lookup's statements by."""
        return f"{type(self).__name__} {self}"

    def _condition(self) -> str:
        return f" AND {self.where}" if self.where else ""

    @functools.cache  # noqa: B019 - a handful of lookups, kept for the life of the process
    def _by_slots(self, slots: int) -> TextClause:
        return text(self._slots_sql(slots))

    @functools.cache  # noqa: B019 - a handful of lookups, kept for the life of the process
    def _by_array(self, dialect: Dialect) -> TextClause:
        key_type = self.table.c[self.key].type.compile(dialect=dialect)
        return text(self._array_sql(f"CAST(:keys AS {key_type}[])"))

    def _slots_sql(self, slots: int) -> str:
        raise NotImplementedError

    def _array_sql(self, keys: str) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class LatestPerKey(_KeyedLookup):
    """A lookup of the latest ``rows`` rows of each of several keys within a window (the table's
    ``seen_epoch``), on a primary key that starts (key, seen_epoch): one range scan per key, read backwards
    from the window's end. ``where`` adds an SQL condition on the table's columns to each scan.

    For lookups whose keys a flood can share (band keys of mutually near-identical texts, the terms of many
    stories): each key costs at most ``rows`` rows read, however many the window holds.
    """

    value: str = field(kw_only=True)
    rows: int = field(kw_only=True)

    def read(self, session: Session, keys: Sequence, *, since: int, until: int, **params: Any) -> list:
        """The ``value`` of every row read, one per row (a value appears once for each key it was found by)."""
        found = self._rows(session, keys, {"since": since, "until": until, **params})
        return [value for (value,) in found]

    def most_shared(self, session: Session, keys: Sequence, *, since: int, until: int, **params: Any) -> list:
        """``(value, keys it was found by)`` for every value read, the most keys first, then the lowest value
        (the oldest row): counted and ranked here, where the database's grouping and sorting of a thousand rows
        and more cost more than its scans."""
        found = Counter(self.read(session, keys, since=since, until=until, **params))
        # Two sorts in C rather than one with a Python key: by value, then stably by count.
        return sorted(sorted(found.items()), key=itemgetter(1), reverse=True)

    def _scan(self, key: str) -> str:
        return (
            f"SELECT {self.value} FROM {self.table.name} WHERE {self.key} = {key}"
            f" AND seen_epoch >= :since AND seen_epoch <= :until{self._condition()}"
            f" ORDER BY seen_epoch DESC LIMIT {int(self.rows)}"
        )

    def _slots_sql(self, slots: int) -> str:
        # One scan per placeholder, glued by UNION ALL: what SQLite plans well. Written as SQL text: built and
        # compiled as SQLAlchemy constructs, the statement for 100 keys took 65 ms of CPU, and the story
        # lookup's sizes about half a second in each new process.
        return " UNION ALL ".join(
            f"SELECT {self.value} FROM ({self._scan(f':k{n}')}) AS scan{n}" for n in range(slots)
        )

    def _array_sql(self, keys: str) -> str:
        # A scan for each key of the array, by a lateral join.
        return f"SELECT scan.{self.value} FROM unnest({keys}) AS wanted(k) CROSS JOIN LATERAL ({self._scan('wanted.k')}) AS scan"


@dataclass(frozen=True)
class RowsByKeys(_KeyedLookup):
    """A lookup of the rows whose ``key`` is one of many (an article's terms, its paragraphs' keys): their
    ``columns``, with ``where`` as a further SQL condition."""

    columns: tuple[str, ...] = field(kw_only=True)

    def read(self, session: Session, keys: Sequence, **params: Any) -> list[tuple]:
        return self._rows(session, keys, params)

    def _select(self, condition: str) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.table.name} WHERE {condition}{self._condition()}"

    def _slots_sql(self, slots: int) -> str:
        return self._select(f"{self.key} IN ({', '.join(f':k{n}' for n in range(slots))})")

    def _array_sql(self, keys: str) -> str:
        return self._select(f"{self.key} = ANY({keys})")


def epoch(at: datetime) -> int:
    """Unix seconds of an aware datetime: the time column of ``lsh_bands``."""
    return int(at.timestamp())


_compiled: dict[tuple[str, str], tuple] = {}


def run_compiled(session: Session, name: str, statement, rows: list[dict], *, many: bool):
    """Run ``statement`` through the driver directly, compiled once per dialect.

    For the statements of the hot path: tens of rows per article (band keys, term counts, story keys), or
    one lookup per article, where SQLAlchemy's per-execution and per-row work would cost as much as the
    database's. The values must need no type conversion (integers and strings only).
    """
    connection = session.connection()
    key = (connection.dialect.name, name)
    if key not in _compiled:
        compiled = statement.compile(dialect=connection.dialect)
        # Constants in the statement (the 1 of "count + 1") are parameters too: keep their values.
        constants = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
        _compiled[key] = (compiled.string, compiled.positiontup, constants)
    sql, order, constants = _compiled[key]
    params: list[tuple[Any, ...]] | list[dict[str, Any]]
    if order:  # positional parameters (SQLite): tuples in the compiled order
        if constants and not all(name in rows[0] for name in constants):
            rows = [constants | row for row in rows]
        # All rows of a call have the same keys; itemgetter builds each tuple in C (tens of rows an
        # article: a Python loop per value was a twentieth of what placing an article cost).
        pick = itemgetter(*order)
        params = [pick(row) for row in rows] if len(order) > 1 else [(pick(row),) for row in rows]
    else:  # named parameters (psycopg)
        params = [{**constants, **row} for row in rows]
    return connection.exec_driver_sql(sql, params if many else params[0])


def fetch_rows(session: Session, name: str, statement, params: dict[str, Any]) -> list[tuple]:
    """The rows a lookup of the hot path finds, as tuples straight from the driver (see ``run_compiled``).

    Read in one call, without SQLAlchemy's per-row work: the story lookup reads a thousand rows and more once
    the window fills, and iterating its result row by row cost more than the database's scans."""
    result = run_compiled(session, name, statement, [params], many=False)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def insert_many(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert rows that all name the same columns: the key rows of the hot path (a story's hundred terms, an
    article's forty-odd band keys).

    On PostgreSQL one statement takes every row, a column an array (``INSERT ... SELECT FROM unnest``):
    written as a statement per row, a hundred key rows took 3.6 ms, one statement 0.7 ms. SQLite, in the
    process, runs one statement per row as fast.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    columns = tuple(rows[0])
    if dialect.name == "postgresql":
        arrays = {column: [row[column] for row in rows] for column in columns}
        statement = _insert_by_arrays(table, columns, dialect)
        run_compiled(session, f"insert {table.name} {columns}", statement, [arrays], many=False)
    else:
        run_compiled(session, f"insert {table.name} {columns}", table.insert(), rows, many=True)


def add_counts(session: Session, table: Table, count: str, rows: list[dict]) -> None:
    """Insert rows of a count table (its key, ``count`` and ``last_counted``), or add each row's count to the
    stored row's, the later ``last_counted`` kept: an upsert, safe against concurrent instances. The keys must
    be distinct.

    On PostgreSQL one statement takes every row as arrays, as ``insert_many``: the term counts of twenty
    articles (some 3,000 rows) took 2.3 ms an article as a statement per row. Rows are written in the order
    of their key on both databases, one order for every writer, so that no two instances' upserts wait for
    each other in a circle.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    name = f"add {table.name}"
    if dialect.name == "postgresql":
        arrays = {column: [row[column] for row in rows] for column in rows[0]}
        run_compiled(session, name, _add_by_arrays(table, count, dialect), [arrays], many=False)
    else:
        key = table.primary_key.columns[0].name
        rows = sorted(rows, key=itemgetter(key))
        run_compiled(session, name, _add_by_rows(table, count, dialect.name), rows, many=True)


@functools.cache
def _insert_by_arrays(table: Table, columns: tuple[str, ...], dialect: Dialect) -> TextClause:
    return text(f"INSERT INTO {table.name} ({', '.join(columns)}) {_unnest(table, columns, dialect)}")


def _unnest(table: Table, columns: tuple[str, ...], dialect: Dialect) -> str:
    arrays = ", ".join(f"CAST(:{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in columns)
    return f"SELECT * FROM unnest({arrays})"


@functools.cache
def _add_by_arrays(table: Table, count: str, dialect: Dialect) -> TextClause:
    quote = dialect.identifier_preparer.quote
    key = quote(table.primary_key.columns[0].name)
    columns = (table.primary_key.columns[0].name, count, "last_counted")
    names = ", ".join(quote(c) for c in columns)
    return text(
        f"INSERT INTO {table.name} AS stored ({names}) {_unnest(table, columns, dialect)} AS given ({names})"
        f" ORDER BY {key}"
        f" ON CONFLICT ({key}) DO UPDATE SET {quote(count)} = stored.{quote(count)} + excluded.{quote(count)},"
        " last_counted = GREATEST(stored.last_counted, excluded.last_counted)"
    )


@functools.cache
def _add_by_rows(table: Table, count: str, dialect: str):
    # Built once per table: building it (its ``excluded`` columns above all) costs more than running it.
    statement = dialect_insert(dialect, table)
    latest = case(
        (table.c.last_counted > statement.excluded.last_counted, table.c.last_counted),
        else_=statement.excluded.last_counted,
    )
    return statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={count: table.c[count] + statement.excluded[count], "last_counted": latest},
    )
