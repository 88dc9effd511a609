"""Alerts on a developing story: its first write-up over the threshold is alerted at once; the write-ups that
follow within ``alerts.update_after`` wait and go together as one update once it has passed, rather than an
alert a minute for as long as the story breaks. Another story is alerted at once all the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from support.digests import Copy, add_story
from support.smtp import SmtpServer
from test_email_recipients import ANA, runner_for

from monitor.digest.runner import alert_period
from monitor.store.models import Article

EVERY = timedelta(minutes=1)


def _now() -> datetime:
    """The test's start. Not an import-time constant: the ledger stamps what went out by the wall clock, and a
    test started minutes after collection found its first alert inside the quiet window it meant to leave."""
    return datetime.now(UTC).replace(microsecond=0)


def write_up(db, *, story_of: int, outlet: str, url: str, title: str, at) -> int:
    """A new write-up of the story of article ``story_of``, matched at ``at``."""
    with db.session() as session:
        [article_id] = add_story(
            session,
            title=title,
            body=f"{title}. Officials gave more details on Tuesday.",
            terms=["missiles"],
            score=9.0,
            copies=[Copy(outlet, url)],
            story=False,
            published=at - timedelta(minutes=6),
            matched_at=at,
        )
        story_id = session.get(Article, story_of).story_id
        session.execute(update(Article).where(Article.id == article_id).values(story_id=story_id))
    return article_id


def breaking_story(db, now: datetime) -> int:
    """A story's first write-up, over the alert threshold, matched a minute before ``now``: its article id."""
    with db.session() as session:
        [first] = add_story(
            session,
            title="Tehran ships missiles to Moscow",
            body="Two officials said Tehran shipped missiles to Moscow this week.",
            terms=["missiles"],
            score=9.0,
            copies=[Copy("Wire One", "https://one.test/a/1")],
            published=now - timedelta(minutes=10),
            matched_at=now - timedelta(minutes=1),
        )
    return first


def alert(runner, at):
    [outcome] = runner.run(kind="alert", period=alert_period(EVERY, at), now=at)
    return outcome


def test_write_ups_of_a_story_just_alerted_wait_and_go_together(db, tmp_path):
    NOW = _now()  # noqa: N806 - the wall clock's: the ledger stamps what went out by it
    with SmtpServer() as smtp:
        runner = runner_for(
            db,
            tmp_path,
            smtp.port,
            ANA,
            alerts={"min_score": 8, "channels": ["email"], "update_after": "30m"},
        )
        first = breaking_story(db, NOW)
        assert alert(runner, NOW).status == "sent"

        # The story breaks: a write-up every few minutes. None pings the channel within the half hour.
        for n in range(1, 6):
            at = NOW + timedelta(minutes=5 * n)
            write_up(
                db,
                story_of=first,
                outlet=f"Outlet {n}",
                url=f"https://o{n}.test/s",
                title=f"Update {n}",
                at=at,
            )
            assert alert(runner, at + timedelta(seconds=30)).status == "empty"

        # Another story is news of its own: alerted at once.
        with db.session() as session:
            add_story(
                session,
                title="Kyiv reports a new kind of drone",
                body="Kyiv said a new kind of drone struck a power plant overnight, with missiles.",
                terms=["missiles"],
                score=9.0,
                copies=[Copy("Daily Two", "https://two.test/b/9")],
                published=NOW + timedelta(minutes=20),
                matched_at=NOW + timedelta(minutes=26),
            )
        assert alert(runner, NOW + timedelta(minutes=26, seconds=30)).status == "sent"

        # Past the half hour, the story's five write-ups go as one update.
        assert alert(runner, NOW + timedelta(minutes=31)).status == "sent"
        assert alert(runner, NOW + timedelta(minutes=32)).status == "empty"
    messages = smtp.received_by(ANA)
    assert len(messages) == 3
    update_text = messages[2].get_body(("plain",)).get_content()
    assert all(f"Update {n}" in update_text for n in range(1, 6)), update_text


def test_update_after_zero_alerts_each_write_up_at_once(db, tmp_path):
    NOW = _now()  # noqa: N806 - the wall clock's: the ledger stamps what went out by it
    with SmtpServer() as smtp:
        runner = runner_for(
            db, tmp_path, smtp.port, ANA, alerts={"min_score": 8, "channels": ["email"], "update_after": "0s"}
        )
        first = breaking_story(db, NOW)
        assert alert(runner, NOW).status == "sent"
        at = NOW + timedelta(minutes=5)
        write_up(db, story_of=first, outlet="Outlet 1", url="https://o1.test/s", title="Update 1", at=at)
        assert alert(runner, at + timedelta(seconds=30)).status == "sent"
    assert len(smtp.received_by(ANA)) == 2
