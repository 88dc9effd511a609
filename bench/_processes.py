"""The ingest benchmark's view of processes: the real ``monitor`` CLI run as a subprocess group, and the
memory (PSS) and CPU of its whole process tree, read from /proc while it runs."""

from __future__ import annotations

import compileall
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


class BenchError(Exception):
    """A benchmark step could not run (not a missed target)."""


# The daemon under test talks to loopback "remote" sites: a proxy from the environment must not carry them.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _ppid_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children = _ppid_map()
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, ()))
    return found


_TICKS = os.sysconf("SC_CLK_TCK")


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _cpu_and_rss(pid: int) -> tuple[float, int]:
    """User + system CPU seconds a process has used so far, and its resident set in kB (0, 0 when gone).

    Both from one read of ``/proc/<pid>/stat``: the sampler reads it for every process of the tree ten
    times a second, on the cores being measured, and ``status`` (where VmRSS is) costs as much again.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS, int(fields[21]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0.0, 0


def _runqueue_wait_seconds(pid: int) -> float:
    """Time a process has spent ready to run but waiting for a CPU (other load on the machine)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def pss_kb(pid: int) -> int:
    """A process's proportional set size: its private pages, and its share of the pages it shares."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the resident memory of a process and its descendants every ``interval`` seconds.

    RSS and CPU every sample; the list of descendants and the CPU timeline every ``timeline_every``th
    (0.5 s). Everything read here is read on the cores being measured: a sample of a poll's tree took about
    1.5 ms of CPU with RSS read from ``status`` every 50 ms, 0.46 s of a 16 s many-hosts run.
    PSS (shared pages split between the processes sharing them) is read from smaps_rollup, a walk of every
    page table that costs about 4 ms a process of a few hundred MB: 15 ms a look at a poll's tree, taken
    from the cores being measured (1.5 s of a one-minute poll when it was read every half second). So it
    is read when the tree's resident memory passes by ``PSS_STEP`` the highest it had at a reading (a peak of
    PSS comes with one of RSS), and at least every ``pss_every``th sample (5 s) for what only PSS sees (pages
    a fork shared becoming private), but not within ``PSS_GAP`` samples of the last reading: a reading put
    off is taken as the gap ends, so the growth is still seen. A peak may so be missed by up to
    ``PSS_STEP`` of the tree's RSS.
    """

    PSS_STEP = 0.02
    PSS_GAP = 3  # samples at least between two readings for growth: a tree starting up grows in many steps

    def __init__(self, pid: int, interval: float = 0.1, timeline_every: int = 5, pss_every: int = 50) -> None:
        super().__init__(name=f"memory-{pid}", daemon=True)
        self.pid, self.interval = pid, interval
        self.timeline_every, self.pss_every = timeline_every, pss_every
        self.peak_tree_kb = self.peak_main_kb = self.peak_pss_kb = self.max_processes = self.samples = 0
        self.cpu: dict[int, float] = {}  # last CPU seconds seen per process of the tree
        self.waited: dict[int, float] = {}  # last run-queue wait seen per process
        self.timeline: list[tuple[float, float, float]] = []  # (seconds in, CPU of the CLI, of the rest)
        self._t0 = time.monotonic()
        self._halt = threading.Event()
        self._pids: list[int] = [pid]
        self._last_pss_sample = -pss_every
        self._rss_at_pss = 0  # the tree's highest RSS at a reading of PSS

    def run(self) -> None:
        while True:
            self.sample()
            if self._halt.wait(self.interval):
                return

    def sample(self) -> None:
        if self.samples % self.timeline_every == 0:  # new processes are rare: look for them now and then
            self._pids = descendants(self.pid)
        pids = self._pids
        read = {pid: _cpu_and_rss(pid) for pid in pids}
        rss = {pid: kb for pid, (_, kb) in read.items()}
        if not rss.get(self.pid):
            return  # gone
        self.samples += 1
        rss = {pid: kb for pid, kb in rss.items() if kb}  # a process that ended since the last look
        tree_kb = sum(rss.values())
        grown = tree_kb > self._rss_at_pss * (1 + self.PSS_STEP)
        self.peak_main_kb = max(self.peak_main_kb, rss[self.pid])
        self.peak_tree_kb = max(self.peak_tree_kb, tree_kb)
        since = self.samples - self._last_pss_sample
        if (grown and since >= self.PSS_GAP) or since >= self.pss_every:
            self._last_pss_sample, self._rss_at_pss = self.samples, max(self._rss_at_pss, tree_kb)
            self.peak_pss_kb = max(self.peak_pss_kb, sum(pss_kb(pid) for pid in pids))
        self.max_processes = max(self.max_processes, len([v for v in rss.values() if v]))
        for pid in pids:
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), read[pid][0])
            self.waited[pid] = max(self.waited.get(pid, 0.0), _runqueue_wait_seconds(pid))
        if (self.samples - 1) % self.timeline_every == 0:
            at = round(time.monotonic() - self._t0, 2)
            self.timeline.append((at, round(self.cpu_main, 2), round(self.cpu_others, 2)))

    @property
    def cpu_main(self) -> float:
        return self.cpu.get(self.pid, 0.0)

    @property
    def cpu_others(self) -> float:
        return sum(seconds for pid, seconds in self.cpu.items() if pid != self.pid)

    @property
    def waited_others(self) -> float:
        return sum(seconds for pid, seconds in self.waited.items() if pid != self.pid)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


@dataclass
class CliRun:
    args: list[str]
    wall: float
    returncode: int
    stdout: str
    peak_tree_mb: float = 0.0
    peak_main_mb: float = 0.0
    peak_pss_mb: float = 0.0
    max_processes: int = 0
    cpu_main_s: float = 0.0  # CPU time of the CLI process (as last sampled)
    cpu_children_s: float = 0.0  # of its descendants: extraction workers, forkserver
    waited_children_s: float = 0.0  # time they were ready to run but had no CPU
    cpu_timeline: list[tuple[float, float, float]] = field(default_factory=list)
    """Every half second: seconds since the start, CPU seconds of the CLI and of its descendants so far."""
    launched: float = 0.0  # time.monotonic() when the process was started, the clock of the server's log


@functools.cache
def compile_package() -> None:
    """Compile the bytecode of the ``monitor`` package the CLI will import, as installing it does.

    A source checkout gets its bytecode from the first run that may write it; with PYTHONDONTWRITEBYTECODE
    set no run may, and every start of the CLI (and of its extraction workers) compiled the package's modules
    from source again: about 0.13 s of CPU a start that no installed copy pays, counted in each poll timed.
    """
    import monitor

    compileall.compile_dir(Path(monitor.__file__).parent, quiet=1)


def monitor_command() -> list[str]:
    """The monitor CLI of the Python running this bench (its venv's script), else ``python -m monitor``."""
    script = Path(sys.executable).with_name("monitor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def _kill_group(pgid: int) -> None:
    """Stop the process group this bench started (the CLI and its extraction workers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(0.5)


def run_monitor(
    workdir: Path,
    config: Path,
    db_url: str,
    args: list[str],
    *,
    timeout: float,
    label: str,
    sample: bool = False,
) -> CliRun:
    """Run ``monitor --config config --db db_url ARGS`` with a deadline; stderr goes to a log file."""
    compile_package()
    command = [*monitor_command(), "--config", str(config), "--db", db_url, *args]
    log_path = workdir / f"{label}.stderr.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in PROXY_VARIABLES and k not in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL")
    }
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        launched = time.monotonic()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
        memory = TreeMemory(process.pid) if sample else None
        if memory:
            memory.start()
        try:
            stdout, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.communicate()
            raise BenchError(
                f"{label}: monitor {' '.join(args)} did not finish in {timeout:.0f}s (log: {log_path})"
            ) from None
        finally:
            if memory:
                memory.stop()
            if process.poll() is None:
                _kill_group(process.pid)
        wall = time.perf_counter() - started
    # Workers left behind by a crash would skew later steps: make sure the group is gone.
    _kill_group(process.pid)
    run = CliRun(args, wall, process.returncode, stdout.decode("utf-8", "replace"), launched=launched)
    if memory:
        run.peak_tree_mb, run.peak_main_mb = memory.peak_tree_kb / 1024, memory.peak_main_kb / 1024
        run.peak_pss_mb, run.max_processes = memory.peak_pss_kb / 1024, memory.max_processes
        run.cpu_main_s, run.cpu_children_s = memory.cpu_main, memory.cpu_others
        run.cpu_timeline = memory.timeline
        run.waited_children_s = memory.waited_others
    if process.returncode not in (0, 1):  # 1: every feed failed, which the checks below report
        tail = log_path.read_text(errors="replace")[-3000:]
        raise BenchError(f"{label}: monitor {' '.join(args)} exited {process.returncode}:\n{tail}")
    return run


def write_config(
    path: Path,
    feed_urls: list[str],
    *,
    concurrency: int | None,
    per_host: int | None,
    host_delay: float | None,
    workers: int | None,
    timeout: float = 30.0,
    dedup: bool = True,
) -> dict:
    """A config polling ``feed_urls``; a politeness setting given as None is left to monitor's default."""
    settings = {
        "concurrency": concurrency,
        "per_host": per_host,
        "host_delay": None if host_delay is None else f"{host_delay * 1000:g}ms",
        "timeout": f"{timeout:g}s",
        "max_entries_per_poll": 1000,
        "contact": "bench@localhost",
    }
    settings = {key: value for key, value in settings.items() if value is not None}
    if workers is not None:
        settings["extract_workers"] = workers
    feeds = [{"name": f"feed-{i:05d}", "url": url} for i, url in enumerate(feed_urls)]
    document = {"settings": settings, "feeds": feeds}
    if not dedup:
        document["dedup"] = {"enabled": False}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return settings


def poll_reports(run: CliRun) -> list[dict]:
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"monitor poll --json printed no JSON ({exc}): {run.stdout[:500]!r}") from None


def outcome_summary(reports: list[dict]) -> dict:
    """Feeds per outcome, and the first error met (a broken run should say why)."""
    outcomes: dict[str, int] = {}
    for report in reports:
        outcomes[report["outcome"]] = outcomes.get(report["outcome"], 0) + 1
    errors = [f"{r['feed']}: {r.get('error_kind')}: {r.get('error')}" for r in reports if r.get("error")]
    return {"outcomes": outcomes, "errors": len(errors), "first_error": errors[0][:300] if errors else None}
