"""Email: one multipart/alternative message (plain text, then HTML) per digest and period, over SMTP.

The Message-ID is derived from the digest, channel and period, so a message sent again after a crash
carries the same id and mail clients and people can tell it is a repeat.

Each recipient is followed on its own (``Recipients``): one the server puts off at RCPT (a 4xx) while
others take the message is sent that same message on the delivery's retries, alone; one it refuses for
good (a 5xx) is recorded and not tried again; and the others never get it twice.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses

from monitor.digest.notify import Accepted, DeliveryError, Recipients, Refusal, register_channel
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


def header_recipients(to: Sequence[str]) -> tuple[str, ...]:
    """The entries of ``to`` for the To header, as written, each address once."""
    seen: set[str] = set()
    kept = []
    for entry in to:
        addresses = {address.casefold() for _name, address in getaddresses([entry])}
        if not addresses <= seen:
            kept.append(entry)
        seen |= addresses
    return tuple(kept)


def build_message(digest: Digest, settings: EmailChannel, *, message_id: str, date: datetime) -> EmailMessage:
    """The MIME message: UTF-8 subject and bodies, a Date and the stable Message-ID."""
    # Bodies in 7 bits (quoted-printable or base64, whichever is shorter): left to itself, the email package
    # sends a UTF-8 body whose lines are all short as 8bit, and a message not all ASCII is sent as SMTPUTF8,
    # which many servers do not offer: the digest failed there for its "·" alone.
    message = EmailMessage(policy=policy.default.clone(cte_type="7bit"))
    # One line already; the policy encodes it (RFC 2047) as needed.
    message["Subject"] = literal_header(digest.subject)
    message["From"] = settings.from_
    message["To"] = ", ".join(header_recipients(settings.to))
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    # Exchange and Outlook heed their own header instead: each analyst away answered every digest.
    # Bounces (NDR) still come back: they say an address is wrong.
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
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
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return str(error)


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _hint(error: BaseException) -> str | None:
    code = getattr(error, "smtp_code", None)
    if isinstance(code, int) and 500 <= code < 600:
        # A permanent refusal is tried again all the same (a relay's rule may be mended), but said as such.
        return REFUSED_FOR_GOOD
    return None


REFUSED_FOR_GOOD = "the server refuses for good (5xx): check the relay's rules, the sender and the recipients"
NO_SMTPUTF8 = "the server takes no address in non-ASCII characters (it does not offer SMTPUTF8)"


def _refusals(refused: dict[str, tuple[int, bytes]]) -> list[Refusal]:
    return [
        Refusal(address, f"{code} {_text(reply)}", permanent=500 <= code < 600)
        for address, (code, reply) in refused.items()
    ]


def _put_off(refusals: Sequence[Refusal], owed: Sequence[str]) -> str:
    """The refusals of the recipients still ``owed`` the message, as the server said them."""
    still = {address.casefold() for address in owed}
    said = [f"{r.address}: {r.reply}" for r in refusals if r.address.casefold() in still][:5]
    return "; ".join(said) or ", ".join(owed[:5])


def _flat(message: EmailMessage, *, utf8: bool) -> bytes:
    """The message as sent: CRLF lines, and headers in UTF-8 when the session is SMTPUTF8 (RFC 6532)."""
    return message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)


def _tell(host: str, refusals: Sequence[Refusal]) -> None:
    """Log each recipient refused for good, once the others took the message: it will not get it."""
    for refusal in refusals:
        if refusal.permanent:
            log.warning(
                "SMTP %s refused %s for good (%s): it does not get this message "
                "(hint: check the address in to:, or remove it)",
                host,
                refusal.address,
                refusal.reply,
            )


def _refused_hint(refusals: Sequence[Refusal]) -> str:
    if refusals and all(refusal.permanent for refusal in refusals):
        return REFUSED_FOR_GOOD
    return "the server refused them for now (4xx): tried again later"


class _Unrecorded:
    """Recipients followed for one call only, for a sender used without a ledger."""

    def __init__(self) -> None:
        self.put_off: set[str] | None = None  # once one took it: those refused for now

    def owed(self, addresses: Sequence[str]) -> tuple[str, ...]:
        if self.put_off is None:
            return tuple(addresses)
        return tuple(address for address in addresses if address.casefold() in self.put_off)

    def kept(self) -> bytes | None:
        return None

    def record(self, *, accepted: Sequence[str], refused: Sequence[Refusal], message: bytes) -> None:
        if accepted:
            self.put_off = {r.address.casefold() for r in refused if not r.permanent}


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session politely if the server lets us; whatever it answers to QUIT changes nothing."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


class EmailSender:
    name = "email"
    addresses_recipients = True  # given ``recipients=``: each address of ``to`` is followed on its own

    def __init__(self, settings: EmailChannel, **_options: object) -> None:
        self.settings = settings

    def send(
        self, digest: Digest, *, message_id: str, accepted: Accepted, recipients: Recipients | None = None
    ) -> None:
        settings = self.settings
        recipients = recipients or _Unrecorded()
        everyone = settings.addresses()
        owed = recipients.owed(everyone)
        if not owed:  # every recipient has it (or refused it for good): a crash kept that from the record
            accepted(digest.content.article_ids)
            return
        # The message the others took, for those put off: the same message, not a later rendering of it.
        kept = recipients.kept()
        host, port, timeout = settings.host, settings.effective_port(), settings.timeout.total_seconds()
        smtp: smtplib.SMTP | None = None
        refusals: list[Refusal] = []
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
                smtp.ehlo_or_helo_if_needed()
                utf8 = smtp.has_extn("smtputf8")
                # An address in non-ASCII characters needs a server that takes them: the others still get it.
                refusals = [
                    Refusal(a, NO_SMTPUTF8, permanent=True) for a in owed if not (a.isascii() or utf8)
                ]
                sendable = [a for a in owed if a.isascii() or utf8]
                sender = getaddresses([settings.from_])[0][1] or settings.from_
                if not (sender.isascii() or utf8):
                    raise smtplib.SMTPNotSupportedError(f"the sender {sender}: {NO_SMTPUTF8}")
                international = utf8 and not all(a.isascii() for a in (sender, *sendable))
                raw = kept or _flat(
                    build_message(digest, settings, message_id=message_id, date=datetime.now(UTC)),
                    utf8=international,
                )
                if not sendable:
                    raise smtplib.SMTPRecipientsRefused({})
                options = ("SMTPUTF8", "BODY=8BITMIME") if international or not raw.isascii() else ()
                try:
                    refusals += _refusals(smtp.sendmail(sender, sendable, raw, options))
                except smtplib.SMTPRecipientsRefused as error:
                    refusals += _refusals(error.recipients)
                    raise
                took = [a for a in sendable if a not in {r.address for r in refusals}]
            finally:
                # Not ``with smtp``: its QUIT raises on any answer but 221 (or a timeout), and that after
                # the server's 250 to DATA made a message it took count as failed, and sent again.
                _quit(smtp)
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(
                f"SMTP {host}:{port} refused the login ({error.smtp_code})",
                hint="check the username and password",
            ) from error
        except smtplib.SMTPRecipientsRefused:
            took = []  # no one took it this time: told below, with whom it reached before
        except (OSError, smtplib.SMTPException) as error:
            maybe = smtp is not None and data_unanswered(smtp, error)
            raise DeliveryError(
                f"SMTP {host}:{port}: {_said(error)}"
                + (" (after the message was sent: it may have been delivered)" if maybe else ""),
                maybe_delivered=maybe,
                hint=_hint(error),
            ) from error
        # Who took it first, then its articles: a crash between the two sends it again to no one who has it.
        try:
            recipients.record(accepted=took, refused=refusals, message=raw)
        except Exception:
            if took:  # the database away: what went out is still said, and recorded once it is back
                accepted(digest.content.article_ids)
            raise
        still = recipients.owed(everyone)
        if took or not still:
            accepted(digest.content.article_ids)
        if len(still) == len(everyone):  # no one has it: a failed delivery, tried again for all
            raise DeliveryError(
                f"SMTP {host}:{port}: every recipient refused ("
                + "; ".join(f"{r.address}: {r.reply}" for r in refusals[:5])
                + ")",
                hint=_refused_hint(refusals),
            )
        _tell(host, refusals)
        if still:
            raise DeliveryError(
                f"SMTP {host}:{port}: put off {len(still)} of {len(everyone)} recipients "
                f"({_put_off(refusals, still)}); the others have the message, and its retries send it to "
                "these alone",
                hint="the server refused them for now (4xx): nothing to do unless it lasts",
            )


register_channel("email", EmailSender, EmailChannel)
