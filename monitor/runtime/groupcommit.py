"""Group commit: many small writes submitted from the event loop, stored together in one transaction.

A poll pass records one row per feed; thousands of unchanged feeds answer 304 within seconds, and a
transaction each (statement, commit, WAL append) would cost more than the polls themselves. Reads that
many tasks make at once (each feed's sightings, as it finishes) are batched the same way: one query for all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


class GroupCommit(Generic[T, R]):
    """Collects items and writes them in batches, one batch at a time.

    ``submit`` returns once its item is stored, with what ``write`` gave back for it. While a batch is being
    written, new items wait and form the next one, so batches grow with the load and a lone item is written
    at once. A batch that fails is written again item by item, so that one bad item fails alone.

    Args:
        write: stores a batch (in one transaction) and returns one result per item, in order; runs
            through ``run``.
        run: runs ``write(batch)`` away from the event loop (the pipeline's writer thread).
        max_batch: at most this many items in one batch (one transaction holds the database's write lock
            while it runs: other writers wait that long); the rest wait for the next.
        what: the items, as a log line names them when a batch fails ("feed outcomes", "sighting reads").
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R]],
        run: Callable[[Callable[[Sequence[T]], Sequence[R]], Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int | None = None,
        what: str = "items",
    ) -> None:
        if max_batch is not None and max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self._run = run
        self._max_batch = max_batch
        self._what = what
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                cut = len(self._pending) if self._max_batch is None else self._max_batch
                batch, self._pending = self._pending[:cut], self._pending[cut:]
                await self._write_batch(batch)
        except BaseException:
            for _, future in self._pending:
                future.cancel()
            self._pending = []
            raise
        finally:
            self._flushing = None

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run(self._write, [item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the submitters
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            log.warning("a batch of %d %s failed (%s); trying each alone", len(batch), self._what, exc)
            for entry in batch:
                await self._write_batch([entry])
        else:
            if not isinstance(results, Sequence) or len(results) != len(batch):
                error = RuntimeError(f"a batch of {len(batch)} items gave {results!r} as results")
                for _, future in batch:
                    _fail(future, error)
                return
            for (_, future), result in zip(batch, results, strict=True):
                _answer(future, result)


def _answer(future: asyncio.Future[R], result: R) -> None:
    if not future.done():  # else its submitter was cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[R], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
