"""monitor.runtime.priority.PriorityGate: a bound on holders whose line goes by priority, then by arrival."""

from __future__ import annotations

import asyncio

import pytest

from monitor.ingest.pagebuffer import PageBuffer
from monitor.runtime.priority import PriorityGate


async def _line_up(gate: PriorityGate, priorities: list[int], order: list[str], *, hold: float = 0.0):
    async def one(name: str, priority: int) -> None:
        async with gate.hold(priority):
            order.append(name)
            await asyncio.sleep(hold)

    tasks = []
    for n, priority in enumerate(priorities):
        tasks.append(asyncio.ensure_future(one(f"{priority}-{n}", priority)))
        await asyncio.sleep(0)  # each arrives after the one before
    await asyncio.gather(*tasks)


def test_waiters_go_lowest_priority_first_then_in_order_of_arrival():
    async def main():
        gate, order = PriorityGate(1), []
        await gate.acquire()  # held: everyone below waits in line
        waiting = asyncio.ensure_future(_line_up(gate, [5, 3, 5, 1, 3], order))
        await asyncio.sleep(0.01)
        gate.release()
        await waiting
        return order

    assert asyncio.run(main()) == ["1-3", "3-1", "3-4", "5-0", "5-2"]


def test_no_more_than_its_slots_hold_at_once():
    async def main():
        gate, inside, peak = PriorityGate(3), 0, 0

        async def one():
            nonlocal inside, peak
            async with gate.hold():
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(one() for _ in range(10)))
        return peak

    assert asyncio.run(main()) == 3


def test_a_newcomer_does_not_overtake_the_line():
    async def main():
        gate, order = PriorityGate(1), []
        await gate.acquire()

        async def one(name: str) -> None:
            await gate.acquire(0)
            order.append(name)
            gate.release()

        first = asyncio.ensure_future(one("waiting"))
        await asyncio.sleep(0)
        gate.release()  # handed to the waiter, not left free for whoever comes next
        await one("newcomer")
        await first
        return order

    assert asyncio.run(main()) == ["waiting", "newcomer"]


def test_a_waiter_given_up_passes_its_slot_on():
    async def main():
        gate = PriorityGate(1)
        await gate.acquire()
        given_up = asyncio.ensure_future(gate.acquire(0))
        later = asyncio.ensure_future(gate.acquire(1))
        await asyncio.sleep(0)
        given_up.cancel()
        gate.release()
        async with asyncio.timeout(1):
            await later  # the slot went past the cancelled waiter
        gate.release()
        async with asyncio.timeout(1):
            await gate.acquire()  # and nothing was lost: the gate is free again

    asyncio.run(main())


def test_a_gate_needs_a_slot():
    with pytest.raises(ValueError):
        PriorityGate(0)


def test_a_full_page_buffer_gives_a_freed_place_to_the_earliest_feeds_page():
    async def main():
        buffer, order = PageBuffer(1), []
        first = buffer.place(0)
        await first.take()

        async def page(name: str, priority: int) -> None:
            async with buffer.place(priority) as place:
                await place.take()
                order.append(name)

        later = asyncio.ensure_future(page("feed 7", 7))
        await asyncio.sleep(0)
        earlier = asyncio.ensure_future(page("feed 2", 2))
        await asyncio.sleep(0)
        first.give_back()
        await asyncio.gather(later, earlier)
        return order

    assert asyncio.run(main()) == ["feed 2", "feed 7"]


def test_the_extractor_hands_waiting_pages_to_its_workers_lowest_priority_first(monkeypatch):
    # One worker (and one page queued for it): the pages that wait go by priority, whatever their arrival.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import monitor.pipeline as pipeline

    extracted: list[str] = []
    release = threading.Event()

    def fake_extract(html: bytes, url: str, *_args, **_options):
        release.wait(5)
        extracted.append(url)
        return None

    monkeypatch.setattr(pipeline, "extract_page", fake_extract)
    extractor = pipeline.Extractor(1)
    pool = ThreadPoolExecutor(1)
    monkeypatch.setattr(extractor, "start", lambda: pool)

    async def main():
        tasks = []
        for url, priority in [("a", 9), ("b", 9), ("late", 7), ("early", 1), ("middle", 4)]:
            tasks.append(asyncio.ensure_future(extractor.extract(b"", url, priority=priority)))
            await asyncio.sleep(0.01)  # "a" and "b" take the worker and its queue; the rest wait in line
        release.set()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    finally:
        pool.shutdown()
    assert extracted == ["a", "b", "early", "middle", "late"]
