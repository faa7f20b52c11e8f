"""What happens to an order: paid, cancelled, expired, refunded; holders assigned; the sweep.

Each action is one guarded transition of `orders.states` (logged on the
order and audited), followed by what the new state implies, done so that it
can be done again:

- paid (by a payment, by staff by hand for a bank transfer, or at once for
  a total of 0): every assigned ticket is issued to its holder
  (`orders.holders.issue_all`), and the buyer gets a receipt in their
  language (once: `receipt_mailed`);
- cancelled, expired, refunded in full: the order's holds go back to its
  quotas (`orders.quotas.release_all`, idempotent by the order's key), its
  promo code's uses back to the code (`orders.promo_codes.release`), its
  holders' registrations end (`orders.holders.end_all`), and the change is
  announced so the pages selling the event show the tickets again;
- refunded in part: money only, the tickets stay valid.  A refund of an
  order paid through a provider is made there first and recorded here when
  the provider reports it (`orders.payments`); one paid by hand is recorded
  directly.  Each has a key, and a refund applied twice counts once.

A process that dies after a transition and before its consequences leaves
the order with `quota_released`, `tickets_ended` or `issued` unset; the
sweep (`sweep`, every process, every `SWEEP_SECONDS`) finishes them, and
expires unpaid orders past their deadline.  Applied twice, an action
changes the order once: `mark_paid` on a paid order and a refund with a key
already applied answer the order as it is.
"""
from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from accounts.users import as_id
from core import money
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events import model
from events.model import EventDoc
from orders import checkout, holders, mails, payments, promo_codes, quotas, states, ticket_types
from orders.model import CARD, ORDERS

log = logging.getLogger(__name__)

# Seconds between two sweep rounds in each process (read each round, so tests may shorten it).
SWEEP_SECONDS = 10.0
MAX_WHY = 500


class NotFound(states.OrderError):
    def __init__(self):
        super().__init__(N_("This order does not exist."))


class BadAmount(states.OrderError):
    def __init__(self, most: str):
        super().__init__(N_("Refund an amount above zero and at most %(most)s."), most=most)


# --- reads ----------------------------------------------------------------------------------

async def get(db, order_id) -> dict[str, Any]:
    oid = as_id(order_id)
    found = await db[ORDERS].find_one({"_id": oid}) if oid else None
    if found is None:
        raise NotFound()
    return found


async def of_event(db, event: EventDoc, order_id) -> dict[str, Any]:
    """The event's order with this id; NotFound for any other (another event's is unknown here)."""
    oid = as_id(order_id)
    found = await db[ORDERS].find_one({"_id": oid, "event_id": event["_id"]}) if oid else None
    if found is None:
        raise NotFound()
    return found


async def of_buyer(db, buyer: Mapping[str, Any], order_id) -> dict[str, Any]:
    """The buyer's own order with this id; NotFound for anyone else's (a payer sees only their orders)."""
    oid = as_id(order_id)
    found = await db[ORDERS].find_one({"_id": oid, "buyer_id": buyer["_id"]}) if oid else None
    if found is None:
        raise NotFound()
    return found


async def _event_of(db, order: Mapping[str, Any]) -> EventDoc:
    event = await model.get_event(db, order["event_id"])
    if event is None:
        raise NotFound()
    return event


async def type_names(db, event: EventDoc, locale: str) -> dict[Any, str]:
    return {t["_id"]: ticket_types.name(t, locale, event) for t in await ticket_types.of_event(db, event["_id"])}


# --- payment ----------------------------------------------------------------------------------

async def ask_for_payment(services, event: EventDoc, order: Mapping[str, Any]) -> dict[str, Any] | None:
    """Start a card order's payment at once (the payer is sent to it); None when it could not start.

    An invoice waits for the organisation's details (`orders.payments.start`
    with them, from the order's invoice page).
    """
    if order["method"] != CARD:
        return None
    try:
        return await payments.start(services, event, order)
    except Refusal as exc:
        # Card payments not configured, say: the order stands; its page offers paying again and says why.
        log.info("payment not started", extra={"order_id": str(order["_id"]), "why": exc.message})
    except Exception:
        log.exception("payment not started", extra={"order_id": str(order["_id"])})
    return None


async def mark_paid(services, order_id, *, payment_ref: str | None, actor: Mapping[str, Any] | None,
                    why: str = "", by: str = states.STAFF) -> dict[str, Any]:
    """PENDING -> PAID: the tickets are issued, the buyer gets a receipt.  Idempotent: on an order that is
    paid already this changes nothing and answers it."""
    db = services.db
    order = await get(db, order_id)
    event = await _event_of(db, order)
    if order["state"] in states.VALID:
        return order
    try:
        order = await states.transition(
            db, event, order, states.PAID, by=by, actor=actor, why=why,
            fields={"paid_amount": order["total"], "payment_ref": payment_ref, "expires_at": None,
                    "paid_at": utcnow()},
            log={"amount": order["total"], **({"payment_ref": payment_ref} if payment_ref else {})})
    except states.Conflict:
        again = await get(db, order["_id"])
        if again["state"] in states.VALID:
            return again   # paid by the other request: once
        raise
    await after_paid(services, event, order)
    await checkout.announce(services, event)
    return await get(db, order["_id"])


async def after_paid(services, event: EventDoc, order: Mapping[str, Any]) -> None:
    """What a paid order implies (safe to repeat): its tickets issued, its receipt mailed once."""
    await holders.issue_all(services, event, order)
    db = services.db
    if not order.get("receipt_mailed"):
        claimed = await db[ORDERS].find_one_and_update({"_id": order["_id"], "receipt_mailed": False},
                                                       {"$set": {"receipt_mailed": True}})
        if claimed is not None:
            names = await type_names(db, event, model.locale_for(event, order["buyer"].get("locale") or ""))
            if not await mails.send_receipt(services, event, claimed, names):
                await db[ORDERS].update_one({"_id": order["_id"]}, {"$set": {"receipt_mailed": False}})


# --- ending -----------------------------------------------------------------------------------

async def cancel(services, event: EventDoc, order: Mapping[str, Any], *, by: str,
                 actor: Mapping[str, Any] | None, why: str = "") -> dict[str, Any]:
    """PENDING or PAID -> CANCELLED: the tickets go back on sale and their holders lose access."""
    after = await states.transition(services.db, event, order, states.CANCELLED, by=by, actor=actor,
                                    why=why[:MAX_WHY], fields={"expires_at": None})
    await after_ended(services, event, after, actor)
    return after


async def expire(services, event: EventDoc, order: Mapping[str, Any], now: datetime.datetime | None = None
                 ) -> dict[str, Any]:
    """PENDING -> EXPIRED (the sweep, past the order's deadline): its tickets go back on sale."""
    after = await states.transition(services.db, event, order, states.EXPIRED, by=states.SYSTEM, actor=None,
                                    why="not paid in time", fields={"expires_at": None}, now=now)
    await after_ended(services, event, after, None)
    return after


async def after_ended(services, event: EventDoc, order: Mapping[str, Any], actor: Mapping[str, Any] | None) -> None:
    """What an ended order implies (safe to repeat): holds back to the quotas, holders' registrations ended."""
    db = services.db
    if not order.get("quota_released"):
        await quotas.release_all(db, order["quotas"], order["hold_key"])
        await promo_codes.release(db, order.get("promo"), order["hold_key"])
        await db[ORDERS].update_one({"_id": order["_id"]}, {"$set": {"quota_released": True}})
        await checkout.announce(services, event)
    if not order.get("tickets_ended"):
        await holders.end_all(services, event, order, actor)
        await db[ORDERS].update_one({"_id": order["_id"]}, {"$set": {"tickets_ended": True}})


def check_refund(order: Mapping[str, Any], amount: Any, locale: str = "en") -> None:
    """Whether `amount` can be given back of the order as read: IllegalTransition or BadAmount if not."""
    refundable = int(order["paid_amount"]) - int(order["refunded_amount"])
    if order["state"] not in states.VALID:
        raise states.IllegalTransition(order["state"], states.REFUNDED)
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= refundable:
        raise BadAmount(money.format(refundable, order["currency"], locale))


async def refund(services, order_id, *, amount: int, actor: Mapping[str, Any] | None, by: str = states.STAFF,
                 why: str = "", key: str, locale: str = "en") -> dict[str, Any]:
    """Record a refund of `amount` (minor units) of a paid order: in full it becomes REFUNDED (tickets
    back on sale, holders out), in part PARTIALLY_REFUNDED (money only).  Idempotent by `key`."""
    db = services.db
    order = await get(db, order_id)
    event = await _event_of(db, order)
    if any(r.get("key") == key for r in order.get("refunds") or ()):
        return order
    check_refund(order, amount, locale)
    refundable = int(order["paid_amount"]) - int(order["refunded_amount"])
    wanted = states.REFUNDED if amount == refundable else states.PARTIALLY_REFUNDED
    entry = {"key": key, "amount": amount, "at": utcnow(), "by": by, "actor_id": actor["_id"] if actor else None,
             "why": why[:MAX_WHY]}
    try:
        after = await states.transition(db, event, order, wanted, by=by, actor=actor, why=why[:MAX_WHY],
                                        inc={"refunded_amount": amount}, push={"refunds": entry},
                                        guard={"refunds.key": {"$ne": key},
                                               "refunded_amount": order["refunded_amount"]},
                                        log={"amount": amount})
    except states.Conflict:
        again = await get(db, order["_id"])
        if any(r.get("key") == key for r in again.get("refunds") or ()):
            return again   # applied by the other request: once
        raise
    if wanted == states.REFUNDED:
        await after_ended(services, event, after, actor)
    return after


# --- holders ----------------------------------------------------------------------------------

async def assign_holder(services, order: Mapping[str, Any], ticket_id: str, *, email: str, name: str, locale: str,
                        actor: Mapping[str, Any] | None, by: str = states.PAYER) -> dict[str, Any]:
    """The payer (or staff) gives a ticket its holder or passes it to another (`orders.holders.assign`)."""
    event = await _event_of(services.db, order)
    return await holders.assign(services, event, order, ticket_id, email=email, name=name, locale=locale,
                                actor=actor, by=by)


# --- the sweep --------------------------------------------------------------------------------

async def sweep(services, now: datetime.datetime | None = None, limit: int = 200) -> None:
    """One round of the periodic work every process runs: reservations past their deadline given back,
    unpaid orders past theirs expired, and the consequences a stopped process left undone finished.

    Each order is claimed by its guarded transition, and every consequence
    is idempotent, so any number of processes sweep at once safely.
    """
    db = services.db
    now = now or utcnow()
    try:
        await checkout.sweep(services, now)
    except Exception:
        log.exception("reservation sweep failed")
    try:
        await promo_codes.sweep(services, now)
    except Exception:
        log.exception("promo code sweep failed")
    events: dict[Any, EventDoc | None] = {}

    async def event_of(order) -> EventDoc | None:
        if order["event_id"] not in events:
            events[order["event_id"]] = await model.get_event(db, order["event_id"])
        return events[order["event_id"]]

    due = await db[ORDERS].find({"state": states.PENDING, "expires_at": {"$lte": now}}).limit(limit).to_list(None)
    for order in due:
        event = await event_of(order)
        if event is None:
            continue
        try:
            await expire(services, event, order, now)
        except Refusal:
            continue   # paid or cancelled by someone else meanwhile
        except Exception:
            log.exception("order not expired", extra={"order_id": str(order["_id"])})
    stale = now - datetime.timedelta(seconds=30)
    unfinished = await db[ORDERS].find({"$or": [
        {"state": {"$in": list(states.ENDED)}, "$or": [{"quota_released": False}, {"tickets_ended": False}]},
        {"state": {"$in": list(states.VALID)}, "$or": [{"issued": False}, {"receipt_mailed": False}]},
    ], "updated_at": {"$lte": stale}}).limit(limit).to_list(None)
    for order in unfinished:
        event = await event_of(order)
        if event is None:
            continue
        try:
            if order["state"] in states.ENDED:
                await after_ended(services, event, order, None)
            else:
                await after_paid(services, event, order)
        except Exception:
            log.exception("order consequences not finished", extra={"order_id": str(order["_id"])})
