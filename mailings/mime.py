"""A mail as bytes: a plain-text part and an optional HTML alternative, in standard MIME.

The email package writes the same thing, but through a general machinery
(header objects folded one by one, a boundary searched for in the whole
text, a generator walking the tree) that costs about half of what sending a
mail costs the platform when thousands of reminders go out together.  The
mails here always have one shape, so they are written directly: headers
ASCII or RFC 2047 encoded-words (the email package's `Header` does the
encoding), both parts UTF-8 in base64 (7-bit safe for every server), and a
boundary beginning "=_", which base64 text can never contain.
`tests/test_mailer.py` reads the result back with the email package.
"""
from __future__ import annotations

import base64
import email.utils
import secrets
from collections.abc import Mapping
from email.header import Header


def _header(value: str) -> str:
    # One line of words: a header value never carries line breaks of its own.
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8").encode().replace("\n", "\r\n")


def _part(content_type: str, body: str) -> bytes:
    return (f"Content-Type: {content_type}; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .encode() + base64.encodebytes(body.encode()).replace(b"\n", b"\r\n"))


def build(*, sender: str, to: str, subject: str, text: str, html: str | None = None,
          headers: Mapping[str, str] | None = None, domain: str = "livehall") -> bytes:
    """The message; `sender` may be "Name <address>" with a name in any script."""
    name, address = email.utils.parseaddr(sender)
    lines = [
        f"From: {email.utils.formataddr((name, address), charset='utf-8')}",
        f"To: {to}",
        f"Subject: {_header(subject)}",
        f"Date: {email.utils.formatdate(localtime=False)}",
        f"Message-ID: {email.utils.make_msgid(domain=domain)}",
        "MIME-Version: 1.0",
    ]
    lines += [f"{key}: {_header(value)}" for key, value in (headers or {}).items()]
    head = ("\r\n".join(lines) + "\r\n").encode()
    if not html:
        return head + _part("text/plain", text)
    boundary = f"=_{secrets.token_hex(16)}"
    return (head + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
            + f"--{boundary}\r\n".encode() + _part("text/plain", text)
            + f"--{boundary}\r\n".encode() + _part("text/html", html)
            + f"--{boundary}--\r\n".encode())


def envelope(sender: str, to: str) -> tuple[str, list[str]]:
    """(MAIL FROM address, RCPT TO addresses) of a message built by `build`."""
    return email.utils.parseaddr(sender)[1], [email.utils.parseaddr(to)[1]]
