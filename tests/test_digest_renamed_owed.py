"""A digest renamed (``renamed_from``) while a delivery under its old name is owed: the renamed digest
retries it (or carries its articles and supersedes it), so nothing stays owed under a name no digest has."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import delete, select, update
from support.digests import NOW
from support.smtp import SmtpServer
from test_digest import digest_config, seed

from monitor.config import load_config
from monitor.digest.runner import DigestRunner
from monitor.store import deliveries as ledger
from monitor.store.models import Delivery, DeliveryItem, DeliveryRecipient


def _owed(db) -> list[tuple[str, str]]:
    with db.session() as session:
        return [
            (row.digest, row.status)
            for row in session.scalars(select(Delivery).where(Delivery.status.in_(ledger.OWED)))
        ]


def test_a_failed_delivery_under_the_old_name_is_carried_by_the_renamed_digest(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        smtp.reject_with = "451 4.3.0 try again later"
        digest_config(tmp_path, smtp_port=smtp.port)
        [first] = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="t").run(
            period=NOW - timedelta(hours=1), now=NOW - timedelta(hours=1)
        )
        assert first.status == "failed"
        smtp.reject_with = None
        digest_config(tmp_path, smtp_port=smtp.port, name="daily", renamed_from=["morning"])
        renamed = load_config(tmp_path / "feeds.yaml").digests[0]
        DigestRunner(db, renamed, owner="t").run(period=NOW, now=NOW)
        assert len(smtp.messages) == 1
        assert _owed(db) == []


def test_an_unconfirmed_delivery_under_the_old_name_is_retried_by_the_renamed_digest(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        smtp.drop_after_data = 1
        digest_config(tmp_path, smtp_port=smtp.port)
        [first] = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="t").run(
            period=NOW - timedelta(hours=1), now=NOW - timedelta(hours=1)
        )
        assert first.status == "failed" and _owed(db) == [("morning", "unconfirmed")]
        digest_config(tmp_path, smtp_port=smtp.port, name="daily", renamed_from=["morning"])
        renamed = load_config(tmp_path / "feeds.yaml").digests[0]
        DigestRunner(db, renamed, owner="t").retry_due(now=NOW)
        assert len(smtp.messages) == 2  # the retry, under the same Message-ID
        assert smtp.messages[0]["Message-ID"] == smtp.messages[1]["Message-ID"]
        assert _owed(db) == []


def test_a_delivery_left_sending_under_the_old_name_still_goes_out(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        digest_config(tmp_path, smtp_port=smtp.port)
        [first] = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="t").run(
            period=NOW - timedelta(hours=1), now=NOW
        )
        assert first.status == "sent" and len(smtp.messages) == 1
        # As if the process died after claiming the delivery, before the channel took it: its lease ran out.
        with db.session() as session:
            session.execute(
                update(Delivery).values(
                    status="sending",
                    sent_at=None,
                    lease_owner="dead:1",
                    lease_until=NOW - timedelta(minutes=1),
                )
            )
            session.execute(update(DeliveryItem).values(delivered_at=None))
            session.execute(delete(DeliveryRecipient))
        digest_config(tmp_path, smtp_port=smtp.port, name="daily", renamed_from=["morning"])
        [renamed] = load_config(tmp_path / "feeds.yaml").digests
        runner = DigestRunner(db, renamed, owner="t")
        outcomes = runner.retry_due(now=NOW + timedelta(minutes=20))
        outcomes += runner.run(period=NOW, now=NOW + timedelta(minutes=21))
        # What the old name owed must go out under the new one: never lost.
        assert len(smtp.messages) == 2, [(o.status, o.articles) for o in outcomes]


def test_deliveries_of_a_renamed_digest_list_those_under_its_old_name(workspace):
    from monitor.store.db import open_database

    db = open_database(workspace.database_url)
    seed(db)
    db.dispose()
    with SmtpServer() as smtp:
        digest_config(workspace.root, smtp_port=smtp.port)
        workspace.cli("digest", "morning", "--send-now")
        digest_config(workspace.root, smtp_port=smtp.port, name="daily", renamed_from=["morning"])
        listed = json.loads(workspace.cli("deliveries", "--digest", "daily", "--json").stdout)
    assert [(d["digest"], d["status"]) for d in listed] == [("morning", "sent")]
