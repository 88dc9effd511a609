"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), keeping every message it receives, parsed.

``SmtpServer(port)`` can be stopped and started again on the same port, to play an outage: while it is
stopped, connections are refused. ``drop_after_data`` plays a server that takes a message and drops the
connection before its answer; ``holding`` one that takes a message and keeps the sender waiting for its
answer until it is set back to False; ``reject_with`` one that refuses every message with that reply
(at DATA, after taking its recipients); ``refuse`` one that refuses some recipients at RCPT (address ->
reply, "452 4.2.2 mailbox busy") and takes the message for the others. ``smtputf8`` offers SMTPUTF8, so
that addresses in non-ASCII characters are taken (aiosmtpd's default is not to).
"""

from __future__ import annotations

import asyncio
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Self

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Keeper:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, tuple[str, ...]]] = []
        self.drop_after_data = 0  # this many next messages are taken, then the connection dropped unanswered
        self.holding = False  # messages are taken, and answered only once this is False again
        self.reject_with: str | None = None  # a reply ("554 ...") refusing every message, none kept
        self.refuse: dict[str, str] = {}  # address (any case) -> the reply refusing it at RCPT

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        refusals = {refused.casefold(): reply for refused, reply in self.refuse.items()}
        if (reply := refusals.get(address.casefold())) is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    def received_by(self, address: str) -> list[EmailMessage]:
        """The messages taken for ``address`` (in the envelope: a To header names every recipient)."""
        return [
            message
            for message, (_sender, rcpt_tos) in zip(self.messages, self.envelopes, strict=True)
            if address.casefold() in (rcpt.casefold() for rcpt in rcpt_tos)
        ]

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.reject_with is not None:
            return self.reject_with
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, tuple(envelope.rcpt_tos)))
        if self.drop_after_data:
            self.drop_after_data -= 1
            server.transport.abort()  # kept, and so delivered; but the client never hears the 250
        while self.holding:
            await asyncio.sleep(0.05)
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int | None = None, *, smtputf8: bool = False) -> None:
        self.port = port or free_port()
        self.smtputf8 = smtputf8
        self.keeper = _Keeper()
        self._controller: Controller | None = None

    @property
    def drop_after_data(self) -> int:
        return self.keeper.drop_after_data

    @drop_after_data.setter
    def drop_after_data(self, count: int) -> None:
        self.keeper.drop_after_data = count

    @property
    def reject_with(self) -> str | None:
        return self.keeper.reject_with

    @reject_with.setter
    def reject_with(self, reply: str | None) -> None:
        self.keeper.reject_with = reply

    @property
    def holding(self) -> bool:
        return self.keeper.holding

    @holding.setter
    def holding(self, value: bool) -> None:
        self.keeper.holding = value

    @property
    def refuse(self) -> dict[str, str]:
        return self.keeper.refuse

    @property
    def messages(self) -> list[EmailMessage]:
        return self.keeper.messages

    def received_by(self, address: str) -> list[EmailMessage]:
        return self.keeper.received_by(address)

    def start(self) -> SmtpServer:
        self._controller = Controller(
            self.keeper, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def email_channel(port: int, *to: str) -> dict:
    """A digest's ``email`` channel sending to the test server on ``port``, to ``to`` (the desk by default)."""
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "Monitor <digest@monitor.test>",
        "to": list(to) or ["desk@monitor.test"],
    }
