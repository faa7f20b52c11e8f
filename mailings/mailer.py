"""Sending mail: every message is written to the outbox first, then sent.

With a mail server (the platform's SMTP settings, or the event's space's own
server: `mailings.space_mail`) the message goes out through aiosmtplib;
without one the outbox is the destination, so the demo works with no mail
server.  Writing first means nothing is lost if the process dies between
composing and sending.

Delivery is a small queue kept in the outbox itself:

- an entry is sent by whoever claims it, atomically: the process that
  writes it (it is written already claimed), or later the periodic
  `deliver_due` of any process (a conditional update from "queued" to
  "sending" with a lease).  Two processes never hold one entry at once; an
  entry whose holder died is claimed again once its lease has run out;
- a space's rate (messages per minute) hands out sending slots one
  `60 / rate` seconds apart, reserved atomically on the space's settings
  document, so several processes together keep to it.  A message whose slot
  is later waits in the outbox with `next_attempt_at` at its slot;
- a temporary failure (a 4xx answer, a refused or timed-out connection)
  is tried again after a growing delay (`RETRY_DELAYS`), then given up as
  "failed"; a permanent one (5xx) is final at once.  Each entry records its
  `attempts`, the server's `last_answer` (code and text), `next_attempt_at`
  and, when the server refused the recipient at send time, `bounced`.

Each message reaches its server at most once, and once unless the
process stops in one narrow moment.  An entry is marked "handed" (one
database write, batched with the other messages of that instant) after the
whole message has been written to the server and before the line that ends
it (`mailings.smtp_pool`): the server takes a message only with that line.
So an entry still "sending" when its holder died was never taken, and is
sent again by whoever claims it; an entry "handed" when its holder died may
or may not have been taken, and is counted as sent without being sent again,
marked `unconfirmed` with the reason in `last_answer` (at most once: the
moment between that write and the server's answer is all that is
uncertain).  Connections to a server are kept open and reused.

A message that carries a secret (a sign-in or reset link, a password) comes
with a staff copy in which every secret is replaced by a placeholder.  The
outbox entry's `subject`, `text` and `html` are always what staff may read:
the staff copy for such a message, the message itself otherwise.  The real
message is kept under `full` only while it still has to be sent (and for
good where no mail server delivers it); only the platform outbox shows
`full` (`mailings.outbox`).  An event's staff never read a working link or
password, and so can never obtain a session for an account they do not
govern.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import os
import secrets
import socket
from collections.abc import Mapping

import aiosmtplib
from pymongo.errors import BulkWriteError, DuplicateKeyError

from core.clock import utcnow
from core.config import Settings
from mailings import mime, smtp_pool, space_mail
from mailings.space_mail import Transport
from storage.batching import TickBatch

log = logging.getLogger(__name__)

QUEUED, SENDING, HANDED, SENT, FAILED, STORED = "queued", "sending", "handed", "sent", "failed", "stored"
UNCONFIRMED = ("The sending process stopped after handing the message to the server, before its answer; "
               "counted as sent and not sent again.")
# Seconds to wait after the 1st, 2nd, ... temporary failure; after the last one the entry fails.
RETRY_DELAYS = (60, 300, 1800, 7200)
LEASE = datetime.timedelta(minutes=2)
POLL_SECONDS = 5
BATCH = 200
SLOT_TRIES = 100


class Mailer:
    def __init__(self, db, settings: Settings, metrics=None, fernet=None,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS, timeout: float = 30):
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.fernet = fernet
        self.retry_delays = retry_delays
        self._timeout = timeout
        self.runner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.pool = smtp_pool.Pool(timeout=timeout)
        # Hand-over marks of messages going out at the same moment share one write.
        self._handover = TickBatch(self._mark_handed)
        self._sent = TickBatch(self._mark_sent)

    async def close(self) -> None:
        await self.pool.close()

    @property
    def timeout(self) -> float:
        """Seconds the mail server may take to answer, on each connection the pool opens."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._timeout = self.pool.timeout = seconds

    @property
    def smtp_enabled(self) -> bool:
        """Whether the platform itself has a mail server (a space may have its own)."""
        return bool(self.settings.smtp_host)

    async def transport(self, event_id) -> Transport:
        return await space_mail.event_transport(self.db, self.fernet, self.settings, event_id)

    def build(self, to: str, subject: str, text: str, html: str | None = None,
              sender: str | None = None, headers: Mapping[str, str] | None = None) -> bytes:
        """The message as bytes (`mailings.mime`): a plain-text part, and an HTML alternative when there is one."""
        return mime.build(sender=sender or self.settings.mail_from, to=to, subject=subject, text=text, html=html,
                          headers=headers)

    async def send(self, *, to: str, subject: str, text: str, html: str | None = None,
                   event_id=None, kind: str = "", mailing_id=None,
                   staff_copy: tuple[str, str, str | None] | None = None, final: bool = False,
                   headers: Mapping[str, str] | None = None, key: str | None = None) -> dict:
        """Record and send one message; `staff_copy` (subject, text, html) when it holds a secret.

        `headers`: extra headers such as List-Unsubscribe (`mailings.unsubscribe`), kept with the
        entry so a later attempt sends them too.

        `final`: the caller needs the outcome now (it settles something on it),
        so the message waits for its rate slot here and is tried once; a
        temporary failure is then final too.  Otherwise a message whose slot
        is later, or whose server failed for now, stays queued for `deliver_due`.
        """
        transport = await self.transport(event_id)
        entry = self._entry(transport, to=to, subject=subject, text=text, html=html, event_id=event_id,
                            kind=kind, mailing_id=mailing_id, staff_copy=staff_copy, headers=headers, key=key)
        try:
            await self.db.outbox.insert_one(entry)
        except DuplicateKeyError:
            if key is None:
                raise
            return await self.db.outbox.find_one({"key": key}) or entry
        if not transport.enabled:
            self._count("stored")
            return entry
        return await self._attempt(entry, transport, final=final)

    async def send_many(self, messages: list[dict], *, event_id, kind: str,
                        concurrency: int = 2 * smtp_pool.SIZE) -> tuple[list[dict], int]:
        """Record and send several messages of one event: (the entries written, how many were already there).

        Each message is a dict of `send`'s arguments (to, subject, text, html,
        staff_copy, headers) with a `key` naming it uniquely (a unique index):
        a message whose key is in the outbox already is neither written nor
        sent again, so a batch that a crash interrupted, or that two
        processes make at once, reaches each recipient once.
        """
        transport = await self.transport(event_id)
        entries = [self._entry(transport, event_id=event_id, kind=kind, **m) for m in messages]
        if not entries:
            return [], 0
        taken = await self._insert_new(entries)
        if not transport.enabled:
            self._count("stored", len(taken))
            return taken, len(entries) - len(taken)
        gate = asyncio.Semaphore(concurrency)

        async def one(entry: dict) -> dict:
            async with gate:
                try:
                    return await self._attempt(entry, transport)
                except Exception:
                    # Left "sending": its lease runs out and `deliver_due` takes it.
                    log.exception("mail delivery crashed", extra={"outbox_id": str(entry["_id"])})
                    return entry
        return list(await asyncio.gather(*(one(e) for e in taken))), len(entries) - len(taken)

    async def _insert_new(self, entries: list[dict]) -> list[dict]:
        try:
            await self.db.outbox.insert_many(entries, ordered=False)
            return entries
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            repeated = {e["index"] for e in errors}
            return [e for i, e in enumerate(entries) if i not in repeated]

    def _entry(self, transport: Transport, *, to: str, subject: str, text: str, html: str | None = None,
               event_id=None, kind: str = "", mailing_id=None,
               staff_copy: tuple[str, str, str | None] | None = None,
               headers: Mapping[str, str] | None = None, key: str | None = None) -> dict:
        shown = staff_copy or (subject, text, html)
        now = utcnow()
        entry = {
            "to": to, "subject": shown[0], "text": shown[1], "html": shown[2], "event_id": event_id,
            "kind": kind, "mailing_id": mailing_id, "created_at": now,
            "status": SENDING if transport.enabled else STORED, "error": None, "sent_at": None,
            "redacted": staff_copy is not None, "space_id": transport.space_id,
            "attempts": 0, "last_answer": None, "next_attempt_at": None,
        }
        if transport.enabled:
            # Written already claimed: no other process's deliver_due takes it meanwhile.
            entry.update(lease_until=now + LEASE, claimed_by=self.runner)
        if staff_copy is not None:
            entry["full"] = {"subject": subject, "text": text, "html": html}
        if headers:
            entry["headers"] = dict(headers)
        if key is not None:
            entry["key"] = key
        return entry

    async def deliver_due(self, limit: int = BATCH) -> int:
        """Send queued entries whose time has come (and those a dead process held); how many were tried."""
        await self._settle_abandoned_handovers()
        tried = 0
        while tried < limit:
            entry = await self._claim()
            if entry is None:
                break
            tried += 1
            try:
                await self._attempt(entry, await self.transport(entry.get("event_id")))
            except Exception:
                log.exception("mail delivery crashed", extra={"outbox_id": str(entry["_id"])})
        return tried

    async def tick(self) -> None:
        """The periodic round: whatever is due, a batch at a time."""
        await self.deliver_due()

    async def _claim(self) -> dict | None:
        now = utcnow()
        claim = {"$set": {"status": SENDING, "lease_until": now + LEASE, "claimed_by": self.runner}}
        # Two questions rather than one `$or`: each is answered from the status index alone.
        due = await self.db.outbox.find_one_and_update({"status": QUEUED, "next_attempt_at": {"$lte": now}}, claim,
                                                       sort=[("next_attempt_at", 1)], return_document=True)
        if due is not None:
            return due
        return await self.db.outbox.find_one_and_update({"status": SENDING, "lease_until": {"$lte": now}}, claim,
                                                        return_document=True)

    async def _settle_abandoned_handovers(self) -> None:
        """Entries handed over by a process that then stopped: sent as far as anyone can know; never again."""
        now = utcnow()
        done = await self.db.outbox.update_many(
            {"status": HANDED, "lease_until": {"$lte": now}},
            {"$set": {"status": SENT, "sent_at": now, "unconfirmed": True, "next_attempt_at": None,
                      "last_answer": {"code": None, "text": UNCONFIRMED, "at": now}},
             "$unset": {"full": ""}})
        if done.modified_count:
            log.warning("mail handed over by a stopped process counted as sent",
                        extra={"count": done.modified_count})
            self._count("unconfirmed", done.modified_count)

    async def _mark_handed(self, ids: list) -> list[bool]:
        """Mark entries this process holds as handed over; for each, whether it still held it."""
        found = {"_id": {"$in": ids}, "status": SENDING, "claimed_by": self.runner}
        done = await self.db.outbox.update_many(found, {"$set": {"status": HANDED, "handed_at": utcnow()}})
        if done.modified_count == len(ids):
            return [True] * len(ids)
        # Some lease was taken over meanwhile: those are not ours to send.
        mine = {e["_id"] async for e in self.db.outbox.find(
            {"_id": {"$in": ids}, "status": HANDED, "claimed_by": self.runner}, {"_id": 1})}
        return [i in mine for i in ids]

    async def _mark_sent(self, items: list[tuple]) -> list[None]:
        """Settle as sent the entries of one instant, one write per (attempts, server's answer) alike."""
        now = utcnow()
        groups: dict[tuple, list] = {}
        for entry_id, attempts, answer in items:
            groups.setdefault((attempts, answer), []).append(entry_id)
        for (attempts, answer), ids in groups.items():
            # Only while this process still holds them, as every settling write.
            await self.db.outbox.update_many(
                {"_id": {"$in": ids}, "claimed_by": self.runner},
                {"$set": {"status": SENT, "sent_at": now, "attempts": attempts, "error": None,
                          "last_answer": {"code": 250, "text": answer, "at": now}, "next_attempt_at": None},
                 "$unset": {"full": ""}})
        return [None] * len(items)

    async def _attempt(self, entry: dict, transport: Transport, final: bool = False) -> dict:
        """One try at an entry this process holds; the entry as it now stands."""
        if not transport.enabled:
            # The space's server was removed and the platform has none: kept for staff to pass on.
            return await self._settle(entry, {"status": STORED, "next_attempt_at": None}, "stored")
        if transport.rate and entry.get("slot_at") is None:
            slot = await self._reserve_slot(transport)
            wait = (slot - utcnow()).total_seconds()
            if wait > 0 and not final:
                return await self._settle(entry, {"status": QUEUED, "next_attempt_at": slot, "slot_at": slot,
                                                  "lease_until": None}, None)
            if wait > 0:
                await self.db.outbox.update_one({"_id": entry["_id"], "claimed_by": self.runner},
                                                {"$set": {"lease_until": slot + LEASE, "slot_at": slot}})
                await asyncio.sleep(wait)
        message = entry.get("full") or {"subject": entry["subject"], "text": entry["text"],
                                        "html": entry.get("html")}
        sender = transport.sender or self.settings.mail_from
        data = self.build(entry["to"], message["subject"], message["text"], message.get("html"),
                          sender=sender, headers=entry.get("headers"))
        attempts = entry.get("attempts", 0) + 1
        now = utcnow()
        code, answer, bounced = None, "", False
        handed = False

        async def commit() -> bool:
            nonlocal handed
            handed = await self._handover.submit(entry["_id"])
            return handed
        try:
            refused, answer = await self.pool.send(transport, *mime.envelope(sender, entry["to"]), data, commit)
            if refused:
                code, answer = next(iter(refused.values()))
                bounced = code >= 500
        except smtp_pool.Abandoned:
            log.info("mail taken over by another process", extra={"outbox_id": str(entry["_id"])})
            return entry
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            code, answer, bounced = first.code, first.message, first.code >= 500
        except aiosmtplib.SMTPResponseException as exc:
            code, answer = exc.code, exc.message
        except (aiosmtplib.SMTPException, OSError) as exc:
            if handed:
                # The message's end went out and no answer came back: it may have been taken.
                return await self._settle(entry, {
                    "status": SENT, "sent_at": now, "attempts": attempts, "unconfirmed": True,
                    "last_answer": {"code": None, "text": f"{UNCONFIRMED} ({exc or type(exc).__name__})"[:500],
                                    "at": now}, "next_attempt_at": None,
                }, "unconfirmed", unset_full=True)
            answer = str(exc) or type(exc).__name__
        else:
            if not refused:
                await self._sent.submit((entry["_id"], attempts, answer[:500]))
                entry.update({"status": SENT, "sent_at": now, "attempts": attempts, "error": None,
                              "last_answer": {"code": 250, "text": answer[:500], "at": now},
                              "next_attempt_at": None})
                entry.pop("full", None)
                self._count("sent")
                return entry
        last = {"code": code, "text": answer[:500], "at": now}
        error = f"{code} {answer}"[:500] if code else answer[:500]
        temporary = code is None or 400 <= code < 500
        log.warning("smtp delivery failed", extra={"to": entry["to"], "error": error,
                                                   "attempt": attempts, "temporary": temporary})
        if temporary and not final and attempts <= len(self.retry_delays):
            retry_at = now + datetime.timedelta(seconds=self.retry_delays[attempts - 1])
            return await self._settle(entry, {
                "status": QUEUED, "attempts": attempts, "error": error, "last_answer": last,
                "next_attempt_at": retry_at, "slot_at": None, "lease_until": None,
            }, "deferred")
        return await self._settle(entry, {
            "status": FAILED, "attempts": attempts, "error": error, "last_answer": last,
            "next_attempt_at": None, "bounced": bounced,
        }, "failed", unset_full=True)

    async def _settle(self, entry: dict, fields: dict, counted: str | None, unset_full: bool = False) -> dict:
        update: dict = {"$set": fields}
        if unset_full:
            # Sent or given up: the secret-bearing copy has no more use.
            update["$unset"] = {"full": ""}
        # Only while this process still holds it: a lease taken over elsewhere wins.
        await self.db.outbox.update_one({"_id": entry["_id"], "claimed_by": self.runner}, update)
        entry.update(fields)
        if unset_full:
            entry.pop("full", None)
        if counted:
            self._count(counted)
        return entry

    async def _reserve_slot(self, transport: Transport) -> datetime.datetime:
        """The moment this message may leave under its space's rate; the next one's is `60 / rate` later."""
        gap = datetime.timedelta(seconds=60 / transport.rate)
        space_id = transport.space_id
        for _ in range(SLOT_TRIES):
            doc = await self.db.space_mail.find_one({"_id": space_id}, {"next_slot_at": 1})
            current = (doc or {}).get("next_slot_at")
            now = utcnow()
            slot = max(now, current) if current else now
            # Compare-and-set: a slot another process took meanwhile is not handed out twice.
            done = await self.db.space_mail.update_one({"_id": space_id, "next_slot_at": current},
                                                       {"$set": {"next_slot_at": slot + gap}})
            if done.modified_count or doc is None:
                return slot
        # Outrun that often by other processes: this one waits a whole slot rather than spin.
        log.warning("rate slot contended", extra={"space_id": str(space_id)})
        return utcnow() + gap

    def _count(self, result: str, n: int = 1) -> None:
        if self.metrics:
            self.metrics.mail.labels(result).inc(n)
