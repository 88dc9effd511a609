"""Digests by email through a real SMTP server (aiosmtpd on 127.0.0.1): the MIME message, grouping,
links, UTF-8 in Cyrillic and Persian; the ledger deciding between two senders; the CLI."""

from __future__ import annotations

import json
import re
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import delete, select, update
from support.digests import NOW, Copy, add_story
from support.holders import lease_holders
from support.queryplans import watched_statements
from support.smtp import SmtpServer

from monitor.config import load_config
from monitor.digest import runner as runner_module
from monitor.digest.runner import DigestRunner, period_of
from monitor.store import deliveries as ledger
from monitor.store.db import open_database
from monitor.store.models import Article, ArticleMatch, Delivery, DeliveryItem

RU_TITLE = "Россия получила партию иранских ракет"
FA_TITLE = "گزارش ارسال موشک‌های ایران به روسیه"


def digest_config(tmp_path, *, smtp_port=None, slack_url=None, webhook_url=None, **extra) -> dict:
    channels = {}
    if smtp_port:
        channels["email"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "from": "Monitor <digest@monitor.test>",
            "to": ["ana@monitor.test", "bo@monitor.test"],
        }
    if slack_url is not None:
        channels["slack"] = {"webhook_url": slack_url}
    if webhook_url:
        channels["webhook"] = {"url": webhook_url}
    digest = {
        "name": "morning",
        "schedule": "0 7 * * *",
        "timezone": "Europe/Berlin",
        "max_items": 3,
        "channels": channels,
        **extra,
    }
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({"feeds": [], "digests": [digest]}, allow_unicode=True, sort_keys=False))
    return digest


@pytest.fixture(autouse=True)
def _no_catch_up(monkeypatch):
    """These runs and retries are of periods the tests name; a scheduled run the wall clock puts a few hours
    before a test's times would be caught up besides (``missed_run``, tested in ``test_digest_reach``), and
    the outcomes these tests count would depend on the hour they run at."""
    monkeypatch.setattr(runner_module, "CATCH_UP_WITHIN", timedelta(0))


def seed(db) -> dict[str, list[int]]:
    with db.session() as session:
        return {
            "big": add_story(
                session,
                title="Tehran ships missiles to Moscow, officials say",
                body="Two officials said Tehran shipped short-range missiles to Moscow this week. "
                "The shipment left from a Caspian port. Both governments denied it. More later.",
                terms=["missiles", "Tehran"],
                score=7.5,
                copies=[
                    Copy("Wire One", "https://one.test/a/1"),
                    Copy("Daily Two", "https://two.test/b/2", "Missiles shipped, officials say"),
                    Copy("Three Times", "https://three.test/c/3"),
                ],
            ),
            "ru": add_story(
                session,
                title=RU_TITLE,
                body="Россия получила партию ракет из Ирана. Поставки начались.",
                terms=["ракет"],
                score=6.0,
                copies=[Copy("Лента", "https://ru.test/x/1")],
            ),
            "fa": add_story(
                session,
                title=FA_TITLE,
                body="گزارش‌ها درباره ارسال موشک به روسیه منتشر شد.",
                terms=["موشک"],
                score=5.5,
                story=False,
                copies=[Copy("خبرگزاری", "https://fa.test/y/1")],
            ),
            "other": add_story(
                session,
                title="Drone parts sanctions widen",
                topic="sanctions",
                score=4.0,
                body="New sanctions target drone parts suppliers.",
                terms=["sanctions"],
                copies=[Copy("Wire One", "https://one.test/a/9")],
            ),
        }


def runner_for(db, tmp_path, **kwargs) -> DigestRunner:
    digest_config(tmp_path, **kwargs)
    return DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test")


def html_links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def test_email_digest_arrives_as_multipart_with_both_parts_links_and_grouping(db, tmp_path):
    ids = seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp_port=smtp.port)
        [outcome] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
        assert outcome.status == "sent" and outcome.stories == 4
        [message] = smtp.messages
    assert message.get_content_type() == "multipart/alternative"
    # (the parser keeps the space of a header folded right after its name; mail clients unfold it)
    assert message["Subject"].strip().startswith("Digest morning: Tehran ships missiles to Moscow")
    assert message["To"] == "ana@monitor.test, bo@monitor.test" and message["Date"]
    assert re.fullmatch(r"<digest\.[0-9a-f]{32}@monitor\.test>", message["Message-ID"])
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # decoded with the wire's CRLF
    html = message.get_body(("html",)).get_content()
    for body, (arms, sanctions) in ((text, ("## arms", "## sanctions")), (html, (">arms<", ">sanctions<"))):
        assert RU_TITLE in body and FA_TITLE in body  # UTF-8 survives the round trip
        # Topics in order of their best score, stories in order of theirs.
        start = body.index(arms)
        order = [
            body.index(arms),
            body.index("Tehran ships", start),
            body.index(RU_TITLE, start),
            body.index(FA_TITLE, start),
            body.index(sanctions),
            body.index("Drone parts", start),
        ]
        assert order == sorted(order)
    # One story of three outlets' write-ups: shown once, the first as headline, the other two linked with
    # their outlet (the registered domain: these pages named no site).
    assert html.count("Tehran ships missiles to Moscow, officials say</a>") == 2  # headline, and three.test's
    assert "Other write-ups" in html and "Other write-ups (2):" in text
    assert "two.test: Missiles shipped, officials say" in text and "three.test:" in text
    # Each write-up's address on a line of its own under its title, as the plain-text template lays it out.
    assert "\n      https://two.test/b/2\n" in text and "\n      https://three.test/c/3\n" in text
    links = html_links(html)
    assert {
        "https://one.test/a/1",
        "https://two.test/b/2",
        "https://three.test/c/3",
        "https://ru.test/x/1",
        "https://fa.test/y/1",
        "https://one.test/a/9",
    } <= set(links)
    assert '<mark style="' in html and ">missiles</mark>" in html  # the matched terms
    assert "*missiles*" in text
    assert 'name="viewport"' in html and "max-width:640px" in html
    # Everything it carried is now delivered on email.
    with db.session() as session:
        delivered = {item.article_id for item in session.query(DeliveryItem) if item.delivered_at}
    assert delivered == {i for group in ids.values() for i in group}


def test_a_second_run_sends_nothing_new_then_a_new_story_and_an_update(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp_port=smtp.port)
        runner.run(period=NOW - timedelta(hours=24), now=NOW)
        [again] = runner.run(period=NOW - timedelta(hours=12), now=NOW)
        assert again.status == "empty" and len(smtp.messages) == 1
        with db.session() as session:
            add_story(
                session,
                title="Fresh report on drone deliveries",
                body="Drones were delivered.",
                terms=["Drones"],
                copies=[Copy("Wire One", "https://one.test/a/50")],
            )
            # A further article of a story already sent brings the story back, as an update.
            add_story(
                session,
                title="Missiles reached Moscow",
                body="Missiles reached Moscow.",
                terms=["Missiles"],
                copies=[Copy("Daily Two", "https://two.test/b/77")],
                score=4.0,
            )
            followup = session.scalars(select(Article).where(Article.url == "https://two.test/b/77")).one()
            followup.story_id = session.get(Article, 1).story_id
        [third] = runner.run(period=NOW, now=NOW)
        assert third.status == "sent" and third.stories == 2 and third.articles == 2
        assert "Fresh report" in smtp.messages[-1]["Subject"]
        text = smtp.messages[-1].get_body(("plain",)).get_content()
        assert "1 new story, 1 update" in text
        update = text.split("[Update] ", 1)[1]
        assert update.startswith("Missiles reached Moscow") and "4 reports from 3 outlets so far" in update
        assert "Tehran ships missiles" not in text  # the earlier coverage is summed up, not repeated


def test_two_daemons_one_period_one_message(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        first = runner_for(db, tmp_path, smtp_port=smtp.port)
        second = DigestRunner(db, first.digest, owner="other")
        period = period_of(first.digest, NOW)
        outcomes = first.run(period=period, now=NOW) + second.run(period=period, now=NOW)
        assert [o.status for o in outcomes] == ["sent", "taken"]
        assert len(smtp.messages) == 1


def test_smtp_down_then_back_nothing_lost_nothing_repeated(db, tmp_path):
    seed(db)
    smtp = SmtpServer()  # not started: connections are refused
    runner = runner_for(db, tmp_path, smtp_port=smtp.port)
    period = period_of(runner.digest, NOW)
    [down] = runner.run(period=period, now=NOW)
    assert down.status == "failed" and down.next_attempt_at == NOW + timedelta(minutes=1)
    with db.session() as session:
        assert not [item for item in session.query(DeliveryItem) if item.delivered_at]
        assert session.query(Delivery).one().status == ledger.FAILED
    # Still down at the first retry: back-off doubles.
    [again] = runner.retry_due(now=down.next_attempt_at + timedelta(seconds=1))
    assert again.status == "failed" and again.next_attempt_at - down.next_attempt_at > timedelta(minutes=1)
    with smtp:
        assert runner.retry_due(now=again.next_attempt_at - timedelta(seconds=5)) == []  # not due yet
        [back] = runner.retry_due(now=again.next_attempt_at + timedelta(seconds=1))
        assert back.status == "sent" and back.stories == 4
        # Nothing of it is due again. (Three hours on, a scheduled run may fall between: its catch-up, if any,
        # is of its own period, and finds nothing left to send.)
        later = runner.retry_due(now=again.next_attempt_at + timedelta(hours=3))
        assert [o for o in later if o.period == period] == [] and {o.status for o in later} <= {"empty"}
        [next_day] = runner.run(period=period + timedelta(days=1), now=NOW + timedelta(days=1))
        # Made here, or already by that catch-up when the day's run fell within those three hours: once.
        assert next_day.status == ("taken" if later else "empty")
        assert len(smtp.messages) == 1
        assert "Tehran ships" in smtp.messages[0]["Subject"]


def test_next_digest_carries_what_failed(db, tmp_path):
    seed(db)
    smtp = SmtpServer()
    runner = runner_for(db, tmp_path, smtp_port=smtp.port)
    [down] = runner.run(period=NOW - timedelta(days=1), now=NOW)
    assert down.status == "failed"
    with smtp:
        # The next period comes before the retry is due; it carries the failed stories even though they
        # are older than it reaches back (``since``), and the failed delivery is not retried after it.
        later = NOW + timedelta(seconds=30)
        [sent] = runner.run(period=later, now=later, since=later)
        assert sent.status == "sent" and sent.stories == 4
        # Not retried. (A day's scheduled run a few hours before may be caught up then: it finds nothing.)
        due = runner.retry_due(now=NOW + timedelta(days=6))
        assert [o for o in due if o.status != "empty"] == []
    with db.session() as session:
        statuses = sorted(d.status for d in session.query(Delivery) if d.status != "empty")
        assert statuses == ["sent", "superseded"]
    assert len(smtp.messages) == 1


def test_crash_after_sending_repeats_at_most_once_with_the_same_message_id(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp_port=smtp.port)
        period = period_of(runner.digest, NOW)
        with db.session() as session:  # a sender that claimed the row and died before recording anything
            claimed = ledger.claim_new(
                session,
                slot=ledger.Slot("morning", "digest", "email"),
                period=period,
                owner="dead",
                now=NOW,
                lease=timedelta(minutes=15),
            )
            from monitor.digest.runner import select_new

            ledger.add_items(
                session,
                delivery_id=claimed.id,
                items=select_new(
                    session,
                    digest=runner.digest,
                    slot=ledger.Slot("morning", "digest", "email"),
                    since=NOW - timedelta(days=2),
                ),
            )
        assert runner.run(period=period, now=NOW)[0].status == "taken"
        assert runner.retry_due(now=NOW + timedelta(minutes=10)) == []  # the lease still holds
        [retried] = runner.retry_due(now=NOW + timedelta(minutes=16))
        assert retried.status == "sent" and len(smtp.messages) == 1
        [other_run] = runner.run(period=period + timedelta(days=1), now=NOW + timedelta(days=1))
        assert other_run.status == "empty"


def test_a_delivery_whose_sender_is_gone_from_this_host_is_taken_over_and_others_wait(db, tmp_path):
    # Four deliveries left "sending", each under a lease of a quarter of an hour: one by a process of this
    # host that is gone, one by a live process, one by a process whose id now belongs to another, one by a
    # process of another host (which nothing here can tell about). Only the gone ones are sent at once.
    seed(db)
    with lease_holders() as holders, SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp_port=smtp.port)
        slot = ledger.Slot("morning", "digest", "email")
        period = period_of(runner.digest, NOW)
        ids = {}
        with db.session() as session:
            for days, (name, holder) in enumerate(holders.items()):
                claimed = ledger.claim_new(
                    session,
                    slot=slot,
                    period=period - timedelta(days=days),
                    owner=f"{holder.host}:{holder.pid}",
                    now=NOW,
                    lease=timedelta(minutes=15),
                    holder=holder,
                )
                ids[name] = claimed.id
        retried = runner.retry_due(now=NOW + timedelta(minutes=1))
        # gone (0 days back) and reused (2 days back) are taken over; alive (1) and elsewhere (3) wait.
        assert sorted(o.period for o in retried) == [period - timedelta(days=2), period]
        with db.session() as session:
            status = {name: session.get(Delivery, i).status for name, i in ids.items()}
        assert status == {"gone": "sent", "alive": "sending", "reused": "sent", "elsewhere": "sending"}

        # A single-instance database after a crash: whoever else holds a lease is not running.
        with db.session() as session:
            ledger.release_leases_of_others(session, owner="test")
        assert [o.period for o in runner.retry_due(now=NOW + timedelta(minutes=1))] == [
            period - timedelta(days=3),
            period - timedelta(days=1),
        ]


def test_a_message_the_server_took_without_answering_keeps_its_message_id_and_its_items(db, tmp_path):
    seed(db)
    with SmtpServer() as smtp:
        runner = runner_for(db, tmp_path, smtp_port=smtp.port)
        smtp.drop_after_data = 1  # takes the message, drops the connection before its 250
        [dropped] = runner.run(period=NOW - timedelta(days=1), now=NOW)
        assert dropped.status == "failed" and "may have been delivered" in dropped.error
        [first] = smtp.messages
        with db.session() as session:
            row = session.query(Delivery).one()
            assert (row.status, row.message_id) == (ledger.UNCONFIRMED, first["Message-ID"])
        # The next digest comes before the retry is due: it does not carry what may have arrived already.
        later = NOW + timedelta(seconds=30)
        [next_one] = runner.run(period=later, now=later, since=later)
        assert next_one.status == "empty"
        # The retry sends the same stories under the same Message-ID: the reader's client knows the repeat.
        [retried] = runner.retry_due(now=NOW + timedelta(minutes=2))
        assert retried.status == "sent" and retried.stories == dropped.stories
        assert [m["Message-ID"] for m in smtp.messages] == [first["Message-ID"]] * 2
        assert smtp.messages[1]["Subject"] == first["Subject"]
        assert runner.retry_due(now=NOW + timedelta(days=1)) == []
    with db.session() as session:
        assert sorted(d.status for d in session.query(Delivery)) == ["empty", "sent"]


def test_a_webhook_that_took_the_post_without_answering_gets_the_retry_under_the_same_key(db, tmp_path):
    seed(db)
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:

        def receive(answer: bool) -> None:  # one request; answered 200, or the connection closed unanswered
            connection, _ = server.accept()
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
                while len(body) < length:
                    body += connection.recv(65536)
                received.append(head + b"\r\n\r\n" + body)
                if answer:
                    connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")

        url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
        runner = runner_for(db, tmp_path, webhook_url=url)
        listener = threading.Thread(target=receive, args=(False,))
        listener.start()
        [dropped] = runner.run(period=NOW - timedelta(days=1), now=NOW)
        listener.join(timeout=30)
        assert dropped.status == "failed" and "may have received" in dropped.error
        later = NOW + timedelta(seconds=30)
        assert runner.run(period=later, now=later, since=later)[0].status == "empty"
        listener = threading.Thread(target=receive, args=(True,))
        listener.start()
        [retried] = runner.retry_due(now=NOW + timedelta(minutes=2))
        listener.join(timeout=30)
    assert retried.status == "sent"
    keys = [re.search(rb"idempotency-key: *(\S+)", request, re.I).group(1) for request in received]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_cli_send_now_and_preview(workspace, tmp_path):
    db = open_database(workspace.database_url)
    seed(db)
    db.dispose()
    with SmtpServer() as smtp:
        digest_config(workspace.root, smtp_port=smtp.port)
        preview = tmp_path / "out" / "digest.html"
        result = workspace.cli("digest", "morning", "--preview", str(preview))
        assert "4 stories" in result.stdout and RU_TITLE in preview.read_text(encoding="utf-8")
        assert FA_TITLE in preview.with_suffix(".txt").read_text(encoding="utf-8")
        assert smtp.messages == []  # a preview sends nothing
        smtp.reject_with = "451 4.3.0 try again later"
        failed = workspace.cli("digest", "morning", "--send-now", expect=1)
        assert "email: failed (4 stories), retry at" in failed.stdout
        smtp.reject_with = None
        db = open_database(workspace.database_url)
        with db.session() as session:  # its back-off over, as when the daemon did not retry it
            session.execute(update(Delivery).values(next_attempt_at=datetime.now(UTC) - timedelta(minutes=1)))
        db.dispose()
        result = workspace.cli("digest", "morning", "--send-now")
        # The failed one goes first, said as owed; this run's own finds nothing left to send.
        lines = result.stdout.splitlines()
        assert re.fullmatch(r"email: sent \(4 stories\) \(the digest of .* UTC, owed\)", lines[0]), lines
        assert lines[1:] == ["email: empty (0 stories)"] and len(smtp.messages) == 1
        assert "email: empty" in workspace.cli("digest", "morning", "--send-now").stdout
        # --since on a preview shows everything matched since then, sent or not.
        workspace.cli("digest", "morning", "--preview", str(preview), "--since", "3d")
        assert RU_TITLE in preview.read_text(encoding="utf-8")
        assert len(smtp.messages) == 1
    workspace.cli("digest", "evening", "--send-now", expect=2)
    workspace.cli("digest", "morning", expect=2)


def test_cli_lists_deliveries_with_their_articles_errors_and_next_try(workspace, tmp_path):
    db = open_database(workspace.database_url)
    seed(db)
    db.dispose()
    with SmtpServer() as smtp:
        digest_config(workspace.root, smtp_port=smtp.port)
        # A server's refusal is text from outside: it is listed as written, its controls as escapes.
        smtp.reject_with = "554 5.7.1 \x1b]0;owned\x07 refused by policy"
        workspace.cli("digest", "morning", "--send-now", expect=1)
        [failed] = json.loads(workspace.cli("deliveries", "--json").stdout)
        assert (failed["digest"], failed["channel"], failed["status"]) == ("morning", "email", "failed")
        assert (failed["attempts"], failed["articles"], failed["delivered"]) == (1, 6, 0)
        assert "refused by policy" in failed["error"] and failed["next_attempt_at"] is not None
        # As the server said it, not Python's (554, b'...'); a permanent refusal is said to be one.
        assert ": 554 5.7.1 " in failed["error"] and "(554, b" not in failed["error"]
        assert "refuses for good" in failed["error"]
        listed = workspace.cli("deliveries").stdout
        assert "failed, 1 try" in listed and "next try in" in listed and "0/6" in listed
        # The error is shown in full below the table, its controls as escapes.
        assert "\x1b" not in listed and "\x07" not in listed and "\\x1b]0;owned\\x07" in listed

        smtp.reject_with = None
        workspace.cli("digest", "morning", "--send-now")
        newest, older = json.loads(workspace.cli("deliveries", "--json").stdout)
        assert (newest["status"], newest["articles"], newest["delivered"]) == ("sent", 6, 6)
        assert newest["sent_at"] is not None and newest["error"] is None
        assert older["status"] == "superseded"  # the new digest carried what the failed one held
        assert [
            d["id"] for d in json.loads(workspace.cli("deliveries", "--limit", "1", "--json").stdout)
        ] == [newest["id"]]
        assert json.loads(workspace.cli("deliveries", "--digest", "evening", "--json").stdout) == []
        assert json.loads(workspace.cli("deliveries", "--since", "2099-01-01", "--json").stdout) == []
        assert "sent" in workspace.cli("deliveries", "--digest", "morning").stdout


def test_material_reads_the_earliest_members_of_each_story_and_counts_them_all(db):
    from monitor.store.digests import TEXT_CHARS, material

    with db.session() as session:
        big = add_story(
            session,
            title="Many reports",
            body="Missiles. " + "x" * (2 * TEXT_CHARS),
            terms=["Missiles"],
            copies=[Copy(f"Outlet {n}", f"https://o{n}.test/a") for n in range(5)],
        )
        small = add_story(
            session,
            title="Two reports",
            body="Drones.",
            terms=["Drones"],
            copies=[Copy("One", "https://one.test/d"), Copy("Two", "https://two.test/d")],
        )
    with db.session() as session:
        found = material(
            session,
            article_ids=[big[-1], small[0]],
            topics=(),
            digest="morning",
            channel="email",
            members_per_story=2,
        )
    assert set(found.articles) == {big[0], big[1], big[-1], small[0], small[1]}
    assert sorted(found.story_sizes.values()) == [2, 5]
    assert max(len(a.body) for a in found.articles.values()) == TEXT_CHARS


def test_what_a_digest_sent_of_its_articles_is_read_from_their_items_not_from_every_delivery(db):
    # Joined to the deliveries in one statement, SQLite walked every delivery the digest ever made (a year of
    # daily digests and six alerts a day) and probed each for the articles: 1.7 s for a digest of 500
    # articles, growing with the ledger (bench/year_of_data.py). Deliveries are now reached by their ids.
    import sqlite3

    from monitor.store.digests import Sent, material

    with db.session() as session:
        # A handful of articles at least: for one or two, SQLite went from the articles already.
        [article, *copies] = add_story(
            session,
            title="Drones",
            body="Drones.",
            terms=["Drones"],
            copies=[Copy(f"Outlet {n}", f"https://o{n}.test/d") for n in range(8)],
        )
        for day, (digest, kind, channel, delivered) in enumerate(
            [
                ("morning", "digest", "slack", True),
                ("morning", "alert", "slack", True),
                ("morning", "digest", "email", False),  # not accepted: not sent
                ("evening", "digest", "slack", True),  # another digest's
            ]
        ):
            at = NOW - timedelta(days=4 - day)
            delivery = Delivery(
                digest=digest, kind=kind, channel=channel, period=at, status="sent", created_at=at, sent_at=at
            )
            session.add(delivery)
            session.flush()
            session.add(
                DeliveryItem(
                    delivery_id=delivery.id,
                    article_id=article,
                    topic="arms",
                    delivered_at=at if delivered else None,
                )
            )
    with watched_statements() as statements, db.session() as session:
        found = material(
            session,
            article_ids=[article, *copies],
            topics=(),
            digest="morning",
            channel="slack",
            members_per_story=10,
        )
    assert found.sent == {
        article: (
            Sent("digest", "slack", NOW - timedelta(days=4)),
            Sent("alert", "slack", NOW - timedelta(days=3)),
        )
    }
    assert set(found.articles) == {article, *copies}
    if db.sqlite_path is None:
        return  # PostgreSQL plans by its statistics
    with sqlite3.connect(db.sqlite_path) as connection:
        plans = [
            [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
            for key, (statement, parameters) in statements.seen.items()
            if "deliver" in key
        ]
    assert plans
    for plan in plans:
        assert all("INTEGER PRIMARY KEY" in step for step in plan if "deliveries" in step), plan


def test_a_digest_of_named_topics_asks_each_storys_articles_not_the_topics_whole_history(db):
    # With topics named, SQLite answered "has this story a match?" from the topic's index: every match of
    # the topic since the database began, read again for each story active now (2.4 s for a day's digest
    # after a year of history, 6 ms without topics; bench/history.py). The plan must go through the story's
    # articles and their own matches.
    import sqlite3

    from monitor.store import digests as digest_store

    if db.sqlite_path is None:
        pytest.skip("SQLite's query plan; PostgreSQL plans by its statistics")
    with watched_statements() as statements, db.session() as session:
        digest_store.story_followups(
            session,
            carried=digest_store.Carried("desk", "email", ("digest",)),
            topics=("arms", "drones"),
            min_score=0,
            since=NOW - timedelta(days=1),
            limit=500,
        )
    [(statement, parameters)] = [
        seen for key, seen in statements.seen.items() if "article_matches" in key and "stories" in key
    ]
    with sqlite3.connect(db.sqlite_path) as connection:
        plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert not [step for step in plan if "ix_article_matches_topic" in step], plan
    assert any("article_matches USING" in step and "article_id" in step for step in plan), plan


def test_a_topic_renamed_or_removed_from_the_watchlist_no_longer_feeds_the_digest(db, tmp_path):
    """A digest of every topic follows the stories of the topics in force: a story that only a topic since
    removed (or renamed) matched does not come back with its next write-ups, nor shows the old name beside
    the new one; a match made before the rename still goes out once."""
    with db.session() as session:
        [gas] = add_story(
            session,
            title="Iran and Russia sign gas deal",
            body="Iran and Russia signed a gas deal.",
            topic="energy",
            copies=[Copy("Wire One", "https://one.test/gas/1")],
        )
        [arms] = add_story(
            session,
            title="Tehran ships missiles to Moscow",
            body="Tehran shipped missiles to Moscow.",
            topic="arms",
            copies=[Copy("Daily Two", "https://two.test/arms/1")],
        )
    with SmtpServer() as smtp:
        digest_config(tmp_path, smtp_port=smtp.port)
        titles = {"energy": "Iran–Russia energy", "arms-transfers": "Iran–Russia arms transfers"}
        runner = DigestRunner(
            db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test", titles=lambda: dict(titles)
        )
        [first] = runner.run(period=NOW - timedelta(hours=1), now=NOW)
        # "arms" was renamed "arms-transfers" after its match: the match is still sent, never lost.
        assert first.status == "sent" and first.articles == 2
        del titles["energy"]  # the analyst removes the topic
        later = [  # a write-up of each story a minute ago: the gas one matches no topic at all
            (
                "Gas deal details emerge",
                "Details of the gas deal emerged.",
                None,
                "https://one.test/gas/2",
                gas,
            ),
            (
                "Moscow confirms the missiles arrived",
                "Moscow confirmed it.",
                "arms-transfers",
                "https://two.test/arms/2",
                arms,
            ),
        ]
        with db.session() as session:
            for title, body, topic, url, joins in later:
                [article] = add_story(
                    session, title=title, body=body, topic=topic or "nothing", copies=[Copy("Outlet", url)]
                )
                if topic is None:
                    session.execute(delete(ArticleMatch).where(ArticleMatch.article_id == article))
                session.get(Article, article).story_id = session.get(Article, joins).story_id
                session.get(Article, article).fetched_at = NOW - timedelta(minutes=1)
        [second] = runner.run(period=NOW, now=NOW)
        assert second.status == "sent" and second.articles == 1  # the arms update; not the gas one
        text = smtp.messages[-1].get_body(("plain",)).get_content()
        assert "Gas deal details" not in text and "Moscow confirms the missiles arrived" in text
        # The story shows the topic under its name in force, not also under the name it had.
        assert "topics:" not in text and "## Iran–Russia arms transfers" in text


def test_a_renamed_digest_does_not_send_again_what_it_sent_under_its_old_name(db, tmp_path):
    """`name: morning` became `name: daily`: the next run sent everything within the lookback again, as
    new stories, on every channel. With `renamed_from`, what 'morning' sent counts as sent; without it, the
    daemon says what it is about to do."""
    from monitor.digest.runner import renamed_digest_warnings

    seed(db)
    with SmtpServer() as smtp:
        digest_config(tmp_path, smtp_port=smtp.port)
        [first] = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="t").run(
            period=NOW - timedelta(hours=1), now=NOW
        )
        assert first.status == "sent"

        digest_config(tmp_path, smtp_port=smtp.port, name="daily")
        plain = load_config(tmp_path / "feeds.yaml").digests
        [warning] = renamed_digest_warnings(db, plain)
        assert "'daily' has sent nothing yet" in warning and "renamed_from: [morning]" in warning

        digest_config(tmp_path, smtp_port=smtp.port, name="daily", renamed_from=["morning"])
        renamed = load_config(tmp_path / "feeds.yaml").digests
        assert renamed_digest_warnings(db, renamed) == []
        [again] = DigestRunner(db, renamed[0], owner="t").run(period=NOW, now=NOW + timedelta(minutes=1))
        assert again.status == "empty" and len(smtp.messages) == 1


def test_what_the_channel_accepted_while_the_database_failed_is_recorded_when_it_answers(
    db, tmp_path, monkeypatch
):
    """The database blinked just after the SMTP server took the digest: the delivery stayed "sending" under
    the live process's lease, its articles held back for fifteen minutes and then sent again."""
    from sqlalchemy.exc import OperationalError

    seed(db)
    real_finish = ledger.finish
    blinks = iter([True])

    def finish_once_unavailable(session, **kwargs):
        if next(blinks, False):
            raise OperationalError("UPDATE deliveries", {}, Exception("server closed the connection"))
        return real_finish(session, **kwargs)

    monkeypatch.setattr(ledger, "finish", finish_once_unavailable)
    with SmtpServer() as smtp:
        digest_config(tmp_path, smtp_port=smtp.port)
        runner = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="t")
        with pytest.raises(OperationalError):
            runner.run(period=NOW - timedelta(hours=1), now=NOW)
        assert len(smtp.messages) == 1
        # The next job of this process, a minute later, after a reload rebuilt the digest's runner: recorded,
        # nothing sent again, nothing held back.
        runner = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="t")
        outcomes = runner.retry_due(now=NOW + timedelta(minutes=1))
        assert len(smtp.messages) == 1 and not [o for o in outcomes if o.status == "sent"]
        with db.session() as session:
            [row] = session.scalars(select(Delivery)).all()
            assert row.status == "sent" and row.lease_owner is None
            assert all(item.delivered_at is not None for item in session.scalars(select(DeliveryItem)))
