"""Checkout: choosing tickets, holding them for a limited time, and placing the order.

1. `reserve`: the buyer chooses types and quantities.  Everything is
   checked against the stored types (the event's own, on sale, visible with
   the code given, within the fewest and most per order, priced in the
   currency chosen); prices come from the types, never from the client.
   A promo code entered with the choice (`orders.promo_codes.apply`) is
   checked and its discount put on the lines, on the server.
   The reservation is written first, naming every quota it will take and
   the code's uses (state TAKING), then the code's uses are taken
   (`orders.promo_codes.take`), then each quota (`orders.quotas.take_all`),
   then it is HELD until `expires_at` (`RESERVATION_MINUTES`).  A buyer has
   one live reservation per event: a new one gives back the last.
   The types and quotas are read once for all the buyers of this process
   asking at the same moment, never staler than each one's own read
   (`orders.availability`); a choice they show without room is refused
   before anything is written, and one whose room this process's buyers
   are already trying to take waits for those attempts, then reads again.
2. `place`: the buyer's details, the holders (now or later) and how they
   pay.  The reservation is claimed (HELD -> ORDERING, guarded by its
   deadline), the order inserted, and the reservation closed (ORDERED);
   the order keeps the reservation's holds (and code uses) under the same
   key, so no ticket or use is counted twice or dropped between the two.  Placing is
   idempotent: a retry with the same form (its idempotency key) or for the
   same reservation answers the order made the first time, and a second
   order is impossible (unique indexes on both).
3. `sweep` (every process, `orders.actions.sweep`): reservations past their
   deadline give their tickets back; ones left half done by a process that
   died (TAKING or ORDERING for longer than `LEASE`) are finished: given
   back, or closed when their order exists.  Each is claimed by a guarded
   state change and every give-back is idempotent, so processes sweeping
   at once do everything once.

Refusals are `CheckoutError`s with translated messages; nothing is held or
written when one is raised (a reservation refused for want of room gives
back what it took before saying so).
"""
from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from access import audit
from accounts import users
from accounts.users import as_id
from attendees import registry
from core.changes import TICKETS
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events.model import EventDoc
from orders import promo_codes, quotas, states, ticket_types
from orders.model import (
    FREE,
    LEASE,
    MAX_TICKETS_PER_ORDER,
    METHODS,
    ORDERS,
    RESERVATIONS,
    pending_for,
    reservation_for,
)

log = logging.getLogger(__name__)

TAKING, HELD, ORDERING, ORDERED, RELEASED, REFUSED = "taking", "held", "ordering", "ordered", "released", "refused"
RESERVATION_STATES = (TAKING, HELD, ORDERING, ORDERED, RELEASED, REFUSED)
MAX_QUANTITY_TEXT = 6
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O or 1/I: codes are read aloud and typed
CODE_LENGTH = 8
MAX_KEY = 100


class CheckoutError(Refusal):
    """A refused checkout step; `message` is marked for translation, `params` fill it."""


class NothingChosen(CheckoutError):
    def __init__(self):
        super().__init__(N_("Choose at least one ticket."))


class BadQuantity(CheckoutError):
    def __init__(self):
        super().__init__(N_("The number of tickets must be a whole number, 0 or more."))


class AboveMax(CheckoutError):
    def __init__(self, name: str, count: int):
        super().__init__(N_("At most %(count)s tickets of “%(name)s” per order."), name=name, count=count)


class BelowMin(CheckoutError):
    def __init__(self, name: str, count: int):
        super().__init__(N_("At least %(count)s tickets of “%(name)s” per order."), name=name, count=count)


class TooManyTickets(CheckoutError):
    def __init__(self):
        super().__init__(N_("An order holds at most %(count)s tickets."), count=MAX_TICKETS_PER_ORDER)


class PriceSent(CheckoutError):
    def __init__(self):
        super().__init__(N_("Prices are set by the organiser: a price sent with the form is refused. "
                            "Reload the page and choose again."))


class UnknownType(CheckoutError):
    def __init__(self):
        super().__init__(N_("This ticket type does not exist."))


class NeedsCode(CheckoutError):
    def __init__(self):
        super().__init__(N_("This ticket type is sold only with its code. Enter the code you were given."))


class NotOnSale(CheckoutError):
    def __init__(self, name: str):
        super().__init__(N_("“%(name)s” is not on sale now."), name=name)


class NoPrice(CheckoutError):
    def __init__(self, name: str, currency: str):
        super().__init__(N_("“%(name)s” is not sold in %(currency)s."), name=name, currency=currency)


class SoldOut(CheckoutError):
    def __init__(self, name: str):
        super().__init__(N_("Not enough tickets of “%(name)s” are left."), name=name)


class ReservationGone(CheckoutError):
    def __init__(self):
        super().__init__(N_("Your reservation has run out and its tickets are back on sale. Choose your tickets "
                            "again."))


class NotFound(CheckoutError):
    def __init__(self):
        super().__init__(N_("This reservation does not exist."))


class BadMethod(CheckoutError):
    def __init__(self):
        super().__init__(N_("Choose how you pay."))


class HolderError(CheckoutError):
    """A refused holder (its address, name or language)."""


# --- reads --------------------------------------------------------------------------------------

async def get(db, event: EventDoc, buyer: Mapping[str, Any], reservation_id) -> dict[str, Any]:
    """The buyer's own reservation for this event; NotFound for any other (another buyer's is unknown)."""
    oid = as_id(reservation_id)
    found = await db[RESERVATIONS].find_one({"_id": oid, "event_id": event["_id"], "buyer_id": buyer["_id"]}) \
        if oid else None
    if found is None:
        raise NotFound()
    return found


def live(reservation: Mapping[str, Any], now: datetime.datetime) -> bool:
    return reservation["state"] == HELD and reservation["expires_at"] > now


def line_total(line: Mapping[str, Any]) -> int:
    """What a line costs: its tickets at their price less the promo code's discount, in minor units."""
    return (int(line["unit_price"]) - int(line.get("discount") or 0)) * int(line["quantity"])


def total(lines: Sequence[Mapping[str, Any]]) -> int:
    return sum(line_total(line) for line in lines)


# --- choosing -----------------------------------------------------------------------------------

def _quantity(raw: str) -> int:
    text = (raw or "").strip()
    if not text:
        return 0
    if len(text) > MAX_QUANTITY_TEXT or not text.lstrip("-").isdigit():
        raise BadQuantity()
    value = int(text)
    if value < 0:
        raise BadQuantity()
    return value


def lines_of(event: EventDoc, types: Mapping[str, dict[str, Any]], quantities: Mapping[str, str], *,
             code: str | None, currency: str, now: datetime.datetime, locale: str = "") -> list[dict[str, Any]]:
    """The lines a choice makes, checked against the event's types (type id as text -> type, as stored):
    [{ticket_type_id, quantity, unit_price}].

    `quantities`: type id (as sent) -> quantity (as sent).  An id that is
    not a type of this event is refused (another event's type included), as
    is a hidden type without its code, a type off sale or not priced in
    `currency`, and a quantity below the type's fewest or above its most.
    """
    lines = []
    for raw_id, raw_qty in quantities.items():
        quantity = _quantity(raw_qty)
        ticket_type = types.get(str(raw_id))
        if ticket_type is None:
            raise UnknownType()
        if quantity == 0:
            continue
        name = ticket_types.name(ticket_type, locale, event)
        if not ticket_types.visible(ticket_type, code):
            raise NeedsCode()
        if ticket_types.sale_state(ticket_type, now) != ticket_types.ON_SALE:
            raise NotOnSale(name)
        if quantity > ticket_type["max_per_order"]:
            raise AboveMax(name, ticket_type["max_per_order"])
        if quantity < ticket_type["min_per_order"]:
            raise BelowMin(name, ticket_type["min_per_order"])
        unit = ticket_types.price(ticket_type, currency)
        if unit is None:
            raise NoPrice(name, currency)
        lines.append({"ticket_type_id": ticket_type["_id"], "quantity": quantity, "unit_price": unit})
    if not lines:
        raise NothingChosen()
    if sum(line["quantity"] for line in lines) > MAX_TICKETS_PER_ORDER:
        raise TooManyTickets()
    return lines


async def reserve(services, event: EventDoc, buyer: Mapping[str, Any], quantities: Mapping[str, str], *,
                  code: str | None = None, promo: str | None = None, currency: str, locale: str = "",
                  now: datetime.datetime | None = None) -> dict[str, Any]:
    """Hold the chosen tickets for the buyer until the reservation's deadline; returns the reservation.

    `promo`: a promo code the buyer entered (`orders.promo_codes`): checked
    before anything is held, its discount on the lines, its uses taken with
    the tickets.  SoldOut when a quota lacks room, UsedUp when the code's
    last uses went to someone else meanwhile (nothing is then held).  The
    buyer's earlier live reservation for the event is given back first.
    """
    db = services.db
    now = now or utcnow()
    # The types and quotas as read after this request began, the read shared with every buyer asking
    # at once in this process (`orders.availability`): a rush costs the store a few reads, not one each.
    seen = await services.availability.read(db, event["_id"])
    types = seen.types_by_id()
    lines = lines_of(event, types, quantities, code=code, currency=currency, now=now, locale=locale)
    use = None
    if (promo or "").strip():
        lines, use = await promo_codes.apply(db, event, promo or "", lines, currency=currency, now=now)
    if await give_back_mine(services, event, buyer, now):
        # Read again after the buyer's own earlier reservation went back: its tickets count as free.
        seen = await services.availability.read(db, event["_id"])
    view = services.availability
    while True:
        by_type = seen.by_type([line["ticket_type_id"] for line in lines])
        wanted = quotas.needed(by_type, {line["ticket_type_id"]: line["quantity"] for line in lines})
        # A code that reserves seats lends its covered tickets in its quota.
        lend = {qid: (source, int(use["uses"])) for qid, source in use["lend"].items() if qid in wanted} \
            if use else {}
        full = quotas.lacking(by_type, wanted, lend)
        if full is not None:
            # Sold out as read a moment ago: refused before anything is written.  The conditional take
            # below stays the authority.
            raise SoldOut(_name_in_quota(event, lines, by_type, types, full, locale))
        counted = {qid: n for qid, n in wanted.items() if qid not in lend}
        if view.room_for(event["_id"], seen, counted):
            break
        # The room seen may all go to this process's buyers already trying: wait until one of them is
        # done, then read again (refused only by a read that shows no room, never on a guess).
        await view.ended(event["_id"])
        seen = await view.read(db, event["_id"])
    async with view.attempt(event["_id"], counted):
        return await _hold(services, event, buyer, lines, types, by_type, wanted, lend, use, code=code,
                           currency=currency, now=now, locale=locale)


async def _hold(services, event: EventDoc, buyer: Mapping[str, Any], lines, types, by_type, wanted: dict[str, int],
                lend, use, *, code: str | None, currency: str, now: datetime.datetime, locale: str) -> dict[str, Any]:
    """Write the reservation, take the code's uses and the quotas, and hold it (see `reserve`)."""
    db = services.db
    doc = {"_id": ObjectId(), "event_id": event["_id"], "buyer_id": buyer["_id"], "currency": currency,
           "lines": lines, "quotas": wanted, "code": (code or "").strip() or None, "promo": use, "state": TAKING,
           "released": False, "expires_at": now + reservation_for(services.settings), "created_at": now,
           "state_at": now}
    # Written before anything is taken: what it will take is on record, so a crash midway
    # is given back by the sweep (`orders.quotas`, `orders.promo_codes`).
    await db[RESERVATIONS].insert_one(doc)
    key = str(doc["_id"])

    async def refuse() -> None:
        await db[RESERVATIONS].update_one({"_id": doc["_id"], "state": TAKING},
                                          {"$set": {"state": REFUSED, "released": True, "state_at": utcnow()}})
        await announce(services, event)

    if use is not None and not await promo_codes.take(db, use, key):
        await refuse()
        raise promo_codes.UsedUp()
    full = await quotas.take_all(db, wanted, key, lend)
    if full is not None:
        await promo_codes.release(db, use, key)
        await refuse()
        raise SoldOut(_name_in_quota(event, lines, by_type, types, full, locale))
    held = await db[RESERVATIONS].find_one_and_update(
        {"_id": doc["_id"], "state": TAKING}, {"$set": {"state": HELD, "state_at": utcnow()}},
        return_document=ReturnDocument.AFTER)
    if held is None:
        # The sweep took it for a dead one (a process stalled beyond the lease) and gave it back.
        raise ReservationGone()
    await announce(services, event)
    return held


def _name_in_quota(event: EventDoc, lines, by_type, types, quota_id: str, locale: str) -> str:
    """The name of a chosen type the full quota limits (the refusal names it)."""
    for line in lines:
        if any(str(q["_id"]) == quota_id for q in by_type.get(line["ticket_type_id"], ())):
            return ticket_types.name(types[str(line["ticket_type_id"])], locale, event)
    return ""


async def give_back_mine(services, event: EventDoc, buyer: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Give back the buyer's live reservations for the event (a new choice replaces them); True if it had any."""
    found = False
    async for r in services.db[RESERVATIONS].find({"event_id": event["_id"], "buyer_id": buyer["_id"],
                                                   "state": HELD}):
        found = True
        await _release(services, event, r, now)
    return found


async def _release(services, event: EventDoc | None, reservation: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Claim the reservation for giving back (guarded by the state it was read in), then give back its holds."""
    db = services.db
    if reservation["state"] not in (RELEASED, REFUSED):
        claimed = await db[RESERVATIONS].find_one_and_update(
            {"_id": reservation["_id"], "state": reservation["state"]},
            {"$set": {"state": RELEASED, "state_at": now}})
        if claimed is None:
            return False  # ordered or given back by someone else meanwhile
    await quotas.release_all(db, reservation["quotas"], str(reservation["_id"]))
    await promo_codes.release(db, reservation.get("promo"), str(reservation["_id"]))
    await db[RESERVATIONS].update_one({"_id": reservation["_id"]}, {"$set": {"released": True}})
    if event is not None:
        await announce(services, event)
    return True


async def announce(services, event: Mapping[str, Any]) -> None:
    """What is left of the event's tickets may have changed (already persisted): tell whoever listens."""
    await services.notifier.announce(event.get("parent_id") or event["_id"], {"kind": TICKETS})


# --- placing the order ----------------------------------------------------------------------------

def clean_holder(event: EventDoc, email: str, name: str, locale: str) -> dict[str, str] | None:
    """A holder from a form's three fields; None when all are empty (assigned later); HolderError if wrong."""
    if not (email or "").strip() and not (name or "").strip():
        return None
    try:
        norm, clean_name, clean_locale = registry.clean(event, email, name, locale)
    except registry.AttendeeError as exc:
        raise HolderError(exc.message, **exc.params) from None
    return {"email": norm, "name": clean_name, "locale": clean_locale}


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _tickets(lines: Sequence[Mapping[str, Any]], holders: Sequence[Mapping[str, str] | None]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in lines:
        for _ in range(int(line["quantity"])):
            holder = holders[len(out)] if len(out) < len(holders) else None
            out.append({"id": f"t{len(out) + 1}", "ticket_type_id": line["ticket_type_id"],
                        "holder": dict(holder) if holder else None, "holder_id": None, "nonce": 1,
                        "issued": False, "mailed": 0})
    return out


def check_holders(holders: Sequence[Mapping[str, str] | None]) -> None:
    """One person holds one ticket of an event: the same address twice in an order is refused."""
    seen = set()
    for holder in holders:
        if holder is None:
            continue
        if holder["email"] in seen:
            raise HolderError(N_("%(email)s is named for two tickets. Each ticket needs its own holder."),
                              email=holder["email"])
        seen.add(holder["email"])


async def holds_ticket(db, event: EventDoc, email: str, *, except_order=None, except_ticket: str | None = None
                       ) -> bool:
    """Whether the address already holds a ticket of this event (a registration carrying one, or a
    ticket of a live order assigned to it)."""
    user = await users.by_email(db, email)
    if user is not None and await db.memberships.find_one(
            {"user_id": user["_id"], "scope_id": event["_id"], "role": "attendee", "state": "registered",
             "ticket_type_id": {"$exists": True},
             **({"$or": [{"order_id": {"$ne": except_order}}, {"ticket_id": {"$ne": except_ticket}}]}
                if except_order is not None else {})}, {"_id": 1}):
        return True
    query: dict[str, Any] = {"event_id": event["_id"], "state": {"$in": list(states.LIVE)},
                             "tickets.holder.email": email}
    async for order in db[ORDERS].find(query, {"tickets": 1}):
        for t in order["tickets"]:
            if (t.get("holder") or {}).get("email") == email and not (
                    order["_id"] == except_order and t["id"] == except_ticket):
                return True
    return False


async def place(services, event: EventDoc, buyer: Mapping[str, Any], reservation_id, *, buyer_name: str,
                method: str, holders: Sequence[Mapping[str, str] | None], idempotency_key: str,
                locale: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Turn the buyer's live reservation into an order; returns the order (the same one on a retry).

    An order of total 0 is paid at once; any other waits for its payment
    until its deadline (by method: `ORDER_CARD_MINUTES`, `ORDER_INVOICE_DAYS`).
    """
    from orders import actions  # actions use this module's reads; placing an order calls them back

    db = services.db
    now = now or utcnow()
    key = (idempotency_key or "").strip()[:MAX_KEY]
    reservation = await get(db, event, buyer, reservation_id)
    done = await _placed(db, buyer, reservation["_id"], key)
    if done is not None:
        return done
    if not live(reservation, now):
        raise ReservationGone()
    amount = total(reservation["lines"])
    if amount > 0 and method not in METHODS:
        raise BadMethod()
    count = sum(int(line["quantity"]) for line in reservation["lines"])
    check_holders(holders[:count])
    for holder in holders[:count]:
        if holder is not None and await holds_ticket(db, event, holder["email"]):
            raise HolderError(N_("%(email)s already holds a ticket for this event."), email=holder["email"])
    name = registry.clean_name(buyer_name) or buyer.get("name", "")
    claimed = await db[RESERVATIONS].find_one_and_update(
        {"_id": reservation["_id"], "state": HELD, "expires_at": {"$gt": now}},
        {"$set": {"state": ORDERING, "state_at": now}}, return_document=ReturnDocument.AFTER)
    if claimed is None:
        # Placed meanwhile by another request (a double click), or run out.
        done = await _placed(db, buyer, reservation["_id"], key)
        if done is not None:
            return done
        raise ReservationGone()
    method = FREE if amount == 0 else method
    order = {
        "_id": ObjectId(), "code": new_code(), "event_id": event["_id"], "space_id": event["space_id"],
        "buyer_id": buyer["_id"], "buyer": {"email": buyer["email"], "name": name, "locale": locale},
        "currency": reservation["currency"],
        "lines": [{"ticket_type_id": line["ticket_type_id"], "quantity": int(line["quantity"]),
                   "unit_price": int(line["unit_price"]), "discount": int(line.get("discount") or 0),
                   "voucher_id": line.get("voucher_id"), "total": line_total(line)} for line in reservation["lines"]],
        "tickets": _tickets(reservation["lines"], holders), "total": amount, "paid_amount": 0,
        "refunded_amount": 0, "refunds": [], "method": method, "state": states.PENDING,
        "expires_at": None if amount == 0 else now + pending_for(services.settings, method),
        "reservation_id": reservation["_id"], "hold_key": str(reservation["_id"]),
        "quotas": dict(reservation["quotas"]), "promo": reservation.get("promo"),
        "quota_released": False, "tickets_ended": False, "issued": False,
        "receipt_mailed": False, "idempotency_key": key or str(reservation["_id"]), "payment_ref": None,
        "log": [{"at": now, "action": "placed", "before": None, "after": states.PENDING, "by": states.PAYER,
                 "actor_id": buyer["_id"], "why": ""}],
        "version": 1, "created_at": now, "updated_at": now,
    }
    for _ in range(5):
        try:
            await db[ORDERS].insert_one(order)
            break
        except DuplicateKeyError as exc:
            if "code" in str(exc):
                order["code"] = new_code()
                continue
            done = await _placed(db, buyer, reservation["_id"], key)
            if done is not None:
                return done
            raise
    closed = await db[RESERVATIONS].find_one_and_update(
        {"_id": reservation["_id"], "state": ORDERING}, {"$set": {"state": ORDERED, "state_at": utcnow()}})
    if closed is None:
        # The sweep gave the reservation back (this process stalled beyond the lease): the order
        # holds nothing, so it cannot stand.
        await actions.cancel(services, event, order, by=states.SYSTEM, actor=None,
                             why="reservation given back while the order was placed")
        raise ReservationGone()
    await audit.record(db, actor=buyer, action="order.placed", event=event,
                       params={"order_id": str(order["_id"]), "code": order["code"], "total": amount,
                               "currency": order["currency"], "tickets": len(order["tickets"])},
                       before=None, after={"state": states.PENDING})
    if amount == 0:
        return await actions.mark_paid(services, order["_id"], payment_ref=None, actor=None, by=states.SYSTEM,
                                       why="free")
    await actions.ask_for_payment(services, event, order)
    return order


async def _placed(db, buyer: Mapping[str, Any], reservation_id, key: str) -> dict[str, Any] | None:
    """The order a reservation (or the form's idempotency key) already made, if any."""
    found = await db[ORDERS].find_one({"reservation_id": reservation_id})
    if found is None and key:
        found = await db[ORDERS].find_one({"buyer_id": buyer["_id"], "idempotency_key": key})
    return found


# --- the sweep ------------------------------------------------------------------------------------

async def sweep(services, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Give back reservations past their deadline, and finish those a dead process left; returns how many."""
    from events import model  # events is below orders; imported here to keep this module's top light

    db = services.db
    now = now or utcnow()
    due = await db[RESERVATIONS].find({"$or": [
        {"state": HELD, "expires_at": {"$lte": now}},
        {"state": {"$in": [TAKING, ORDERING]}, "state_at": {"$lte": now - LEASE}},
        {"state": {"$in": [RELEASED, REFUSED]}, "released": False},
    ]}).limit(limit).to_list(None)
    done = 0
    events: dict[Any, EventDoc | None] = {}
    for r in due:
        if r["event_id"] not in events:
            events[r["event_id"]] = await model.get_event(db, r["event_id"])
        event = events[r["event_id"]]
        if r["state"] == ORDERING and await db[ORDERS].find_one({"reservation_id": r["_id"]}, {"_id": 1}):
            await db[RESERVATIONS].update_one({"_id": r["_id"], "state": ORDERING},
                                              {"$set": {"state": ORDERED, "state_at": now}})
            continue
        try:
            if await _release(services, event, r, now):
                done += 1
        except Exception:
            log.exception("reservation not given back", extra={"reservation_id": str(r["_id"])})
    return done
