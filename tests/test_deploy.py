"""The deployment files work as shipped: the systemd unit (checked by systemd-analyze where it is
installed) and the Dockerfile, each giving a stopping daemon more time than ``shutdown_grace``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from monitor.config import Settings
from monitor.config.durations import parse_duration

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "monitor.service"
DOCKERFILE = ROOT / "Dockerfile"
NOT_EXECUTABLE = "monitor.service: Command /opt/monitor/.venv/bin/monitor is not executable"
GRACE = Settings().shutdown_grace.total_seconds()


def _service_settings(text: str) -> dict[str, list[str]]:
    """The [Service] section's assignments, each key with every value it is given."""
    found: dict[str, list[str]] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_unit_runs_as_monitor_with_its_state_config_reload_and_stop_time():
    service = _service_settings(UNIT.read_text())
    assert service["User"] == ["monitor"] and service["Group"] == ["monitor"]
    assert service["StateDirectory"] == ["monitor"] and service["ConfigurationDirectory"] == ["monitor"]
    environment = dict(value.split("=", 1) for value in service["Environment"])
    assert (
        environment["MONITOR_DATABASE_URL"] == "sqlite:////var/lib/monitor/monitor.db"
    )  # the StateDirectory
    assert environment["MONITOR_CONFIG"].startswith("/etc/monitor/")  # the ConfigurationDirectory
    assert service["ExecStart"][0].endswith("/monitor run")
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert parse_duration(service["TimeoutStopSec"][0] + "s").total_seconds() > GRACE + 10
    assert service["KillSignal"] == ["SIGTERM"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing_but_the_missing_install(tmp_path):
    # As shipped: the only complaint allowed is that monitor is not installed on this machine.
    shipped = _verify(UNIT)
    problems = [
        line
        for line in (shipped.stdout + shipped.stderr).splitlines()
        if line.strip() and not line.startswith(NOT_EXECUTABLE)
    ]
    assert problems == [], shipped.stdout + shipped.stderr

    # With the ExecStart binary present (a stub), it verifies cleanly.
    stub = tmp_path / "bin" / "monitor"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / "monitor.service"
    unit.write_text(UNIT.read_text().replace("/opt/monitor/.venv/bin/monitor", str(stub)))
    checked = _verify(unit)
    assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), (
        checked.stdout + checked.stderr
    )


def test_the_dockerfile_checks_health_and_documents_a_stop_timeout_above_the_grace():
    text = DOCKERFILE.read_text()
    listen = re.search(r"MONITOR_LISTEN=\S*:(\d+)", text).group(1)
    health = re.search(r"^HEALTHCHECK .*$", text, re.M).group(0)
    assert f"127.0.0.1:{listen}/healthz" in health
    assert re.search(r"^STOPSIGNAL SIGTERM$", text, re.M) and re.search(r"^USER monitor$", text, re.M)
    readme = (ROOT / "README.md").read_text()
    for where in (text, readme):
        timeouts = [int(seconds) for seconds in re.findall(r"--stop-timeout (\d+)", where)]
        assert timeouts and all(seconds > GRACE + 10 for seconds in timeouts)
