"""Over the days: what a scheduled digest reaches back to, and a scheduled run that did not happen.

A weekday digest's Monday run carries what matched after Friday's, whatever its lookback; a run the daemon
missed (down at the time, its database refusing the work) is made late by the retry job, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from support.digests import Copy, add_story
from support.smtp import SmtpServer, email_channel
from support.waiting import wait_for

from monitor.config import ConfigError, load_config
from monitor.digest.runner import CATCH_UP_AFTER, CATCH_UP_WITHIN, DigestRunner, period_of
from monitor.store.db import open_database

FRIDAY_RUN = datetime(2026, 11, 27, 7, tzinfo=UTC)  # a Friday
MONDAY_RUN = datetime(2026, 11, 30, 7, tzinfo=UTC)


def runner(db, tmp_path, smtp_port: int, **digest) -> DigestRunner:
    config = {
        "feeds": [],
        "digests": [
            {
                "name": "morning",
                "schedule": "0 7 * * 1-5",
                "timezone": "UTC",
                "lookback": "2d",
                "channels": {"email": email_channel(smtp_port)},
                **digest,
            }
        ],
    }
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return DigestRunner(db, load_config(path).digests[0], owner="test")


def story(db, title: str, matched_at: datetime, slug: str) -> None:
    with db.session() as session:
        add_story(
            session,
            title=title,
            body=f"{title}. Officials confirmed the shipment on the record.",
            terms=["shipment"],
            copies=[Copy("Wire One", f"https://one.test/{slug}")],
            published=matched_at - timedelta(minutes=5),
            matched_at=matched_at,
        )


def test_monday_s_digest_carries_what_matched_after_friday_s_whatever_its_lookback(db, tmp_path):
    # Its lookback (two days) reached back to Saturday 07:00: what matched on Friday after the digest,
    # Friday afternoon's news, was never sent.
    with SmtpServer() as smtp:
        morning = runner(db, tmp_path, smtp.port)
        assert period_of(morning.digest, MONDAY_RUN) == MONDAY_RUN
        story(db, "Thursday night shipment reported", FRIDAY_RUN - timedelta(hours=8), "thu")
        [friday] = morning.run(period=FRIDAY_RUN, now=FRIDAY_RUN)
        assert friday.status == "sent" and friday.articles == 1
        story(db, "Friday afternoon shipment reported", FRIDAY_RUN + timedelta(hours=7), "fri")
        story(db, "Sunday shipment reported", MONDAY_RUN - timedelta(hours=20), "sun")
        [monday] = morning.run(period=MONDAY_RUN, now=MONDAY_RUN)
        assert monday.status == "sent" and monday.articles == 2
        text = smtp.messages[-1].get_body(("plain",)).get_content()
    assert "Friday afternoon shipment" in text and "Sunday shipment" in text
    assert "Thursday night" not in text  # Friday's digest carried it


def test_a_scheduled_run_that_did_not_happen_is_made_late_by_the_retry_job_once(db, tmp_path):
    with SmtpServer() as smtp:
        morning = runner(db, tmp_path, smtp.port, schedule="0 7 * * *")
        sunday = MONDAY_RUN - timedelta(days=1)
        assert morning.run(period=sunday, now=sunday)[0].status == "empty"  # it ran before, on email
        story(db, "Overnight shipment reported", MONDAY_RUN - timedelta(hours=3), "night")
        # Its own job had the first minutes: the retry job leaves the run to it.
        assert morning.retry_due(now=MONDAY_RUN + CATCH_UP_AFTER - timedelta(minutes=1)) == []
        # The daemon was down at 07:00 (or its database refused the run): it comes late, once.
        late = MONDAY_RUN + timedelta(hours=2)
        [made] = morning.retry_due(now=late)
        assert made.status == "sent" and made.period == MONDAY_RUN and made.articles == 1
        assert morning.retry_due(now=late + timedelta(minutes=1)) == []
        assert len(smtp.messages) == 1
        # Missed for longer than CATCH_UP_WITHIN: the next run carries it instead.
        tuesday = MONDAY_RUN + timedelta(days=1)
        story(db, "Tuesday shipment reported", tuesday - timedelta(hours=1), "tue")
        assert morning.retry_due(now=tuesday + CATCH_UP_WITHIN + timedelta(minutes=1)) == []
        [wednesday] = morning.run(period=tuesday + timedelta(days=1), now=tuesday + timedelta(days=1))
        assert wednesday.status == "sent" and wednesday.articles == 1
        assert len(smtp.messages) == 2


def test_a_renamed_digest_s_missed_run_is_made_up_as_its_old_name_s_would_have_been(db, tmp_path):
    # Renamed with renamed_from the day before: it had never sent "here", so its missed run was not made.
    with SmtpServer() as smtp:
        morning = runner(db, tmp_path, smtp.port, schedule="0 7 * * *")
        sunday = MONDAY_RUN - timedelta(days=1)
        assert morning.run(period=sunday, now=sunday)[0].status == "empty"
        daily = runner(db, tmp_path, smtp.port, schedule="0 7 * * *", name="daily", renamed_from=["morning"])
        story(db, "Overnight shipment reported", MONDAY_RUN - timedelta(hours=3), "night")
        [made] = daily.retry_due(now=MONDAY_RUN + timedelta(hours=2))
        assert made.status == "sent" and made.period == MONDAY_RUN and made.articles == 1


def test_a_run_that_was_never_due_is_not_made_up(db, tmp_path):
    """Only a run the digest had on a channel is made late: not the first of a digest (or channel) added
    after its time, nor one that a reload moved before the time of the reload. Each went out at once."""
    with SmtpServer() as smtp:
        morning = runner(db, tmp_path, smtp.port, schedule="0 7 * * *", send_empty=True)
        late = MONDAY_RUN + timedelta(hours=2)
        assert morning.retry_due(now=late) == []  # added at 09:00: its first run is tomorrow's
        sunday = MONDAY_RUN - timedelta(days=1)
        morning.run(period=sunday, now=sunday)
        story(db, "Overnight shipment reported", MONDAY_RUN - timedelta(hours=3), "night")
        # Its schedule moved to 07:00 by a reload at 09:00: today's 07:00 was never due.
        moved = DigestRunner(db, morning.digest, owner="test", catch_up_from=late)
        assert moved.retry_due(now=late + timedelta(minutes=1)) == []
        # Unchanged, and down at 07:00: made late.
        [made] = morning.retry_due(now=late)
        assert made.status == "sent" and made.period == MONDAY_RUN and made.articles == 1
        assert len(smtp.messages) == 2  # Sunday's "nothing new", and Monday's made late


def test_a_run_reaches_back_over_a_day_it_missed_to_the_last_one_made(db, tmp_path):
    # A daily digest looking back one day, down all Tuesday: Wednesday's run carries Monday afternoon's
    # news, which Tuesday's would have.
    with SmtpServer() as smtp:
        morning = runner(db, tmp_path, smtp.port, schedule="0 7 * * *", lookback="1d")
        [monday] = morning.run(period=MONDAY_RUN, now=MONDAY_RUN)
        story(db, "Monday afternoon shipment reported", MONDAY_RUN + timedelta(hours=7), "mon")
        wednesday = MONDAY_RUN + timedelta(days=2)
        story(db, "Tuesday evening shipment reported", wednesday - timedelta(hours=12), "tue")
        [made] = morning.run(period=wednesday, now=wednesday)
        assert made.status == "sent" and made.articles == 2
        text = smtp.messages[-1].get_body(("plain",)).get_content()
    assert "Monday afternoon shipment" in text and "Tuesday evening shipment" in text
    # Turned off for longer than two of its reaches and on again, it reaches back as a first run does.
    with SmtpServer() as smtp:
        later = wednesday + timedelta(days=10)
        story(db, "Old shipment reported", later - timedelta(days=5), "old")
        story(db, "New shipment reported", later - timedelta(hours=3), "new")
        morning = runner(db, tmp_path, smtp.port, schedule="0 7 * * *", lookback="1d")
        [made] = morning.run(period=later, now=later)
        assert made.status == "sent" and made.articles == 1
        assert "New shipment" in smtp.messages[-1].get_body(("plain",)).get_content()


def _weekly_digest_refused(tmp_path, retention: dict) -> tuple[Path, ConfigError]:
    """A weekly digest with ``retention``, which ``load_config`` refuses: the file and the error."""
    path = tmp_path / "feeds.yaml"
    weekly = {"name": "weekly", "schedule": "0 7 * * 1", "lookback": "1d"}
    path.write_text(yaml.safe_dump({"feeds": [], "retention": retention, "digests": [weekly]}))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return path, raised.value


def test_a_ledger_pruned_sooner_than_a_digest_s_longest_gap_is_refused(tmp_path):
    path, error = _weekly_digest_refused(tmp_path, {"articles": "30d", "deliveries": "2d"})
    assert "twice the longest digest lookback, or gap between two of a digest's runs (14d)" in str(error)
    # Placed at the key to change, not at the start of the file.
    [problem] = error.problems
    assert problem.key == "retention.deliveries"
    assert problem.line == yaml_line(path, "deliveries:")


def test_articles_pruned_sooner_than_a_digest_reaches_back_are_refused(tmp_path):
    # A weekly digest with articles kept two days went out empty: the week's matches were pruned before it.
    path, error = _weekly_digest_refused(tmp_path, {"articles": "2d", "deliveries": "30d"})
    [problem] = error.problems
    assert problem.key == "retention.articles" and problem.line == yaml_line(path, "articles:")
    assert "shorter than what digest 'weekly' reaches back (7d" in problem.message


def yaml_line(path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_daemon_started_after_its_digest_s_time_sends_that_digest_late_once(workspace, tmp_path):
    """The real daemon, down at the digest's time (a deploy, a reboot) and started a quarter of an hour
    later: before, nothing went out that day."""
    from test_daemon import start_daemon, stop

    scheduled = datetime.now(UTC) - timedelta(minutes=15)
    with SmtpServer() as smtp:
        workspace.write_config([])
        digest = {
            "name": "morning",
            "schedule": f"{scheduled.minute} {scheduled.hour} * * *",
            "timezone": "UTC",
            "send_empty": True,  # nothing matched: "nothing new" goes out all the same
            "channels": {"email": email_channel(smtp.port)},
        }
        with workspace.config_path.open("a", encoding="utf-8") as file:
            file.write(yaml.safe_dump({"digests": [digest]}, sort_keys=False))
        # It ran yesterday (a digest that never ran has no run to make up).
        yesterday = scheduled - timedelta(days=1)
        db = open_database(workspace.database_url)
        [ran] = DigestRunner(db, load_config(workspace.config_path).digests[0], owner="test").run(
            period=yesterday.replace(second=0, microsecond=0), now=yesterday
        )
        db.dispose()
        assert ran.status == "sent" and len(smtp.messages) == 1
        log = tmp_path / "daemon.log"
        daemon = start_daemon(workspace, log)
        try:
            # The retry job runs a minute after the start, and every minute.
            assert wait_for(lambda: len(smtp.messages) > 1, timeout=150), log.read_text()
        finally:
            assert stop(daemon) == 0
    text = log.read_text()
    assert len(smtp.messages) == 2, text
    assert "digest morning: the run of " in text and "on email did not happen" in text
    assert "Traceback" not in text
