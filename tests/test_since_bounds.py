"""``--since`` reaching back before the year 1 is a wrong value, said as one (exit 2), never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.config.durations import parse_since
from monitor.config.errors import InvalidValue

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["9999999d", "2000000w", "0001-01-01T00:00+05:00"])
def test_a_moment_before_the_year_1_is_an_invalid_value(value):
    with pytest.raises(InvalidValue, match="before the year 1"):
        parse_since(value, NOW)


def test_the_oldest_moments_that_exist_are_still_read():
    assert parse_since("0001-01-01", NOW) == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_since("700000d", NOW).year == 110


@pytest.mark.parametrize(
    "command",
    [
        ["articles"],
        ["stories"],
        ["matches"],
        ["deliveries"],
        ["retag"],
        ["watchlist", "backtest"],
    ],
)
def test_listing_commands_refuse_it_in_one_line(workspace, command):
    workspace.write_config([{"name": "Wire", "url": "http://127.0.0.1:9/feed.xml"}])
    result = workspace.cli(*command, "--since", "9999999d", expect=2)
    assert "before the year 1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not isinstance(result.exception, OverflowError)
