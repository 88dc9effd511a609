"""A digest renamed with renamed_from while a delivery under its old name is still owed."""

from datetime import timedelta

from sqlalchemy import update
from support.digests import NOW
from support.smtp import SmtpServer
from test_digest import digest_config, seed

from monitor.config import load_config
from monitor.digest.runner import DigestRunner
from monitor.store.models import Delivery, DeliveryItem


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
        digest_config(tmp_path, smtp_port=smtp.port, name="daily", renamed_from=["morning"])
        [renamed] = load_config(tmp_path / "feeds.yaml").digests
        runner = DigestRunner(db, renamed, owner="t")
        outcomes = runner.retry_due(now=NOW + timedelta(minutes=20))
        outcomes += runner.run(period=NOW, now=NOW + timedelta(minutes=21))
        print([(o.status, o.articles) for o in outcomes])
        # What the old name owed must go out under the new one: never lost.
        assert len(smtp.messages) == 2, [(o.status, o.articles) for o in outcomes]
