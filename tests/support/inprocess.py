"""A poll run in the test's own process (the pipeline, not the CLI), and the SQL it runs: for tests that
count the queries of a pass."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import event

from monitor.pipeline import Pipeline, PollReport
from monitor.runtime.metrics import NO_METRICS, Metrics


def statements_where(engine, wanted: Callable[[str], bool]) -> list[str]:
    """The statements ``engine`` runs from now on that ``wanted`` accepts, whitespace folded: a list that
    grows as they run."""
    seen: list[str] = []

    def look(_connection, _cursor, statement: str, *_: object) -> None:
        folded = " ".join(statement.split())
        if wanted(folded):
            seen.append(folded)

    event.listen(engine, "before_cursor_execute", look)
    return seen


def poll_every_feed(config, db, *, metrics: Metrics = NO_METRICS) -> dict[str, PollReport]:
    """One pass over every configured feed, due or not, by name (recording into ``metrics``)."""

    async def one_pass() -> list[PollReport]:
        async with Pipeline(config, db, metrics=metrics) as pipeline:
            pipeline.sync_feeds()
            return await pipeline.poll(due_only=False)

    return {report.feed: report for report in asyncio.run(one_pass())}
