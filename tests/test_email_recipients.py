"""An email digest to several recipients, each followed on its own: one the server puts off at RCPT (4xx) gets
the message the others took on the delivery's retries, alone; one it refuses for good (5xx) is recorded,
shown and not tried again; the others never get it twice, across retries, later mornings and a sender killed
mid-send. A digest every recipient refuses is a failed delivery, tried again for all."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from support.digests import NOW, Copy, add_story
from support.smtp import SmtpServer, email_channel
from support.waiting import wait_for
from test_digest import seed

from monitor.config import load_config
from monitor.digest import runner as runner_module
from monitor.digest.runner import DigestRunner, alert_period, period_of
from monitor.store import deliveries as ledger
from monitor.store.db import open_database
from monitor.store.models import Delivery, DeliveryRecipient

ANA, BUSY, GONE = "ana@monitor.test", "busy@monitor.test", "gone@monitor.test"
PUT_OFF, UNKNOWN = "452 4.2.2 mailbox busy", "550 5.1.1 no such user"


@pytest.fixture(autouse=True)
def _no_catch_up(monkeypatch):
    # Only the periods the tests name: no scheduled run the wall clock puts between them is made late.
    monkeypatch.setattr(runner_module, "CATCH_UP_WITHIN", timedelta(0))


def write_config(root, port: int, *to: str, **extra) -> None:
    digest = {
        "name": "morning",
        "schedule": "0 7 * * *",
        "timezone": "Europe/Berlin",
        "channels": {"email": email_channel(port, *to)},
        **extra,
    }
    (root / "feeds.yaml").write_text(yaml.safe_dump({"feeds": [], "digests": [digest]}, allow_unicode=True))


def runner_for(db, root, port: int, *to: str, **extra) -> DigestRunner:
    write_config(root, port, *to, **extra)
    return DigestRunner(db, load_config(root / "feeds.yaml").digests[0], owner="test")


def recipients(db) -> dict[str, str]:
    """The first delivery's recipients and what became of each."""
    with db.session() as session:
        first = session.scalars(select(Delivery.id).order_by(Delivery.id).limit(1)).one()
        return {r.address: r.status for r in ledger.recipients(session, delivery_id=first)}


def statuses(db) -> list[str]:
    with db.session() as session:
        return [row.status for row in session.query(Delivery).order_by(Delivery.id)]


def test_a_recipient_put_off_gets_the_same_message_on_a_retry_and_no_one_gets_it_twice(db, tmp_path, caplog):
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp.port, ANA, BUSY, GONE)
        smtp.refuse.update({BUSY: PUT_OFF, GONE: UNKNOWN})
        period = period_of(runner.digest, NOW)
        [first] = runner.run(period=period, now=NOW)
        assert first.status == "failed" and "busy@monitor.test: 452 4.2.2 mailbox busy" in first.error
        assert [len(smtp.received_by(a)) for a in (ANA, BUSY, GONE)] == [1, 0, 0]
        assert recipients(db) == {ANA: "accepted", BUSY: "deferred", GONE: "refused"}
        assert "refused gone@monitor.test for good (550 5.1.1 no such user)" in caplog.text

        # Still busy at the retry. The next morning does not carry the first one's stories again, nor take its
        # place (what the first owes is its message, to one recipient): it brings its own news.
        [again] = runner.retry_due(now=NOW + timedelta(minutes=2))
        assert again.status == "failed" and "put off 1 of 3 recipients" in again.error
        with db.session() as session:
            add_story(
                session,
                title="Tehran confirms a second shipment",
                body="Tehran confirmed a second shipment of missiles on Tuesday.",
                terms=["missiles"],
                score=9.0,
                copies=[Copy("Daily Two", "https://two.test/b/7")],
            )
        [retry, next_day] = runner.run(period=period + timedelta(days=1), now=NOW + timedelta(days=1))
        assert (retry.status, next_day.status) == ("failed", "failed") and next_day.stories == 1
        assert statuses(db) == ["failed", "failed"]

        del smtp.refuse[BUSY]
        assert [o.status for o in runner.retry_due(now=NOW + timedelta(days=2))] == ["sent", "sent"]
        assert runner.retry_due(now=NOW + timedelta(days=3)) == []
        [empty] = runner.run(period=period + timedelta(days=2), now=NOW + timedelta(days=2, minutes=1))
        assert empty.status == "empty"
    first_to_ana, second_to_ana = smtp.received_by(ANA)
    first_to_busy, second_to_busy = smtp.received_by(BUSY)
    assert smtp.received_by(GONE) == []
    assert [envelope[1] for envelope in smtp.keeper.envelopes] == [(ANA,), (ANA,), (BUSY,), (BUSY,)]
    # The very messages the others took: their ids, dates and text.
    assert first_to_busy.as_bytes() == first_to_ana.as_bytes()
    assert second_to_busy.as_bytes() == second_to_ana.as_bytes()
    assert "second shipment" not in first_to_ana.get_body(("plain",)).get_content()
    assert statuses(db) == ["sent", "sent", "empty"]
    assert recipients(db) == {ANA: "accepted", BUSY: "accepted", GONE: "refused"}


def test_a_digest_every_recipient_refuses_fails_and_goes_to_all_once_the_server_takes_them(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp.port, ANA, GONE)
        smtp.refuse.update({ANA: UNKNOWN, GONE: UNKNOWN})
        [first] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
        assert first.status == "failed" and "every recipient refused" in first.error
        assert smtp.messages == []
        # Refused for good by a server that took no one: its rules (a relay's) may be mended, so tried again.
        smtp.refuse.clear()
        [retried] = runner.retry_due(now=NOW + timedelta(minutes=2))
        assert retried.status == "sent", retried.error
    assert smtp.keeper.envelopes == [("digest@monitor.test", (ANA, GONE))]


def test_a_server_that_takes_the_recipients_and_fails_the_message_sends_it_to_all_at_the_retry(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp.port, ANA, BUSY)
        smtp.reject_with = "451 4.3.0 try again later"
        [first] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
        assert first.status == "failed" and "451 4.3.0" in first.error
        assert recipients(db) == {}
        smtp.reject_with = None
        [retried] = runner.retry_due(now=NOW + timedelta(minutes=2))
        assert retried.status == "sent", retried.error
    assert smtp.keeper.envelopes == [("digest@monitor.test", (ANA, BUSY))]


def test_an_address_listed_twice_in_any_case_or_with_a_name_gets_one_copy(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(
            db, tmp_path, smtp.port, ANA, "Ana Lima <ANA@Monitor.Test>", "bo@monitor.test", ANA
        )
        [outcome] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
        assert outcome.status == "sent", outcome.error
    [message] = smtp.messages
    assert smtp.keeper.envelopes[0][1] == (ANA, "bo@monitor.test")
    assert message["To"] == "ana@monitor.test, bo@monitor.test"


@pytest.mark.parametrize("smtputf8", [True, False], ids=["server-with-smtputf8", "server-without"])
def test_an_address_in_non_ascii_characters(db, tmp_path, smtputf8):
    # Without SMTPUTF8 the server cannot be given it: that one recipient is refused for good, not the digest.
    seed(db)
    with SmtpServer(smtputf8=smtputf8) as smtp:
        runner = runner_for(db, tmp_path, smtp.port, "Анна <анна@monitor.test>", "bo@monitor.test")
        [outcome] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
        assert outcome.status == "sent", outcome.error
        assert runner.retry_due(now=NOW + timedelta(minutes=2)) == []
    assert len(smtp.received_by("bo@monitor.test")) == 1
    assert len(smtp.received_by("анна@monitor.test")) == (1 if smtputf8 else 0)
    if not smtputf8:
        assert recipients(db)["анна@monitor.test"] == "refused"


def test_deliveries_show_each_recipient_refused(workspace):
    db = open_database(workspace.database_url)
    seed(db)
    with SmtpServer() as smtp:
        write_config(workspace.root, smtp.port, ANA, BUSY, GONE)
        smtp.refuse.update({BUSY: PUT_OFF, GONE: UNKNOWN})
        workspace.cli("digest", "morning", "--send-now", expect=1)
    db.dispose()
    listing = workspace.cli("deliveries").stdout
    assert "deferred morning email" in listing and "busy@monitor.test: 452 4.2.2 mailbox busy" in listing
    assert "its retries send it to this recipient alone" in listing
    assert "refused morning email" in listing and "gone@monitor.test: 550 5.1.1 no such user" in listing
    [record] = json.loads(workspace.cli("deliveries", "--json").stdout)
    assert [(r["address"], r["status"], r["reply"]) for r in record["recipients"]] == [
        (ANA, "accepted", None),
        (BUSY, "deferred", PUT_OFF),
        (GONE, "refused", UNKNOWN),
    ]


def test_deliveries_say_a_recipient_put_off_with_everyone_else_waits_for_a_retry_to_all(workspace):
    db = open_database(workspace.database_url)
    seed(db)
    with SmtpServer() as smtp:
        write_config(workspace.root, smtp.port, ANA, BUSY)
        smtp.refuse.update({ANA: PUT_OFF, BUSY: PUT_OFF})
        workspace.cli("digest", "morning", "--send-now", expect=1)
    db.dispose()
    listing = workspace.cli("deliveries").stdout
    assert "recipient alone" not in listing
    assert listing.count("as were the others: its retries go to all") == 2, listing


def test_a_sender_killed_while_sending_to_the_one_put_off_repeats_it_to_that_one_alone(workspace):
    # The first morning reaches Ana; Bo is put off. The retry's sender is killed (SIGKILL) while the server
    # holds its message unanswered: the message may have arrived, and the next run sends it again, to Bo
    # alone, under the same Message-ID. Ana never gets it twice.
    db = open_database(workspace.database_url)
    seed(db)
    with SmtpServer() as smtp:
        write_config(workspace.root, smtp.port, ANA, BUSY)
        smtp.refuse[BUSY] = PUT_OFF
        workspace.cli("digest", "morning", "--send-now", expect=1)
        del smtp.refuse[BUSY]
        with db.session() as session:  # the retry is due now, not in a minute
            session.execute(update(Delivery).values(next_attempt_at=NOW - timedelta(minutes=1)))
        smtp.holding = True
        sender = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workspace.config_path), "--db"]
            + [workspace.database_url, "digest", "morning", "--send-now"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_for(lambda: len(smtp.messages) == 2, timeout=60)
        finally:
            sender.kill()
            sender.wait()
        smtp.holding = False
        workspace.cli("digest", "morning", "--send-now")
        workspace.cli("digest", "morning", "--send-now")
    assert statuses(db) == ["sent", "empty", "empty"]
    db.dispose()
    [to_ana] = smtp.received_by(ANA)
    to_bo = smtp.received_by(BUSY)
    assert len(to_bo) == 2
    assert {message["Message-ID"] for message in to_bo} == {to_ana["Message-ID"]}
    assert [envelope[1] for envelope in smtp.keeper.envelopes] == [(ANA,), (BUSY,), (BUSY,)]


def test_a_second_instance_leaves_the_retry_to_the_one_put_off_to_the_instance_sending_it(db, tmp_path):
    # Two daemons share the ledger: while one sends the kept message to the recipient put off (the server
    # holding its answer), the other's retry finds the delivery leased, and sends nothing beside it.
    seed(db)
    with SmtpServer() as smtp:
        one = runner_for(db, tmp_path, smtp.port, ANA, BUSY)
        other = DigestRunner(db, one.digest, owner="other")
        smtp.refuse[BUSY] = PUT_OFF
        one.run(period=period_of(one.digest, NOW), now=NOW)
        del smtp.refuse[BUSY]
        smtp.holding = True
        later = NOW + timedelta(minutes=5)
        with ThreadPoolExecutor(1) as pool:
            sending = pool.submit(one.retry_due, now=later)
            assert wait_for(lambda: len(smtp.messages) == 2, timeout=30)
            assert other.retry_due(now=later) == []
            smtp.holding = False
            [outcome] = sending.result()
        assert outcome.status == "sent", outcome.error
        assert other.retry_due(now=later + timedelta(hours=1)) == []
    assert [envelope[1] for envelope in smtp.keeper.envelopes] == [(ANA,), (BUSY,)]


def recording_fails_once(monkeypatch) -> None:
    """The database fails the first time a delivery's recipients are recorded (a connection closed)."""
    real_record = ledger.record_recipients
    blinks = iter([True])

    def record_once_unavailable(session, **kwargs):
        if next(blinks, False):
            raise OperationalError(
                "INSERT INTO delivery_recipients", {}, Exception("server closed the connection")
            )
        return real_record(session, **kwargs)

    monkeypatch.setattr(ledger, "record_recipients", record_once_unavailable)


def test_the_database_failing_as_the_recipients_are_recorded_sends_nothing_again(db, tmp_path, monkeypatch):
    seed(db)
    recording_fails_once(monkeypatch)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp.port, ANA, BUSY)
        # The wall clock's time: the lease of the send the database failed is held by it.
        now = datetime.now(UTC).replace(microsecond=0)
        with pytest.raises(OperationalError):
            runner.run(period=period_of(runner.digest, now), now=now)
        runner.retry_due(now=now + timedelta(minutes=1))
        runner.retry_due(now=now + timedelta(minutes=30))
    assert [envelope[1] for envelope in smtp.keeper.envelopes] == [(ANA, BUSY)]
    assert statuses(db) == ["sent"]


def test_the_database_failing_as_the_recipients_are_recorded_loses_not_the_one_put_off(
    db, tmp_path, monkeypatch
):
    # Ana takes the message, Bo is put off, and the database fails just then: once it answers, Bo is still
    # owed the message Ana took, and gets it alone.
    seed(db)
    recording_fails_once(monkeypatch)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp.port, ANA, BUSY)
        smtp.refuse[BUSY] = PUT_OFF
        # The wall clock's time: the lease of the send the database failed is held by it.
        now = datetime.now(UTC).replace(microsecond=0)
        with pytest.raises(OperationalError):
            runner.run(period=period_of(runner.digest, now), now=now)
        del smtp.refuse[BUSY]
        [retried] = runner.retry_due(now=now + timedelta(minutes=1))
        assert retried.status == "sent", retried.error
        assert runner.retry_due(now=now + timedelta(hours=3)) == []
    assert [envelope[1] for envelope in smtp.keeper.envelopes] == [(ANA,), (BUSY,)]
    assert smtp.received_by(BUSY)[0].as_bytes() == smtp.received_by(ANA)[0].as_bytes()
    assert recipients(db) == {ANA: "accepted", BUSY: "accepted"}
    assert statuses(db) == ["sent"]


def test_a_recipient_put_off_then_written_in_another_case_gets_the_message_once(db, tmp_path):
    # "Busy@monitor.test" is put off; to: is then edited to "busy@monitor.test", the same mailbox. The retry
    # that reaches it ends the delivery: it is not sent the message again at every retry after.
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp.port, ANA, "Busy@monitor.test")
        smtp.refuse["Busy@monitor.test"] = PUT_OFF
        [first] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
        assert first.status == "failed"
        runner = runner_for(db, tmp_path, smtp.port, ANA, BUSY)
        smtp.refuse.clear()
        [retried] = runner.retry_due(now=NOW + timedelta(minutes=2))
        assert retried.status == "sent", retried.error
        assert runner.retry_due(now=NOW + timedelta(hours=3)) == []
    assert [envelope[1] for envelope in smtp.keeper.envelopes] == [(ANA,), (BUSY,)]
    assert recipients(db) == {ANA: "accepted", "Busy@monitor.test": "accepted"}


def test_an_alert_put_off_for_one_recipient_holds_back_no_later_alert(db, tmp_path):
    # Alerts wait for a failing alert's back-off rather than pile up; one the others took owes only its
    # message to the recipient put off, and the next alert goes out all the same.
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(
            db, tmp_path, smtp.port, ANA, BUSY, alerts={"min_score": 5, "channels": ["email"]}
        )
        smtp.refuse[BUSY] = PUT_OFF
        [first] = runner.run(kind="alert", period=alert_period(timedelta(minutes=1), NOW), now=NOW)
        assert first.status == "failed"
        with db.session() as session:
            add_story(
                session,
                title="Tehran confirms a second shipment",
                body="Tehran confirmed a second shipment of missiles on Tuesday.",
                terms=["missiles"],
                score=9.0,
                copies=[Copy("Daily Two", "https://two.test/b/7")],
            )
        later = NOW + timedelta(seconds=30)  # within the first alert's back-off; the next alert check
        [second] = runner.run(
            kind="alert", period=alert_period(timedelta(minutes=1), NOW) + timedelta(minutes=1), now=later
        )
        assert second.status == "failed" and "put off 1 of 2" in second.error
    assert len(smtp.received_by(ANA)) == 2


def test_a_sender_address_in_non_ascii_characters_fails_on_a_server_without_smtputf8(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        write_config(tmp_path, smtp.port, ANA)
        config = yaml.safe_load((tmp_path / "feeds.yaml").read_text())
        config["digests"][0]["channels"]["email"]["from"] = "Монитор <монитор@monitor.test>"
        (tmp_path / "feeds.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        runner = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test")
        [outcome] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
    assert (
        outcome.status == "failed" and "монитор@monitor.test" in outcome.error and "SMTPUTF8" in outcome.error
    )
    assert smtp.messages == []


def test_a_recipient_put_off_for_days_is_given_up_and_gets_the_next_digest(db, tmp_path, caplog):
    # As mail servers give up: retried every hour with a warning for as long as the ledger kept it.
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp.port, ANA, BUSY)
        smtp.refuse[BUSY] = PUT_OFF
        period = period_of(runner.digest, NOW)
        [first] = runner.run(period=period, now=NOW)
        assert first.status == "failed"
        [again] = runner.retry_due(now=NOW + timedelta(minutes=2))
        assert again.status == "failed" and "put off 1 of 2 recipients" in again.error
        with db.session() as session:  # the others took it six days ago
            session.execute(
                update(DeliveryRecipient)
                .where(DeliveryRecipient.status == "accepted")
                .values(at=datetime.now(UTC) - timedelta(days=6))
            )
        [given_up] = runner.retry_due(now=NOW + timedelta(days=1))
        assert given_up.status == "sent"
        assert runner.retry_due(now=NOW + timedelta(days=2)) == []
        assert recipients(db) == {ANA: "accepted", BUSY: "refused"}
        assert "busy@monitor.test was put off for 5 days (452 4.2.2 mailbox busy)" in caplog.text
        assert [len(smtp.received_by(a)) for a in (ANA, BUSY)] == [1, 0]
