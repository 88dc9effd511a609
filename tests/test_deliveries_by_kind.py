"""After a breaking-news day the ledger holds an alert a minute: `monitor deliveries --kind digest` still shows
whether the scheduled digests went out (and why one failed), `--kind alert` the alerts alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.store.db import open_database
from monitor.store.models import Delivery

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def test_deliveries_of_one_kind_are_listed_past_a_burst_of_the_other(workspace):
    workspace.write_config([])
    db = open_database(workspace.database_url)
    with db.session() as session:
        session.add(
            Delivery(
                digest="desk",
                kind="digest",
                channel="slack",
                period=NOW - timedelta(hours=2),
                status="failed",
                created_at=NOW - timedelta(hours=2),
                attempts=3,
                error="Slack answered 400 to message 1/2: 'invalid_blocks'",
            )
        )
        session.add_all(
            Delivery(
                digest="desk",
                kind="alert",
                channel="slack",
                period=NOW - timedelta(minutes=m),
                status="sent",
                created_at=NOW - timedelta(minutes=m),
                sent_at=NOW - timedelta(minutes=m),
            )
            for m in range(100)
        )
    db.dispose()

    assert {d["kind"] for d in workspace.json("deliveries")} == {"alert"}  # the latest 50: all alerts
    [digest] = workspace.json("deliveries", "--kind", "digest")
    assert (digest["kind"], digest["status"]) == ("digest", "failed")
    assert "invalid_blocks" in workspace.cli("deliveries", "--kind", "digest").stdout
    alerts = workspace.json("deliveries", "--kind", "alert", "--digest", "desk", "--limit", "0")
    assert len(alerts) == 100 and {d["kind"] for d in alerts} == {"alert"}
    refused = workspace.cli("deliveries", "--kind", "alerts", expect=2)
    assert "digest" in refused.stderr and "alert" in refused.stderr
