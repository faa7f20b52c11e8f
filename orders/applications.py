"""Free tickets through a moderated application: applying, approving, rejecting.

A ticket type marked *by application* (`orders.ticket_types.by_application`)
is free and never sold.  People apply for it with the type's own form,
built by the organiser with the registration form builder and stored as
the event's form of kind `application:<type id>` (`form_kind`): one form
per type, since a teachers' quota and a students' quota ask different
things.  Staff approve or reject each application from a queue
(`admin/applications.py`).

Applying (`apply`): anyone, signed in or not, with an address, a name, a
language and the form's answers (files as the registration form takes
them).  One application per address and type, ever: a unique index on
(type, email) decides between two racing submits.  A retried submit (the
same form key) answers the application made the first time; any other
second application is refused, saying what became of the first.  The form
refuses new applications while the type is off its sale window or one of
its quotas has no room left: it closes itself when approvals fill it, and
opens again if staff raise the quota or an approved ticket's order is
cancelled.

Approving (`approve`) turns the application into an ordinary ticket, so
there is one path for tickets, access and check-in: an *order of total 0*
with the applicant as buyer and holder, made by staff, paid at once
(`orders.actions.mark_paid`), which issues the ticket like any other
(`orders.holders`: the account made if no account has the address, the
registration carrying `ticket_type_id`, the ticket mailed with a sign-in
link).  The order names the application in `application_id` and, where a
bought order names its reservation, in `reservation_id` (unique: one order
per application).  Its place in the type's quotas is taken with the
application's id as the hold key (`orders.quotas.take_all`), so approving
twice takes once; a quota without room refuses the approval with nothing
changed.  The steps run under a claim (PENDING -> APPROVING, written with
the quotas it will take before it takes any); each step is idempotent, and
an approval a stopped process left in APPROVING beyond `LEASE` is finished
by the sweep (`sweep`) or by the next click.

Rejecting (`reject`) needs a reason, which the applicant is mailed.  An
approved application cannot be rejected: its ticket is taken back by
cancelling its order (`admin/orders.py`), which gives its place back to
the quota and ends the holder's access.  Both decisions are audited and
mailed to the applicant in their language (mail kinds
`application_approved` and `application_rejected`).

Refusals are `ApplicationError`s (and the registry's, for a bad address,
name or language) with translated messages; nothing is written when one is
raised.  Form answers are refused with `registration.forms.FormErrors`.
"""
from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from access import audit
from accounts.users import as_id
from attendees import registry
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events import model as event_model
from events.model import EventDoc
from orders import actions, application_mails, checkout, quotas, states, ticket_types
from orders.model import APPLICATIONS, FREE, LEASE, ORDERS
from registration import form_files, forms

log = logging.getLogger(__name__)

PENDING, APPROVING, APPROVED, REJECTED = "pending", "approving", "approved", "rejected"
STATES = (PENDING, APPROVED, REJECTED)         # what staff filter by (APPROVING is shown as pending)
LABELS = {PENDING: N_("Waiting for a decision"), APPROVING: N_("Being approved"), APPROVED: N_("Approved"),
          REJECTED: N_("Rejected")}
MAX_REASON = 1000
MAX_KEY = 100
SWEEP_SECONDS = 30.0


def form_kind(type_id: Any) -> str:
    """The kind of the type's application form in the `forms` collection."""
    return f"application:{type_id}"


def hold_key(application: Mapping[str, Any]) -> str:
    """The key of the application's hold in its quotas (and of its order's)."""
    return str(application["_id"])


# --- refusals ---------------------------------------------------------------------------------

class ApplicationError(Refusal):
    """A refused application or decision; `message` is marked for translation, `params` fill it."""


class NotByApplication(ApplicationError):
    def __init__(self):
        super().__init__(N_("This ticket type is not given by application."))


class NameNeeded(ApplicationError):
    def __init__(self):
        super().__init__(N_("Please enter your name."))


class NotOpen(ApplicationError):
    def __init__(self, name: str):
        super().__init__(N_("Applications for “%(name)s” are not open now."), name=name)


class QuotaClosed(ApplicationError):
    def __init__(self, name: str):
        super().__init__(N_("All places for “%(name)s” are taken: applications are closed."), name=name)


class AlreadyPending(ApplicationError):
    def __init__(self, email: str):
        super().__init__(N_("An application from %(email)s for this ticket is already waiting for the "
                            "organisers' decision. You will get an email when they decide."), email=email)


class AlreadyApproved(ApplicationError):
    def __init__(self, email: str):
        super().__init__(N_("The application from %(email)s for this ticket was approved already: the ticket "
                            "was sent to that address."), email=email)


class AlreadyRejected(ApplicationError):
    def __init__(self, email: str):
        super().__init__(N_("The application from %(email)s for this ticket was declined. Only one application "
                            "per address is taken."), email=email)


class HoldsTicket(ApplicationError):
    def __init__(self, email: str):
        super().__init__(N_("%(email)s already holds a ticket for this event."), email=email)


class NotFound(ApplicationError):
    def __init__(self):
        super().__init__(N_("This application does not exist."))


class QuotaFull(ApplicationError):
    def __init__(self, name: str):
        super().__init__(N_("No place is left in the quota of “%(name)s”: the application was not approved and "
                            "nothing changed. Raise the quota's size, or reject the application."), name=name)


class CannotReject(ApplicationError):
    def __init__(self):
        super().__init__(N_("An approved application cannot be rejected. To take its ticket back, cancel its "
                            "order."))


class CannotApprove(ApplicationError):
    def __init__(self):
        super().__init__(N_("A rejected application cannot be approved."))


class ReasonNeeded(ApplicationError):
    def __init__(self):
        super().__init__(N_("Give the reason for the rejection: the applicant receives it."))


class ReasonTooLong(ApplicationError):
    def __init__(self):
        super().__init__(N_("The reason is too long (at most %(max)s characters)."), max=MAX_REASON)


class NothingChosen(ApplicationError):
    def __init__(self):
        super().__init__(N_("Choose at least one application."))


def _taken(application: Mapping[str, Any]) -> ApplicationError:
    """The refusal of a second application, saying what became of the first."""
    email = application["email"]
    if application["state"] == APPROVED:
        return AlreadyApproved(email)
    if application["state"] == REJECTED:
        return AlreadyRejected(email)
    return AlreadyPending(email)


def clean_reason(raw: str | None, *, required: bool) -> str:
    text = (raw or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise ReasonNeeded()
    if len(text) > MAX_REASON:
        raise ReasonTooLong()
    return text


# --- reads ------------------------------------------------------------------------------------

async def get(db, event: EventDoc, application_id) -> dict[str, Any]:
    """The event's application with this id; NotFound for any other (another event's is unknown here)."""
    oid = as_id(application_id)
    found = await db[APPLICATIONS].find_one({"_id": oid, "event_id": event["_id"]}) if oid else None
    if found is None:
        raise NotFound()
    return found


async def of_person(db, ticket_type: Mapping[str, Any], email: str) -> dict[str, Any] | None:
    return await db[APPLICATIONS].find_one({"ticket_type_id": ticket_type["_id"], "email": email})


async def places_left(db, event: EventDoc, ticket_type: Mapping[str, Any]) -> int | None:
    """Tickets of the type its quotas still allow (None: no quota limits it)."""
    return (await quotas.availability(db, event["_id"], [ticket_type["_id"]]))[ticket_type["_id"]]


def closed(left: int | None) -> bool:
    return left is not None and left < 1


async def form_of(db, event: EventDoc, ticket_type: Mapping[str, Any]) -> dict[str, Any]:
    return await forms.load(db, event["_id"], form_kind(ticket_type["_id"]))


def shown_state(application: Mapping[str, Any]) -> str:
    """The state staff and the applicant see: an approval under way still waits."""
    return PENDING if application["state"] == APPROVING else application["state"]


# --- applying ---------------------------------------------------------------------------------

async def apply(services, event: EventDoc, ticket_type: Mapping[str, Any], *, email: str, name: str, locale: str,
                raw: forms.Raw, files: Mapping[str, list[Any]], submitted_version: Any,
                user: Mapping[str, Any] | None, key: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Store an application (PENDING) for the type; returns it (the same one on a retried submit).

    A signed-in applicant applies with their account's address.  Refused
    (nothing written, no file kept): a type not given by application, a bad
    address, name or language, an address that applied for the type before
    or holds a ticket of the event, no name, the type off its window or its
    quota full (ApplicationError, AttendeeError), answers the form refuses
    (FormErrors).
    """
    db = services.db
    now = now or utcnow()
    key = (key or "").strip()[:MAX_KEY]
    if not ticket_types.by_application(ticket_type) or ticket_type["event_id"] != event["_id"]:
        raise NotByApplication()
    norm, clean_name, clean_locale = registry.clean(event, user["email"] if user else email, name, locale)
    if not clean_name:
        raise NameNeeded()
    type_name = ticket_types.name(ticket_type, clean_locale, event)
    existing = await of_person(db, ticket_type, norm)
    if existing is not None:
        if key and existing.get("idempotency_key") == key:
            return existing   # the same submit again (a double click, a retried request)
        raise _taken(existing)
    if ticket_types.sale_state(ticket_type, now) != ticket_types.ON_SALE:
        raise NotOpen(type_name)
    if closed(await places_left(db, event, ticket_type)):
        raise QuotaClosed(type_name)
    if await checkout.holds_ticket(db, event, norm):
        raise HoldsTicket(norm)
    form = await form_of(db, event, ticket_type)
    # Checked whole before any file is stored (`forms.accept`).
    answers = await forms.accept(db, services, form, raw, files, submitted_version=submitted_version,
                                 owner_id=user["_id"] if user else None)
    doc = {"_id": ObjectId(), "event_id": event["_id"], "space_id": event["space_id"],
           "ticket_type_id": ticket_type["_id"], "email": norm, "name": clean_name, "locale": clean_locale,
           "user_id": user["_id"] if user else None, "answers": answers, "form_version": int(form.get("version") or 0),
           "state": PENDING, "reason": "", "quotas": {}, "order_id": None, "idempotency_key": key or str(ObjectId()),
           "decided_by": None, "decided_at": None, "created_at": now, "state_at": now}
    try:
        await db[APPLICATIONS].insert_one(doc)
    except DuplicateKeyError:
        # Another submit for the address won the race: this one keeps nothing.
        await form_files.remove(db, answers)
        again = await of_person(db, ticket_type, norm)
        if again is None:
            raise
        if key and again.get("idempotency_key") == key:
            return again
        raise _taken(again) from None
    await audit.record(db, actor=user, action="application.submitted", event=event,
                       params={"application_id": str(doc["_id"]), "email": norm,
                               "ticket_type_id": str(ticket_type["_id"])},
                       before=None, after={"state": PENDING})
    return doc


# --- approving --------------------------------------------------------------------------------

async def approve(services, event: EventDoc, application: Mapping[str, Any], *, actor: Mapping[str, Any] | None,
                  note: str = "", locale: str = "", now: datetime.datetime | None = None) -> dict[str, Any]:
    """Issue the applicant a ticket of the type; returns the application as stored after.

    Idempotent: an approved application is answered as it is, and one being
    approved by another request right now too.  QuotaFull when a quota of
    the type has no room (the application stays pending, nothing is held).
    """
    db = services.db
    now = now or utcnow()
    note = clean_reason(note, required=False)
    current = await get(db, event, application["_id"])
    if current["state"] == APPROVED:
        return current
    if current["state"] == REJECTED:
        raise CannotApprove()
    if current["state"] == APPROVING and current["state_at"] > now - LEASE:
        return current     # another request is approving it this very moment
    ticket_type = await db.ticket_types.find_one({"_id": current["ticket_type_id"], "event_id": event["_id"]})
    if ticket_type is None or not ticket_types.by_application(ticket_type):
        raise NotByApplication()
    actor_id = actor["_id"] if actor else None
    if current["state"] == PENDING:
        if await checkout.holds_ticket(db, event, current["email"]):
            raise HoldsTicket(current["email"])
        by_type = await quotas.of_types(db, event["_id"], [ticket_type["_id"]])
        if closed(quotas.left_for(by_type[ticket_type["_id"]])):
            raise QuotaFull(ticket_types.name(ticket_type, locale, event))   # known full: nothing is tried
        wanted = quotas.needed(by_type, {ticket_type["_id"]: 1})
        # What it will take is on record before anything is taken: a crash midway is finished
        # (or given back) with exactly these quotas.
        claimed = await db[APPLICATIONS].find_one_and_update(
            {"_id": current["_id"], "state": PENDING},
            {"$set": {"state": APPROVING, "state_at": now, "quotas": wanted, "decided_by": actor_id,
                      "reason": note}}, return_document=ReturnDocument.AFTER)
    else:
        # Left APPROVING by a process that stopped: finished with the quotas it named.
        claimed = await db[APPLICATIONS].find_one_and_update(
            {"_id": current["_id"], "state": APPROVING, "state_at": current["state_at"]},
            {"$set": {"state_at": now}}, return_document=ReturnDocument.AFTER)
    if claimed is None:
        again = await get(db, event, current["_id"])
        if again["state"] == REJECTED:
            raise CannotApprove()
        return again       # approved, or being approved, by another request meanwhile
    # What a refused approval puts back: the application as it was before the claim.
    before: dict[str, Any] = {"state": PENDING, "quotas": {}, "decided_by": None, "reason": "",
                              "state_at": current["state_at"] if current["state"] == PENDING else now}
    if current["state"] == PENDING:
        before.update(quotas=current.get("quotas") or {}, decided_by=current.get("decided_by"),
                      reason=current.get("reason") or "")
    return await _finish(services, event, claimed, ticket_type, actor, locale, before)


async def _finish(services, event: EventDoc, claimed: Mapping[str, Any], ticket_type: Mapping[str, Any],
                  actor: Mapping[str, Any] | None, locale: str, before: Mapping[str, Any]) -> dict[str, Any]:
    """The claimed approval's steps, each idempotent: the quota place, the account, the order, the ticket."""
    db = services.db
    key = hold_key(claimed)
    full = await quotas.take_all(db, claimed["quotas"], key)
    if full is not None:
        # Whatever was taken before the full quota is given back (`take_all`): pending again, as it was.
        await db[APPLICATIONS].update_one({"_id": claimed["_id"], "state": APPROVING}, {"$set": dict(before)})
        raise QuotaFull(ticket_types.name(ticket_type, locale, event))
    user = await db.users.find_one({"email": claimed["email"]}) \
        or await registry._create_user(db, claimed["email"], claimed["name"], claimed["locale"])
    order = await _order(db, event, claimed, user, actor)
    await actions.mark_paid(services, order["_id"], payment_ref=None, actor=actor,
                            by=states.STAFF if actor else states.SYSTEM, why="application approved")
    now = utcnow()
    done = await db[APPLICATIONS].find_one_and_update(
        {"_id": claimed["_id"], "state": APPROVING},
        {"$set": {"state": APPROVED, "state_at": now, "order_id": order["_id"], "user_id": user["_id"],
                  "decided_at": now}}, return_document=ReturnDocument.AFTER)
    if done is None:
        return await get(db, event, claimed["_id"])   # finished by another process meanwhile
    # Files given before the address was known to be the applicant's are theirs now.
    await form_files.adopt(db, user["_id"], done.get("answers"))
    await audit.record(db, actor=actor, action="application.approved", event=event,
                       params={"application_id": str(done["_id"]), "email": done["email"], "code": order["code"]},
                       before={"state": PENDING}, after={"state": APPROVED})
    services.spawn(application_mails.send(services, event, done, ticket_type, APPROVED))
    return done


async def _currency(db, event: EventDoc) -> str:
    """The currency the order of a free ticket is kept in: the event's first, else euros (its total is 0)."""
    found = ticket_types.currencies(await ticket_types.of_event(db, event["_id"]))
    return found[0] if found else "EUR"


async def _order(db, event: EventDoc, application: Mapping[str, Any], user: Mapping[str, Any],
                 actor: Mapping[str, Any] | None) -> dict[str, Any]:
    """The application's order of total 0 (made once: unique by `reservation_id`), applicant as buyer and holder."""
    found = await db[ORDERS].find_one({"reservation_id": application["_id"]})
    if found is not None:
        return found
    now = utcnow()
    person = {"email": application["email"], "name": application["name"], "locale": application["locale"]}
    type_id = application["ticket_type_id"]
    order = {
        "_id": ObjectId(), "code": checkout.new_code(), "event_id": event["_id"], "space_id": event["space_id"],
        "buyer_id": user["_id"], "buyer": dict(person), "currency": await _currency(db, event),
        "lines": [{"ticket_type_id": type_id, "quantity": 1, "unit_price": 0, "discount": 0, "voucher_id": None,
                   "total": 0}],
        "tickets": [{"id": "t1", "ticket_type_id": type_id, "holder": dict(person), "holder_id": None, "nonce": 1,
                     "issued": False, "mailed": 0}],
        "total": 0, "paid_amount": 0, "refunded_amount": 0, "refunds": [], "method": FREE, "state": states.PENDING,
        "expires_at": None, "reservation_id": application["_id"], "application_id": application["_id"],
        "hold_key": hold_key(application), "quotas": dict(application["quotas"]), "quota_released": False,
        "tickets_ended": False, "issued": False,
        # No receipt: the applicant gets the decision and the ticket.
        "receipt_mailed": True,
        "idempotency_key": f"application:{application['_id']}", "payment_ref": None,
        "log": [{"at": now, "action": "placed", "before": None, "after": states.PENDING,
                 "by": states.STAFF if actor else states.SYSTEM,
                 "actor_id": actor["_id"] if actor else None, "why": "application approved"}],
        "version": 1, "created_at": now, "updated_at": now,
    }
    for _ in range(5):
        try:
            await db[ORDERS].insert_one(order)
            break
        except DuplicateKeyError as exc:
            if "code" in str(exc):
                order["code"] = checkout.new_code()
                continue
            found = await db[ORDERS].find_one({"reservation_id": application["_id"]})
            if found is not None:
                return found
            raise
    await audit.record(db, actor=actor, action="order.placed", event=event,
                       params={"order_id": str(order["_id"]), "code": order["code"], "total": 0,
                               "currency": order["currency"], "tickets": 1,
                               "application_id": str(application["_id"])},
                       before=None, after={"state": states.PENDING})
    return order


async def approve_many(services, event: EventDoc, ids: Iterable[str], *, actor: Mapping[str, Any] | None,
                       note: str = "", locale: str = "") -> tuple[int, list[tuple[str, ApplicationError]]]:
    """Approve each chosen application in turn: (how many are approved now, [(email, refusal)] for the rest)."""
    chosen = list(dict.fromkeys(i for i in ids if i))
    if not chosen:
        raise NothingChosen()
    clean_reason(note, required=False)
    approved = 0
    refused: list[tuple[str, ApplicationError]] = []
    for raw_id in chosen:
        try:
            application = await get(services.db, event, raw_id)
        except NotFound as exc:
            refused.append(("", exc))
            continue
        try:
            after = await approve(services, event, application, actor=actor, note=note, locale=locale)
        except ApplicationError as exc:
            refused.append((application["email"], exc))
            continue
        approved += after["state"] == APPROVED
    return approved, refused


# --- rejecting --------------------------------------------------------------------------------

async def reject(services, event: EventDoc, application: Mapping[str, Any], *, actor: Mapping[str, Any] | None,
                 reason: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """PENDING -> REJECTED with the reason the applicant is mailed.  Idempotent; CannotReject once approved."""
    db = services.db
    reason = clean_reason(reason, required=True)
    now = now or utcnow()
    done = await db[APPLICATIONS].find_one_and_update(
        {"_id": application["_id"], "event_id": event["_id"], "state": PENDING},
        {"$set": {"state": REJECTED, "reason": reason, "state_at": now, "decided_at": now,
                  "decided_by": actor["_id"] if actor else None}}, return_document=ReturnDocument.AFTER)
    if done is None:
        current = await get(db, event, application["_id"])
        if current["state"] == REJECTED:
            return current
        raise CannotReject()
    # The reason stays on the application (it speaks of the person, and goes with them when their
    # account is erased); the log says who decided what.
    await audit.record(db, actor=actor, action="application.rejected", event=event,
                       params={"application_id": str(done["_id"]), "email": done["email"]},
                       before={"state": PENDING}, after={"state": REJECTED})
    ticket_type = await db.ticket_types.find_one({"_id": done["ticket_type_id"]}) or {}
    services.spawn(application_mails.send(services, event, done, ticket_type, REJECTED))
    return done


# --- the sweep --------------------------------------------------------------------------------

async def sweep(services, now: datetime.datetime | None = None, limit: int = 100) -> int:
    """Finish approvals a stopped process left half done (APPROVING beyond `LEASE`); returns how many."""
    db = services.db
    now = now or utcnow()
    stale = await db[APPLICATIONS].find({"state": APPROVING, "state_at": {"$lte": now - LEASE}}) \
        .limit(limit).to_list(None)
    done = 0
    for application in stale:
        event = await event_model.get_event(db, application["event_id"])
        if event is None:
            continue
        try:
            after = await approve(services, event, application, actor=None, now=now)
            done += after["state"] == APPROVED
        except ApplicationError:
            continue   # full meanwhile: it waits again, as pending
        except Exception:
            log.exception("approval not finished", extra={"application_id": str(application["_id"])})
    return done
