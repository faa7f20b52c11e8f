"""Ticket holders: the person a ticket admits, and their registration.

A ticket's holder is an address, a name and a language, given by the payer
at checkout or later from the cabinet (`assign`).  Once the order is paid
(`orders.actions`) each assigned ticket is *issued* (`issue`): the holder
gets an account if none has that address (`accounts.users.create`; an
existing account is used as it is), a registration for the event in state
REGISTERED carrying `ticket_type_id`, `order_id` and `ticket_id` (made,
reopened, or given to a registration that had no ticket), and a mail in
their language with a sign-in link and their ticket (`orders.mails`).
There is one registration per person and event, so a person holds at most
one ticket of an event.

When a ticket passes to another holder, or its order ends (cancelled,
refunded, expired after payment was undone), the earlier holder's
registration is *ended* (`end`): moved to CANCELLED by the system through
the registration state machine (`registration.actions.cancel`), which frees
its place and its session seats and announces that the person's access
changed, so their open connections to the event close at once
(`realtime.live`); their next page load is refused.  The registration keeps
the ticket's fields as a record; a new ticket reopens it.

Every step is idempotent and guarded by the ticket's `nonce`, which
changes with every holder: a retried assignment or issue changes nothing
twice, and a late issue for a holder since replaced writes nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from access import roles as R
from attendees import registry
from core.clock import utcnow
from core.i18n import N_
from events.model import EventDoc
from orders import checkout, mails, states, ticket_types
from orders.model import ORDERS
from registration import actions as registrations
from registration import counts, places
from registration import states as reg_states
from registration.model import OFFERED, PENDING, REGISTERED, WAITING, state_of

log = logging.getLogger(__name__)

SOURCE_ORDER = "order"


def ticket_of(order: Mapping[str, Any], ticket_id: str) -> tuple[int, dict[str, Any]]:
    """(index, ticket) of the order's ticket with this id; NoSuchTicket when it has none."""
    for i, t in enumerate(order["tickets"]):
        if t["id"] == ticket_id:
            return i, t
    raise NoSuchTicket()


class NoSuchTicket(states.OrderError):
    def __init__(self):
        super().__init__(N_("This ticket does not exist."))


class OrderEnded(states.OrderError):
    def __init__(self):
        super().__init__(N_("This order has ended: its tickets can no longer be given to anyone."))


def _fields(order: Mapping[str, Any], ticket: Mapping[str, Any]) -> dict[str, Any]:
    return {"ticket_type_id": ticket["ticket_type_id"], "order_id": order["_id"], "ticket_id": ticket["id"]}


def carries(membership: Mapping[str, Any] | None, order: Mapping[str, Any], ticket: Mapping[str, Any]) -> bool:
    return membership is not None and membership.get("order_id") == order["_id"] \
        and membership.get("ticket_id") == ticket["id"]


async def _admit(services, event: EventDoc, order: Mapping[str, Any], ticket: Mapping[str, Any],
                 user: Mapping[str, Any]) -> dict[str, Any] | None:
    """The holder's registration carrying the ticket; None when they hold another ticket of the event."""
    db = services.db
    holder = ticket["holder"]
    fields = _fields(order, ticket)
    target = places.event_target(event["_id"])
    for _ in range(3):
        existing = await registrations.find(db, event["_id"], user["_id"])
        now = utcnow()
        if existing is None:
            # Tickets count in the registration places too (staff see one number); a ticket's
            # admission is decided by its quotas, so the place is taken whatever the capacity.
            await places.take(db, target, event["_id"], None, force=True)
            doc = registrations._new_registration(event, user, name=holder["name"], locale=holder["locale"],
                                                  state=REGISTERED, now=now, source=SOURCE_ORDER, **fields)
            try:
                await db.memberships.insert_one(doc)
            except DuplicateKeyError:
                await places.give_back(db, target)
                continue
            await audit.record(db, actor=None, action="registration.registered", event=event,
                               params={"registration_id": str(doc["_id"]), "email": doc["email"],
                                       "by": reg_states.SYSTEM, "source": SOURCE_ORDER, "order": order["code"]},
                               before=None, after={"state": REGISTERED})
            await counts.announce(services, event["_id"])
            return doc
        state = state_of(existing)
        if carries(existing, order, ticket) and state == REGISTERED:
            return existing
        if state == REGISTERED:
            if existing.get("ticket_type_id"):
                return None
            # Registered without a ticket (by staff, or before the event sold tickets): it carries this one now.
            done = await db.memberships.find_one_and_update(
                {"_id": existing["_id"], "state": {"$in": [REGISTERED, None]}, "ticket_type_id": {"$exists": False}},
                {"$set": {**fields, "state_at": now}})
            if done is None:
                continue
            await audit.record(db, actor=None, action="registration.ticket", event=event,
                               params={"registration_id": str(existing["_id"]), "email": existing["email"],
                                       "by": reg_states.SYSTEM, "order": order["code"]},
                               before={"state": REGISTERED}, after={"state": REGISTERED})
            return {**existing, **fields}
        # Any other state: the ticket admits, whatever the registration waited for.
        if state != OFFERED:
            await places.take(db, target, event["_id"], None, force=True)
        try:
            after = await reg_states.transition(
                db, event, existing, REGISTERED, actor_kind=reg_states.SYSTEM, reason="ticket",
                fields={**fields, "name": holder["name"], "locales": [holder["locale"]], "source": SOURCE_ORDER},
                unset=("offer_expires_at", "position"), now=now)
        except reg_states.TransitionError:
            if state != OFFERED:
                await places.give_back(db, target)
            if state in (PENDING, WAITING, OFFERED) or state in reg_states.REOPENABLE:
                continue
            return None  # rejected: only staff register the person again
        if state == WAITING:
            await places.leave_queue(db, target)
        await counts.announce(services, event["_id"])
        return after
    return None


async def issue(services, event: EventDoc, order: Mapping[str, Any], ticket_id: str) -> bool:
    """Give the ticket's holder their registration and mail them; True when the ticket is issued now.

    Nothing happens for a ticket without a holder, of an order that is not
    valid (unpaid or ended), or one issued already.
    """
    db = services.db
    order = await db[ORDERS].find_one({"_id": order["_id"]}) or order
    if order["state"] not in states.VALID:
        return False
    index, ticket = ticket_of(order, ticket_id)
    holder = ticket.get("holder")
    if not holder:
        return False
    if ticket.get("issued") or ticket.get("refused") == ticket["nonce"]:
        return False
    # An existing account is used as it is; a new address gets one without a password.
    user = await db.users.find_one({"email": holder["email"]}) \
        or await registry._create_user(db, holder["email"], holder["name"], holder["locale"])
    base = f"tickets.{index}"
    guard = {"_id": order["_id"], f"{base}.id": ticket["id"], f"{base}.nonce": ticket["nonce"]}
    membership = await _admit(services, event, order, ticket, user)
    if membership is None:
        # Holds another ticket of the event (or was rejected): this holder is not admitted, once
        # noted; the payer assigns the ticket to someone else.
        if await db[ORDERS].find_one_and_update({**guard, f"{base}.refused": {"$ne": ticket["nonce"]}},
                                                {"$set": {f"{base}.refused": ticket["nonce"]}}):
            await states.note(db, order, "not_issued", by=states.SYSTEM, actor=None, ticket=ticket["id"],
                              why=f"{holder['email']} cannot hold this ticket")
        return False
    marked = await db[ORDERS].find_one_and_update(
        {**guard, f"{base}.issued": False},
        {"$set": {f"{base}.issued": True, f"{base}.holder_id": user["_id"], "updated_at": utcnow()}})
    if ticket.get("mailed") != ticket["nonce"]:
        ticket_type = await db.ticket_types.find_one({"_id": ticket["ticket_type_id"]})
        name = ticket_types.name(ticket_type, holder["locale"], event) if ticket_type else ""
        if await mails.send_ticket(services, event, order, ticket, user, name):
            await db[ORDERS].update_one(guard, {"$set": {f"{base}.mailed": ticket["nonce"]}})
    return marked is not None


async def issue_all(services, event: EventDoc, order: Mapping[str, Any]) -> None:
    """Issue every assigned ticket of a valid order (idempotent); the order is `issued` once all are."""
    db = services.db
    for ticket in order["tickets"]:
        if ticket.get("holder") and not ticket.get("issued") and ticket.get("refused") != ticket["nonce"]:
            try:
                await issue(services, event, order, ticket["id"])
            except Exception:
                log.exception("ticket not issued", extra={"order_id": str(order["_id"]), "ticket": ticket["id"]})
    fresh = await db[ORDERS].find_one({"_id": order["_id"]}, {"tickets": 1, "state": 1})
    if fresh and fresh["state"] in states.VALID and all(
            t.get("issued") or not t.get("holder") or t.get("refused") == t["nonce"] for t in fresh["tickets"]):
        await db[ORDERS].update_one({"_id": order["_id"]}, {"$set": {"issued": True}})


async def end(services, event: EventDoc, order: Mapping[str, Any], ticket: Mapping[str, Any], *,
              actor: Mapping[str, Any] | None) -> bool:
    """End the registration this ticket gave its holder (if it still carries it); True when one was ended."""
    db = services.db
    holder_id = ticket.get("holder_id")
    if holder_id is None:
        return False
    membership = await db.memberships.find_one({"user_id": holder_id, "scope_id": event["_id"], "role": R.ATTENDEE,
                                                "order_id": order["_id"], "ticket_id": ticket["id"]})
    if membership is None or state_of(membership) != REGISTERED:
        return False
    try:
        # Through the registration actions: the place and seats are freed, and the person's
        # open connections to the event are closed (`registration.counts.access_changed`).
        await registrations.cancel(services, event, membership, actor_kind=reg_states.SYSTEM, actor=actor)
    except reg_states.TransitionError:
        return False
    return True


async def end_all(services, event: EventDoc, order: Mapping[str, Any], actor: Mapping[str, Any] | None) -> None:
    for ticket in order["tickets"]:
        await end(services, event, order, ticket, actor=actor)


async def assign(services, event: EventDoc, order: Mapping[str, Any], ticket_id: str, *, email: str, name: str,
                 locale: str, actor: Mapping[str, Any] | None, by: str = states.PAYER) -> dict[str, Any]:
    """Give a ticket a holder, or pass it to another (a transfer); returns the order as stored after.

    The earlier holder's registration (if the ticket was issued) ends at
    once; the new holder's is made when the order is valid.  Refused
    (HolderError, nothing written) for an order that has ended, a bad
    address, name or language, an address holding another ticket of the event.
    """
    db = services.db
    if order["state"] not in states.LIVE:
        raise OrderEnded()
    index, ticket = ticket_of(order, ticket_id)
    holder = checkout.clean_holder(event, email, name, locale)
    if holder is None:
        raise checkout.HolderError(registry.InvalidEmail().message)
    previous = ticket.get("holder")
    same_person = previous is not None and previous["email"] == holder["email"]
    if not same_person:
        others = [t.get("holder") for t in order["tickets"] if t["id"] != ticket_id]
        checkout.check_holders([*others, holder])
        if await checkout.holds_ticket(db, event, holder["email"], except_order=order["_id"], except_ticket=ticket_id):
            raise checkout.HolderError(N_("%(email)s already holds a ticket for this event."), email=holder["email"])
    base = f"tickets.{index}"
    guard = {"_id": order["_id"], "state": {"$in": list(states.LIVE)}, f"{base}.id": ticket_id,
             f"{base}.nonce": ticket["nonce"]}
    if same_person:
        change: dict[str, Any] = {"$set": {f"{base}.holder": holder, "updated_at": utcnow()}}
    else:
        change = {"$set": {f"{base}.holder": holder, f"{base}.holder_id": None, f"{base}.issued": False,
                           "issued": False, "updated_at": utcnow()},
                  "$inc": {f"{base}.nonce": 1, "version": 1}}
    done = await db[ORDERS].find_one_and_update(guard, change)
    if done is None:
        raise states.Conflict()
    action = "holder_changed" if same_person else ("transferred" if previous else "assigned")
    await states.note(db, order, action, by=by, actor=actor, ticket=ticket_id,
                      why=holder["email"] if not previous else f"{previous['email']} -> {holder['email']}")
    await audit.record(db, actor=actor, action=f"order.ticket_{action}", event=event,
                       params={"order_id": str(order["_id"]), "code": order["code"], "ticket": ticket_id,
                               "email": holder["email"], **({"previous": previous["email"]} if previous else {})},
                       before={"holder": previous["email"] if previous else None}, after={"holder": holder["email"]})
    after = await db[ORDERS].find_one({"_id": order["_id"]})
    assert after is not None
    if same_person:
        if ticket.get("issued") and ticket.get("holder_id"):
            await db.memberships.update_one({"user_id": ticket["holder_id"], "scope_id": event["_id"],
                                             "order_id": order["_id"], "ticket_id": ticket_id},
                                            {"$set": {"name": holder["name"], "locales": [holder["locale"]]}})
        return after
    if ticket.get("issued"):
        await end(services, event, order, ticket, actor=actor)
    if after["state"] in states.VALID:
        await issue_all(services, event, after)
        after = await db[ORDERS].find_one({"_id": order["_id"]}) or after
    return after


def holder_user_ids(order: Mapping[str, Any]) -> list[ObjectId]:
    return [t["holder_id"] for t in order["tickets"] if t.get("holder_id")]
