"""`monitor check` says, per digest channel, whether it will send or be skipped and why, with no secret."""

from __future__ import annotations

import json

CONFIG = """\
feeds:
  - name: A
    url: http://127.0.0.1:9/a.xml
digests:
  - name: morning
    channels:
      email:
        host: ${SMTP_HOST:-}
        username: ${SMTP_USERNAME:-}
        password: ${SMTP_PASSWORD:-}
        from: Monitor <monitor@example.org>
        to: [ana@example.org, desk@example.org]
      slack:
        webhook_url: ${SLACK_WEBHOOK_URL:-}
      webhook:
        url: https://hooks.example.org/monitor/${HOOK_TOKEN:-none}?key=${HOOK_KEY:-k}
        headers: {Authorization: "Bearer ${HOOK_BEARER:-b}"}
    alerts:
      min_score: 45
      channels: [slack]
  - name: evening
    channels:
      email:
        host: smtp.example.org
        from: monitor@example.org
        to: ${EVENING_TO:-}
  - name: quiet
"""

SECRETS = {
    "SMTP_USERNAME": "user-not-shown",
    "SMTP_PASSWORD": "pw-not-shown-1234",
    "HOOK_TOKEN": "token-not-shown",
    "HOOK_KEY": "key-not-shown",
    "HOOK_BEARER": "bearer-not-shown",
}


def test_check_shows_each_channel_ready_or_skipped_without_secrets(workspace, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SMTP_HOST", "smtp.example.org")
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("EVENING_TO", raising=False)
    workspace.config_path.write_text(CONFIG)

    text = workspace.cli("check").stdout
    assert "digest morning:\n" in text
    assert "  email: ready (smtp.example.org:587, starttls, 2 recipients, with login)\n" in text
    assert "  slack: skipped — SLACK_WEBHOOK_URL is empty (its alerts too)\n" in text
    assert "  webhook: ready (POST to https://hooks.example.org, 1 header)\n" in text
    assert "digest evening:\n  email: skipped — EVENING_TO is empty\n" in text
    assert "digest quiet:\n  no channels: nothing will be sent" in text
    assert "  topics: all\n" in text  # a digest of every topic, not of none

    shown = workspace.json("check")
    assert shown["channels"] == [
        {
            "digest": "morning",
            "channel": "email",
            "status": "ready",
            "detail": "smtp.example.org:587, starttls, 2 recipients, with login",
            "alerts": False,
        },
        {
            "digest": "morning",
            "channel": "slack",
            "status": "skipped",
            "detail": "SLACK_WEBHOOK_URL is empty",
            "alerts": True,
        },
        {
            "digest": "morning",
            "channel": "webhook",
            "status": "ready",
            "detail": "POST to https://hooks.example.org, 1 header",
            "alerts": False,
        },
        {
            "digest": "evening",
            "channel": "email",
            "status": "skipped",
            "detail": "EVENING_TO is empty",
            "alerts": False,
        },
    ]
    json_text = json.dumps(shown)
    for value in SECRETS.values():
        assert value not in text and value not in json_text


def test_a_slack_channel_with_its_url_is_ready_and_shows_only_the_site(workspace, monkeypatch):
    secret = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", secret)
    workspace.config_path.write_text(CONFIG)
    text = workspace.cli("check").stdout
    assert "  slack: ready (incoming webhook at https://hooks.slack.com), alerts too\n" in text
    assert "XXXXsecretXXXX" not in text and "/services/" not in text
    assert "XXXXsecretXXXX" not in workspace.cli("check", "--json").stdout


def test_a_channel_left_empty_in_the_file_says_what_is_missing(workspace):
    workspace.config_path.write_text(
        "feeds: []\ndigests:\n  - name: d\n    channels:\n      email: {host: smtp.example.org, to: [a@example.org]}\n"
    )
    assert "  email: skipped — no sender in 'from'\n" in workspace.cli("check").stdout


def test_check_shows_the_topics_of_a_watchlist_file(workspace):
    # They take effect from the file: the configuration's own empty list was shown as the watchlist.
    (workspace.config_path.parent / "topics.yaml").write_text(
        "aliases:\n  iran: [Iran, Tehran]\ntopics:\n  - name: arms\n    query: '@iran AND drones'\n"
    )
    workspace.config_path.write_text(
        "feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\nwatchlist:\n  file: topics.yaml\n"
    )

    shown = workspace.json("check")["watchlist"]
    assert shown["file"] == "topics.yaml"
    assert shown["aliases"] == {"iran": ["Iran", "Tehran"]}
    assert [(t["name"], t["query"]) for t in shown["topics"]] == [("arms", "@iran AND drones")]
    assert "query: '@iran AND drones'" in workspace.cli("check").stdout
