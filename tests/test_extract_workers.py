"""The extraction workers: forked from a server that holds trafilatura and nothing of the CLI, recycled."""

from __future__ import annotations

import asyncio
import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest
from support.news import article_html, paragraphs_for
from support.worker_probe import worker_state

from monitor.pipeline import ExtractionFailed, Extractor
from monitor.runtime.metrics import PrometheusMetrics


def test_workers_extract_carry_no_cli_and_are_recycled(monkeypatch):
    monkeypatch.setattr(Extractor, "RECYCLE_AFTER", 2)
    html = article_html("Talks resume", paragraphs_for("talks")).encode()

    async def scenario():
        extractor = Extractor(1)
        try:
            page = await extractor.extract(html, "https://news.example/talks")  # task 1
            loop = asyncio.get_running_loop()
            states = [
                await loop.run_in_executor(extractor._pool, worker_state) for _ in range(3)
            ]  # tasks 2-4
            return page, states
        finally:
            extractor.close()

    page, states = asyncio.run(scenario())
    assert page is not None and "talks" in page.text.lower()
    assert not any(carries_cli or carries_db for _, carries_cli, carries_db in states)
    pids = [pid for pid, _, _ in states]
    assert os.getpid() not in pids
    # Tasks 1 and 2 ran in one worker, which was then retired; tasks 3 and 4 ran in its replacement.
    assert pids[1] == pids[2] != pids[0]


def test_the_console_script_module_imports_no_cli():
    """multiprocessing runs the parent's main script again in every worker it starts: the script's own
    imports must stay light, or each extraction worker would load the whole CLI."""
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    module, _, function = project["project"]["scripts"]["monitor"].partition(":")
    probe = (
        f"import sys, {module}; callable({module}.{function}) or sys.exit(3); "
        "sys.exit(4 if 'monitor.cli' in sys.modules or 'sqlalchemy' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", probe], timeout=60).returncode == 0


def test_version_flag_answers_without_a_command():
    import subprocess
    import sys

    from monitor import __version__

    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == f"monitor {__version__}"


def test_a_worker_that_ends_is_replaced_and_its_pages_extracted_again():
    # Killed by the operator or the kernel's OOM killer, or crashed in native code: a worker that ends breaks
    # its whole pool, and every later page failed with it for as long as the daemon ran.
    html = article_html("Talks resume", paragraphs_for("talks")).encode()

    async def scenario():
        extractor = Extractor(1)
        try:
            first = await extractor.extract(html, "https://news.example/one")
            for pid in list(extractor._pool._processes):
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.2)
            second = await extractor.extract(html, "https://news.example/two")
            third = await extractor.extract(html, "https://news.example/three")
            return first, second, third
        finally:
            extractor.close()

    pages = asyncio.run(scenario())
    assert all(page is not None and "talks" in page.text.lower() for page in pages)


def test_a_page_whose_workers_end_twice_is_given_up_with_a_reason(monkeypatch):
    class EndsUnderEveryPage:
        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("a child process terminated abruptly")

        def shutdown(self, *args, **kwargs):
            pass

    started = []

    def start(self):
        started.append(EndsUnderEveryPage())
        self._pool = started[-1]
        return self._pool

    monkeypatch.setattr(Extractor, "start", start)
    with pytest.raises(ExtractionFailed, match="ended 2 times"):
        asyncio.run(Extractor(2).extract(b"<html></html>", "https://news.example/bad"))
    assert len(started) == 2  # the broken pool was replaced once


def test_a_page_still_extracting_after_the_timeout_is_given_up_and_the_others_extracted(monkeypatch):
    # A page that made the extractor loop held its worker for good, and after a few such pages every worker.
    from monitor import pipeline

    html = article_html("Talks resume", paragraphs_for("talks")).encode()
    long_html = article_html("Talks resume", paragraphs_for("talks", 15_000)).encode()

    metrics = PrometheusMetrics()
    # Both reasons are at 0 before any restart: an alert on their increase has a series from the start.
    assert metrics.registry.get_sample_value("monitor_extraction_restarts_total", {"reason": "timeout"}) == 0
    assert metrics.registry.get_sample_value("monitor_extraction_restarts_total", {"reason": "ended"}) == 0

    async def scenario():
        extractor = Extractor(1, metrics=metrics)
        try:
            await extractor.extract(html, "https://news.example/warm")  # the workers are up
            # A page of 15,000 paragraphs (4 MB) takes a second or more to extract, ten times the timeout: on a
            # busy machine both slow down, where a short page against a timeout of a millisecond could win.
            monkeypatch.setattr(pipeline, "EXTRACT_TIMEOUT", 0.1)
            slow = extractor.extract(long_html, "https://news.example/slow")
            with pytest.raises(ExtractionFailed, match="longer than"):
                await slow
            monkeypatch.setattr(pipeline, "EXTRACT_TIMEOUT", 120.0)
            return await extractor.extract(html, "https://news.example/next")
        finally:
            extractor.close()

    page = asyncio.run(scenario())
    assert page is not None and "talks" in page.text.lower()
    restarts = metrics.registry.get_sample_value("monitor_extraction_restarts_total", {"reason": "timeout"})
    assert restarts == 1
