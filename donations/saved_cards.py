"""A signed-in donor's saved cards: kept at the card provider, known here by its ids and a label only.

A donor who ticks "remember this card" on a card gift gets a Customer at
the card provider of the campaign's space (one per account and donor,
`donor_customers`, `_id` "<account>:<user id>"), and the gift's
PaymentIntent is made for that Customer.  When the gift is paid, the
PaymentMethod it was paid with is attached to the Customer and recorded in
`saved_cards`: the provider's ids, the card's brand, last four digits and
expiry, nothing else (the card's number never reaches this platform).

A saved card pays a one-click gift or a monthly pledge off-session
(`donations.giving`, `donations.pledges`).  Removing it detaches it at the
provider, marks it removed and pauses the pledges it paid.  Every change is
audited.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_

CUSTOMERS = "donor_customers"
CARDS = "saved_cards"
ACTIVE, REMOVED = "active", "removed"

NOT_FOUND = N_("This saved card does not exist.")


class CardError(Refusal):
    """A saved card refused (another donor's, removed, of another provider); nothing changed."""


def _oid(value: Any) -> ObjectId | None:
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(str(value))
    except Exception:
        return None


async def customer_for(services, user: Mapping[str, Any], space_id: Any) -> tuple[Any, str]:
    """(the card provider of the space, the donor's Customer there), the Customer made once."""
    provider = services.payments.card_for(space_id)
    cid = f"{provider.account}:{user['_id']}"
    found = await services.db[CUSTOMERS].find_one({"_id": cid})
    if found:
        return provider, found["customer"]
    customer = await provider.create_customer(email=str(user.get("email") or ""), ref=str(user["_id"]))
    try:
        await services.db[CUSTOMERS].insert_one({"_id": cid, "user_id": user["_id"], "account": provider.account,
                                                 "customer": customer, "created_at": utcnow()})
    except DuplicateKeyError:
        # Two gifts at once: the first one stored wins; the other Customer stays empty at the provider.
        found = await services.db[CUSTOMERS].find_one({"_id": cid})
        if found:
            return provider, found["customer"]
        raise
    return provider, customer


async def remember(services, user: Mapping[str, Any], space_id: Any, payment_method: str) -> dict:
    """Attach `payment_method` to the donor's Customer and record it (once per method); the saved card."""
    db = services.db
    provider, customer = await customer_for(services, user, space_id)
    existing = await db[CARDS].find_one({"user_id": user["_id"], "account": provider.account,
                                         "payment_method": payment_method})
    if existing and existing["state"] == ACTIVE:
        return existing
    label = await provider.attach(payment_method, customer)
    now = utcnow()
    card = {"_id": existing["_id"] if existing else ObjectId(), "user_id": user["_id"], "account": provider.account,
            "provider": provider.name, "customer": customer, "payment_method": payment_method, **label,
            "state": ACTIVE, "created_at": now, "removed_at": None}
    try:
        await db[CARDS].replace_one({"_id": card["_id"]}, card, upsert=True)
    except DuplicateKeyError:
        return await db[CARDS].find_one({"user_id": user["_id"], "account": provider.account,
                                         "payment_method": payment_method}) or card
    await audit.record(db, actor=user, action="donations.card_saved", space_id=None,
                       params={"card_id": card["_id"], "brand": card["brand"], "last4": card["last4"]})
    return card


async def listing(db, user_id: Any) -> list[dict]:
    """The donor's active saved cards, newest first."""
    return await db[CARDS].find({"user_id": user_id, "state": ACTIVE}).sort([("created_at", -1)]).to_list(20)


async def usable(services, user: Mapping[str, Any] | None, space_id: Any) -> list[dict]:
    """The donor's cards that can pay this space's campaigns (those of its card provider)."""
    if user is None:
        return []
    account = services.payments.card_for(space_id).account
    return [c for c in await listing(services.db, user["_id"]) if c["account"] == account]


async def own(services, user: Mapping[str, Any] | None, card_id: Any, space_id: Any = None) -> dict:
    """The donor's active card by id, usable in this space when `space_id` is given; CardError otherwise.

    Another donor's card, a removed one and an id that names none get the
    same answer, so nothing is learnt about other people's cards.
    """
    oid = _oid(card_id)
    if user is None or oid is None:
        raise CardError(NOT_FOUND)
    card = await services.db[CARDS].find_one({"_id": oid, "user_id": user["_id"], "state": ACTIVE})
    if card is None:
        raise CardError(NOT_FOUND)
    if space_id is not None and card["account"] != services.payments.card_for(space_id).account:
        raise CardError(NOT_FOUND)
    return card


async def remove(services, user: Mapping[str, Any], card_id: Any) -> dict:
    """Detach the card at its provider and mark it removed; the pledges it paid are paused.  Audited."""
    from donations import pledges
    card = await own(services, user, card_id)
    await services.payments.cards[card["account"]].detach(card["payment_method"])
    moved = await services.db[CARDS].find_one_and_update(
        {"_id": card["_id"], "state": ACTIVE}, {"$set": {"state": REMOVED, "removed_at": utcnow()}},
        return_document=True)
    if moved is None:
        return card
    await audit.record(services.db, actor=user, action="donations.card_removed", space_id=None,
                       params={"card_id": card["_id"], "brand": card["brand"], "last4": card["last4"]})
    await pledges.card_gone(services, user, card["_id"])
    return moved
