"""Email: one multipart/alternative message (plain text, then HTML) per digest and period, over SMTP.

The Message-ID is derived from the digest, channel and period, so a message sent again after a crash
carries the same id and mail clients and people can tell it is a repeat.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses

from monitor.digest.notify import Accepted, DeliveryError, register_channel
from monitor.digest.notify.render import Digest
from monitor.digest.notify.settings import EmailChannel

log = logging.getLogger(__name__)


def stable_message_id(digest: str, kind: str, channel: str, period: datetime, domain: str) -> str:
    """The same "<...@domain>" for the same digest, channel and period, whoever sends it and how often."""
    key = f"{digest}\x00{kind}\x00{channel}\x00{period.isoformat()}".encode()
    return f"<{kind}.{hashlib.sha256(key).hexdigest()[:32]}@{domain or 'monitor.invalid'}>"


def sender_domain(address: str) -> str:
    """The domain of an address like "Monitor <digest@example.org>"."""
    parsed = getaddresses([address])
    return parsed[0][1].rpartition("@")[2] if parsed and "@" in parsed[0][1] else ""


def build_message(digest: Digest, settings: EmailChannel, *, message_id: str, date: datetime) -> EmailMessage:
    """The MIME message: UTF-8 subject and bodies, a Date and the stable Message-ID."""
    message = EmailMessage()
    # One line already; the policy encodes it (RFC 2047) as needed.
    message["Subject"] = literal_header(digest.subject)
    message["From"] = settings.from_
    message["To"] = ", ".join(settings.to)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message["X-Monitor-Digest"] = digest.content.name
    message.set_content(digest.text, subtype="plain", charset="utf-8")
    message.add_alternative(digest.html, subtype="html", charset="utf-8")
    if not _reads_back(message):
        # A headline that some mail library still turns into headers of its own: the digest goes out
        # under its name alone rather than not at all.
        log.warning(
            "digest %s: its subject did not survive encoding as one header; sent as %r",
            digest.content.name,
            fallback := f"{digest.content.kind.capitalize()} {digest.content.name}",
        )
        message.replace_header("Subject", literal_header(fallback))
    return message


def literal_header(text: str) -> str:
    """``text`` as a header value that mail programs show as it is.

    "=?" opens an RFC 2047 encoded word, which Python's email package (when the value is set) and every
    mail reader decode: a feed's headline "=?utf-8?q?=0D=0AReply-To:...?=" became a line break and a
    header of its own, with the digest's real headers pushed into its body (on Pythons without the fix
    for CVE-2024-6923), and "=?utf-8?b?...?=" shows readers other words than the feed's. A word joiner
    (U+2060, invisible) between the two characters leaves it text.
    """
    return text.replace("=?", "=\u2060?")


def _reads_back(message: EmailMessage) -> bool:
    """Whether ``message``, as sent, parses back to the same headers and subject: what ``literal_header``
    cannot foresee is caught here, before a server takes it."""
    parsed = BytesParser(policy=policy.SMTP).parsebytes(message.as_bytes(policy=policy.SMTP))

    def unfolded(value: object) -> str:  # a long subject is folded, right after its name too
        return " ".join(str(value).split())

    return [name.lower() for name in parsed.keys()] == [name.lower() for name in message.keys()] and unfolded(
        parsed["Subject"]
    ) == unfolded(message["Subject"])


def data_unanswered(smtp: smtplib.SMTP, error: BaseException) -> bool:
    """Whether ``error`` ended the session after DATA was sent without the server's answer to it: the
    server may have taken the message (and will deliver it) before the connection dropped. An answer
    (a 4xx or 5xx code) means it did not."""
    if isinstance(error, smtplib.SMTPResponseException):
        return False
    return getattr(smtp, "_monitor_in_data", False)


class _Smtp(smtplib.SMTP):
    """smtplib's client, noting when DATA was sent (see ``data_unanswered``)."""

    _monitor_in_data = False

    def data(self, msg):  # noqa: D102 - smtplib's
        self._monitor_in_data = True
        return super().data(msg)


class _SmtpSsl(smtplib.SMTP_SSL):
    _monitor_in_data = False

    def data(self, msg):  # noqa: D102 - smtplib's
        self._monitor_in_data = True
        return super().data(msg)


def _said(error: BaseException) -> str:
    """What the server said, as it said it ("554 5.7.1 Relay access denied"), not Python's tuple of it
    ("(554, b'5.7.1 Relay access denied')")."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refusals = [
            f"{address}: {code} {_text(reply)}"
            for address, (code, reply) in list(error.recipients.items())[:5]
        ]
        return "every recipient refused (" + "; ".join(refusals) + ")"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return str(error)


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _hint(error: BaseException) -> str | None:
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused) or (isinstance(code, int) and 500 <= code < 600):
        # A permanent refusal is tried again all the same (a relay's rule may be mended), but said as such.
        return "the server refuses for good (5xx): check the relay's rules, the sender and the recipients"
    return None


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session politely if the server lets us; whatever it answers to QUIT changes nothing."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


class EmailSender:
    name = "email"

    def __init__(self, settings: EmailChannel, **_options: object) -> None:
        self.settings = settings

    def send(self, digest: Digest, *, message_id: str, accepted: Accepted) -> None:
        message = build_message(digest, self.settings, message_id=message_id, date=datetime.now(UTC))
        settings = self.settings
        host, port, timeout = settings.host, settings.effective_port(), settings.timeout.total_seconds()
        smtp: smtplib.SMTP | None = None
        try:
            if settings.security == "tls":
                smtp = _SmtpSsl(host, port, timeout=timeout, context=ssl.create_default_context())
            else:
                smtp = _Smtp(host, port, timeout=timeout)
            try:
                if settings.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if settings.username:
                    smtp.login(settings.username, settings.password)
                refused = smtp.send_message(message)
            finally:
                # Not ``with smtp``: its QUIT raises on any answer but 221 (or a timeout), and that after
                # the server's 250 to DATA made a message it took count as failed, and sent again.
                _quit(smtp)
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(
                f"SMTP {host}:{port} refused the login ({error.smtp_code})",
                hint="check the username and password",
            ) from error
        except (OSError, smtplib.SMTPException) as error:
            maybe = smtp is not None and data_unanswered(smtp, error)
            raise DeliveryError(
                f"SMTP {host}:{port}: {_said(error)}"
                + (" (after the message was sent: it may have been delivered)" if maybe else ""),
                maybe_delivered=maybe,
                hint=_hint(error),
            ) from error
        if refused:  # some recipients refused, some took it: the message is out, and cannot be taken back
            log.warning("SMTP %s refused recipients %s", host, sorted(refused))
        accepted(digest.content.article_ids)


register_channel("email", EmailSender, EmailChannel)
