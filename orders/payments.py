"""Where orders meet the payments package: the one place it is wired in.

Asking for money:
- `start` asks `payments.attempts.start` for what a pending order still
  owes, by the order's method: a card attempt (the payer is sent to
  `payments.attempts.pay_url`) or an invoice for a legal entity (the
  organisation's details, checked per country by `payments.legal`; the PDF
  is mailed by the payments package).  The idempotency key is the order's
  and the method's (`key_for`): starting again, from a double click or a
  retried request, answers the same attempt and never charges twice, and a
  failed card is tried again on that same attempt.
- `refund` is the staff's refund: through the provider when the order was
  paid through one (`payments.attempts.refund`, keyed by the staff form's
  key), as bookkeeping when staff marked it paid by hand.

What the payments package calls back (registered once at assembly by
`install`, with the order's id as `ref`), each safe to call again:
- `on_paid` marks the order paid (`orders.actions.mark_paid`: its tickets
  issued, its receipt mailed; on a paid order it changes nothing).  Money
  that arrives for an order that can no longer take it (expired or
  cancelled meanwhile, or already paid another way) is given back at once,
  in full, keyed by the attempt.
- `on_failed` leaves the order pending, noted in its log: the payer may
  try another card until the order's deadline.
- `on_refunded` records the refund on the order (`orders.actions.refund`,
  keyed by the provider's refund): in full, the order is refunded and its
  tickets go back on sale.
- `space_of` names the order's space (its staff see the payment; its legal
  details head the invoice).

An order of total 0 asks for nothing: it is paid when placed.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from accounts.users import as_id
from core.errors import Refusal
from core.i18n import N_, text_for
from events.model import EventDoc
from orders import states
from orders.model import CARD, INVOICE, ORDERS
from payments import attempts
from payments.model import PAID

log = logging.getLogger(__name__)

PURPOSE = "order"
MAX_REASON = 500


class NotPayable(states.OrderError):
    def __init__(self):
        super().__init__(N_("This order is not waiting for a payment."))


def install(registry) -> None:
    """Register the order callbacks with the payments package (`services.payments`), once at assembly."""
    registry.register(PURPOSE, on_paid=on_paid, on_failed=on_failed, on_refunded=on_refunded, space_of=space_of)


def key_for(order: Mapping[str, Any], method: str) -> str:
    """The idempotency key of an order's payment by one method: one attempt per order and method."""
    return f"order-{order['_id']}-{method}"


def due(order: Mapping[str, Any]) -> int:
    """What the order still owes, in minor units."""
    return int(order["total"]) - int(order["paid_amount"])


def description(event: EventDoc, order: Mapping[str, Any]) -> str:
    """What the payer's bank statement and invoice say: the event and the order's code."""
    locale = order["buyer"].get("locale") or event["default_locale"]
    title = text_for(event["title"], locale, (event["default_locale"],))
    return f"{title} · {order['code']}"


def order_path(order: Mapping[str, Any]) -> str:
    return f"/me/orders/{order['_id']}"


async def start(services, event: EventDoc, order: Mapping[str, Any], *,
                details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The order's payment attempt by its method, started once (the same one again on a retry).

    NotPayable unless the order is pending and owes something; a refusal of
    the payments package (card payments not configured, an invoice's wrong
    details, a seller without legal details) is raised as it is, and stores
    nothing.
    """
    if order["state"] != states.PENDING or order["method"] not in (CARD, INVOICE) or due(order) <= 0:
        raise NotPayable()
    attempt = await attempts.start(
        services, purpose=PURPOSE, ref=str(order["_id"]), amount=due(order), currency=order["currency"],
        idempotency_key=key_for(order, order["method"]), payer_email=order["buyer"]["email"],
        locale=order["buyer"].get("locale") or event["default_locale"], description=description(event, order),
        method=order["method"], details=dict(details) if details is not None else None,
        space_id=order["space_id"], return_path=order_path(order))
    await services.db[ORDERS].update_one({"_id": order["_id"]}, {"$addToSet": {"attempt_ids": attempt["_id"]}})
    return dict(attempt)


async def attempt_of(db, order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The order's payment attempt by its method, if one was started."""
    return await db.payment_attempts.find_one({"purpose": PURPOSE, "idempotency_key": key_for(order, order["method"])})


async def paid_attempt(db, order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The attempt that paid the order (None: paid by hand, free, or not paid)."""
    oid = as_id(order.get("payment_ref"))
    if oid is None:
        return None
    return await db.payment_attempts.find_one({"_id": oid, "purpose": PURPOSE, "ref": str(order["_id"]),
                                               "state": {"$in": list(PAID)}})


async def refund(services, order: Mapping[str, Any], *, amount: int, why: str, key: str,
                 actor: Mapping[str, Any] | None, locale: str = "en") -> dict[str, Any]:
    """Staff give back `amount` of a paid order (idempotent by `key`); returns the order as it is after.

    Paid through a provider: the provider refunds, and its report reaches
    the order through `on_refunded` before this returns.  Paid by hand: the
    refund is recorded on the order (the money goes back by hand too).
    """
    from orders import actions
    attempt = await paid_attempt(services.db, order)
    if attempt is None:
        return await actions.refund(services, order["_id"], amount=amount, actor=actor, by=states.STAFF,
                                    why=why, key=key, locale=locale)
    actions.check_refund(order, amount, locale)
    await attempts.refund(services, attempt_id=attempt["_id"], amount=amount,
                          reason=(why or "refunded by staff")[:MAX_REASON], idempotency_key=f"order-{key}",
                          actor=actor)
    return await actions.get(services.db, order["_id"])


# --- what the payments package calls back -------------------------------------------------------

async def _order(services, ref: str) -> dict[str, Any] | None:
    oid = as_id(ref)
    found = await services.db[ORDERS].find_one({"_id": oid}) if oid else None
    if found is None:
        # An attempt of purpose "order" whose order is gone (or never was): nothing to change.
        log.error("payment for an unknown order", extra={"order_id": str(ref)})
    return found


async def space_of(services, ref: str):
    order = await _order(services, ref)
    return order["space_id"] if order else None


async def on_paid(services, ref: str, attempt: Mapping[str, Any]) -> None:
    from orders import actions
    order = await _order(services, ref)
    if order is None:
        return
    payment_ref = str(attempt["_id"])
    if order["state"] == states.PENDING and int(attempt["amount"]) == due(order) \
            and attempt["currency"] == order["currency"]:
        try:
            await actions.mark_paid(services, order["_id"], payment_ref=payment_ref, actor=None, by=states.SYSTEM,
                                    why=f"paid by {attempt['method']}")
            return
        except Refusal:
            order = await _order(services, ref) or order   # expired or cancelled a moment ago
    if order.get("payment_ref") == payment_ref:
        return   # this payment paid it already: once
    # The order cannot take this money (it ended, or was paid another way): it goes back whole.
    log.warning("payment for an order that cannot take it is given back",
                extra={"order_id": str(order["_id"]), "attempt": payment_ref, "state": order["state"]})
    await states.note(services.db, order, "payment_returned", by=states.SYSTEM, actor=None,
                      why="payment arrived for an order that cannot take it", payment_ref=payment_ref,
                      amount=int(attempt["amount"]))
    await attempts.refund(services, attempt_id=attempt["_id"], amount=int(attempt["amount"]),
                          reason="the order could not take this payment", idempotency_key=f"unwanted-{payment_ref}",
                          actor=None)


async def on_failed(services, ref: str, attempt: Mapping[str, Any]) -> None:
    # The order stays pending: the payer may try again (another card) until its deadline.
    order = await _order(services, ref)
    if order is None or order["state"] != states.PENDING:
        return
    failure = attempt.get("failure") or {}
    await states.note(services.db, order, "payment_failed", by=states.SYSTEM, actor=None,
                      why=str(failure.get("message") or failure.get("code") or ""), payment_ref=str(attempt["_id"]))


async def on_refunded(services, ref: str, attempt: Mapping[str, Any], amount: int) -> None:
    from orders import actions
    order = await _order(services, ref)
    if order is None:
        return
    if order.get("payment_ref") != str(attempt["_id"]):
        return   # money given back for a payment the order never took (`on_paid`): nothing of the order's
    refund = attempt.get("refund") or {}
    entry: Mapping[str, Any] = next((r for r in attempt.get("refunds") or () if r.get("key") == refund.get("key")), {})
    actor = None
    if as_id(entry.get("by")) is not None:
        actor = await services.db.users.find_one({"_id": as_id(entry.get("by"))}, {"email": 1, "name": 1})
    try:
        await actions.refund(services, order["_id"], amount=int(amount), actor=actor,
                             by=states.STAFF if actor else states.SYSTEM,
                             why=str(entry.get("reason") or "refund by the payment provider"),
                             key=f"payment:{refund.get('id') or refund.get('ref')}")
    except Refusal as exc:
        # The order no longer matches the payment (refunded by hand before): staff see both records.
        log.error("refund not recorded on the order", extra={"order_id": str(order["_id"]), "why": exc.message})
