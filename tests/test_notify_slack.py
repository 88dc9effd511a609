"""Slack and webhook delivery against a local HTTP receiver: blocks, escaping, splitting to Slack's limits,
and faults (500, then 429 with Retry-After, then 200) that lose nothing and repeat nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from support.digests import NOW, Copy, add_story
from support.httpserver import Route
from test_digest import _no_catch_up, digest_config  # noqa: F401 - the autouse fixture, as there

from monitor.config import load_config
from monitor.digest.notify.slack_blocks import MAX_BLOCKS, MAX_TEXT
from monitor.digest.runner import DigestRunner
from monitor.store.models import Delivery, DeliveryItem


def runner_for(db, tmp_path, **kwargs) -> DigestRunner:
    digest_config(tmp_path, **kwargs)
    return DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test")


def payloads(web, path="/hooks/slack") -> list[dict]:
    return [json.loads(r.body) for r in web.requests_for(path) if r.status == 200]


def texts(payload: dict) -> list[str]:
    """Every text field of a payload."""
    found = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [element["text"] for element in block.get("elements", ())]
    return found


def many_stories(db, count: int, topics: int = 3) -> set[int]:
    ids = set()
    with db.session() as session:
        for n in range(count):
            ids |= set(
                add_story(
                    session,
                    title=f"Report {n} on missile deliveries & <talks>",
                    topic=f"topic-{n % topics}",
                    body=f"Officials said missile deliveries continued, report number {n}. " * 3,
                    terms=["missile"],
                    score=1 + n % 7,
                    wire=True,
                    copies=[
                        Copy(f"Outlet {n}", f"https://o{n}.test/a/{n}"),
                        Copy(f"Second {n}", f"https://s{n}.test/b/{n}"),
                    ],
                )
            )
    return ids


def drone_story(db) -> None:
    with db.session() as session:
        add_story(
            session,
            title="Drone shipment reported",
            body="A drone shipment was reported today.",
            terms=["drone"],
            copies=[Copy("Wire One", "https://one.test/a/1")],
        )


def test_slack_digest_is_split_within_limits_and_every_story_goes_out_once(db, tmp_path, web):
    web.set("/hooks/slack", Route(body="ok"))
    ids = many_stories(db, 150)
    runner = runner_for(db, tmp_path, slack_url=web.url("/hooks/slack"), max_items=60)
    [outcome] = runner.run(period=NOW, now=NOW)
    assert outcome.status == "sent" and outcome.stories == 150
    sent = payloads(web)
    assert len(sent) >= 3  # 150 stories and 3 topic titles do not fit in 50 blocks
    headlines = []
    for number, payload in enumerate(sent, start=1):
        assert len(payload["blocks"]) <= MAX_BLOCKS
        assert payload["blocks"][0]["type"] == "header"
        assert payload["blocks"][0]["text"]["text"].endswith(f"({number}/{len(sent)})")
        assert all(len(text) <= MAX_TEXT for text in texts(payload))
        for text in texts(payload)[1:]:
            headlines += [line for line in text.split("\n") if line.startswith("*<https://o")]
    # 3 topics x 50 stories, 60 allowed each: every story shown once, with its second outlet linked.
    assert len(headlines) == 150 == len(set(headlines))
    first = sent[0]["blocks"][2]["text"]["text"]
    assert "&amp; &lt;talks&gt;" in first and "<talks>" not in first
    assert "Wire copy carried by 1 more outlet: <https://s" in first
    with db.session() as session:
        assert {item.article_id for item in session.query(DeliveryItem) if item.delivered_at} == ids


def test_slack_500_then_429_then_200_nothing_lost_nothing_repeated(db, tmp_path, web):
    drone_story(db)
    web.set_sequence(
        "/hooks/slack",
        [
            Route(status=500, body="server error"),
            Route(status=429, headers={"Retry-After": "1"}, body="rate limited"),
            Route(body="ok"),
        ],
    )
    runner = runner_for(db, tmp_path, slack_url=web.url("/hooks/slack"))
    [down] = runner.run(period=NOW, now=NOW)
    assert down.status == "failed" and "500" in down.error
    with db.session() as session:
        assert not [item for item in session.query(DeliveryItem) if item.delivered_at]
    assert "hooks" not in down.error  # the webhook URL is a secret
    [back] = runner.retry_due(now=down.next_attempt_at + timedelta(seconds=1))
    assert back.status == "sent"
    statuses = [r.status for r in web.requests_for("/hooks/slack")]
    assert statuses == [500, 429, 200]
    gap = web.requests_for("/hooks/slack")[2].at - web.requests_for("/hooks/slack")[1].at
    assert gap >= 0.9  # Retry-After was honoured
    assert runner.retry_due(now=NOW + timedelta(days=1)) == []
    assert runner.run(period=NOW + timedelta(hours=1), now=NOW + timedelta(hours=1))[0].status == "empty"
    [payload] = payloads(web)
    assert "Drone shipment reported" in payload["blocks"][2]["text"]["text"]


def test_long_retry_after_fails_the_attempt_and_backs_off_at_least_that_long(db, tmp_path, web):
    with db.session() as session:
        add_story(
            session,
            title="Drone shipment",
            body="Drones.",
            terms=["Drones"],
            copies=[Copy("Wire One", "https://one.test/a/1")],
        )
    web.set("/hooks/slack", Route(status=429, headers={"Retry-After": "900"}))
    [outcome] = runner_for(db, tmp_path, slack_url=web.url("/hooks/slack")).run(period=NOW, now=NOW)
    assert outcome.status == "failed" and outcome.next_attempt_at - NOW >= timedelta(seconds=900)


def test_a_slack_webhook_that_redirects_says_so_without_the_address(db, tmp_path, web):
    drone_story(db)
    web.set("/hooks/slack", Route(status=308, headers={"Location": "https://hooks.test/services/SECRET"}))
    [outcome] = runner_for(db, tmp_path, slack_url=web.url("/hooks/slack")).run(period=NOW, now=NOW)
    assert outcome.status == "failed"
    assert "the webhook URL redirects" in outcome.error and "copy the webhook URL anew" in outcome.error
    assert "SECRET" not in outcome.error


def test_webhook_gets_the_digest_as_json_with_a_stable_id(db, tmp_path, web):
    with db.session() as session:
        add_story(
            session,
            title="Missiles & drones",
            body="Missiles and drones were delivered.",
            terms=["Missiles"],
            wire=True,
            copies=[Copy("Wire One", "https://one.test/a/1"), Copy("Daily Two", "https://two.test/b/2")],
        )
    web.set("/hooks/json", Route(body="ok"))
    runner = runner_for(db, tmp_path, webhook_url=web.url("/hooks/json"))
    assert runner.run(period=NOW, now=NOW)[0].status == "sent"
    [request] = web.requests_for("/hooks/json")
    body = json.loads(request.body)
    assert body["digest"] == "morning" and body["stories"] == 1 and body["id"].startswith("digest.")
    assert request.headers["idempotency-key"] == body["id"]
    [item] = body["topics"][0]["items"]
    assert item["headline"] == "Missiles & drones" and item["url"] == "https://one.test/a/1"
    assert [(c["outlet"], c["url"]) for c in item["copies"]] == [("two.test", "https://two.test/b/2")]
    assert item["writeups"] == [] and item["update"] is False
    assert item["excerpt"][slice(*item["highlights"][0])] == "Missiles"


def test_a_channel_with_an_empty_secret_is_skipped_with_a_log_line(db, tmp_path, caplog):
    runner = runner_for(db, tmp_path, slack_url="")
    assert runner.run(period=NOW, now=NOW) == []
    assert "channel slack skipped: no webhook_url" in caplog.text
    assert "owed" not in caplog.text


def test_a_skipped_channel_says_what_deliveries_wait_on_it(db, tmp_path, caplog):
    # Sent by hand with the secret in the environment, a digest failed; the daemon, started without the
    # secret, skips the channel and retries nothing there: it said so without a word of what waited.
    with db.session() as session:
        session.add(
            Delivery(
                digest="morning",
                kind="digest",
                channel="slack",
                period=NOW - timedelta(hours=1),
                status="failed",
                attempts=1,
                next_attempt_at=NOW - timedelta(minutes=1),
                created_at=NOW - timedelta(hours=1),
            )
        )
    runner = runner_for(db, tmp_path, slack_url="")
    assert runner.retry_due(now=NOW) == []
    assert "channel slack skipped: no webhook_url" in caplog.text
    assert "; 1 delivery owed on it waits until it can send (monitor deliveries lists them)" in caplog.text


def test_a_slack_post_left_unanswered_is_unconfirmed_not_failed(db, tmp_path, web):
    """Slack took the POST and answered after the timeout: it may well have shown the message. Recorded
    as unreachable and failed, the next digest could carry its articles as well."""
    drone_story(db)
    web.set("/hooks/slack", Route(body="ok", delay=3))
    slack = {"webhook_url": web.url("/hooks/slack"), "timeout": "1s"}
    runner = runner_for(db, tmp_path, channels={"slack": slack})
    [slow] = runner.run(period=NOW, now=NOW)
    assert (
        slow.status == "failed" and "may have been posted" in slow.error and "unreachable" not in slow.error
    )
    with db.session() as session:
        assert [delivery.status for delivery in session.query(Delivery)] == ["unconfirmed"]
    later = NOW + timedelta(hours=1)
    assert runner.run(period=later, now=later)[-1].status == "empty"  # its articles stay with it
