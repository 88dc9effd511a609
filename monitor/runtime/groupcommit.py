"""Group commit: many small writes submitted from the event loop, stored together in one transaction.

A poll pass records one row per feed; thousands of unchanged feeds answer 304 within seconds, and a
transaction each (statement, commit, WAL append) would cost more than the polls themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class GroupCommit(Generic[T]):
    """Collects items and writes them in batches, one batch at a time.

    ``submit`` returns once its item is stored. While a batch is being written, new items wait and form the
    next one, so batches grow with the load and a lone item is written at once. A batch that fails is
    written again item by item, so that one bad item fails alone.

    Args:
        write: stores a batch (in one transaction); runs through ``run``.
        run: runs ``write(batch)`` away from the event loop (the pipeline's writer thread).
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], None],
        run: Callable[[Callable[[Sequence[T]], None], Sequence[T]], Awaitable[None]],
    ) -> None:
        self._write = write
        self._run = run
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._write_batch(batch)
        except BaseException:
            for _, future in self._pending:
                future.cancel()
            self._pending = []
            raise
        finally:
            self._flushing = None

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            await self._run(self._write, [item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the submitters
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("writing %d items together failed (%s); writing them one by one", len(batch), exc)
            for entry in batch:
                await self._write_batch([entry])
        else:
            for _, future in batch:
                _settle(future, None)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():  # its submitter was cancelled meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
