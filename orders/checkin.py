"""Check-in at the door: a ticket's signed code, read from its QR or typed, admits its holder once.

`admit` decides a scan.  In this order, so that nothing about another
event's ticket is told and every refusal says what to do about it:

1. the code is genuine (`orders.tickets.read`: its HMAC, keyed with
   `COOKIE_SECRET`), else `Forged`;
2. the ticket is one of this event's, else `OtherEvent` (nothing more is
   said of it);
3. the code is the ticket's current one: a ticket passed to another holder
   has a new code, and the earlier holder's is `Superseded`;
4. its order is paid (a partial refund leaves the tickets valid), else
   `NotPaid` or `OrderEnded`;
5. the ticket has its holder and the holder's registration carrying it
   admits (`access.roles.holds`), else `NotIssued` or `RegistrationEnded`;
6. then one conditional update on the order, guarded by the ticket's id,
   its nonce (the holder scanned is the holder now) and
   `checked_in_at: null`, sets when and by whom.  However many devices scan
   the same code at once, in however many processes, one update matches:
   that scan admits (audited), the others answer `ALREADY` with the time
   and the person who admitted it.

A ticket is admitted once for good: passing it on afterwards gives its new
holder a new code, which is then "already admitted" too.  Refused scans
write nothing (a forged code names nothing worth recording).
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from access import audit
from access import roles as R
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events.model import EventDoc
from orders import states, tickets
from orders.model import ORDERS

ADMITTED, ALREADY = "admitted", "already"


class CheckinRefused(Refusal):
    """A scan that admits nobody; `message` is marked for translation."""


class NoCode(CheckinRefused):
    def __init__(self):
        super().__init__(N_("Scan a ticket's QR code or type its code."))


class Forged(CheckinRefused):
    def __init__(self):
        super().__init__(N_("This is not a valid ticket code. Do not admit: ask for the ticket from the "
                            "holder's account."))


class OtherEvent(CheckinRefused):
    def __init__(self):
        super().__init__(N_("This ticket is for another event."))


class Superseded(CheckinRefused):
    def __init__(self):
        super().__init__(N_("This code is no longer valid: the ticket was passed to another holder, who has "
                            "a new code."))


class NotPaid(CheckinRefused):
    def __init__(self):
        super().__init__(N_("This ticket's order is not paid yet."))


class OrderEnded(CheckinRefused):
    def __init__(self):
        super().__init__(N_("This ticket's order was cancelled, refunded or has expired: the ticket no longer "
                            "admits."))


class NotIssued(CheckinRefused):
    def __init__(self):
        super().__init__(N_("This ticket has no holder yet: the payer names one from their order page."))


class RegistrationEnded(CheckinRefused):
    def __init__(self):
        super().__init__(N_("The holder's registration for this event does not admit them now."))


class Changed(CheckinRefused):
    def __init__(self):
        super().__init__(N_("This ticket was changed a moment ago. Scan it again."))


@dataclass(frozen=True)
class Scan:
    """What a scan that names a valid ticket of the event found: admitted now, or already before."""

    outcome: str                          # ADMITTED or ALREADY
    order: dict[str, Any]
    ticket: dict[str, Any]
    at: datetime.datetime                 # when the ticket was admitted (now, or before)
    by_id: Any                            # who admitted it


def _index(order: Mapping[str, Any], ticket_id: str) -> int:
    return next(i for i, t in enumerate(order["tickets"]) if t["id"] == ticket_id)


def _check_valid(order: Mapping[str, Any]) -> None:
    if order["state"] == states.PENDING:
        raise NotPaid()
    if order["state"] not in states.VALID:
        raise OrderEnded()


async def admit(services, event: EventDoc, code: str, *, actor: Mapping[str, Any],
                now: datetime.datetime | None = None) -> Scan:
    """Admit the ticket `code` stands for, once; a `Scan` (ADMITTED or ALREADY) or a CheckinRefused."""
    db = services.db
    if not (code or "").strip():
        raise NoCode()
    found = await tickets.read(db, services.settings.cookie_secret, code)
    if found is None:
        raise Forged()
    order, ticket, status = found
    if order["event_id"] != event["_id"]:
        raise OtherEvent()
    if status != tickets.CURRENT:
        raise Superseded()
    _check_valid(order)
    if ticket.get("checked_in_at"):
        return Scan(ALREADY, order, ticket, ticket["checked_in_at"], ticket.get("checked_in_by"))
    if not ticket.get("holder") or not ticket.get("issued") or not ticket.get("holder_id"):
        raise NotIssued()
    membership = await db.memberships.find_one({"user_id": ticket["holder_id"], "scope_id": event["_id"],
                                                "role": R.ATTENDEE, "order_id": order["_id"],
                                                "ticket_id": ticket["id"]})
    if membership is None or not R.holds(membership):
        raise RegistrationEnded()
    now = now or utcnow()
    base = f"tickets.{_index(order, ticket['id'])}"
    # The one write that decides: only a ticket not yet admitted, held by the holder scanned, of an
    # order still valid, matches.
    done = await db[ORDERS].find_one_and_update(
        {"_id": order["_id"], "state": {"$in": list(states.VALID)}, f"{base}.id": ticket["id"],
         f"{base}.nonce": ticket["nonce"], f"{base}.checked_in_at": None},
        {"$set": {f"{base}.checked_in_at": now, f"{base}.checked_in_by": actor["_id"]}})
    if done is None:
        return await _lost(db, event, order, ticket)
    await audit.record(db, actor=actor, action="ticket.checked_in", event=event,
                       params={"order_id": str(order["_id"]), "code": order["code"], "ticket": ticket["id"],
                               "email": ticket["holder"]["email"]},
                       before={"checked_in_at": None}, after={"checked_in_at": now})
    return Scan(ADMITTED, order, ticket, now, actor["_id"])


async def _lost(db, event: EventDoc, order: Mapping[str, Any], ticket: Mapping[str, Any]) -> Scan:
    """Why the guarded write matched nothing: someone admitted the ticket first, or it changed."""
    fresh = await db[ORDERS].find_one({"_id": order["_id"]})
    if fresh is None:
        raise Changed()
    now_ticket = next((t for t in fresh["tickets"] if t["id"] == ticket["id"]), None)
    if now_ticket is None:
        raise Changed()
    _check_valid(fresh)
    if now_ticket.get("checked_in_at"):
        return Scan(ALREADY, fresh, now_ticket, now_ticket["checked_in_at"], now_ticket.get("checked_in_by"))
    if now_ticket["nonce"] != ticket["nonce"]:
        raise Superseded()
    raise Changed()


def local_time(event: EventDoc, at: datetime.datetime, today: datetime.date | None = None) -> str:
    """HH:MM in the event's time zone (with the date when it was not today there)."""
    zone = ZoneInfo(event.get("timezone") or "UTC")
    local = (at if at.tzinfo else at.replace(tzinfo=datetime.UTC)).astimezone(zone)
    today = today or utcnow().astimezone(zone).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")


async def counts(db, event: EventDoc) -> dict[str, int]:
    """How many of the event's tickets admit (issued tickets of paid orders) and how many are admitted."""
    valid = admitted = 0
    async for order in db[ORDERS].find({"event_id": event["_id"], "state": {"$in": list(states.VALID)}},
                                       {"tickets.issued": 1, "tickets.checked_in_at": 1}):
        for t in order.get("tickets") or ():
            if t.get("checked_in_at"):
                admitted += 1
                valid += 1
            elif t.get("issued"):
                valid += 1
    return {"admitted": admitted, "valid": valid}
