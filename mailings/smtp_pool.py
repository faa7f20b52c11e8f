"""Open SMTP connections kept for reuse, and a DATA exchange that records the hand-over before it ends.

Opening a connection per message costs a name lookup (in a thread), a TCP
and often a TLS handshake, EHLO and a login: several times the work of the
message itself when thousands go out.  `Pool` keeps up to `size`
connections per server (host, port, TLS mode, login) open and hands them out
one message at a time; a connection idle for longer than `IDLE_SECONDS`, or
one the server closed, is replaced.

`send` carries one message over a connection and calls `commit` after the
whole message has been written and *before* the line that ends it
(".").  An SMTP server takes responsibility for a message only when it
reads that line (RFC 5321, 4.1.1.4); until then, a dropped connection makes
it discard what it got.  So whoever records in `commit` that the message is
being handed over knows afterwards that the server got it at most once from
this attempt, and a message whose attempt stopped before `commit` can be sent
again without the server ever holding two.  If `commit` fails, the line is
never sent and the connection is dropped.

The DATA exchange is written against aiosmtplib's protocol object (its
command lock, `write` and `read_response`) because its `data()` sends the
ending line in the same call; the version is pinned in requirements.txt and
`tests/test_mailer.py` proves the server discards an unfinished message.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from aiosmtplib.typing import SMTPStatus

from mailings.space_mail import Transport

IDLE_SECONDS = 20.0
SIZE = 8  # connections per server and process


def _key(transport: Transport) -> tuple:
    return (transport.host, transport.port, transport.tls, transport.user, transport.password)


class Pool:
    def __init__(self, size: int = SIZE, timeout: float = 30):
        self.size = size
        self.timeout = timeout
        self._idle: dict[tuple, list[tuple[aiosmtplib.SMTP, float]]] = {}
        self._gates: dict[tuple, asyncio.Semaphore] = {}

    async def _open(self, transport: Transport) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(hostname=transport.host, port=transport.port, timeout=self.timeout,
                               use_tls=transport.tls == "tls", start_tls=transport.tls == "starttls",
                               username=transport.user or None, password=transport.password or None)
        await smtp.connect()
        return smtp

    def _take_idle(self, key: tuple) -> aiosmtplib.SMTP | None:
        idle = self._idle.get(key) or []
        now = time.monotonic()
        while idle:
            smtp, since = idle.pop()
            if smtp.is_connected and now - since < IDLE_SECONDS:
                return smtp
            smtp.close()
        return None

    async def send(self, transport: Transport, sender: str, recipients: list[str], data: bytes,
                   commit: Callable[[], Awaitable[bool]]) -> tuple[dict[str, tuple[int, str]], str]:
        """Send one message: (refused recipients, the server's answer), as `aiosmtplib.send` gives them.

        `commit` runs before the ending line; when it returns False the
        message is abandoned (`Abandoned`) and the server never takes it.
        Raises what aiosmtplib raises for refusals and failures.
        """
        key = _key(transport)
        gate = self._gates.setdefault(key, asyncio.Semaphore(self.size))
        async with gate:
            smtp = self._take_idle(key)
            reused = smtp is not None
            if smtp is None:
                smtp = await self._open(transport)
            try:
                try:
                    result = await _send(smtp, sender, recipients, data, commit, self.timeout)
                except aiosmtplib.SMTPServerDisconnected:
                    if not reused:
                        raise
                    # A kept connection the server had closed meanwhile: once more on a new one.
                    smtp = await self._open(transport)
                    result = await _send(smtp, sender, recipients, data, commit, self.timeout)
            except BaseException:
                smtp.close()
                raise
            self._idle.setdefault(key, []).append((smtp, time.monotonic()))
            return result

    async def close(self) -> None:
        for idle in self._idle.values():
            for smtp, _ in idle:
                try:
                    await asyncio.wait_for(smtp.quit(), 2)
                except (TimeoutError, aiosmtplib.SMTPException, OSError):
                    smtp.close()
        self._idle.clear()


class Abandoned(Exception):
    """The commit before the ending line said no: the message was not handed over."""


async def _send(smtp: aiosmtplib.SMTP, sender: str, recipients: list[str], data: bytes, commit, timeout: float):
    await smtp._ehlo_or_helo_if_needed()
    options: list[str] = []
    # The message is 7-bit (`mailings.mime`); only addresses outside ASCII need the server's SMTPUTF8.
    utf8 = not (sender + "".join(recipients)).isascii()
    if utf8:
        if not smtp.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("this server takes no addresses outside ASCII (SMTPUTF8)")
        options.append("SMTPUTF8")
    try:
        await smtp.mail(sender, options=options, encoding="utf-8" if utf8 else "ascii")
        refused: dict[str, tuple[int, str]] = {}
        for rcpt in recipients:
            try:
                await smtp.rcpt(rcpt, encoding="utf-8" if utf8 else "ascii")
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused[rcpt] = (exc.code, exc.message)
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(code, text, rcpt) for rcpt, (code, text) in refused.items()])
        response = await _data(smtp, data, commit, timeout)
    except (aiosmtplib.SMTPResponseException, Abandoned):
        # The connection is still good for the next message once the transaction is reset.
        if smtp.is_connected:
            try:
                await smtp.rset()
            except aiosmtplib.SMTPException:
                smtp.close()
        raise
    return refused, response.message


async def _data(smtp: aiosmtplib.SMTP, data: bytes, commit, timeout: float):
    protocol = smtp.protocol
    if protocol is None or protocol._command_lock is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    body = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data))
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    async with protocol._command_lock:
        protocol._response_pending = True
        protocol.write(b"DATA\r\n")
        start = await protocol.read_response(timeout=timeout)
        if start.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol.write(body)
        if not await commit():
            # Without the ending line the server discards what it got; the connection is not reusable.
            smtp.close()
            raise Abandoned()
        protocol._response_pending = True
        protocol.write(b".\r\n")
        response = await protocol.read_response(timeout=timeout)
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response
