"""Issuing certificates: one per qualifying attendee, rendered, stored and mailed, resumably.

A certificate is one document in `certificates`, unique per (event, person),
with a random verification code (unique too): issuing twice, or two runners
at once, never makes a second one.  The issuing job's progress lives on the
event's template document (`job`): the last registration handled, counts,
and a lease held by one runner at a time, so a restart resumes where it
stopped (`resume_all`).  Each step is idempotent: the document is made once,
its PDF rendered once, and its mail claimed (`mailed_at`) before it is sent,
so it is sent at most once.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import os
import secrets
import socket

from bson import Binary
from pymongo.errors import DuplicateKeyError

from access import roles as R
from attendees import registry
from certificates import render, templates
from core.clock import utcnow
from core.i18n import text_for
from events import model, view
from events.model import EventDoc
from mailings import templates as mail_templates
from registration.model import REGISTERED

log = logging.getLogger(__name__)

BATCH = 50
LEASE = datetime.timedelta(minutes=2)
MAIL = "certificate_issued"
# No 0/O or 1/I: a code is read off paper and typed.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def verification_url(services, code: str) -> str:
    return f"{services.settings.public_url.rstrip('/')}/certificates/{code}"


async def qualifying(db, event: EventDoc, template: dict, after=None, limit: int = BATCH) -> list[dict]:
    """The next registrations (by _id, after `after`) that meet the template's conditions."""
    query: dict = {"scope_id": event["_id"], "role": R.ATTENDEE, "state": REGISTERED,
                   "watched_at": {"$exists": True}, "user_id": {"$ne": None}}
    out: list[dict] = []
    while len(out) < limit:
        if after is not None:
            query["_id"] = {"$gt": after}
        batch = await db.memberships.find(query).sort("_id", 1).limit(limit).to_list(None)
        if not batch:
            break
        after = batch[-1]["_id"]
        out.extend(await _passed_quiz(db, template, batch))
    return out


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


async def issue_one(services, event: EventDoc, template: dict, membership: dict) -> tuple[dict, bool]:
    """The person's certificate for the event, made if missing; (document, made now)."""
    db = services.db
    user = await db.users.find_one({"_id": membership["user_id"]}, {"locale": 1, "name": 1})
    locale = registry.attendee_locale(event, user, membership)  # type: ignore[arg-type]
    doc = {"event_id": event["_id"], "user_id": membership["user_id"], "code": new_code(),
           "name": membership.get("name") or (user or {}).get("name", ""), "email": membership.get("email", ""),
           "locale": locale, "event_title": text_for(event["title"], locale, (event["default_locale"],)),
           "date": event_date(event), "issued_at": utcnow(), "mailed_at": None}
    try:
        await db.certificates.insert_one(doc)
        made = True
    except DuplicateKeyError:
        found = await db.certificates.find_one({"event_id": event["_id"], "user_id": membership["user_id"]})
        if found is None:  # the code collided, not the person: try once more with a new one
            return await issue_one(services, event, template, membership)
        doc, made = found, False
    if not doc.get("pdf"):
        data = await asyncio.to_thread(pdf_of, services, template, event, doc)
        await db.certificates.update_one({"_id": doc["_id"]}, {"$set": {"pdf": Binary(data)}})
    await _mail(services, event, doc)
    return doc, made


def pdf_of(services, template: dict, event: EventDoc, doc: dict) -> bytes:
    values = {"name": doc["name"], "event": doc["event_title"], "date": doc["date"], "code": doc["code"],
              "url": verification_url(services, doc["code"])}
    return render.pdf(templates.layout_for(template, event, doc["locale"]), values, doc["locale"])


def sample_pdf(services, template: dict, event: EventDoc, locale: str, name: str) -> bytes:
    doc = {"name": name, "event_title": text_for(event["title"], locale, (event["default_locale"],)),
           "date": event_date(event), "code": "SAMPLE", "locale": locale}
    return pdf_of(services, template, event, doc)


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
    return asyncio.ensure_future(run(services, event_id))


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
    try:
        while event is not None:
            batch = await qualifying(db, event, template, template["job"].get("after"))
            if not batch:
                break
            issued = existing = 0
            for membership in batch:
                _, made = await issue_one(services, event, template, membership)
                issued += made
                existing += not made
            # Progress and the lease in one guarded step: a runner that lost
            # its lease stops here instead of going on beside the new one.
            template = await db.certificate_templates.find_one_and_update(
                {"_id": template["_id"], "job.runner": runner},
                {"$set": {"job.after": batch[-1]["_id"], "job.lease_until": utcnow() + LEASE},
                 "$inc": {"job.issued": issued, "job.existing": existing}}, return_document=True)
            if template is None:
                return
        await db.certificate_templates.update_one(
            {"event_id": event_id, "job.runner": runner},
            {"$set": {"job.status": "done", "job.finished_at": utcnow(), "job.lease_until": None}})
    except asyncio.CancelledError:
        await db.certificate_templates.update_one({"event_id": event_id, "job.runner": runner},
                                                  {"$set": {"job.lease_until": None}})
        raise
    except Exception:
        log.exception("certificate issuing failed")
        await db.certificate_templates.update_one({"event_id": event_id, "job.runner": runner},
                                                  {"$set": {"job.lease_until": None}})


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
