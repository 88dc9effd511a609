"""The web-page check of parse_feed must stay linear on hostile bodies (re holds the GIL)."""

import time

import pytest

from monitor.ingest.feeditems import NotAFeed
from monitor.ingest.parse import parse_feed


@pytest.mark.parametrize(
    "body",
    [
        b"<!---->" * 40 + b"x",  # 281 bytes: exponential backtracking over the leading comments
        b"<html>" + b"<title>" * 9300,  # quadratic search for </title> in 64 KB
    ],
)
def test_a_hostile_non_feed_is_refused_at_once(body):
    started = time.process_time()
    with pytest.raises(NotAFeed):
        parse_feed(body, url="https://hostile.example/feed")
    assert time.process_time() - started < 1.0
