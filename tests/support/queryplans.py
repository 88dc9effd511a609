"""Which statements scan a table that grows with history (SQLite's query plans): the everyday work of a daemon
run for a year must find its rows by index, or it costs twelve times as much as after a month
(``bench/history.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

GROWING = frozenset(
    {
        "articles",
        "article_feeds",
        "article_matches",
        "deliveries",
        "delivery_items",
        "lsh_bands",
        "paragraph_counts",
        "pruned_entries",
        "stories",
        "story_keys",
        "term_counts",
        "wire_clusters",
    }
)
"""Tables with rows for every article, match, delivery or term of the retention window (a year by default)."""

_SCAN = re.compile(r"SCAN (\w+)")


class Statements:
    """The SQLite statements run while watching, each once, with the parameters of its first run."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, object]] = {}
        self.connection = None

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if conn.dialect.name != "sqlite" or statement.lstrip()[:6].upper() not in (
            "SELECT",
            "UPDATE",
            "DELETE",
        ):
            return
        key = " ".join(statement.split())
        if key not in self.seen:
            first = parameters[0] if executemany and parameters else parameters
            self.seen[key] = (statement, first)

    def scans(self, database_path: str) -> list[tuple[str, list[str]]]:
        """Each statement whose plan scans a ``GROWING`` table (whole, or a whole index of it), with the plan
        steps that do."""
        import sqlite3

        found = []
        with sqlite3.connect(database_path) as connection:
            for statement, parameters in self.seen.values():
                plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
                # The outer loop walking an index in the order asked, to a LIMIT, stops there: the newest
                # rows first, as a listing reads them.
                walks_to_limit = " LIMIT " in statement and not any("TEMP B-TREE" in step for step in plan)
                steps = [
                    step
                    for number, step in enumerate(plan)
                    if (m := _SCAN.match(step))
                    and m.group(1) in GROWING
                    and not (walks_to_limit and number == 0 and " INDEX " in step)
                ]
                if steps:
                    found.append((" ".join(statement.split()), steps))
        return found


@contextmanager
def watched_statements() -> Iterator[Statements]:
    """Record every statement any engine of this process runs on SQLite meanwhile."""
    statements = Statements()
    event.listen(Engine, "after_cursor_execute", statements._record)
    try:
        yield statements
    finally:
        event.remove(Engine, "after_cursor_execute", statements._record)
