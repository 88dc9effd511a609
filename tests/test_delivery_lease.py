"""A delivery's lease while its channel is still sending: renewed by the live sender, so a send that lasts
longer than the lease (Slack's 429s waited out message after message) is not taken for crashed by the
retry job that runs every minute beside it, nor sent a second time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from support.httpserver import Route
from test_digest import _no_catch_up, digest_config  # noqa: F401 - the autouse fixture, as there
from test_notify_slack import drone_story

from monitor.config import load_config
from monitor.digest.runner import DigestRunner
from monitor.store.models import Delivery


def test_a_send_that_outlasts_its_lease_is_not_taken_over_and_sent_again_beside_it(db, tmp_path, web):
    drone_story(db)
    # Rate-limited twice for 2 s each: the send takes 4 s, past its 3-second lease.
    limited = Route(status=429, headers={"Retry-After": "2"}, body="rate_limited")
    web.set_sequence("/hooks/slack", [limited, limited, Route(body="ok")])
    digest_config(tmp_path, slack_url=web.url("/hooks/slack"))
    runner = DigestRunner(
        db, load_config(tmp_path / "feeds.yaml").digests[0], owner="daemon", lease=timedelta(seconds=3)
    )
    now = datetime.now(UTC)
    outcomes = []
    sending = threading.Thread(target=lambda: outcomes.extend(runner.run(period=now, now=now)))
    sending.start()
    try:
        time.sleep(3.5)  # the lease the send began with has run out; the send goes on
        retried = runner.retry_due()  # the daemon's retry job, every minute, in another thread
    finally:
        sending.join(30)
    assert [o.status for o in outcomes] == ["sent"]
    assert [o for o in retried if o.status != "empty"] == []
    assert [r.status for r in web.requests_for("/hooks/slack")] == [429, 429, 200]  # posted once
    with db.session() as session:
        row = session.query(Delivery).one()
        assert (row.status, row.lease_owner, row.lease_until) == ("sent", None, None)
