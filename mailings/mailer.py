"""Sending mail: every message is written to the outbox first, then sent.

With SMTP settings the message goes out through aiosmtplib and its outbox
entry is marked sent or failed (with the server's answer).  Without them the
outbox is the destination, so the demo works with no mail server.  Writing
first means nothing is lost if the process dies between composing and
sending.

A message that carries a secret (a sign-in or reset link, a password) comes
with a staff copy in which every secret is replaced by a placeholder.  The
outbox entry's `subject`, `text` and `html` are always what staff may read:
the staff copy for such a message, the message itself otherwise.  The real
message goes only to the recipient's mail server; where there is none, it
is kept under `full`, which only the platform outbox shows
(`mailings.outbox`), so that a platform admin can pass it on.  An event's staff
never read a working link or password, and so can never obtain a session
for an account they do not govern.
"""
from __future__ import annotations

import email.utils
import logging
from collections.abc import Mapping
from email.message import EmailMessage

import aiosmtplib

from core.clock import utcnow
from core.config import Settings

log = logging.getLogger(__name__)

QUEUED, SENT, FAILED, STORED = "queued", "sent", "failed", "stored"


class Mailer:
    def __init__(self, db, settings: Settings, metrics=None):
        self.db = db
        self.settings = settings
        self.metrics = metrics

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def build(self, to: str, subject: str, text: str, html: str | None = None,
              headers: Mapping[str, str] | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        msg["Message-ID"] = email.utils.make_msgid(domain="livehall")
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        return msg

    async def send(self, *, to: str, subject: str, text: str, html: str | None = None,
                   event_id=None, kind: str = "", mailing_id=None,
                   staff_copy: tuple[str, str, str | None] | None = None,
                   headers: Mapping[str, str] | None = None) -> dict:
        """Record and send one message; `staff_copy` (subject, text, html) when it holds a secret.

        `headers`: extra headers such as List-Unsubscribe (`mailings.unsubscribe`).
        """
        shown = staff_copy or (subject, text, html)
        entry = {
            "to": to, "subject": shown[0], "text": shown[1], "html": shown[2], "event_id": event_id,
            "kind": kind, "mailing_id": mailing_id, "created_at": utcnow(),
            "status": QUEUED if self.smtp_enabled else STORED, "error": None, "sent_at": None,
            "redacted": staff_copy is not None,
        }
        if staff_copy is not None and not self.smtp_enabled:
            entry["full"] = {"subject": subject, "text": text, "html": html}
        await self.db.outbox.insert_one(entry)
        if not self.smtp_enabled:
            self._count("stored")
            return entry
        try:
            await self._deliver(self.build(to, subject, text, html, headers))
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("smtp delivery failed", extra={"to": to, "error": str(exc)})
            await self.db.outbox.update_one({"_id": entry["_id"]},
                                            {"$set": {"status": FAILED, "error": str(exc)[:500]}})
            entry.update(status=FAILED, error=str(exc)[:500])
            self._count("failed")
            return entry
        await self.db.outbox.update_one({"_id": entry["_id"]},
                                        {"$set": {"status": SENT, "sent_at": utcnow()}})
        entry.update(status=SENT)
        self._count("sent")
        return entry

    async def _deliver(self, msg: EmailMessage) -> None:
        s = self.settings
        await aiosmtplib.send(
            msg, hostname=s.smtp_host, port=s.smtp_port,
            username=s.smtp_user or None, password=s.smtp_password or None,
            use_tls=s.smtp_tls == "tls", start_tls=s.smtp_tls == "starttls",
            timeout=30,
        )

    def _count(self, result: str) -> None:
        if self.metrics:
            self.metrics.mail.labels(result).inc()
