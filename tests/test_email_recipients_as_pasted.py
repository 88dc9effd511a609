"""Recipients as a mail client copies them: "ana@…; bo@…" in one line of `to:` are two recipients: each
receives the digest, and the To line names each (it used to stop at the ';')."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from support.digests import NOW
from support.smtp import _Keeper, free_port
from test_digest import digest_config, seed

from monitor.config import ConfigError, load_config
from monitor.digest import runner as runner_module
from monitor.digest.runner import DigestRunner, period_of


@pytest.fixture(autouse=True)
def _no_catch_up(monkeypatch):
    monkeypatch.setattr(runner_module, "CATCH_UP_WITHIN", timedelta(0))


def write_digest(tmp_path: Path, to: object, port: int = 25) -> Path:
    digest = digest_config(tmp_path, smtp_port=port)
    digest["channels"]["email"]["to"] = to
    (tmp_path / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": [], "digests": [digest]}, allow_unicode=True)
    )
    return tmp_path / "feeds.yaml"


def test_recipients_pasted_in_one_line_each_receive_the_digest(db, tmp_path: Path) -> None:
    seed(db)
    port = free_port()
    path = write_digest(tmp_path, "ana@monitor.test; Bo Berg <bo@monitor.test>, cy@monitor.test", port)
    email = load_config(path).digests[0].channels.email
    assert email is not None and email.to == (
        "ana@monitor.test",
        "Bo Berg <bo@monitor.test>",
        "cy@monitor.test",
    )
    recipients_in_order = ["ana@monitor.test", "bo@monitor.test", "cy@monitor.test"]
    keeper = _Keeper()
    server = Controller(keeper, hostname="127.0.0.1", port=port)
    server.start()
    try:
        runner = DigestRunner(db, load_config(path).digests[0], owner="test")
        [outcome] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
        assert outcome.status == "sent", outcome.error
    finally:
        server.stop()
    [(_, recipients)] = keeper.envelopes
    assert sorted(recipients) == ["ana@monitor.test", "bo@monitor.test", "cy@monitor.test"]
    # And the To line each of them reads names all three (it stopped at the ';': Bo was left out of it).
    [message] = keeper.messages
    assert [a.addr_spec for a in message["To"].addresses] == recipients_in_order


def test_a_name_with_a_comma_unquoted_is_told_to_take_quotes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_digest(tmp_path, ["Doe, Jane <jane@monitor.test>"]))
    (problem,) = caught.value.problems
    assert problem.message == "'Doe' is not an email address"
    assert problem.hint is not None and '"Doe, Jane" <jane@example.org>' in problem.hint
    assert load_config(write_digest(tmp_path, ['"Doe, Jane" <jane@monitor.test>'])).digests[0].channels.email
