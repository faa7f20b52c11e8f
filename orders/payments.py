"""Where orders meet the payments package: the one place it is wired in.

`start` asks for an order's payment; `on_paid`, `on_refunded` and
`on_failed` are what the payments package calls back, exactly once per
fact, with the order's id as its `ref` (they are registered with it at
assembly).  Until a payment provider is installed, `start` asks for
nothing: an order of total 0 is paid at once (`orders.checkout.place`),
and any other stays pending until staff mark it paid by hand (a bank
transfer) or it expires.

The call it will make, when payments is installed:

    payments.attempts.start(services, purpose="order", ref=<order id>, amount=<minor units>,
                            currency=<code>, idempotency_key=<str>, payer_email=..., locale=...,
                            description=..., method="card" | "invoice")
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from orders import states

log = logging.getLogger(__name__)

PURPOSE = "order"


def request(order: Mapping[str, Any], description: str) -> dict[str, Any]:
    """The arguments of the payment attempt an order asks for (money in minor units with its currency)."""
    return {"purpose": PURPOSE, "ref": str(order["_id"]), "amount": int(order["total"]) - int(order["paid_amount"]),
            "currency": order["currency"], "idempotency_key": f"order:{order['_id']}:{order['version']}",
            "payer_email": order["buyer"]["email"], "locale": order["buyer"].get("locale") or "",
            "description": description, "method": order["method"]}


async def start(services, order: Mapping[str, Any], description: str) -> dict[str, Any] | None:
    """Ask the payments package for the order's payment; None while none is installed."""
    provider = getattr(services, "payments", None)
    if provider is None:
        return None
    return await provider.attempts.start(services, **request(order, description))


# --- what the payments package calls back -------------------------------------------------------

async def on_paid(services, ref: str, attempt: Mapping[str, Any]) -> None:
    from orders import actions
    await actions.mark_paid(services, ref, payment_ref=str(attempt.get("id") or ""), actor=None, by=states.SYSTEM,
                            why="payment received")


async def on_refunded(services, ref: str, attempt: Mapping[str, Any], amount: int) -> None:
    from orders import actions
    key = f"provider:{attempt.get('refund_id') or attempt.get('id')}"
    await actions.refund(services, ref, amount=int(amount), actor=None, by=states.SYSTEM,
                         why="refund by the payment provider", key=key)


async def on_failed(services, ref: str, attempt: Mapping[str, Any]) -> None:
    # A failed attempt changes nothing: the order waits for another attempt until it expires.
    log.info("payment attempt failed", extra={"order_id": ref, "attempt": str(attempt.get("id") or "")})
