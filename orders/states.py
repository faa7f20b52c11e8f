"""The order state machine: one transition table, one way to move along it.

    PENDING             -> PAID | EXPIRED | CANCELLED
    PAID                -> REFUNDED | PARTIALLY_REFUNDED | CANCELLED
    PARTIALLY_REFUNDED  -> REFUNDED | PARTIALLY_REFUNDED (a further partial refund)

Every change of an order's state goes through `transition`: it checks the
move against `TRANSITIONS` (which also says who may make it: the payer,
staff or the system, i.e. a payment provider's callback or the sweep),
writes it as one conditional update guarded by the state it was read in,
appends it to the order's own log (who, why, when) and records it in the
audit log.  Two requests making the same move read the same state; only
the first write matches it, and the second gets `Conflict` and writes
nothing, so a move applied twice changes the order once (callers that may
be retried, like `orders.actions.mark_paid`, turn the second into a quiet
success).  An illegal move raises `IllegalTransition` before anything is
written.

What a state means for the tickets:
- LIVE states hold their tickets' places in the quotas;
- VALID states admit the holders (their registrations carry the tickets);
- ENDED states gave their places back and ended the holders' registrations
  (`orders.actions` does both after the move, idempotently).
A partial refund is money only: the tickets stay valid.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from pymongo import ReturnDocument

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from orders.model import ORDERS

PENDING = "pending"
PAID = "paid"
EXPIRED = "expired"
CANCELLED = "cancelled"
REFUNDED = "refunded"
PARTIALLY_REFUNDED = "partially_refunded"
STATES = (PENDING, PAID, PARTIALLY_REFUNDED, REFUNDED, CANCELLED, EXPIRED)

LABELS = {
    PENDING: N_("Awaiting payment"),
    PAID: N_("Paid"),
    EXPIRED: N_("Expired"),
    CANCELLED: N_("Cancelled"),
    REFUNDED: N_("Refunded"),
    PARTIALLY_REFUNDED: N_("Partially refunded"),
}

LIVE = frozenset({PENDING, PAID, PARTIALLY_REFUNDED})
VALID = frozenset({PAID, PARTIALLY_REFUNDED})
ENDED = frozenset({EXPIRED, CANCELLED, REFUNDED})

# Who makes a move.
PAYER, STAFF, SYSTEM = "payer", "staff", "system"
ACTORS = (PAYER, STAFF, SYSTEM)

_MONEY = frozenset({STAFF, SYSTEM})
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (PENDING, PAID): _MONEY,
    (PENDING, EXPIRED): frozenset({SYSTEM}),
    (PENDING, CANCELLED): frozenset({PAYER, STAFF, SYSTEM}),
    (PAID, REFUNDED): _MONEY,
    (PAID, PARTIALLY_REFUNDED): _MONEY,
    (PAID, CANCELLED): _MONEY,
    (PARTIALLY_REFUNDED, REFUNDED): _MONEY,
    (PARTIALLY_REFUNDED, PARTIALLY_REFUNDED): _MONEY,
}


class OrderError(Refusal):
    """A refused order action; `message` is marked for translation, `params` fill it."""


class IllegalTransition(OrderError):
    def __init__(self, current: str, wanted: str):
        super().__init__(N_("An order that is “%(current)s” cannot become “%(wanted)s”."),
                         current=LABELS.get(current, current), wanted=LABELS.get(wanted, wanted))
        self.current, self.wanted = current, wanted


class Conflict(OrderError):
    """Someone else changed the order first; nothing was written."""

    def __init__(self):
        super().__init__(N_("This order was changed by someone else a moment ago. Reload the page to see it."))


def allowed(current: str, wanted: str, by: str) -> bool:
    return by in TRANSITIONS.get((current, wanted), frozenset())


def check(current: str, wanted: str, by: str) -> None:
    if by not in ACTORS or not allowed(current, wanted, by):
        raise IllegalTransition(current, wanted)


async def transition(db, event: Mapping[str, Any], order: Mapping[str, Any], wanted: str, *, by: str,
                     actor: Mapping[str, Any] | None, why: str = "", fields: Mapping[str, Any] | None = None,
                     inc: Mapping[str, int] | None = None, push: Mapping[str, Any] | None = None,
                     guard: Mapping[str, Any] | None = None, log: Mapping[str, Any] | None = None,
                     now: datetime.datetime | None = None) -> dict[str, Any]:
    """Move `order` (as read) to `wanted`; returns the order as stored after the move.

    `fields` are set, `inc` added and `push` appended in the same write;
    `guard` narrows the filter further (a refund's key not seen before);
    `log` adds to the order's log entry (an amount, a payment reference).
    Raises IllegalTransition or Conflict, having written nothing.
    """
    current = order["state"]
    check(current, wanted, by)
    now = now or utcnow()
    entry = {"at": now, "action": "state", "before": current, "after": wanted, "by": by,
             "actor_id": actor["_id"] if actor else None, "why": why[:500], **(log or {})}
    update: dict[str, Any] = {"$set": {**(fields or {}), "state": wanted, "updated_at": now},
                              "$push": {"log": entry, **(push or {})}, "$inc": {"version": 1, **(inc or {})}}
    after = await db[ORDERS].find_one_and_update({**(guard or {}), "_id": order["_id"], "state": current},
                                                 update, return_document=ReturnDocument.AFTER)
    if after is None:
        raise Conflict()
    await audit.record(db, actor=actor, action=f"order.{wanted}", event=event,
                       params={"order_id": str(order["_id"]), "code": order["code"], "by": by,
                               **({"why": why[:500]} if why else {}),
                               **{k: v for k, v in (log or {}).items() if k in ("amount", "payment_ref")}},
                       before={"state": current}, after={"state": wanted})
    return after


async def note(db, order: Mapping[str, Any], action: str, *, by: str, actor: Mapping[str, Any] | None,
               why: str = "", now: datetime.datetime | None = None, **extra: Any) -> None:
    """A log entry on the order for something that is not a change of state (a holder assigned)."""
    now = now or utcnow()
    await db[ORDERS].update_one({"_id": order["_id"]}, {"$push": {"log": {
        "at": now, "action": action, "before": order["state"], "after": order["state"], "by": by,
        "actor_id": actor["_id"] if actor else None, "why": why[:500], **extra}}})
