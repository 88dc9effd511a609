"""Tests for monitor.runtime.groupcommit: items written together, each submitter answered, failures kept apart."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from monitor.runtime.groupcommit import GroupCommit


class Store:
    """A writer that records its batches, is slow enough for items to gather, and refuses some items."""

    def __init__(self, *, refuse: frozenset[int] = frozenset(), delay: float = 0.02) -> None:
        self.batches: list[list[int]] = []
        self.refuse, self.delay = refuse, delay
        self.threads: set[str] = set()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="store")

    def write(self, batch) -> list[int]:
        self.threads.add(threading.current_thread().name)
        threading.Event().wait(self.delay)
        if self.refuse & set(batch):
            raise ValueError(f"refused one of {sorted(batch)}")
        self.batches.append(list(batch))
        return [item * 10 for item in batch]

    async def run(self, function, batch):
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, batch)


def test_items_that_arrive_together_are_written_together():
    store = Store()

    async def main():
        group = GroupCommit(store.write, store.run)
        await asyncio.gather(*(group.submit(i) for i in range(50)))
        await group.submit(50)  # alone: written at once, not held back for company

    asyncio.run(main())
    written = [item for batch in store.batches for item in batch]
    assert sorted(written) == list(range(51)) and len(written) == 51
    assert len(store.batches) <= 3 and store.batches[-1] == [50]
    assert all(name.startswith("store") for name in store.threads)


def test_items_that_come_while_a_batch_is_written_form_the_next():
    store = Store(delay=0.1)

    async def main():
        group = GroupCommit(store.write, store.run)
        first = asyncio.ensure_future(group.submit(0))
        await asyncio.sleep(0.03)  # the first batch is being written now
        await asyncio.gather(first, *(group.submit(i) for i in range(1, 10)))

    asyncio.run(main())
    assert store.batches == [[0], list(range(1, 10))]


def test_a_refused_item_fails_alone(caplog):
    store = Store(refuse=frozenset({3}))

    async def main():
        group = GroupCommit(store.write, store.run, what="feed outcomes")
        return await asyncio.gather(*(group.submit(i) for i in range(6)), return_exceptions=True)

    results = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["int"] * 3 + ["ValueError"] + ["int"] * 2
    assert sorted(item for batch in store.batches for item in batch) == [0, 1, 2, 4, 5]
    # The log says what failed together: the same batching serves writes and reads.
    assert any("feed outcomes failed" in record.getMessage() for record in caplog.records), caplog.text


def test_a_cancelled_submitter_does_not_disturb_the_others():
    store = Store(delay=0.05)

    async def main():
        group = GroupCommit(store.write, store.run)
        doomed = asyncio.ensure_future(group.submit(0))
        others = [asyncio.ensure_future(group.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)
        doomed.cancel()
        await asyncio.gather(*others)
        with pytest.raises(asyncio.CancelledError):
            await doomed

    asyncio.run(main())
    assert sorted(item for batch in store.batches for item in batch) == [0, 1, 2]  # submitted, so written


def test_each_submitter_gets_its_own_items_result():
    store = Store()

    async def main():
        group = GroupCommit(store.write, store.run)
        return await asyncio.gather(*(group.submit(i) for i in range(20)))

    assert asyncio.run(main()) == [i * 10 for i in range(20)]


def test_batches_are_cut_at_max_batch():
    store = Store()

    async def main():
        group = GroupCommit(store.write, store.run, max_batch=4)
        await asyncio.gather(*(group.submit(i) for i in range(10)))

    asyncio.run(main())
    assert all(len(batch) <= 4 for batch in store.batches)
    assert sorted(item for batch in store.batches for item in batch) == list(range(10))


def test_a_writer_that_answers_wrong_fails_its_submitters_rather_than_leaving_them_waiting():
    store = Store()

    async def main():
        group = GroupCommit(lambda batch: [], store.run)
        async with asyncio.timeout(5):
            return await asyncio.gather(*(group.submit(i) for i in range(3)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
