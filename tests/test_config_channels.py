"""The configuration package's promises to the rest of the code: a channel registered by a plugin is
configured under a digest like a built-in one (validated by its own model, problems at their line) and
receives the digest; every key declared secret is hidden by `monitor check` and registered for the logs,
wherever its value was written; and the package's modules import in any order, without a cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from pydantic import Field
from support.digests import Copy, add_story

import monitor
import monitor.digest.notify as notify
from monitor.config import ConfigError, InvalidValue, load_config, secret, secret_values
from monitor.digest.notify import register_channel
from monitor.digest.notify.settings import ChannelSettings
from monitor.store.db import open_database

RECEIVED: list = []  # digests the pigeon channel was handed, in order


class PigeonChannel(ChannelSettings):
    """A channel as a plugin would write it: its own keys, one of them secret."""

    loft: str = ""
    token: str = secret("")
    birds: int = Field(3, ge=1, le=12)

    def missing_key(self) -> str | None:
        return None if self.loft else "loft"

    def describe(self) -> str:
        return f"{self.birds} birds from {self.loft}"


class PigeonSender:
    name = "pigeon"

    def __init__(self, settings: PigeonChannel, **_options: object) -> None:
        self.settings = settings

    def send(self, digest, *, message_id: str, accepted) -> None:
        RECEIVED.append((self.settings, digest))
        accepted(digest.content.article_ids)


@pytest.fixture
def pigeon():
    """The pigeon channel, registered for one test as a plugin registers it."""
    RECEIVED.clear()
    notify.channels()  # the built-ins first, as when a plugin is loaded from its entry point
    register_channel("pigeon", PigeonSender, PigeonChannel)
    yield
    notify._CHANNELS.pop("pigeon", None)


def digest_yaml(channels: str) -> str:
    return textwrap.dedent("""\
        feeds: []
        digests:
          - name: morning
            channels:
        """) + textwrap.indent(textwrap.dedent(channels), "      ")


def test_a_registered_channel_is_configured_like_a_built_in_one_and_gets_the_digest(pigeon, workspace):
    workspace.config_path.write_text(
        digest_yaml("""\
        pigeon:
          loft: rooftop
          token: coo-coo-written-inline
          birds: 5
        """)
    )
    db = open_database(workspace.database_url)
    with db.session() as session:
        add_story(
            session,
            title="Tehran ships missiles to Moscow",
            body="Officials said so. " * 5,
            terms=["missiles"],
            score=7.5,
            copies=[Copy("Wire One", "https://one.test/a/1")],
        )
    db.dispose()

    result = workspace.cli("digest", "morning", "--send-now")

    assert result.stdout.startswith("pigeon: sent (1 ")
    [(settings, digest)] = RECEIVED
    assert settings == PigeonChannel(loft="rooftop", token="coo-coo-written-inline", birds=5)
    assert "Tehran ships missiles to Moscow" in digest.text


def test_a_registered_channel_shows_in_check_with_its_secret_hidden(pigeon, workspace):
    workspace.config_path.write_text(
        digest_yaml("""\
        pigeon: {loft: rooftop, token: coo-coo-written-inline}
        """)
    )
    text = workspace.cli("check").stdout
    assert "pigeon: ready (3 birds from rooftop)" in text
    dump = json.loads(workspace.cli("check", "--json").stdout)
    assert dump["digests"][0]["channels"]["pigeon"]["token"] == "***"
    assert "coo-coo-written-inline" not in text + json.dumps(dump)


@pytest.mark.parametrize(
    ("channel", "line", "key", "words"),
    [
        (
            "pigeon: {loft: rooftop, birds: 40}",
            5,
            "digests[0].channels.pigeon.birds",
            "less than or equal to 12",
        ),
        ("pigeon:\n  lofts: rooftop", 6, "digests[0].channels.pigeon.lofts", "did you mean 'loft'?"),
        (
            "carrier: {loft: rooftop}",
            5,
            "digests[0].channels.carrier",
            "unknown channel 'carrier' (hint: channels: email, slack, webhook, pigeon)",
        ),
        ("slak: {webhook_url: ''}", 5, "digests[0].channels.slak", "did you mean 'slack'?"),
    ],
)
def test_a_registered_channel_is_validated_by_its_own_model_at_its_line(
    pigeon, tmp_path, channel, line, key, words
):
    path = tmp_path / "feeds.yaml"
    path.write_text(digest_yaml(channel))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    [problem] = caught.value.problems
    assert (problem.line, problem.key) == (line, key)
    assert words in f"{problem.message} (hint: {problem.hint})"


def test_a_plugin_channel_loads_from_its_entry_point(tmp_path, monkeypatch):
    (tmp_path / "pigeon_plugin.py").write_text(
        textwrap.dedent("""\
        from monitor.digest.notify import register_channel
        from monitor.digest.notify.settings import ChannelSettings

        class Settings(ChannelSettings):
            loft: str = ""

        register_channel("pigeon", object, Settings)
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint(name="pigeon", value="pigeon_plugin", group=notify.ENTRY_POINT_GROUP)
    monkeypatch.setattr(notify, "entry_points", lambda group: [point] if group == point.group else [])
    monkeypatch.setattr(notify, "_loaded", False)
    try:
        assert list(notify.channels()) == ["email", "slack", "webhook", "pigeon"]
        path = tmp_path / "feeds.yaml"
        path.write_text(digest_yaml("pigeon: {loft: rooftop}"))
        assert load_config(path, environ={}).digests[0].channels.configured()["pigeon"].loft == "rooftop"
    finally:
        notify._CHANNELS.pop("pigeon", None)
        sys.modules.pop("pigeon_plugin", None)


EMAIL = """\
email:
  host: smtp.example.org
  password: {password}
  from: monitor@example.org
  to: [ana@example.org]
webhook:
  url: https://hooks.example.org/in/{token}
  headers: {{Authorization: Bearer bearer-written-inline, Accept: application/json}}
"""


@pytest.mark.parametrize("written", ["inline", "from the environment"])
def test_check_hides_every_key_declared_secret_wherever_it_was_written(workspace, monkeypatch, written):
    if written == "inline":
        password, token = "pw-written-inline-123", "token-written-inline"
    else:
        monkeypatch.setenv("SMTP_PASSWORD", "pw-from-the-environment")
        monkeypatch.setenv("HOOK_TOKEN", "token-from-the-environment")
        password, token = "${SMTP_PASSWORD}", "${HOOK_TOKEN}"
    workspace.config_path.write_text(digest_yaml(EMAIL.format(password=password, token=token)))
    secrets = (
        "pw-written-inline-123",
        "token-written-inline",
        "bearer-written-inline",
        "pw-from-the-environment",
        "token-from-the-environment",
    )

    text = workspace.cli("check").stdout
    shown = workspace.cli("check", "--json").stdout
    assert not [value for value in secrets if value in text + shown]
    channels = json.loads(shown)["digests"][0]["channels"]
    assert channels["email"]["password"] == channels["webhook"]["url"] == "***"
    assert channels["webhook"]["headers"] == {"Authorization": "***", "Accept": "***"}

    # The logs hide the same values (a Content-Type is no secret: it would blank out ordinary words).
    config = load_config(workspace.config_path)
    registered = secret_values(config)
    assert {
        config.digests[0].channels.email.password,
        config.digests[0].channels.webhook.url,
        "Bearer bearer-written-inline",
    } <= registered
    assert "application/json" not in registered


def test_an_smtp_host_and_addresses_from_the_environment_are_shown_and_its_password_hidden(
    workspace, monkeypatch
):
    # Everything read from ${VAR} was hidden, a host too: every log line naming it (the feeds on that host,
    # the listener's address) was blanked out, while a host is no secret. Its password still is.
    monkeypatch.setenv("SMTP_HOST", "smtp.relay.example")
    monkeypatch.setenv("SMTP_PASSWORD", "pw-from-the-environment")
    monkeypatch.setenv("SMTP_FROM", "monitor@newsroom.example")
    monkeypatch.setenv("SMTP_TO", "desk@newsroom.example")
    monkeypatch.setenv("LISTEN", "127.0.0.1:9178")
    monkeypatch.setenv("CONTACT", "ops@newsroom.example")
    email = (
        "email:\n  host: ${SMTP_HOST}\n  password: ${SMTP_PASSWORD}\n  from: ${SMTP_FROM}\n"
        '  to: ["${SMTP_TO}"]\n'
    )
    workspace.config_path.write_text(
        "settings:\n  listen: ${LISTEN}\n  contact: ${CONTACT}\n" + digest_yaml(email)
    )
    shown = json.loads(workspace.cli("check", "--json").stdout)
    email_shown = shown["digests"][0]["channels"]["email"]
    assert email_shown["host"] == "smtp.relay.example"
    assert email_shown["to"] == ["desk@newsroom.example"]
    assert email_shown["password"] == "***"
    assert shown["settings"]["listen"] == "127.0.0.1:9178"
    assert shown["settings"]["contact"] == "***"  # a person's address, from the environment: hidden as before
    registered = secret_values(load_config(workspace.config_path))
    assert "pw-from-the-environment" in registered and "ops@newsroom.example" in registered
    assert not {"smtp.relay.example", "desk@newsroom.example", "127.0.0.1:9178"} & registered


def fresh_python(code: str) -> str:
    """What ``code`` prints in a new interpreter that imports this checkout's ``monitor``."""
    env = {**os.environ, "PYTHONPATH": str(Path(monitor.__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()


@pytest.mark.parametrize(
    "first",
    [
        "monitor.config.durations",
        "monitor.digest.notify.settings",
        "monitor.watchlist.model",
        "monitor.config.reader",
        "monitor.config.schema",
        "monitor.config.edit",
        "monitor.config",
    ],
)
def test_the_config_modules_import_in_any_order(first):
    # Each in a fresh interpreter: an import cycle shows only when its other end is not loaded yet.
    code = (
        f"import {first}; from monitor.config import Config, load_config, YamlReader, InvalidValue; "
        "import sys; print('monitor.config.schema' in sys.modules)"
    )
    assert fresh_python(code) == "True"


def test_the_watchlist_reads_through_the_public_reader_without_loading_the_schema():
    code = "import sys, monitor.watchlist.model; print('monitor.config.schema' in sys.modules)"
    assert fresh_python(code) == "False"


def test_one_invalid_value_error_for_every_check():
    from monitor.config.durations import parse_duration

    with pytest.raises(InvalidValue) as caught:
        parse_duration("soon")
    assert caught.value.hint.startswith("use a number with s, m, h, d or w")


def test_every_section_of_feeds_yaml_is_a_section(pigeon):
    from typing import get_args

    from pydantic import BaseModel

    from monitor.config import Config, Section

    def models(model: type[BaseModel]):
        yield model
        for field in model.model_fields.values():
            for inner in (field.annotation, *get_args(field.annotation)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from models(inner)

    found = {*models(Config), *(channel.settings for channel in notify.channels().values())}
    assert PigeonChannel in found and len(found) > 10
    assert [model.__name__ for model in found if not issubclass(model, Section)] == []
    assert all(
        model.model_config["extra"] in ("forbid", "allow") and model.model_config["frozen"] for model in found
    )
