"""The ingest benchmark's report: the checks its figures are held to (targets, PASS/FAIL, informational in a
quick run) and the table they are printed as."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Check:
    name: str
    value: str
    target: str
    passed: bool | None  # None: informational
    gate: bool = True  # counts for the exit status


@dataclass
class Results:
    started_at: str
    options: dict
    machine: dict
    pages: dict = field(default_factory=dict)
    limit: dict = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    pipeline: dict = field(default_factory=dict)
    spread: dict = field(default_factory=dict)
    unchanged: dict = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def build_checks(results: Results, quick: bool) -> list[Check]:
    checks: list[Check] = []
    speed_gate = not quick  # a quick run is dominated by start-up: its speeds are not meaningful
    p, b, limit, u = results.pipeline, results.baseline, results.limit, results.unchanged
    if p:
        ok = p["outcomes"].get("ok", 0)
        checks.append(
            Check(
                "feeds polled",
                f"{ok} / {p['feeds']} ok" + (f"; {p['first_error'][:80]}" if p["first_error"] else ""),
                "all ok",
                ok == p["feeds"],
            )
        )
        stored = p["stored"]["rows"]
        checks.append(
            Check(
                "articles stored",
                f"{stored} / {p['expected_articles']}",
                "all",
                stored == p["expected_articles"],
            )
        )
        sources = p["stored"]["body_source"]
        checks.append(
            Check(
                "body from extraction",
                f"{sources.get('extracted', 0)} extracted, "
                f"{sources.get('feed', 0)} feed, {sources.get('failed', 0)} failed",
                "-",
                None,
            )
        )
        checks.append(
            Check(
                "pipeline throughput",
                f"{p['articles_per_s']:.1f} articles/s ({stored} in {p['wall_s']:.1f}s)",
                "-",
                None,
            )
        )
        # PSS counts a page shared by several processes (the forkserver's preloaded extraction code, which
        # its workers share) once, as the kernel and a container's memory limit do; summed RSS counts it
        # once per process that maps it.
        checks.append(
            Check(
                "peak memory, process tree",
                f"PSS {p['peak_pss_tree_mb']:.0f} MB (summed RSS "
                f"{p['peak_rss_tree_mb']:.0f} MB, main {p['peak_rss_main_mb']:.0f} MB, "
                f"{p['max_processes']} processes)",
                "< 400 MB PSS",
                p["peak_pss_tree_mb"] < 400,
            )
        )
    if p:
        cpus = results.machine["cpus"]
        busy = p["cpu_workers_s"] / (p["wall_s"] * cpus) if p["wall_s"] else 0.0
        checks.append(
            Check(
                "CPU during the poll",
                f"main {p['cpu_main_s']:.0f}s, workers "
                f"{p['cpu_workers_s']:.0f}s ({busy:.0%} of {cpus} cores), "
                f"web server {p['cpu_server_s']:.0f}s",
                "-",
                None,
            )
        )
        checks.append(
            Check(
                "contention (quiet: ~0s, load < CPUs)",
                f"workers waited "
                f"{p['workers_waiting_for_cpu_s']:.0f}s for a core; load "
                f"{p['load_1min_before']:.1f} -> {p['load_1min_after']:.1f}",
                "-",
                None,
            )
        )
    if p and b:
        ratio = p["articles_per_s"] / b["articles_per_s"] if b["articles_per_s"] else 0.0
        results.pipeline["vs_baseline"] = ratio
        checks.append(
            Check(
                "pipeline / naive loop",
                f"{ratio:.1f}x ({b['articles_per_s']:.1f} articles/s naive)",
                ">= 5x",
                ratio >= 5,
                speed_gate,
            )
        )
    if limit:
        checks.append(
            Check(
                "extraction only, 1 core",
                f"{limit['pages_per_s_one_core']:.1f} pages/s "
                f"(x{limit['cpus']} = {limit['pages_per_s_machine']:.1f})",
                "-",
                None,
            )
        )
    if limit.get("pages_per_s_all_cores_measured"):
        measured = limit["pages_per_s_all_cores_measured"]
        checks.append(
            Check(
                f"extraction only, {limit['cpus']} processes",
                f"{measured:.1f} pages/s (measured, each page once)",
                "-",
                None,
            )
        )
    if p and limit:
        share = p["articles_per_s"] / limit["pages_per_s_machine"]
        results.pipeline["share_of_extraction_limit"] = share
        measured = limit.get("pages_per_s_all_cores_measured")
        extra = (
            f" ({p['articles_per_s'] / measured:.0%} of the measured {limit['cpus']}-process rate)"
            if measured
            else ""
        )
        checks.append(
            Check("pipeline / extraction limit", f"{share:.0%}{extra}", ">= 70%", share >= 0.70, speed_gate)
        )
    checks += spread_checks(results.spread, results.machine["cpus"], speed_gate)
    if u:
        ok = u["first_poll"]["outcomes"].get("ok", 0)
        error = u["first_poll"]["first_error"]
        checks.append(
            Check(
                "one-entry feeds, first poll",
                f"{ok} / {u['feeds']} ok on {u['hosts']} hosts, "
                f"{u['first_poll_wall_s']:.1f}s" + (f"; {error[:80]}" if error else ""),
                "all ok",
                ok == u["feeds"],
            )
        )
        alone = u["first_poll_extraction_alone_s"]
        checks.append(
            Check(
                "first poll / extraction alone",
                f"{u['first_poll_wall_s'] / alone:.2f}x "
                f"({alone:.1f}s to extract its {u['feeds']} pages in {results.machine['cpus']} "
                f"processes{_before_after(u)}; poll CPU: workers {u['first_poll_cpu_workers_s']:.0f}s, waited "
                f"{u['first_poll_workers_waiting_for_cpu_s']:.0f}s, main "
                f"{u['first_poll_cpu_main_s']:.0f}s, web server {u['first_poll_cpu_server_s']:.0f}s; "
                f"PSS {u['first_poll_peak_pss_tree_mb']:.0f} MB)",
                "<= 1.5x",
                u["first_poll_wall_s"] <= 1.5 * alone,
                speed_gate,
            )
        )
        floor = (u["first_poll_cpu_workers_s"] + u["first_poll_cpu_main_s"]) / results.machine["cpus"]
        u["first_poll_cpu_floor_s"] = floor
        checks.append(
            Check(
                "first poll: CPU floor",
                f"its CPU (workers and main) on {results.machine['cpus']} cores takes {floor:.1f}s at least: "
                f"{floor / alone:.2f}x of extraction alone, however well the work overlaps",
                "-",
                None,
            )
        )
        all_304 = u["second_poll_statuses"].get("304", 0) == u["feeds"]
        checks.append(
            Check(
                "unchanged feeds all 304",
                f"{u['second_poll_statuses'].get('304', 0)} / {u['feeds']}",
                "all",
                all_304,
            )
        )
        s = u["settings"]
        checks.append(
            Check(
                f"second poll, {u['feeds']} unchanged feeds",
                f"{u['second_poll_wall_s']:.1f}s "
                f"(concurrency {s['concurrency']}, per_host {s['per_host']}, host_delay "
                f"{s['host_delay']}, {u['feeds_per_host']:.0f} feeds/host)",
                "< 10s",
                u["second_poll_wall_s"] < 10,
                speed_gate,
            )
        )
        if "ignored_validators_known_wall_s" in u:
            known, parsed = u["ignored_validators_known_wall_s"], u["ignored_validators_parsed_wall_s"]
            checks.append(
                Check(
                    f"{u['feeds']} unchanged feeds, validators ignored",
                    f"{u['ignored_validators_known_unchanged']} / {u['feeds']} known by their bytes in "
                    f"{known:.1f}s (main CPU {u['ignored_validators_known_cpu_main_s']:.1f}s) against "
                    f"{parsed:.1f}s read in full (main CPU {u['ignored_validators_parsed_cpu_main_s']:.1f}s)",
                    "all",
                    u["ignored_validators_known_unchanged"] == u["feeds"],
                )
            )
    for error in results.errors:
        checks.append(Check("error", error.splitlines()[0][:100], "none", False))
    return checks


def spread_checks(s: dict, cpus: int, speed_gate: bool) -> list[Check]:
    """The figures of the many-hosts run on default settings, each against its baseline of the same run."""
    if not s:
        return []
    name = f"{s['feeds']} hosts x {s['entries_per_feed']}, defaults"
    stored = s["stored"]["rows"]
    ok = s["outcomes"].get("ok", 0)
    checks = [
        Check(
            f"{name}: polled",
            f"{ok} / {s['feeds']} ok, {stored} / {s['expected_articles']} stored"
            + (f"; {s['first_error'][:80]}" if s["first_error"] else ""),
            "all",
            ok == s["feeds"] and stored == s["expected_articles"],
        ),
        Check(
            f"{name}: throughput",
            f"{s['articles_per_s']:.1f} articles/s ({stored} in {s['wall_s']:.1f}s; "
            f"concurrency {s['settings']['concurrency']}, per_host {s['settings']['per_host']}, host_delay "
            f"{s['settings']['host_delay']})",
            "-",
            None,
        ),
    ]
    measured = s["limit"].get("pages_per_s_all_cores_measured")
    if measured:
        share = s["articles_per_s"] / measured
        s["share_of_measured_extraction"] = share
        machine = s["limit"].get("pages_per_s_machine")
        extra = (
            f"; {s['articles_per_s'] / machine:.0%} of {cpus} x one core's {machine / cpus:.1f}"
            if machine
            else ""
        )
        checks.append(
            Check(
                f"{name}: / extraction, {cpus} processes",
                f"{share:.0%} of {measured:.1f} pages/s{_rates_around(s['limit'])}" + extra,
                ">= 70%",
                share >= 0.70,
                speed_gate,
            )
        )
    if measured and s.get("first_page_answer_s") is not None:
        checks.append(_polite_start(name, s, measured))
    if measured:
        checks.append(_cpu_floor(name, s, measured, cpus))
    if s["baseline"]:
        ratio = s["articles_per_s"] / s["baseline"]["articles_per_s"]
        s["vs_baseline"] = ratio
        checks.append(
            Check(
                f"{name}: / naive loop",
                f"{ratio:.1f}x ({s['baseline']['articles_per_s']:.1f} articles/s naive)",
                ">= 5x",
                ratio >= 5,
                speed_gate,
            )
        )
    busy = s["cpu_workers_s"] / (s["wall_s"] * cpus) if s["wall_s"] else 0.0
    checks.append(
        Check(
            f"{name}: memory, CPU",
            f"PSS {s['peak_pss_tree_mb']:.0f} MB; workers "
            f"{s['cpu_workers_s']:.0f}s ({busy:.0%} of {cpus} cores, waited "
            f"{s['workers_waiting_for_cpu_s']:.0f}s), main {s['cpu_main_s']:.0f}s, "
            f"server {s['cpu_server_s']:.0f}s",
            "< 400 MB PSS",
            s["peak_pss_tree_mb"] < 400,
        )
    )
    return checks


def _polite_start(name: str, s: dict, measured: float) -> Check:
    """How much of the run passed before any page could be extracted, and the share of the extraction rate
    that leaves at most: the run's articles extracted at the measured rate from the first page's answer on,
    with nothing else taking CPU. The start is the CLI's start-up, its first requests and the politeness
    (a host's first page ``host_delay`` after its feed); above this ceiling no saving after the start reaches."""
    extraction = s["expected_articles"] / measured
    ceiling = extraction / (s["first_page_answer_s"] + extraction)
    s["share_ceiling_after_start"] = ceiling
    first_feed = s.get("first_feed_request_s")
    return Check(
        f"{name}: polite start",
        (f"first feed asked {first_feed:.1f}s after launch, " if first_feed is not None else "")
        + f"first page answered at {s['first_page_answer_s']:.1f}s; with only extraction after it, "
        f"at most {ceiling:.0%} of the measured rate",
        "-",
        None,
    )


def _cpu_floor(name: str, s: dict, measured: float, cpus: int) -> Check:
    """The shortest the run could have been on this machine's cores with the CPU it used: its workers'
    extraction no sooner than the first page's answer, and the CLI's own work beside it. Above the share
    this leaves, no ordering of the work reaches: only less CPU does."""
    start = s.get("first_page_answer_s") or 0.0
    floor = max(start + s["cpu_workers_s"] / cpus, (s["cpu_workers_s"] + s["cpu_main_s"]) / cpus)
    ceiling = s["expected_articles"] / floor / measured
    s["share_ceiling_cpu"] = ceiling
    return Check(
        f"{name}: CPU floor",
        f"workers {s['cpu_workers_s']:.1f}s and main {s['cpu_main_s']:.1f}s of CPU on {cpus} cores take "
        f"{floor:.1f}s at least: at most {ceiling:.0%} of the measured rate",
        "-",
        None,
    )


def _before_after(u: dict) -> str:
    """When the first poll's extraction alone was measured on both sides of it: the two times."""
    if "first_poll_extraction_alone_before_s" not in u:
        return ""
    return (
        f", mean of {u['first_poll_extraction_alone_before_s']:.1f}s before the poll and "
        f"{u['first_poll_extraction_alone_after_s']:.1f}s after"
    )


def _rates_around(limit: dict) -> str:
    """When the extraction rate was measured on both sides of a poll: the two rates."""
    if "pages_per_s_before" not in limit:
        return ""
    return f" (mean time of {limit['pages_per_s_before']:.1f} before, {limit['pages_per_s_after']:.1f} after)"


def print_table(checks: list[Check]) -> None:
    rows = [("figure", "value", "target", "result")]
    for c in checks:
        result = "-" if c.passed is None else ("PASS" if c.passed else "FAIL") + ("" if c.gate else " (info)")
        rows.append((c.name, c.value, c.target, result))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    line = "-+-".join("-" * w for w in widths)
    print("\n" + " | ".join(cell.ljust(w) for cell, w in zip(rows[0], widths)))
    print(line)
    for row in rows[1:]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
