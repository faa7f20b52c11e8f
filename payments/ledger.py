"""The money ledger: every charge and refund as one entry, integer minor units and a currency.

A charge is a positive amount, a refund a negative one; a payment's balance
is the sum of its entries, a space's takings the sum of its entries per
currency.  Nothing in the platform keeps a running total that could drift
from the entries.  Each entry has a `key` naming the provider's record of
the movement (its charge or refund id, or the invoice number), unique, so
writing the same movement twice writes one entry.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError

from core.clock import utcnow

CHARGE, REFUND = "charge", "refund"


def entry(attempt: Mapping[str, Any], kind: str, amount: int, provider_ref: str) -> dict[str, Any]:
    """The entry for a movement of `amount` (positive) on `attempt`; refunds are stored negative."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("a ledger amount is a positive integer of minor units")
    return {
        "key": f"{attempt.get('provider', '')}:{kind}:{provider_ref}",
        "attempt_id": attempt["_id"], "purpose": attempt["purpose"], "ref": attempt["ref"],
        "space_id": attempt.get("space_id"), "method": attempt["method"], "provider": attempt.get("provider", ""),
        "provider_ref": provider_ref, "kind": kind, "amount": amount if kind == CHARGE else -amount,
        "currency": attempt["currency"],
    }


async def write(db, doc: Mapping[str, Any]) -> bool:
    """Store the entry once; False when it was already there."""
    try:
        await db.payments_ledger.insert_one({**doc, "at": utcnow()})
    except DuplicateKeyError:
        return False
    return True


async def balance(db, query: Mapping[str, Any]) -> dict[str, int]:
    """The sum of the matching entries per currency."""
    out: dict[str, int] = {}
    async for doc in db.payments_ledger.find(dict(query), {"amount": 1, "currency": 1}):
        out[doc["currency"]] = out.get(doc["currency"], 0) + int(doc["amount"])
    return out


async def entries(db, query: Mapping[str, Any], skip: int = 0, limit: int = 0) -> list[dict[str, Any]]:
    cursor = db.payments_ledger.find(dict(query)).sort("at", -1).skip(skip)
    if limit:
        cursor = cursor.limit(limit)
    return await cursor.to_list(None)
