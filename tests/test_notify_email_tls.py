"""Email over STARTTLS and implicit TLS, against aiosmtpd on 127.0.0.1 with a certificate made by the test."""

from __future__ import annotations

import ssl

import pytest
import yaml
from aiosmtpd.controller import Controller
from support.digests import NOW
from support.smtp import _Keeper, free_port
from support.tls import HAVE_OPENSSL, self_signed_certificate
from test_digest import digest_config, seed

from monitor.config import load_config
from monitor.digest.runner import DigestRunner, period_of

pytestmark = pytest.mark.skipif(not HAVE_OPENSSL, reason="openssl is needed to make a certificate")


@pytest.fixture
def certificate(tmp_path, monkeypatch):
    """A self-signed certificate for 127.0.0.1, trusted by this test's clients (SSL_CERT_FILE)."""
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def send(db, tmp_path, security, **server_options):
    """Run one digest through an SMTP server started with ``server_options``; its outcome and messages."""
    seed(db)
    keeper, port = _Keeper(), free_port()
    digest = digest_config(tmp_path, smtp_port=port)
    digest["channels"]["email"]["security"] = security
    (tmp_path / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": [], "digests": [digest]}, allow_unicode=True)
    )
    runner = DigestRunner(db, load_config(tmp_path / "feeds.yaml").digests[0], owner="test")
    server = Controller(keeper, hostname="127.0.0.1", port=port, **server_options)
    server.start()
    try:
        [outcome] = runner.run(period=period_of(runner.digest, NOW), now=NOW)
    finally:
        server.stop()
    return outcome, keeper.messages


def test_starttls_is_required_and_used(db, tmp_path, certificate):
    outcome, messages = send(db, tmp_path, "starttls", tls_context=certificate, require_starttls=True)
    assert outcome.status == "sent"
    assert len(messages) == 1 and messages[0].get_content_type() == "multipart/alternative"


def test_implicit_tls(db, tmp_path, certificate):
    outcome, messages = send(db, tmp_path, "tls", ssl_context=certificate)
    assert outcome.status == "sent" and len(messages) == 1


def test_a_server_that_requires_starttls_refuses_plain_text_and_nothing_is_delivered(
    db, tmp_path, certificate
):
    outcome, messages = send(db, tmp_path, "none", tls_context=certificate, require_starttls=True)
    assert outcome.status != "sent" and messages == []
