"""The ``digests:`` section (validation at its line, secrets redacted), schedules in their time zone, the
daemon's jobs, and alerts pushed at once."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from support.digests import NOW, Copy, add_story
from support.httpserver import Route
from test_digest import _no_catch_up, digest_config  # noqa: F401 - the autouse fixture, as there
from test_notify_slack import payloads

from monitor.config import ConfigError, load_config, redacted_dump
from monitor.digest.runner import DigestRunner, alert_period, period_of, scheduled_jobs
from monitor.store.db import open_database

BASE = """\
feeds: []
digests:
  - name: morning
    schedule: "30 7 * * 1-5"
    timezone: Europe/Berlin
    topics: [arms]
    channels:
      email:
        host: smtp.example.org
        username: ${SMTP_USER:-}
        password: ${SMTP_PASSWORD:-}
        from: Monitor <digest@example.org>
        to: [ana@example.org]
      slack:
        webhook_url: ${SLACK_WEBHOOK_URL:-}
"""


# The topics the digests here name (a digest naming a topic the watchlist lacks is an error): after the
# text, so that the lines the tests expect problems at stay where they are.
TOPICS = "watchlist:\n  topics:\n    - {name: arms, query: missile*}\n    - {name: drones, query: drone*}\n"


def write(tmp_path, text: str):
    path = tmp_path / "feeds.yaml"
    text = textwrap.dedent(text)
    path.write_text(text if "watchlist:" in text else text.rstrip("\n") + "\n" + TOPICS)
    return path


def test_digests_section_loads_and_secrets_are_redacted(tmp_path):
    environ = {"SMTP_PASSWORD": "hunter2", "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T/B/secret"}
    config = load_config(write(tmp_path, BASE), environ=environ)
    [digest] = config.digests
    assert digest.channels.email.password == "hunter2" and digest.channels.email.effective_port() == 587
    dumped = str(redacted_dump(config))
    assert "hunter2" not in dumped and "secret" not in dumped and "***" in dumped
    assert config.digest("MORNING") is digest


@pytest.mark.parametrize(
    ("change", "line", "key", "words"),
    [
        (("30 7 * * 1-5", "61 7 * * *"), 3, "digests[0]", "invalid cron expression"),
        (("Europe/Berlin", "Europe/Atlantis"), 5, "digests[0].timezone", "unknown time zone"),
        ((), 9, "digests[0].channels.email.hosts", "unknown key 'hosts'"),
        (
            ("to: [ana@example.org]", "to: [not-an-address]"),
            13,
            "digests[0].channels.email.to",
            "not an email",
        ),
    ],
)
def test_problems_name_file_line_and_key_with_a_hint(tmp_path, change, line, key, words):
    text = BASE.replace(*change) if change else BASE.replace("host: smtp", "hosts: smtp")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    [problem] = caught.value.problems
    assert (problem.line, problem.key) == (line, key) and words in problem.message and problem.hint
    assert problem.file.endswith("feeds.yaml")


def test_alerts_must_use_a_configured_channel(tmp_path):
    text = BASE + "    alerts:\n      min_score: 8\n      channels: [webhook]\n"
    with pytest.raises(ConfigError, match="does not configure"):
        load_config(write(tmp_path, text), environ={})


def test_period_is_the_latest_firing_in_the_digest_time_zone(tmp_path):
    digest = load_config(write(tmp_path, BASE), environ={}).digests[0]
    # 07:30 in Berlin on a weekday is 06:30 UTC in winter; Saturday and Sunday belong to Friday's.
    friday = datetime(2026, 1, 9, 6, 30, tzinfo=UTC)
    assert period_of(digest, friday + timedelta(seconds=2)) == friday
    assert period_of(digest, friday + timedelta(days=2, hours=5)) == friday
    assert period_of(digest, datetime(2026, 7, 6, 5, 31, tzinfo=UTC)) == datetime(
        2026, 7, 6, 5, 30, tzinfo=UTC
    )
    assert alert_period(timedelta(minutes=1), datetime(2026, 1, 9, 6, 30, 41, tzinfo=UTC)) == friday
    sunday = load_config(write(tmp_path, BASE.replace("1-5", "0")), environ={}).digests[0]
    assert period_of(sunday, friday + timedelta(days=3)) == friday + timedelta(days=2)


def test_daemon_jobs_one_cron_per_digest_alerts_and_retries(tmp_path):
    config = load_config(write(tmp_path, BASE + "    alerts:\n      min_score: 8\n"), environ={})
    jobs = {job_id: trigger for job_id, _, trigger in scheduled_jobs(config.digests, None, owner="x")}
    assert set(jobs) == {"digest:morning", "alerts:morning", "digest-retries"}
    assert str(jobs["digest:morning"].timezone) == "Europe/Berlin"


def test_a_reload_that_moves_a_digest_s_schedule_keeps_its_earlier_runs_from_being_made_up(tmp_path):
    from types import SimpleNamespace

    from monitor.daemon.scheduler import Daemon

    old = load_config(write(tmp_path, BASE), environ={})
    same = load_config(write(tmp_path, BASE.replace("topics: [arms]", "topics: [arms, drones]")), environ={})
    moved = load_config(write(tmp_path, BASE.replace("30 7 * * 1-5", "0 6 * * 1-5")), environ={})
    daemon = SimpleNamespace(_rescheduled_at={})
    Daemon._note_rescheduled(daemon, old, same)
    assert daemon._rescheduled_at == {}  # its runs stay where they were
    Daemon._note_rescheduled(daemon, old, moved)
    assert set(daemon._rescheduled_at) == {"morning"}
    jobs = scheduled_jobs(moved.digests, None, owner="x", rescheduled_at=daemon._rescheduled_at)
    runner = next(job for job_id, job, _ in jobs if job_id == "digest:morning").args[1]
    assert runner.catch_up_from == daemon._rescheduled_at["morning"]


def major_story(session) -> None:
    """A story whose score an alert of ``min_score`` 8 sends."""
    add_story(
        session,
        title="Major missile transfer confirmed",
        body="Missiles were transferred.",
        score=9,
        terms=["Missiles"],
        copies=[Copy("Wire One", "https://one.test/a/2")],
    )


def test_alerts_push_high_scores_at_once_and_only_once(database_url, tmp_path, web):
    db = open_database(database_url)
    with db.session() as session:
        add_story(
            session,
            title="Low-score mention",
            body="Drones mentioned.",
            score=3,
            terms=["Drones"],
            copies=[Copy("Wire One", "https://one.test/a/1")],
        )
        major_story(session)
    web.set("/hooks/slack", Route(body="ok"))
    digest_config(tmp_path, slack_url=web.url("/hooks/slack"), alerts={"min_score": 8, "channels": ["slack"]})
    regrouped = []  # the daemon regroups stories before an alert that sends, as before a digest
    runner = DigestRunner(
        db,
        load_config(tmp_path / "feeds.yaml").digests[0],
        owner="test",
        before_alert=lambda: regrouped.append(True),
    )
    [alert] = runner.run(kind="alert", period=alert_period(timedelta(minutes=1), NOW), now=NOW)
    assert alert.status == "sent" and alert.stories == 1 and len(regrouped) == 1
    later = NOW + timedelta(minutes=1)
    assert (
        runner.run(kind="alert", period=alert_period(timedelta(minutes=1), later), now=later)[0].status
        == "empty"
    )
    assert len(regrouped) == 1  # an alert with nothing to send does not regroup (they look every minute)
    [payload] = payloads(web)
    assert payload["blocks"][0]["text"]["text"].startswith("Alert morning: Major missile transfer")
    # The Slack digest does not repeat on Slack what an alert sent there.
    [digest] = runner.run(period=NOW, now=NOW)
    assert digest.stories == 1
    assert "Major missile" not in json.dumps(payloads(web)[-1]) and "Low-score" in json.dumps(
        payloads(web)[-1]
    )
    db.dispose()


def test_a_digest_scheduled_in_the_hour_the_clocks_go_back_is_sent_once(tmp_path):
    # 02:30 in Berlin comes twice on 25 October 2026 (summer time ends at 03:00 CEST = 02:00 CET): cron sends
    # once, at the first; an hour later there is no second digest with an hour's news.
    night = load_config(write(tmp_path, BASE.replace("30 7 * * 1-5", "30 2 * * *")), environ={}).digests[0]
    trigger = night.trigger()
    fires, fire = [], trigger.get_next_fire_time(None, datetime(2026, 10, 23, tzinfo=UTC))
    for _ in range(4):
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert fires == [
        datetime(2026, 10, 23, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 24, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # 02:30 CET, the next night
    ]
    # The second 02:30 belongs to the first one's period: the ledger has one row for the night.
    assert period_of(night, datetime(2026, 10, 25, 1, 45, tzinfo=UTC)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    # When the clocks go forward, the 02:30 that does not exist is sent at 03:30 CEST, once.
    fire = trigger.get_next_fire_time(None, datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(fire, fire + timedelta(seconds=1)).astimezone(UTC) == datetime(
        2026, 3, 30, 0, 30, tzinfo=UTC
    )


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("schedule", ["*/15 * * * *", "0 * * * *", "30 2 * * *", "59 1 * * *", "0 3 * * *"])
def test_through_a_year_of_clock_changes_each_wall_time_fires_once_and_in_order(tmp_path, zone, schedule):
    # Lord Howe Island moves its clocks by half an hour: the repeated stretch is not always a whole hour.
    text = BASE.replace('"30 7 * * 1-5"', f'"{schedule}"').replace("Europe/Berlin", zone)
    trigger = load_config(write(tmp_path, text), environ={}).digests[0].trigger()
    from zoneinfo import ZoneInfo

    local = ZoneInfo(zone)
    for start in (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 9, 25, tzinfo=UTC)):
        fires, fire = [], trigger.get_next_fire_time(None, start)
        while fire is not None and fire < start + timedelta(days=45):
            fires.append(fire)
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        assert all(a < b for a, b in zip(fires, fires[1:], strict=False))
        walls = [f.astimezone(local).replace(tzinfo=None) for f in fires]
        assert len(set(walls)) == len(walls)


@pytest.mark.parametrize("first", ["digest", "alert"])
def test_after_an_outage_an_alert_and_a_digest_do_not_both_send_what_they_both_owe(
    database_url, tmp_path, web, first
):
    """Both failed while Slack was down, both holding the alert's article: whichever is retried first sends
    it, the other leaves it out. It went out twice, once by each."""
    db = open_database(database_url)
    with db.session() as session:
        major_story(session)
    web.set("/hooks/slack", Route(status=500, body="down"))
    digest_config(tmp_path, slack_url=web.url("/hooks/slack"), alerts={"min_score": 8, "channels": ["slack"]})
    runner = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test")
    [alert] = runner.run(kind="alert", period=alert_period(timedelta(minutes=1), NOW), now=NOW)
    [digest] = runner.run(period=NOW, now=NOW + timedelta(minutes=1))
    assert (alert.status, digest.status) == ("failed", "failed") and digest.stories == 1
    web.set("/hooks/slack", Route(body="ok"))
    assert alert.next_attempt_at < digest.next_attempt_at
    outcomes = []
    if first == "alert":  # its retry alone is due
        outcomes += runner.retry_due(now=alert.next_attempt_at + timedelta(seconds=1))
    outcomes += runner.retry_due(now=NOW + timedelta(hours=2))  # retries go digests first
    assert [(o.kind, o.status, o.stories) for o in outcomes] == [
        (first, "sent", 1),
        ("alert" if first == "digest" else "digest", "sent", 0),
    ]
    sent = [json.dumps(payload) for payload in payloads(web)]
    assert sum("Major missile transfer" in text for text in sent) == 1, sent
    db.dispose()


def _fires(trigger, start: datetime, count: int) -> list[datetime]:
    fires, fire = [], trigger.get_next_fire_time(None, start)
    for _ in range(count):
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return fires


@pytest.mark.parametrize(
    ("zone", "schedule", "start", "expected"),
    [
        # Summer time starts on Sunday 29 March 2026 at 02:00 in Berlin: Monday's midnight is still sent.
        (
            "Europe/Berlin",
            "0 0 * * *",
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            [datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC)],
        ),
        # A weekly digest on Monday at midnight is not a week late.
        (
            "Europe/Berlin",
            "0 0 * * 1",
            datetime(2026, 3, 23, 12, tzinfo=UTC),
            [datetime(2026, 3, 29, 22, tzinfo=UTC), datetime(2026, 4, 5, 22, tzinfo=UTC)],
        ),
        # New York's weekday digest at 00:30 keeps its Monday after the Sunday the clocks go forward.
        (
            "America/New_York",
            "30 0 * * 1-5",
            datetime(2026, 3, 6, 12, tzinfo=UTC),
            [datetime(2026, 3, 9, 4, 30, tzinfo=UTC), datetime(2026, 3, 10, 4, 30, tzinfo=UTC)],
        ),
        # Chile goes from 00:00 to 01:00 on 6 September 2026: that day's midnight does not exist, and the
        # digest goes at 01:00, as a digest at any time the clocks skip does, not a day later.
        (
            "America/Santiago",
            "0 0 * * *",
            datetime(2026, 9, 5, 12, tzinfo=UTC),
            [datetime(2026, 9, 6, 4, tzinfo=UTC), datetime(2026, 9, 7, 3, tzinfo=UTC)],
        ),
    ],
)
def test_no_run_is_skipped_on_the_day_after_the_clocks_go_forward(tmp_path, zone, schedule, start, expected):
    text = BASE.replace('"30 7 * * 1-5"', f'"{schedule}"').replace("Europe/Berlin", zone)
    digest = load_config(write(tmp_path, text), environ={}).digests[0]
    assert _fires(digest.trigger(), start, 2) == expected
    # The period a run belongs to is that run's: the ledger has a row for the day.
    assert period_of(digest, expected[0] + timedelta(minutes=1)) == expected[0]


@pytest.mark.parametrize(
    "zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham"]
)
@pytest.mark.parametrize("schedule", ["0 0 * * *", "15 0 * * *", "59 23 * * *", "30 2 * * *"])
def test_a_daily_digest_runs_once_on_every_day_of_a_year(tmp_path, zone, schedule):
    from zoneinfo import ZoneInfo

    text = BASE.replace('"30 7 * * 1-5"', f'"{schedule}"').replace("Europe/Berlin", zone)
    trigger = load_config(write(tmp_path, text), environ={}).digests[0].trigger()
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo(zone))
    days = [fire.astimezone(ZoneInfo(zone)).date() for fire in _fires(trigger, start, 365)]
    assert days == [start.date() + timedelta(days=n) for n in range(365)]


@pytest.mark.parametrize(
    ("weekdays", "days"),
    [
        ("1-5", "Mon Tue Wed Thu Fri"),
        ("1-5/2", "Mon Wed Fri"),  # was every weekday: the step was dropped
        ("0-2", "Sun Mon Tue"),  # was refused: a range of names across APScheduler's week end
        ("0-6", "Sun Mon Tue Wed Thu Fri Sat"),
        ("*/2", "Sun Tue Thu Sat"),
        ("5-7", "Fri Sat Sun"),
        ("6,0", "Sun Sat"),
        ("sat-sun", "Sun Sat"),
        ("7", "Sun"),
    ],
)
def test_cron_weekdays_mean_what_cron_means(tmp_path, weekdays, days):
    text = BASE.replace('"30 7 * * 1-5"', f'"30 7 * * {weekdays}"')
    trigger = load_config(write(tmp_path, text), environ={}).digests[0].trigger()
    week = _fires(trigger, datetime(2026, 1, 4, tzinfo=UTC), 7)  # from a Sunday
    fired = {fire.strftime("%a") for fire in week if fire < datetime(2026, 1, 11, tzinfo=UTC)}
    assert fired == set(days.split())


def test_a_day_of_the_month_and_a_weekday_both_named_run_on_either_as_in_cron(tmp_path):
    # "30 7 1 * 1": the 1st of each month and every Monday (cron), not only a Monday that is the 1st.
    text = BASE.replace('"30 7 * * 1-5"', '"30 7 1 * 1"')
    digest = load_config(write(tmp_path, text), environ={}).digests[0]
    fires = _fires(digest.trigger(), datetime(2026, 1, 1, tzinfo=UTC), 10)
    assert [fire.astimezone(ZoneInfo(digest.timezone)).strftime("%a %d") for fire in fires] == [
        "Thu 01",
        "Mon 05",
        "Mon 12",
        "Mon 19",
        "Mon 26",
        "Sun 01",
        "Mon 02",
        "Mon 09",
        "Mon 16",
        "Mon 23",
    ]
    # A day written with a leading * is no restriction, as in cron: both fields must match.
    text = BASE.replace('"30 7 * * 1-5"', '"30 7 */2 * 1"')
    trigger = load_config(write(tmp_path, text), environ={}).digests[0].trigger()
    assert all(
        fire.day % 2 == 1 and fire.strftime("%a") == "Mon"
        for fire in _fires(trigger, datetime(2026, 1, 1, tzinfo=UTC), 5)
    )


@pytest.mark.parametrize("weekdays", ["2-1", "1-5/0", "8", "mon-funday"])
def test_a_cron_weekday_that_means_nothing_is_an_error(tmp_path, weekdays):
    text = BASE.replace('"30 7 * * 1-5"', f'"30 7 * * {weekdays}"')
    with pytest.raises(ConfigError, match="invalid cron expression"):
        load_config(write(tmp_path, text), environ={})
