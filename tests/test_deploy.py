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


RULES = ROOT / "deploy" / "prometheus-rules.yml"


def _exposed_names(db) -> dict[str, set[str]]:
    """Every series name a daemon's /metrics can carry (a counter's ``_total``, a histogram's ``_bucket``,
    ``_sum`` and ``_count``), with the label names each has, from a registry wired as the daemon wires it."""
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.daemon.scheduler import _feed_schedule, _owed
    from monitor.runtime.metrics import PrometheusMetrics

    metrics = PrometheusMetrics(
        database_size=lambda: 0,
        deliveries_owed=lambda: _owed(db),
        feed_schedule=lambda: _feed_schedule(db),
        database_failing=lambda: False,
        disk_free=lambda: 0,
    )
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.exposition()[0].decode()):
        labels = {label for sample in family.samples for label in sample.labels} - {"le"}
        for suffix in ("", "_total", "_bucket", "_sum", "_count"):
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def test_the_alert_rules_parse_and_name_only_what_the_daemon_exposes(db):
    """The shipped alert rules are a Prometheus rule file whose expressions parse, and every series and
    label they select is one a daemon serves: a metric renamed without its rule would alert on nothing."""
    import promql_parser
    import yaml

    exposed = _exposed_names(db)
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 8 and len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["labels"]["severity"] in {"page", "warn", "info"}
        if "for" in rule:
            parse_duration(rule["for"])
        promql_parser.parse(rule["expr"])  # raises on a syntax error
        selectors = re.findall(r"\b(monitor_[a-z_]+)(?:\{([^}]*)\})?", rule["expr"])
        assert selectors, rule["alert"]
        for name, matchers in selectors:
            assert name in exposed, f"{rule['alert']}: {name} is not served"
            for label in re.findall(r"(\w+)\s*=~?", matchers):
                assert label in exposed[name], f"{rule['alert']}: {name} has no label {label}"


def test_an_unknown_metric_in_a_rule_is_caught(db):
    exposed = _exposed_names(db)
    assert (
        "monitor_news_delay_seconds_bucket" in exposed
        and "via" in exposed["monitor_news_delay_seconds_bucket"]
    )
    assert "monitor_news_delay_bucket" not in exposed  # a misspelling the rule test would name
