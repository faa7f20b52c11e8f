"""Provider notifications: verified, stored once by the provider's event id, applied as facts.

`receive` is what the webhook endpoint calls with the raw body and the
signature header.  A notification whose signature or time stamp does not
check out raises `BadSignature` before anything is read or stored.  A good
one is stored in `payment_events` under ``<provider>:<event id>`` (the
document's `_id`, unique): the same notification delivered again finds it
and changes nothing.  One stored but not finished (its process died) is
applied again on redelivery, which is safe: every fact moves the attempt at
most once.  A notification about a payment this platform does not know is
kept as `unmatched` and acknowledged, so the provider stops sending it.

Only what identifies the notification is kept (id, type, the object's
id), not its body: a PaymentIntent carries its client secret.
"""
from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import DuplicateKeyError

from core.clock import utcnow
from payments import attempts
from payments.providers import BadSignature

log = logging.getLogger(__name__)

RECEIVED, PROCESSED, UNMATCHED, IGNORED, DUPLICATE = "received", "processed", "unmatched", "ignored", "duplicate"

__all__ = ["BadSignature", "receive"]


async def receive(services, payload: bytes, signature: str | None, *, account: str = "platform") -> str:
    """Verify and apply one Stripe notification; returns what became of it."""
    provider = services.payments.cards[account]
    event = provider.verify(payload, signature)
    db = services.db
    event_id = f"{provider.name}:{event['id']}"
    obj = (event.get("data") or {}).get("object") or {}
    doc: dict[str, Any] = {
        "_id": event_id, "provider": provider.name, "account": account, "type": event["type"],
        "object_id": str(obj.get("id") or ""), "created": event.get("created"), "received_at": utcnow(),
        "status": RECEIVED, "attempt_ids": [],
    }
    try:
        await db.payment_events.insert_one(doc)
    except DuplicateKeyError:
        stored = await db.payment_events.find_one({"_id": event_id})
        if stored is not None and stored.get("status") != RECEIVED:
            await db.payment_events.update_one({"_id": event_id}, {"$inc": {"deliveries": 1}})
            return DUPLICATE
    facts = await provider.facts(event)
    matched = []
    for fact in facts:
        attempt = await attempts.apply(services, provider.name, fact, by="provider")
        if attempt is not None:
            matched.append(attempt["_id"])
    status = IGNORED if not facts else (PROCESSED if matched else UNMATCHED)
    if status == UNMATCHED:
        log.warning("payment notification for an unknown payment",
                    extra={"event": event_id, "type": event["type"], "object": doc["object_id"]})
    await db.payment_events.update_one({"_id": event_id}, {"$set": {"status": status, "attempt_ids": matched,
                                                                    "done_at": utcnow()}})
    return status
