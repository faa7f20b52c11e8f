"""A donor's wallet: a ledger of entries, and a balance that is always their sum.

Every movement is an entry (`wallet_entries`), unique by its key: a top-up
by card (`topup-<payment attempt>`, credited when the payment is confirmed)
or a gift to a campaign (`gift-<donation>`, a debit).  The balance per
donor and currency is one document (`wallet_balances`, `_id`
"<user id>:<currency>") changed only by one conditional update that also
records the entry's key in the same document (`keys`):

1. the entry is stored `pending` (a retry finds it by its key);
2. the balance moves by the entry's amount in one update guarded by `keys`
   not holding the key yet and, for a debit, by `balance >= amount`; the
   key is pushed in the same update.  Of fifty concurrent gifts against a
   balance for ten, ten pass and forty find the guard false, whatever
   process they run in; the same key twice at once (a double click) moves
   the balance once;
3. the entry is marked `applied` (for reading; the key in `keys` is what
   counts).

A stop between steps is repaired by doing the same again with the same
key.  So, with no transaction: the balance is the sum of the entries whose
keys it holds (`audit` checks it), and never below zero.  A refused debit
leaves its entry pending and the balance untouched; it counts for nothing.
A donor's keys stay with their balance document: a few dozen bytes per
movement, far below a document's limit for any donor.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_

ENTRIES = "wallet_entries"
BALANCES = "wallet_balances"
PENDING, APPLIED = "pending", "applied"
TOPUP, GIFT = "topup", "gift"


class WalletError(Refusal):
    pass


class NotEnough(WalletError):
    def __init__(self):
        super().__init__(N_("Your wallet does not hold enough for this gift."))


def balance_id(user_id: Any, currency: str) -> str:
    return f"{user_id}:{currency}"


async def balance(db, user_id: Any, currency: str) -> int:
    found = await db[BALANCES].find_one({"_id": balance_id(user_id, currency)})
    return int(found["balance"]) if found else 0


async def balances(db, user_id: Any) -> dict[str, int]:
    """Currency -> balance of every wallet the donor has."""
    return {d["currency"]: int(d["balance"]) async for d in db[BALANCES].find({"user_id": user_id})}


async def entries(db, user_id: Any, limit: int = 100) -> list[dict]:
    return await db[ENTRIES].find({"user_id": user_id, "state": APPLIED}).sort([("at", -1)]).to_list(limit)


async def move(db, user_id: Any, currency: str, amount: int, *, key: str, kind: str,
               **refs: Any) -> dict[str, Any]:
    """Apply one entry of `amount` (negative: a debit) once by `key`; the applied entry.

    NotEnough when a debit finds the balance too small (nothing changed; the
    same key may be tried again later).  The same key with another amount is
    a programming mistake (keys are made from the payment or the donation).
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise ValueError("a wallet entry moves a non-zero integer amount")
    entry = {"_id": ObjectId(), "key": key, "user_id": user_id, "currency": currency, "amount": amount,
             "kind": kind, "state": PENDING, "at": utcnow(), **refs}
    try:
        await db[ENTRIES].insert_one(entry)
    except DuplicateKeyError:
        entry = await db[ENTRIES].find_one({"key": key})
        if entry is None or entry["amount"] != amount or entry["user_id"] != user_id \
                or entry["currency"] != currency:
            raise ValueError(f"wallet entry {key!r} reused for another movement") from None
    bid = balance_id(user_id, currency)
    if entry["state"] == PENDING:
        guard: dict[str, Any] = {"_id": bid, "keys": {"$ne": key}}
        if amount < 0:
            guard["balance"] = {"$gte": -amount}
        change = {"$inc": {"balance": amount}, "$push": {"keys": key}}
        moved = await db[BALANCES].update_one(guard, change)
        if moved.modified_count == 0:
            # The guarded update never inserts: when it found nothing (perhaps no document yet), the
            # document is made empty if missing and the same update is tried once more.
            await db[BALANCES].update_one({"_id": bid}, {"$setOnInsert": {"user_id": user_id, "currency": currency,
                                                                          "balance": 0, "keys": []}}, upsert=True)
            moved = await db[BALANCES].update_one(guard, change)
        if moved.modified_count == 0 and not await db[BALANCES].find_one({"_id": bid, "keys": key}, {"_id": 1}):
            await db[ENTRIES].update_one({"key": key, "state": PENDING}, {"$set": {"refused_at": utcnow()}})
            raise NotEnough()
        await db[ENTRIES].update_one({"key": key, "state": PENDING},
                                     {"$set": {"state": APPLIED, "applied_at": utcnow()}})
        entry["state"] = APPLIED
    return entry


async def credit(db, user_id: Any, currency: str, amount: int, *, key: str, **refs: Any) -> dict[str, Any]:
    return await move(db, user_id, currency, amount, key=key, kind=TOPUP, **refs)


async def debit(db, user_id: Any, currency: str, amount: int, *, key: str, **refs: Any) -> dict[str, Any]:
    return await move(db, user_id, currency, -amount, key=key, kind=GIFT, **refs)


async def audit(db, user_id: Any, currency: str) -> tuple[int, int]:
    """(the balance document's value, the sum of the entries whose keys it holds): equal, always."""
    doc: Mapping[str, Any] = await db[BALANCES].find_one({"_id": balance_id(user_id, currency)}) or {}
    keys = set(doc.get("keys", []))
    total = 0
    async for e in db[ENTRIES].find({"user_id": user_id, "currency": currency}):
        if e["key"] in keys:
            total += int(e["amount"])
    return int(doc.get("balance", 0)), total
