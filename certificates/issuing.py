"""Issuing certificates: one per qualifying attendee, rendered, stored and mailed, resumably.

A certificate is one document in `certificates`, unique per (event, person),
with a random verification code (unique too): issuing twice, or two runners
at once, never makes a second one.  Its PDF is kept in the document itself
(BSON binary, about 10 KB with the built-in layout; a layout may carry at
most 50,000 characters of images and fonts as data URIs, so a PDF stays far
below MongoDB's 16 MB a document) and is never read with the certificate's
other fields, only on download.  The issuing job's progress lives on the
event's template document (`job`): the last registration handled, counts,
and a lease held by one runner at a time, so a restart resumes where it
stopped (`resume_all`).  Each step is idempotent: the document is made once,
its PDF rendered once and stored only where none is, and its mail claimed
(`mailed_at`) before it is sent, so it is sent at most once.

Speed: the PDFs are drawn by the process pool (`certificates.pdf_pool`, one
worker per CPU), a batch of `BATCH` registrations at a time, and the job
keeps `IN_FLIGHT` batches under way: while the workers draw one, the
runner makes the next one's documents and stores and mails the one before,
so the workers never wait for the database.  Progress is recorded batch by
batch in order, only for batches finished whole.
"""
from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

from bson import Binary
from pymongo.errors import DuplicateKeyError

from access import roles as R
from attendees import registry
from certificates import templates
from core.clock import utcnow
from core.i18n import text_for
from events import model, view
from events.model import EventDoc
from mailings import templates as mail_templates
from registration import watch_time
from registration.model import REGISTERED

log = logging.getLogger(__name__)

BATCH = 50
PAGE = 1000     # registrations read at once (`qualifying`)
IN_FLIGHT = 2   # batches under way at once (see the module's docstring)
LEASE = datetime.timedelta(minutes=2)
MAIL = "certificate_issued"
# No 0/O or 1/I: a code is read off paper and typed.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def verification_url(services, code: str) -> str:
    return f"{services.settings.public_url.rstrip('/')}/certificates/{code}"


async def qualifying(db, event: EventDoc, template: dict, after=None) -> AsyncIterator[list[dict]]:
    """The registrations (by _id, after `after`) that meet the template's conditions, in lists of `BATCH`
    at most.

    Registrations are read `PAGE` at a time: each read looks through the
    event's registrations for those after `after` (the embedded store scans
    them all, and MongoDB sorts them by _id), so reading them a batch at a
    time would cost the square of their number.
    """
    query: dict = {"scope_id": event["_id"], "role": R.ATTENDEE, "state": REGISTERED,
                   "watched_at": {"$exists": True}, "user_id": {"$ne": None}}
    while True:
        if after is not None:
            query["_id"] = {"$gt": after}
        page = await db.memberships.find(query).sort("_id", 1).limit(PAGE).to_list(None)
        if not page:
            return
        after = page[-1]["_id"]
        chosen = await _watched_enough(db, event, template, await _passed_quiz(db, template, page))
        for i in range(0, len(chosen), BATCH):
            yield chosen[i:i + BATCH]


async def _watched_enough(db, event: EventDoc, template: dict, batch: list[dict]) -> list[dict]:
    least = template.get("min_minutes") or 0
    if not least or not batch:
        return batch
    minutes = await watch_time.minutes_by_user(db, event["_id"], [m["user_id"] for m in batch])
    return [m for m in batch if minutes.get(m["user_id"], 0) >= least]


async def _passed_quiz(db, template: dict, batch: list[dict]) -> list[dict]:
    if not template.get("quiz_id"):
        return batch
    least = template.get("min_percent") or 0
    passed = set()
    async for a in db.quiz_attempts.find({"quiz_id": template["quiz_id"],
                                          "user_id": {"$in": [m["user_id"] for m in batch]},
                                          "submitted_at": {"$ne": None}}):
        most = a.get("max_score") or 0
        if not a.get("late") and most and 100 * (a.get("score") or 0) >= least * most:
            passed.add(a["user_id"])
    return [m for m in batch if m["user_id"] in passed]


def event_date(event: EventDoc) -> str:
    days = [d["date"] for d in event.get("days") or [] if d.get("enabled", True) and d.get("date")]
    return days[0] if days else ""


async def issue_batch(services, event: EventDoc, template: dict, batch: list[dict]) -> tuple[int, int]:
    """The certificates of a batch of qualifying registrations, made where missing, each with its PDF,
    and mailed; (made now, made before)."""
    db = services.db
    users = {u["_id"]: u async for u in db.users.find({"_id": {"$in": [m["user_id"] for m in batch]}},
                                                       {"locale": 1, "name": 1})}
    docs, made = [], 0
    for membership in batch:
        doc, new = await _document(db, event, membership, users.get(membership["user_id"]))
        docs.append(doc)
        made += new
    await _render_missing(services, event, template, docs)
    for doc in docs:
        await _mail(services, event, doc)
    return made, len(docs) - made


async def _document(db, event: EventDoc, membership: dict, user: dict | None) -> tuple[dict, bool]:
    """The person's certificate document (without its PDF), made if missing; (document, made now)."""
    locale = registry.attendee_locale(event, user, membership)  # type: ignore[arg-type]
    doc = {"event_id": event["_id"], "user_id": membership["user_id"], "code": new_code(),
           "name": membership.get("name") or (user or {}).get("name", ""), "email": membership.get("email", ""),
           "locale": locale, "event_title": text_for(event["title"], locale, (event["default_locale"],)),
           "date": event_date(event), "issued_at": utcnow(), "mailed_at": None}
    try:
        await db.certificates.insert_one(doc)
        return doc, True
    except DuplicateKeyError:
        found = await db.certificates.find_one({"event_id": event["_id"], "user_id": membership["user_id"]},
                                               {"pdf": 0})
        if found is None:  # the code collided, not the person: try once more with a new one
            return await _document(db, event, membership, user)
        return found, False


async def _render_missing(services, event: EventDoc, template: dict, docs: list[dict]) -> None:
    """Draw (in the pool, all at once) and store the PDFs these certificates do not have yet."""
    db = services.db
    missing = {d["_id"] async for d in db.certificates.find(
        {"_id": {"$in": [d["_id"] for d in docs]}, "pdf": {"$exists": False}}, {"_id": 1})}

    async def one(doc: dict) -> None:
        data = await pdf_of(services, template, event, doc)
        # Stored only where none is: a runner that lost its lease meanwhile never replaces one.
        await db.certificates.update_one({"_id": doc["_id"], "pdf": {"$exists": False}},
                                         {"$set": {"pdf": Binary(data), "rendered_at": utcnow()}})
    # Every drawing is waited for, and stored, before a failed one is reported: none is drawn in vain.
    failed = [r for r in await asyncio.gather(*(one(d) for d in docs if d["_id"] in missing), return_exceptions=True)
              if isinstance(r, BaseException)]
    if failed:
        raise failed[0]


async def pdf_of(services, template: dict, event: EventDoc, doc: dict) -> bytes:
    values = {"name": doc["name"], "event": doc["event_title"], "date": doc["date"], "code": doc["code"],
              "url": verification_url(services, doc["code"])}
    return await services.pdfs.render(templates.layout_for(template, event, doc["locale"]), values, doc["locale"])


async def sample_pdf(services, template: dict, event: EventDoc, locale: str, name: str) -> bytes:
    doc = {"name": name, "event_title": text_for(event["title"], locale, (event["default_locale"],)),
           "date": event_date(event), "code": "SAMPLE", "locale": locale}
    return await pdf_of(services, template, event, doc)


async def _mail(services, event: EventDoc, doc: dict) -> None:
    claimed = await services.db.certificates.update_one({"_id": doc["_id"], "mailed_at": None},
                                                        {"$set": {"mailed_at": utcnow()}})
    if claimed.modified_count != 1 or not doc.get("email"):
        return
    try:
        site = services.settings.public_url.rstrip("/")
        values = {"person_name": doc["name"], "event_title": doc["event_title"], "code": doc["code"],
                  "download_url": f"{site}/me/certificates/{doc['code']}.pdf",
                  "verify_url": verification_url(services, doc["code"])}
        # The organiser's "certificate" mail template (`mailings.templates`), else its translated default.
        subject, text, html = mail_templates.render(services.i18n, event, mail_templates.KINDS["certificate"],
                                                    doc["locale"], values, site_url=site)
        await services.mailer.send(to=doc["email"], subject=subject, text=text, html=html,
                                   event_id=event["_id"], kind=MAIL)
    except Exception:
        log.exception("certificate mail failed")


# --- the job ------------------------------------------------------------------------

async def start_job(db, event: EventDoc) -> bool:
    """Record a job to run (False when one is already running)."""
    result = await db.certificate_templates.update_one(
        {"event_id": event["_id"], "job.status": {"$ne": "running"}},
        {"$set": {"job": {"status": "running", "after": None, "issued": 0, "existing": 0, "runner": None,
                          "lease_until": None, "started_at": utcnow(), "finished_at": None}},
         "$setOnInsert": {**{k: v for k, v in templates.blank(event["_id"]).items() if k != "event_id"}}},
        upsert=True)
    return bool(result.modified_count or result.upserted_id)


def start(services, event_id) -> asyncio.Task:
    # Background work of the services: a stop cancels it, which hands its lease back at once.
    return services.spawn(run(services, event_id))


async def resume_all(services) -> list[asyncio.Task]:
    return [start(services, doc["event_id"])
            async for doc in services.db.certificate_templates.find({"job.status": "running"}, {"event_id": 1})]


async def run(services, event_id) -> None:
    db = services.db
    runner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    now = utcnow()
    template = await db.certificate_templates.find_one_and_update(
        {"event_id": event_id, "job.status": "running",
         "$or": [{"job.lease_until": None}, {"job.lease_until": {"$lte": now}}]},
        {"$set": {"job.runner": runner, "job.lease_until": now + LEASE}}, return_document=True)
    if template is None:
        return
    event = await model.get_event(db, event_id)
    # (the last registration of a batch, the batch's work), oldest first.
    under_way: collections.deque[tuple[Any, asyncio.Future[tuple[int, int]]]] = collections.deque()
    try:
        if event is not None:
            async for batch in qualifying(db, event, template, template["job"].get("after")):
                under_way.append((batch[-1]["_id"],
                                  asyncio.ensure_future(issue_batch(services, event, template, batch))))
                if len(under_way) >= IN_FLIGHT and not await _record(db, template, runner, under_way):
                    return
            while under_way:
                if not await _record(db, template, runner, under_way):
                    return
        await db.certificate_templates.update_one(
            {"event_id": event_id, "job.runner": runner},
            {"$set": {"job.status": "done", "job.finished_at": utcnow(), "job.lease_until": None}})
    except asyncio.CancelledError:
        await _abandon(under_way)
        await db.certificate_templates.update_one({"event_id": event_id, "job.runner": runner},
                                                  {"$set": {"job.lease_until": None}})
        raise
    except Exception:
        log.exception("certificate issuing failed")
        # The batches after the failed one go on to their end: what they make is not made again.
        await _abandon(under_way, cancel=False)
        await db.certificate_templates.update_one({"event_id": event_id, "job.runner": runner},
                                                  {"$set": {"job.lease_until": None}})


async def _record(db, template: dict, runner: str, under_way: collections.deque) -> bool:
    """Wait for the oldest batch under way and record it as done; False when the lease was lost."""
    done_after, work = under_way.popleft()
    issued, existing = await work
    # Progress and the lease in one guarded step: a runner that lost
    # its lease stops here instead of going on beside the new one.
    kept = await db.certificate_templates.find_one_and_update(
        {"_id": template["_id"], "job.runner": runner},
        {"$set": {"job.after": done_after, "job.lease_until": utcnow() + LEASE},
         "$inc": {"job.issued": issued, "job.existing": existing}}, return_document=True)
    if kept is None:
        await _abandon(under_way)
        return False
    return True


async def _abandon(under_way: collections.deque, cancel: bool = True) -> None:
    """Stop (or let finish) the batches still under way, without recording them as done: the next
    runner goes through them again and finds made what they made."""
    for _, work in under_way:
        if cancel:
            work.cancel()
    await asyncio.gather(*(work for _, work in under_way), return_exceptions=True)
    under_way.clear()


# --- reading ----------------------------------------------------------------------

async def by_code(db, code: str) -> dict | None:
    if not code or len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return await db.certificates.find_one({"code": code}, {"pdf": 0})


async def of_person(db, user_id) -> list[dict]:
    """The person's certificates, newest first, each with its event's page path."""
    docs = await db.certificates.find({"user_id": user_id}, {"pdf": 0}).sort("issued_at", -1).to_list(None)
    events = await model.get_events(db, {d["event_id"] for d in docs})
    spaces = {s["_id"]: s async for s in db.spaces.find(
        {"_id": {"$in": list({e["space_id"] for e in events.values()})}}, {"slug": 1})}
    for d in docs:
        event = events.get(d["event_id"])
        space = spaces.get(event["space_id"]) if event else None
        d["path"] = view.path(space, event) if event and space else ""
    return docs


async def count(db, event_id) -> int:
    return await db.certificates.count_documents({"event_id": event_id})
