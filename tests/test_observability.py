"""What an operator sees: redacted log lines (text and JSON), /healthz and /metrics of a running daemon."""

from __future__ import annotations

import io
import json
import logging

import pytest

from monitor import logs
from monitor.logs import JsonFormatter, RedactingFilter, TextFormatter, redact

SLACK_TOKEN = "xoxbT0KENzz9f8g7h6"


# --- redaction -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, secret", [
    (f"POST https://hooks.slack.com/services/T0001/B0002/{SLACK_TOKEN} failed", SLACK_TOKEN),
    (f"slack said 404 for http://127.0.0.1:8080/services/T1/B2/{SLACK_TOKEN}", SLACK_TOKEN),
    ("connecting to postgresql://monitor:s3cr3t-pw@db.internal/monitor", "s3cr3t-pw"),
    ("GET https://ghp_abcdef123456@example.org/feed.xml", "ghp_abcdef123456"),
    ("fetch https://example.org/rss?token=abc123xyz&lang=en", "abc123xyz"),
    ("fetch https://example.org/rss?lang=en&api_key=K3Y-VALUE", "K3Y-VALUE"),
    ("fetch https://cdn.example.org/a.xml?X-Amz-Signature=deadbeef01&X-Amz-Date=1", "deadbeef01"),
    ("fetch https://example.org/feed?sig=0a1b2c3d", "0a1b2c3d"),
    ("fetch https://example.org/feed?secret=hush-hush", "hush-hush"),
    ("fetch https://example.org/feed?password=pa55word", "pa55word"),
    ("SMTP login failed: user=alerts password=hunter2-smtp", "hunter2-smtp"),
    ("smtp_password: 'quoted secret'", "quoted secret"),
    ("sent with Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
])
def test_redact_hides_secrets(text, secret):
    redacted = redact(text)
    assert secret not in redacted
    assert "***" in redacted


def test_redact_keeps_what_is_not_secret():
    text = ("poll feed=BBC outcome=ok url=https://example.org/rss.xml?lang=en&page=2 keyword=monkey "
            "db postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert redact(text) == text


def test_registered_secrets_are_hidden_in_any_form(monkeypatch):
    monkeypatch.setattr(logs, "_known_secrets", ())
    logs.register_secrets(["correct-horse-battery", "", "ab"])  # empty and tiny values are ignored
    assert redact("the SMTP server refused correct-horse-battery") == "the SMTP server refused ***"
    assert redact("ab cd") == "ab cd"


def _emit(formatter, message, *args, exc=None, **extra):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("monitor.test.redaction")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        if exc is not None:
            try:
                raise exc
            except Exception:
                logger.exception(message, *args, extra=extra)
        else:
            logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_filter_redacts_message_args_extra_fields_and_tracebacks():
    url = f"https://hooks.slack.com/services/T1/B2/{SLACK_TOKEN}"
    line = _emit(JsonFormatter(), "slack %s failed", url, exc=RuntimeError(f"status 500 from {url}"),
                 url=url, headers={"Authorization": "Bearer abcdefghijklmnop"}, feed="Team")
    assert SLACK_TOKEN not in line and "abcdefghijklmnop" not in line
    entry = json.loads(line)
    assert entry["message"] == "slack https://hooks.slack.com/services/*** failed"
    assert entry["url"] == "https://hooks.slack.com/services/***"
    assert entry["feed"] == "Team" and entry["level"] == "ERROR" and entry["logger"] == "monitor.test.redaction"
    assert "RuntimeError" in entry["exception"] and "time" in entry


def test_text_lines_show_feed_and_url():
    line = _emit(TextFormatter(), "poll outcome=ok", feed="Daily", url="https://example.org/d.xml?token=t0ps3cret")
    assert "poll outcome=ok feed=Daily url=https://example.org/d.xml?token=***" in line
    # Not twice when the message names them already.
    line = _emit(TextFormatter(), "poll feed=%s", "Daily", feed="Daily", url="https://example.org/d.xml")
    assert line.count("feed=") == 1 and "url=https://example.org/d.xml" in line
