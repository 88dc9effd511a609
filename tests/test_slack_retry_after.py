"""A 429's Retry-After from Slack (or a webhook receiver's), however it is written: whole seconds, an HTTP
date, or a number no one should wait for. The attempt backs off as long as asked (at most a day), sends the
message once per attempt, and never leaves the delivery stuck."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from support.digests import NOW
from support.httpserver import Route
from test_digest import _no_catch_up, digest_config  # noqa: F401 - the autouse fixture, as there
from test_notify_slack import drone_story, runner_for

from monitor.digest.notify.slack import retry_after_seconds
from monitor.store.models import Delivery


def test_retry_after_as_an_http_date_is_read_as_the_time_to_wait():
    now = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert retry_after_seconds("Mon, 07 Dec 2026 07:10:00 GMT", now=now) == 600
    assert retry_after_seconds("Mon, 07 Dec 2026 06:50:00 GMT", now=now) == 0  # already past
    assert retry_after_seconds("30", now=now) == 30
    assert retry_after_seconds("soon", now=now) == 1.0
    assert retry_after_seconds("nan", now=now) == 1.0
    assert retry_after_seconds("inf", now=now) == retry_after_seconds("99999999999", now=now) == 86_400


def test_a_429_with_an_http_date_is_waited_out_by_the_ledger_not_hammered(db, tmp_path, web):
    drone_story(db)
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=15), usegmt=True)
    web.set("/hooks/slack", Route(status=429, headers={"Retry-After": later}, body="rate_limited"))
    [outcome] = runner_for(db, tmp_path, slack_url=web.url("/hooks/slack")).run(period=NOW, now=NOW)
    assert outcome.status == "failed"
    assert outcome.next_attempt_at - NOW >= timedelta(minutes=14)
    assert len(web.requests_for("/hooks/slack")) == 1  # asked to wait 15 minutes: not asked again at once


@pytest.mark.parametrize("asked", ["99999999999", "1e400"])
def test_a_retry_after_past_any_sense_is_honoured_for_a_day_at_most(db, tmp_path, web, asked):
    drone_story(db)
    web.set("/hooks/slack", Route(status=429, headers={"Retry-After": asked}, body="rate_limited"))
    [outcome] = runner_for(db, tmp_path, slack_url=web.url("/hooks/slack")).run(period=NOW, now=NOW)
    assert outcome.status == "failed"
    assert timedelta(hours=1) < outcome.next_attempt_at - NOW <= timedelta(days=1, minutes=1)
    with db.session() as session:
        assert session.query(Delivery).one().status == "failed"  # not left "sending" by a crash


def test_a_webhook_receiver_asking_for_time_gets_it(db, tmp_path, web):
    drone_story(db)
    web.set("/hooks/json", Route(status=503, headers={"Retry-After": "1200"}, body="busy"))
    [outcome] = runner_for(db, tmp_path, webhook_url=web.url("/hooks/json")).run(period=NOW, now=NOW)
    assert outcome.status == "failed" and "503" in outcome.error
    assert outcome.next_attempt_at - NOW >= timedelta(minutes=20)
