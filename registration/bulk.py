"""Acting on many registrations at once: approve, reject, offer a place, cancel, send a message.

Staff select registrations on the registrant list (some rows, or everyone
matching the list's filters) and choose an action.  `create` records a job
(the registrations chosen, the action, a message's subject and text) and
`run` carries it out in batches, keeping its progress in the job document,
so the page can show it and closing the page changes nothing: the job goes
on, and a restart resumes it (`resume_all`).  One runner holds a job at a
time through a lease.

Each registration is handled by one call: `apply` for a change of state (a
conditional update guarded by the current state, audited, announced), or
`message_one` for a message, `registration.requests.mail_one` for a data
request (its own job action, started from the request's page).  A registration that cannot take the action
(its state does not allow it, or it is no longer there) is skipped with its
reason; the report says "N done, M skipped" with the reasons.

Retrying is harmless: the same form sent twice (its `key`) finds the job
already made; a state change already made is skipped ("already in that
state"); a message already sent for a job is not sent again.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import os
import secrets
import socket

from pymongo.errors import DuplicateKeyError

from access import audit
from access import roles as R
from accounts import users
from accounts.users import AccountDoc
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_, text_for
from events.model import EventDoc
from registration import actions, requests, states
from registration import model as M
from registration.filters import Filters
from registration.filters import query as filter_query

log = logging.getLogger(__name__)

APPROVE, REJECT, OFFER, MOVE, CANCEL, MESSAGE = "approve", "reject", "offer", "move", "cancel", "message"
ACTIONS = (APPROVE, REJECT, OFFER, MOVE, CANCEL, MESSAGE)
# Mailing an extra data request (`registration.requests.send_now`): a job like the others,
# started from the request's page rather than chosen on the list.
REQUEST = "request"
ACTION_LABELS = {
    APPROVE: N_("Approve"),
    REJECT: N_("Reject"),
    OFFER: N_("Offer a place from the waiting list"),
    MOVE: N_("Register from the waiting list now"),
    CANCEL: N_("Cancel the registration"),
    MESSAGE: N_("Send a message"),
    REQUEST: N_("Send a data request"),
}
# Asked again ("are you sure?") before they run: they take places or hopes away.
DESTRUCTIVE = frozenset({REJECT, CANCEL})

MAX_SELECTION = 50_000
MAX_SUBJECT = 200
MAX_TEXT = 20_000
BATCH = 100
LEASE = datetime.timedelta(seconds=60)
RUNNING, FINISHED = "running", "finished"

# Why a registration was skipped: "gone", or "state:<its state>".
GONE = "gone"


class BulkError(Refusal):
    """A refused request; `message` is marked for translation, `params` fill it.  Nothing is written."""


class Skipped(Exception):
    """This registration cannot take the action; `reason` says why (GONE or "state:<state>")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- one registration ----------------------------------------------------------------

async def apply(db, services, event: EventDoc, membership_id, action: str, *, actor: AccountDoc | None) -> dict:
    """Change one registration's state by `action`; returns it as stored after, or raises Skipped.

    Each action is the registration's own (`registration.actions`): guarded
    by the state it leaves, so of two staff acting at once exactly one
    changes it and a repeat is skipped; places are taken and passed on as
    for any change of state, and each change is audited and announced.
    """
    oid = users.as_id(membership_id)
    scope = {"_id": oid, "scope_id": event["_id"], "role": R.ATTENDEE}
    membership = await db.memberships.find_one(scope) if oid is not None else None
    if membership is None:
        raise Skipped(GONE)
    try:
        if action == APPROVE:
            return await actions.approve(services, event, membership, actor)
        if action == REJECT:
            return await actions.reject(services, event, membership, actor)
        if action == OFFER:
            return await actions.offer(services, event, membership, actor)
        if action == MOVE:
            return await actions.move_from_waiting_list(services, event, membership, actor)
        return await actions.cancel(services, event, membership, actor_kind=states.STAFF, actor=actor)
    except states.TransitionError:
        current = await db.memberships.find_one(scope, {"state": 1})
        raise Skipped(GONE if current is None else f"state:{M.state_of(current)}") from None


def message_footer(services, event: EventDoc, locale: str) -> str:
    title = text_for(event.get("title"), locale, (event["default_locale"],))
    return services.i18n.gettext(locale)(
        N_("You receive this message because you registered for %(event)s.")) % {"event": title}


async def message_one(services, event: EventDoc, membership_id, *, subject: str, text: str,
                      job_id) -> None:
    """Send the job's message to one registration, in the recipient's language; raises Skipped.

    Sent at most once per job and registration: the outbox is asked first.
    """
    # Imported here: attendees builds on registration, not the other way round.
    from attendees.registry import attendee_locale

    db = services.db
    oid = users.as_id(membership_id)
    membership = await db.memberships.find_one({"_id": oid, "scope_id": event["_id"], "role": R.ATTENDEE}) \
        if oid else None
    if membership is None:
        raise Skipped(GONE)
    user = await db.users.find_one({"_id": membership["user_id"]}, {"locale": 1})
    if await db.outbox.find_one({"mailing_id": job_id, "to": membership["email"]}, {"_id": 1}):
        return
    locale = attendee_locale(event, user, membership)
    body = f"{text.rstrip()}\n\n-- \n{message_footer(services, event, locale)}\n"
    await services.mailer.send(to=membership["email"], subject=subject, text=body,
                               event_id=event["_id"], kind="registrants", mailing_id=job_id)


async def _mail_request(services, event: EventDoc, request: dict | None, membership_id, job_id) -> None:
    """Mail a data request to one registration, once for this job; raises Skipped."""
    if request is None:
        raise Skipped(requests.CLOSED)
    try:
        await requests.mail_one(services, event, request, membership_id, send=str(job_id))
    except requests.NotSent as exc:
        raise Skipped(exc.reason) from None


# --- jobs ----------------------------------------------------------------------------------

def _clean_message(subject: str, text: str) -> tuple[str, str]:
    subject = " ".join((subject or "").split())
    text = (text or "").replace("\r\n", "\n").strip()
    if not subject:
        raise BulkError(N_("Write a subject."))
    if len(subject) > MAX_SUBJECT:
        raise BulkError(N_("The subject is longer than %(max)s characters."), max=MAX_SUBJECT)
    if not text:
        raise BulkError(N_("Write the message."))
    if len(text) > MAX_TEXT:
        raise BulkError(N_("The message is longer than %(max)s characters."), max=MAX_TEXT)
    return subject, text


def clean_action(action: str) -> str:
    if action not in ACTIONS and action != REQUEST:
        raise BulkError(N_("Choose what to do with the selected registrations."))
    return action


async def select(db, event: EventDoc, *, ids: list[str] | None = None, filters: Filters | None = None) -> list[str]:
    """The registrations chosen: the ids ticked on the page, or everyone matching `filters`."""
    if filters is not None:
        found = await db.memberships.find(filter_query(event, filters), {"_id": 1}) \
            .sort([("_id", 1)]).limit(MAX_SELECTION + 1).to_list(None)
        chosen = [str(m["_id"]) for m in found]
    else:
        # Unique, in the order ticked; anything that is not an id is skipped as "gone".
        chosen = list(dict.fromkeys(str(i)[:24] for i in ids or () if i))
    if not chosen:
        raise BulkError(N_("Select at least one registration."))
    if len(chosen) > MAX_SELECTION:
        raise BulkError(N_("Select at most %(max)s registrations at once."), max=MAX_SELECTION)
    return chosen


async def create(db, event: EventDoc, *, action: str, chosen: list[str], key: str, actor: AccountDoc,
                 subject: str = "", text: str = "", request_id=None) -> dict:
    """Record a job (nothing is done yet); the same `key` again returns the job made the first time."""
    action = clean_action(action)
    if action == MESSAGE:
        subject, text = _clean_message(subject, text)
    key = (key or "")[:64] or secrets.token_hex(16)
    existing = await db.bulk_jobs.find_one({"event_id": event["_id"], "key": key})
    if existing:
        return existing
    job = {
        "event_id": event["_id"], "space_id": event["space_id"], "key": key, "action": action,
        "owner_id": actor["_id"], "subject": subject, "text": text, "ids": chosen, "total": len(chosen),
        "position": 0, "done": 0, "skipped": 0, "reasons": {}, "status": RUNNING,
        "runner": None, "lease_until": None, "created_at": utcnow(), "finished_at": None,
        **({"request_id": request_id} if action == REQUEST else {}),
    }
    try:
        await db.bulk_jobs.insert_one(job)
    except DuplicateKeyError:
        found = await db.bulk_jobs.find_one({"event_id": event["_id"], "key": key})
        if found:
            return found
        raise
    await audit.record(db, actor=actor, action=f"registrations.bulk.{action}", event=event,
                       params={"count": len(chosen)})
    return job


async def load(db, event_id, job_id) -> dict | None:
    """A job of this event (None for another event's, or none)."""
    oid = users.as_id(job_id)
    return await db.bulk_jobs.find_one({"_id": oid, "event_id": event_id}, {"ids": 0}) if oid else None


def start(services, job_id) -> asyncio.Task:
    return services.spawn(run(services, job_id))


async def resume_all(services) -> list[asyncio.Task]:
    """Jobs that were running when a process stopped: carried on from where they were."""
    found = await services.db.bulk_jobs.find({"status": RUNNING}, {"_id": 1}).to_list(None)
    return [start(services, job["_id"]) for job in found]


async def _claim(db, job_id, runner: str) -> dict | None:
    now = utcnow()
    return await db.bulk_jobs.find_one_and_update(
        {"_id": job_id, "status": RUNNING,
         "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
        {"$set": {"runner": runner, "lease_until": now + LEASE}}, return_document=True)


async def run(services, job_id) -> None:
    """Carry a job out to its end, a batch at a time; its document says how far it is."""
    db = services.db
    runner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    job = await _claim(db, job_id, runner)
    if job is None:
        return  # finished, or another runner holds it
    event = await db.events.find_one({"_id": job["event_id"]})
    actor = await db.users.find_one({"_id": job["owner_id"]}, {"_id": 1, "email": 1})
    request = await db.data_requests.find_one({"_id": job.get("request_id"), "event_id": job["event_id"]}) \
        if job["action"] == REQUEST else None
    try:
        position = job["position"]
        while position < job["total"] and event is not None:
            batch = job["ids"][position:position + BATCH]
            done, reasons = 0, dict[str, int]()
            for membership_id in batch:
                try:
                    if job["action"] == MESSAGE:
                        await message_one(services, event, membership_id, subject=job["subject"],
                                          text=job["text"], job_id=job["_id"])
                    elif job["action"] == REQUEST:
                        await _mail_request(services, event, request, membership_id, job["_id"])
                    else:
                        await apply(db, services, event, membership_id, job["action"], actor=actor)
                    done += 1
                except Skipped as skip:
                    reasons[skip.reason] = reasons.get(skip.reason, 0) + 1
            # Progress and the lease in one guarded step: a runner that lost its
            # lease stops here instead of counting twice.
            inc: dict[str, int] = {"done": done, "skipped": sum(reasons.values()),
                                   **{f"reasons.{r}": n for r, n in reasons.items()}}
            saved = await db.bulk_jobs.find_one_and_update(
                {"_id": job["_id"], "runner": runner, "position": position},
                {"$set": {"position": position + len(batch), "lease_until": utcnow() + LEASE},
                 "$inc": inc})
            if saved is None:
                return
            position += len(batch)
        if event is None:
            await db.bulk_jobs.update_one({"_id": job["_id"], "runner": runner},
                                          {"$inc": {"skipped": job["total"] - position,
                                                    f"reasons.{GONE}": job["total"] - position},
                                           "$set": {"position": job["total"]}})
        await db.bulk_jobs.update_one({"_id": job["_id"], "runner": runner},
                                      {"$set": {"status": FINISHED, "finished_at": utcnow(),
                                                "lease_until": None}})
    except asyncio.CancelledError:
        # Shutting down: the lease is given back so the next start resumes at once.
        await db.bulk_jobs.update_one({"_id": job["_id"], "runner": runner}, {"$set": {"lease_until": None}})
        raise
    except Exception:
        log.exception("bulk job failed", extra={"job": str(job["_id"])})
        await db.bulk_jobs.update_one({"_id": job["_id"], "runner": runner}, {"$set": {"lease_until": None}})


def reasons(job: dict) -> list[tuple[str, int]]:
    """(reason, count) of a job's skipped registrations, most frequent first."""
    found = job.get("reasons") or {}
    return sorted(((r, int(n)) for r, n in found.items() if n), key=lambda item: (-item[1], item[0]))


def reason_state(reason: str) -> str | None:
    """The state named by a "state:<state>" reason, else None."""
    return reason.split(":", 1)[1] if reason.startswith("state:") else None
