"""The end of an SMTP session: once the server answered 250 to the message, what it says (or fails to say)
to QUIT changes nothing. The message is out and counts as sent; it is not sent again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import yaml
from aiosmtpd.controller import Controller
from support.digests import NOW
from support.smtp import _Keeper, free_port
from test_digest import digest_config, seed

from monitor.config import load_config
from monitor.digest import runner as runner_module
from monitor.digest.runner import DigestRunner, period_of
from monitor.store.models import Delivery


class _OddQuit(_Keeper):
    """Takes every message, then answers QUIT with ``reply``, or not at all for ``hang`` seconds."""

    def __init__(self, reply: str | None = None, hang: float = 0.0) -> None:
        super().__init__()
        self.reply, self.hang = reply, hang

    async def handle_QUIT(self, server, session, envelope):
        if self.hang:
            await asyncio.sleep(self.hang)
        return self.reply or "221 Bye"


@pytest.fixture(autouse=True)
def _no_catch_up(monkeypatch):
    # Only the periods the test names: no scheduled run the wall clock puts between them is made late.
    monkeypatch.setattr(runner_module, "CATCH_UP_WITHIN", timedelta(0))


@pytest.mark.parametrize(
    "keeper",
    [_OddQuit(reply="500 5.5.1 Command unrecognized"), _OddQuit(reply="421 4.3.0 closing"), _OddQuit(hang=3)],
    ids=["5xx", "4xx", "no answer"],
)
def test_a_message_the_server_took_is_sent_once_whatever_it_answers_to_quit(db, tmp_path, keeper):
    seed(db)
    port = free_port()
    digest = digest_config(tmp_path, smtp_port=port)
    digest["channels"]["email"]["timeout"] = "1s"  # the hanging QUIT outlasts it
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": [], "digests": [digest]}))
    runner = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test")
    server = Controller(keeper, hostname="127.0.0.1", port=port)
    server.start()
    try:
        period = period_of(runner.digest, NOW)
        [outcome] = runner.run(period=period, now=NOW)
        assert outcome.status == "sent", outcome.error
        assert runner.retry_due(now=NOW + timedelta(hours=2)) == []
        [next_day] = runner.run(period=period + timedelta(days=1), now=NOW + timedelta(days=1))
        assert next_day.status == "empty"
    finally:
        server.stop()
    assert len(keeper.messages) == 1
    with db.session() as session:
        assert sorted(row.status for row in session.query(Delivery)) == ["empty", "sent"]


class _RefusesEveryone(_Keeper):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 no such user"


def test_a_failed_delivery_and_its_hint_are_one_log_line(db, tmp_path, caplog):
    # A text log escapes a newline: the hint used to follow as "\x0a  hint: ...".
    seed(db)
    port = free_port()
    (tmp_path / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": [], "digests": [digest_config(tmp_path, smtp_port=port)]})
    )
    runner = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test")
    server = Controller(_RefusesEveryone(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        with caplog.at_level("WARNING", logger="monitor.digest.runner"):
            [outcome] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
    finally:
        server.stop()
    assert outcome.status == "failed"
    [line] = [r.getMessage() for r in caplog.records if "failed (" in r.getMessage()]
    assert "\n" not in line and "; hint: the server refuses for good" in line
