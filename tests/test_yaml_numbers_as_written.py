"""Numbers in feeds.yaml mean what they show: YAML 1.1 reads 025 as octal 21, 1:30 as 90 (base 60), and
1.10 as 1.1; the reader hands such values on as written, so that a number field reads them in decimal (or
reports them) and a text field keeps them."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import Config, ConfigError, ConfigProblem, load_config
from monitor.watchlist.model import watchlist_section

FEED = """
feeds:
  - name: A
    url: http://127.0.0.1:9/a.xml
"""


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "feeds.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_config(path, {})


def only_problem(tmp_path: Path, text: str) -> ConfigProblem:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert len(caught.value.problems) == 1, str(caught.value)
    return caught.value.problems[0]


def test_a_number_with_a_leading_zero_is_decimal(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        FEED
        + """
settings:
  timeout: 012
digests:
  - name: morning
    channels:
      email: {host: 127.0.0.1, port: 025, from: a@example.org, to: [b@example.org]}
""",
    )
    assert config.settings.timeout == timedelta(seconds=12)  # not octal 10
    assert config.digests[0].channels.email is not None
    assert config.digests[0].channels.email.port == 25  # not octal 21


def test_names_and_tags_keep_the_digits_written(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
feeds:
  - name: 007
    url: http://127.0.0.1:9/a.xml
    tags: [1.10, 2.50, 0x1F, .inf, 10:30]
watchlist:
  topics:
    - name: 1.10
      query: iran
""",
    )
    assert config.feeds[0].name == "007"
    assert config.feeds[0].tags == ("1.10", "2.50", "0x1F", ".inf", "10:30")
    assert [topic.name for topic in watchlist_section(config).topics] == ["1.10"]


def test_a_duration_written_as_a_clock_is_an_error_with_units_to_write(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, FEED + "settings:\n  interval: 1:30\n")
    assert (problem.line, problem.key) == (5, "settings.interval")
    assert "invalid duration '1:30'" in problem.message  # not 90 seconds, silently
    assert problem.hint is not None and "1h30m" in problem.hint and "1m30s" in problem.hint


def test_a_schedule_written_as_a_time_of_day_names_its_cron(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, FEED + "digests:\n  - name: morning\n    schedule: 8:30\n")
    assert "'8:30'" in problem.message  # as written, not as 510
    assert problem.hint is not None and "'30 8 * * *'" in problem.hint


def test_plain_numbers_are_still_numbers(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        FEED
        + """
settings:
  timeout: 30
  host_delay: 1.5
  max_bytes: 1.0e+7
  max_redirects: 3
  min_body_chars: 1_000
dedup:
  wire_threshold: 0.50
""",
    )
    settings = config.settings
    assert (settings.timeout, settings.host_delay) == (timedelta(seconds=30), timedelta(seconds=1.5))
    assert (settings.max_bytes, settings.max_redirects, settings.min_body_chars) == (10_000_000, 3, 1000)
    assert config.dedup.wire_threshold == 0.5
