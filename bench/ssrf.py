#!/usr/bin/env python
"""The address guard's cost per request, against a fetch of a small page measured in the same run.

    .venv/bin/python bench/ssrf.py            # a few thousand requests, ~20 s
    .venv/bin/python bench/ssrf.py --quick    # a few hundred, target not enforced

Every link from a public feed is checked where its connection is opened (``monitor.ingest.addressguard``): the
host is resolved once and each address classified. What it measures, on loopback (a local web server on
127.0.0.1, counted as public here as the tests count it, so that every check passes and the fetch goes on):

1. the check alone: ``AddressGuard.refusal`` on an address (what the guard adds to every connection);
2. the guard's ``resolve`` of an address literal (the check with the lookup an IP link costs, no DNS);
3. a fetch of a small page (2 KB) by monitor's ``Fetcher`` with a link's reach, one new connection per
   request (the server closes each), so that the guard runs on every request: its worst case;
4. the same fetches by the same ``Fetcher`` whose guard checks nothing (it hands the host on as it is, as
   a connection without the guard would), as a baseline.

The figure is (2) over (3): the share of a fetch the guard costs (target: under 2%). (3) over (4) is the
same question asked end to end; on loopback it is within the noise, so it is printed, not enforced. Each
case runs ``--rounds`` times; the best round counts. Results go to ``bench/out/ssrf.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__, ("httpx",))

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from support.httpserver import LocalWebServer, Route  # noqa: E402
from support.news import article_html, paragraphs_for  # noqa: E402

from monitor.ingest.addressguard import AddressGuard, Reach, non_public_reason  # noqa: E402
from monitor.ingest.fetch import Fetcher  # noqa: E402
from monitor.ingest.politeness import HostGate  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "ssrf.json"
LOOPBACK = ipaddress.ip_address("127.0.0.1")
MAX_SHARE = 0.02  # the guard's resolve over a fetch: a fiftieth, with room for a busy machine


class CheckingNothing(AddressGuard):
    """The baseline: the same transport and backend, with no lookup of ours and no address checked."""

    async def resolve(self, host: str, port: int, reach: Reach) -> list[str]:
        return [host]


def declared_public(address):
    """The classifier of the tests: 127.0.0.1 stands for a public server, so the checks pass."""
    return None if address == LOOPBACK else non_public_reason(address)


def best_per_call(function, calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


async def best_per_await(make, calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await make()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


async def fetch_times(url: str, guard: AddressGuard, calls: int, rounds: int) -> tuple[float, float]:
    """Seconds per fetch with the guard (at each connection) and without it, interleaved round by round."""
    gate = HostGate(concurrency=1, delay=0.0)
    guarded = Fetcher(user_agent="bench", gate=gate, guard=guard)
    plain = Fetcher(user_agent="bench", gate=HostGate(concurrency=1, delay=0.0), guard=CheckingNothing())
    best_guarded = best_plain = float("inf")
    try:
        for fetcher in (guarded, plain):  # a first request each: imports, TLS context, pools
            assert (await fetcher.fetch(url, reach=Reach.PUBLIC)).ok
        for round_ in range(rounds):
            # Each goes first in turn: a server or machine warming up favours neither.
            for fetcher in (guarded, plain) if round_ % 2 == 0 else (plain, guarded):
                started = time.perf_counter()
                for _ in range(calls):
                    result = await fetcher.fetch(url, reach=Reach.PUBLIC)
                    if not result.ok:
                        raise SystemExit(f"fetch failed: {result.failure}")
                per = (time.perf_counter() - started) / calls
                if fetcher is guarded:
                    best_guarded = min(best_guarded, per)
                else:
                    best_plain = min(best_plain, per)
    finally:
        await guarded.aclose()
        await plain.aclose()
    return best_guarded, best_plain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred requests; target not enforced")
    parser.add_argument("--rounds", type=int, default=3, help="runs per case; the best counts (default 3)")
    args = parser.parse_args()
    fetches = 100 if args.quick else 500
    checks = 20_000 if args.quick else 200_000
    guard = AddressGuard(resolver=None, classify=declared_public)
    load_before = os.getloadavg()[0]
    with LocalWebServer(hosts=["127.0.0.1"]) as server:
        page = article_html("A small page", paragraphs_for("ssrf", n=8))
        # Connection: close makes every fetch open a connection of its own, so the guard runs on each.
        server.set(
            "/page", Route(page, headers={"Content-Type": "text/html; charset=utf-8", "Connection": "close"})
        )
        url = server.url("/page")
        check = best_per_call(lambda: guard.refusal("127.0.0.1", Reach.PUBLIC), checks, args.rounds)

        async def measure() -> tuple[float, float, float]:
            resolve = await best_per_await(
                lambda: guard.resolve("127.0.0.1", server.port, Reach.PUBLIC), checks // 10, args.rounds
            )
            return resolve, *await fetch_times(url, guard, fetches, args.rounds)

        resolve, guarded, plain = asyncio.run(measure())
        page_bytes = len(page.encode())
    load_after = os.getloadavg()[0]
    share = resolve / guarded
    rows = {
        "check_seconds": check,
        "resolve_seconds": resolve,
        "fetch_guarded_seconds": guarded,
        "fetch_unguarded_seconds": plain,
        "page_bytes": page_bytes,
        "share": share,
        "guarded_over_unguarded": guarded / plain,
    }
    print(f"check (refusal of one address)      {check * 1e6:9.2f} us")
    print(f"guard's resolve of an address       {resolve * 1e6:9.2f} us")
    print(f"fetch of a {page_bytes / 1024:.0f} KB page, new connection {guarded * 1e3:9.3f} ms  (guarded)")
    print(f"the same without the guard          {plain * 1e3:9.3f} ms  (baseline)")
    print(
        f"guard over fetch: {share:.3%} (target under {MAX_SHARE:.0%}); guarded over unguarded fetch: "
        f"{guarded / plain:.3f}x; load average {load_before:.1f} -> {load_after:.1f}"
    )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                **rows,
                "max_share": MAX_SHARE,
                "fetches": fetches,
                "rounds": args.rounds,
                "load": [load_before, load_after],
            },
            indent=2,
        )
        + "\n"
    )
    if not args.quick and share > MAX_SHARE:
        print("FAIL: the address guard costs more than 2% of a fetch")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
