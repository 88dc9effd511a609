"""Tests for monitor.ingest.politeness.HostGate: per-host concurrency and spacing between request starts.

Timing checks assert lower bounds with a small tolerance (sleeps never end early by more than clock
granularity); upper bounds are only used where the margin is many times the expected value.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import pytest

from monitor.ingest.politeness import HostGate, Turn
from monitor.runtime.priority import PriorityGate

TOLERANCE = 0.02  # seconds of slack on lower bounds


async def _use(
    gate: HostGate, host: str, hold: float, starts: list[float], active: dict[str, int], peak: dict[str, int]
) -> None:
    async with gate.slot(host):
        starts.append(time.monotonic())
        active[host] = active.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), active[host])
        await asyncio.sleep(hold)
        active[host] -= 1


def test_per_host_concurrency_is_honoured():
    async def main():
        gate = HostGate(concurrency=2, delay=0)
        starts, active, peak = [], {}, {}
        await asyncio.gather(*(_use(gate, "a.example", 0.05, starts, active, peak) for _ in range(6)))
        return starts, peak

    starts, peak = asyncio.run(main())
    assert len(starts) == 6
    assert peak["a.example"] == 2  # all six wanted in at once: two got in, never three


def test_concurrency_one_serialises_a_host():
    async def main():
        gate = HostGate(concurrency=1, delay=0)
        starts, active, peak = [], {}, {}
        t0 = time.monotonic()
        await asyncio.gather(*(_use(gate, "a.example", 0.05, starts, active, peak) for _ in range(4)))
        return time.monotonic() - t0, peak

    elapsed, peak = asyncio.run(main())
    assert peak["a.example"] == 1
    assert elapsed >= 4 * 0.05 - TOLERANCE


def test_minimum_delay_between_starts_to_one_host():
    delay = 0.1

    async def main():
        gate = HostGate(concurrency=10, delay=delay)
        starts, active, peak = [], {}, {}
        await asyncio.gather(*(_use(gate, "a.example", 0, starts, active, peak) for _ in range(4)))
        return sorted(starts)

    starts = asyncio.run(main())
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(gap >= delay - TOLERANCE for gap in gaps), gaps


def test_spacing_counts_from_the_actual_start_of_a_late_starter():
    # The first waiter for the turn is held up (here by a busy "global" limit) well past its planned start;
    # the one after it must still start a full delay after it really started.
    delay = 0.1

    async def main():
        gate = HostGate(concurrency=5, delay=delay)
        outer = PriorityGate(1)
        starts = []

        async def one():
            async with gate.slot("a.example", then=outer):
                starts.append(time.monotonic())

        await outer.acquire()  # something else holds the only global slot for 0.25 s
        asyncio.get_running_loop().call_later(0.25, outer.release)
        await asyncio.gather(one(), one(), one())
        return starts

    starts = asyncio.run(main())
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(gap >= delay - TOLERANCE for gap in gaps), gaps


def test_then_is_held_for_the_slot_and_released_after():
    async def main():
        gate = HostGate(concurrency=5, delay=0)
        outer = PriorityGate(2)
        async with gate.slot("a.example", then=outer):
            assert outer.free == 1
            async with gate.slot("b.example", then=outer):
                assert outer.free == 0
        assert outer.free == 2
        with pytest.raises(RuntimeError):
            async with gate.slot("a.example", then=outer):
                raise RuntimeError("request failed")
        assert outer.free == 2

    asyncio.run(main())


def test_cancelled_waiter_gives_everything_back():
    async def main():
        gate = HostGate(concurrency=1, delay=0)
        outer = PriorityGate(1)
        await outer.acquire()
        waiter = asyncio.create_task(_enter(gate, "a.example", outer))
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        outer.release()
        async with asyncio.timeout(2.0):  # the host slot and its lock were given back
            async with gate.slot("a.example", then=outer):
                pass

    asyncio.run(main())


async def _enter(gate: HostGate, host: str, outer: PriorityGate) -> None:
    async with gate.slot(host, then=outer):
        pass


def test_first_request_to_a_host_is_not_delayed():
    async def main():
        gate = HostGate(concurrency=2, delay=5.0)
        t0 = time.monotonic()
        async with gate.slot("a.example"):
            return time.monotonic() - t0

    assert asyncio.run(main()) < 2.5  # the delay is 5 s: half of it is a margin that load does not eat


def test_spacing_holds_after_an_idle_pause():
    delay = 0.1

    async def main():
        gate = HostGate(concurrency=2, delay=delay)
        starts = []
        for pause in (0, 0.15, 0):
            await asyncio.sleep(pause)
            async with gate.slot("a.example"):
                starts.append(time.monotonic())
        return starts

    s = asyncio.run(main())
    assert s[1] - s[0] >= delay - TOLERANCE
    assert s[2] - s[1] >= delay - TOLERANCE


def test_different_hosts_do_not_delay_each_other():
    async def main():
        gate = HostGate(concurrency=1, delay=5.0)
        t0 = time.monotonic()
        async with gate.slot("a.example"):
            # a.example's next start is 5 s away and its only slot is taken; b.example must not care.
            async with gate.slot("b.example"):
                pass
            async with gate.slot("c.example"):
                pass
        return time.monotonic() - t0

    assert asyncio.run(main()) < 2.0  # 5 s if hosts were tied together: a wide margin


def test_one_host_busy_does_not_block_another_hosts_slots():
    async def main():
        gate = HostGate(concurrency=1, delay=0)
        release = asyncio.Event()
        entered = asyncio.Event()

        async def hog():
            async with gate.slot("a.example"):
                entered.set()
                await release.wait()

        task = asyncio.create_task(hog())
        await entered.wait()
        async with asyncio.timeout(2.0):
            async with gate.slot("b.example"):
                pass
        release.set()
        await task

    asyncio.run(main())


# ----------------------------------------------------------------------------------- crawl delay


def test_delay_for_an_unseen_host_is_the_default():
    assert HostGate(delay=0.25).delay_for("new.example") == 0.25


def test_set_crawl_delay_raises_the_delay():
    gate = HostGate(delay=0.05, max_crawl_delay=1.0)
    gate.set_crawl_delay("a.example", 0.3)
    assert gate.delay_for("a.example") == pytest.approx(0.3)
    assert gate.delay_for("b.example") == pytest.approx(0.05)


def test_set_crawl_delay_is_capped():
    gate = HostGate(delay=0.05, max_crawl_delay=0.2)
    gate.set_crawl_delay("a.example", 3600)
    assert gate.delay_for("a.example") == pytest.approx(0.2)
    gate.set_crawl_delay("b.example", math.inf)
    assert gate.delay_for("b.example") == pytest.approx(0.2)


@pytest.mark.parametrize("asked", [0, 0.01, -5, math.nan])
def test_set_crawl_delay_never_goes_below_the_default(asked):
    gate = HostGate(delay=0.05, max_crawl_delay=1.0)
    gate.set_crawl_delay("a.example", asked)
    assert gate.delay_for("a.example") == pytest.approx(0.05)


def test_cap_below_the_default_keeps_the_default():
    gate = HostGate(delay=0.5, max_crawl_delay=0.1)
    gate.set_crawl_delay("a.example", 10)
    assert gate.delay_for("a.example") == pytest.approx(0.5)


def test_crawl_delay_spaces_requests_to_that_host_only():
    crawl_delay = 0.2

    async def main():
        gate = HostGate(concurrency=5, delay=0, max_crawl_delay=1.0)
        gate.set_crawl_delay("slow.example", crawl_delay)
        slow, fast, active, peak = [], [], {}, {}
        await asyncio.gather(
            *(_use(gate, "slow.example", 0, slow, active, peak) for _ in range(3)),
            *(_use(gate, "fast.example", 0, fast, active, peak) for _ in range(3)),
        )
        return sorted(slow), sorted(fast)

    slow, fast = asyncio.run(main())
    assert slow[1] - slow[0] >= crawl_delay - TOLERANCE
    assert slow[2] - slow[1] >= crawl_delay - TOLERANCE
    assert fast[-1] < slow[1]  # the other host went ahead at once, not in the slow host's rhythm


def test_robots_txt_is_outside_the_hosts_spacing():
    # A feed starts; robots.txt goes at once, not a delay later, and the first page still keeps its delay
    # after the feed: robots.txt neither waits for the spacing nor pushes the next request back.
    delay = 0.3

    async def main():
        gate = HostGate(concurrency=2, delay=delay)
        starts: dict[str, float] = {}

        async def request(name, priority):
            async with gate.slot("a.example", priority=priority):
                starts[name] = time.monotonic()

        await request("feed", Turn.OTHER)
        await request("robots", Turn.ROBOTS)
        await request("page", Turn.PAGE)
        return starts

    starts = asyncio.run(main())
    assert starts["robots"] - starts["feed"] < delay / 2
    assert starts["page"] - starts["feed"] >= delay - TOLERANCE


def test_robots_txt_honours_a_retry_after():
    async def main():
        gate = HostGate(concurrency=2, delay=0)
        gate.hold_off("a.example", 0.3)
        started = time.monotonic()
        async with gate.slot("a.example", priority=Turn.ROBOTS):
            return time.monotonic() - started

    assert asyncio.run(main()) >= 0.3 - TOLERANCE


def test_the_global_limit_lets_pages_before_feeds_of_other_hosts():
    # The extraction workers wait for pages, not feeds: a page that comes to the fetcher's global limit
    # after a feed of another host still goes first.
    async def main():
        gate = HostGate(concurrency=5, delay=0)
        outer = PriorityGate(1)
        order: list[str] = []

        async def one(host: str, turn: Turn, name: str) -> None:
            async with gate.slot(host, then=outer, priority=turn):
                order.append(name)

        await outer.acquire()
        feed = asyncio.create_task(one("a.example", Turn.OTHER, "feed"))
        await asyncio.sleep(0.01)
        page = asyncio.create_task(one("b.example", Turn.PAGE, "page"))
        await asyncio.sleep(0.01)
        outer.release()
        await asyncio.gather(feed, page)
        return order

    assert asyncio.run(main()) == ["page", "feed"]


# ------------------------------------------------------------------------------------------ forgetting


def test_hosts_no_request_used_for_a_while_are_forgotten(monkeypatch):
    # A daemon following links meets new hosts every day; their state is not kept forever. A host in use,
    # or held off by a Retry-After, is kept however long ago it was last started.
    async def main():
        gate = HostGate(delay=0.5, forget_after=0.05)
        for host in ("old.example", "crawl-delayed.example"):
            async with gate.slot(host):
                pass
        gate.set_crawl_delay("crawl-delayed.example", 5.0)
        await asyncio.sleep(0.1)
        gate.hold_off("held.example", 10)
        entered, leave = asyncio.Event(), asyncio.Event()

        async def busy() -> None:
            async with gate.slot("busy.example"):
                entered.set()
                await leave.wait()

        task = asyncio.create_task(busy())
        await entered.wait()
        await asyncio.sleep(0.1)
        before = gate.hosts
        gate.forget_idle()
        after = gate.hosts
        leave.set()
        await task
        return before, after, gate.delay_for("crawl-delayed.example")

    before, after, delay = asyncio.run(main())
    assert (before, after) == (4, 2)  # busy and held stay
    assert delay == 0.5  # a forgotten host is as one never met: its robots.txt brings its Crawl-delay back


def test_meeting_a_new_host_forgets_the_idle_ones_now_and_then(monkeypatch):
    from monitor.ingest import politeness

    monkeypatch.setattr(politeness, "SWEEP_EVERY", 0.0)

    async def main():
        gate = HostGate(delay=0, forget_after=0.05)
        for n in range(50):
            async with gate.slot(f"site{n}.example"):
                pass
        await asyncio.sleep(0.1)
        async with gate.slot("new.example"):
            return gate.hosts

    assert asyncio.run(main()) == 1


# --- A slow host's own pace (autothrottle) ------------------------------------------------------------------


def test_a_slow_answer_moves_the_hosts_spacing_halfway_to_its_response_time():
    gate = HostGate(delay=0.1, max_crawl_delay=30, autothrottle=True)
    gate.observe("slow.example", 4.0)
    assert gate.delay_for("slow.example") == pytest.approx(2.0)
    gate.observe("slow.example", 4.0)
    assert gate.delay_for("slow.example") == pytest.approx(3.0)
    gate.observe("slow.example", 0.0)  # it recovered: the spacing comes down as fast as it went up
    assert gate.delay_for("slow.example") == pytest.approx(1.5)
    assert gate.delay_for("other.example") == pytest.approx(0.1)


def test_a_fast_host_keeps_the_configured_delay():
    gate = HostGate(delay=1.0, autothrottle=True)
    for _ in range(10):
        gate.observe("fast.example", 0.05)
    assert gate.delay_for("fast.example") == pytest.approx(1.0)


def test_quick_errors_never_lower_the_spacing_and_slow_ones_raise_it():
    gate = HostGate(delay=0.0, max_crawl_delay=30, autothrottle=True)
    gate.observe("struggling.example", 8.0)
    gate.observe("struggling.example", 0.01, failed=True)  # a 503 answered at once
    assert gate.delay_for("struggling.example") == pytest.approx(4.0)
    gate.observe("struggling.example", 30.0, failed=True)  # a timeout
    assert gate.delay_for("struggling.example") == pytest.approx(17.0)


@pytest.mark.parametrize("latency", [3600.0, math.inf])
def test_the_spacing_a_slow_host_gets_is_capped(latency):
    gate = HostGate(delay=0.0, max_crawl_delay=10, autothrottle=True)
    for _ in range(20):
        gate.observe("stuck.example", latency, failed=True)
    assert gate.delay_for("stuck.example") <= 10


@pytest.mark.parametrize("latency", [math.nan, -1.0])
def test_a_response_time_that_is_no_time_is_ignored(latency):
    gate = HostGate(delay=0.5, autothrottle=True)
    gate.observe("odd.example", latency)
    assert gate.delay_for("odd.example") == pytest.approx(0.5)


def test_without_autothrottle_response_times_change_nothing():
    gate = HostGate(delay=0.1)
    gate.observe("slow.example", 20.0)
    assert gate.delay_for("slow.example") == pytest.approx(0.1)


def test_a_crawl_delay_longer_than_the_response_time_wins():
    gate = HostGate(delay=0.1, max_crawl_delay=30, autothrottle=True)
    gate.set_crawl_delay("a.example", 5)
    gate.observe("a.example", 2.0)
    assert gate.delay_for("a.example") == pytest.approx(5.0)


def test_the_learnt_spacing_holds_between_starts():
    async def main():
        gate = HostGate(concurrency=4, delay=0, autothrottle=True)
        gate.observe("slow.example", 0.6)  # spacing 0.3 s
        starts, active, peak = [], {}, {}
        await asyncio.gather(*(_use(gate, "slow.example", 0.01, starts, active, peak) for _ in range(3)))
        return sorted(starts)

    starts = asyncio.run(main())
    assert all(b - a >= 0.3 - TOLERANCE for a, b in zip(starts, starts[1:]))


def test_a_host_held_to_a_slower_pace_is_counted_and_logged_once_each_way(caplog):
    gate = HostGate(delay=1.0, max_crawl_delay=30, autothrottle=True)
    with caplog.at_level(logging.INFO, logger="monitor.ingest.politeness"):
        gate.observe("slow.example", 1.5)  # 0.75 s: within its delay
        assert gate.slowed == 0
        for _ in range(3):
            gate.observe("slow.example", 6.0)  # 3.4, 4.7, 5.3 s
        gate.observe("other.example", 9.0)
        assert gate.slowed == 2
        gate.observe("slow.example", 1.5)  # 3.4 s: faster, still slow
        assert gate.slowed == 2
        for _ in range(4):
            gate.observe("slow.example", 0.1)  # 1.8, 0.9, ...
        assert gate.slowed == 1
    slow_lines = [r.getMessage() for r in caplog.records if "slow.example" in r.getMessage()]
    assert slow_lines == [
        "host slow.example takes 3.4s to answer: its requests start 3.4s apart until it answers faster",
        "host slow.example answers in time again: its requests start 1.0s apart",
    ]


def test_a_slowed_host_forgotten_is_no_longer_counted(monkeypatch):
    gate = HostGate(delay=0.0, autothrottle=True, forget_after=10)
    gate.observe("slow.example", 10.0)
    assert gate.slowed == 1
    later = time.monotonic() + 60
    gate.forget_idle(later)
    assert gate.slowed == 0 and gate.hosts == 0
