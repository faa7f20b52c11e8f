"""The payments sweep: queued callbacks left by a dead process, and card payments whose notification never came.

Every server process runs `sweep` on a timer.  Each piece of work is
claimed by one conditional update before it is done, so several processes
share the sweep without doing anything twice:
- a callback whose claim ran out (its process died mid-call) is called
  again (`payments.attempts.fire` claims it anew);
- a card attempt still waiting (created, needing the payer, processing, or
  failed and maybe retried) whose `check_at` has passed is claimed by
  moving `check_at` on, then its PaymentIntent is read from the provider
  and what it says is applied as the notification would have been.  The
  next check comes twice as late (from PAYMENT_CHECK_MINUTES up to a day);
  after three days an attempt is left alone.
"""
from __future__ import annotations

import datetime
import logging
from typing import Any

from core.clock import utcnow
from payments import attempts, providers
from payments.model import CARD, OPEN

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0
GIVE_UP = datetime.timedelta(days=3)
LONGEST_WAIT = datetime.timedelta(days=1)
BATCH = 100


async def sweep(services) -> dict[str, int]:
    done = {"callbacks": 0, "checked": 0}
    db = services.db
    now = utcnow()
    async for doc in db.payment_attempts.find({"callbacks.id": {"$exists": True}}, {"callbacks": 1}).limit(BATCH):
        stale = [c for c in doc.get("callbacks", [])
                 if c.get("claimed_until") is None or attempts._aware(c["claimed_until"]) < now]
        if stale:
            await attempts.fire(services, doc["_id"])
            done["callbacks"] += 1
    due = await db.payment_attempts.find(
        {"method": CARD, "state": {"$in": sorted(OPEN)}, "check_at": {"$lte": now}}).limit(BATCH).to_list(None)
    for attempt in due:
        if await check(services, attempt, now):
            done["checked"] += 1
    return done


async def check(services, attempt: dict[str, Any], now: datetime.datetime) -> bool:
    """Claim one due attempt and apply what the provider says about it; False if another process has it."""
    db = services.db
    first = datetime.timedelta(minutes=services.settings.payment_check_minutes)
    wait = min(LONGEST_WAIT, first * (2 ** min(int(attempt.get("checks", 0)) + 1, 16)))
    created = attempts._aware(attempt["created_at"])
    following = None if now - created > GIVE_UP else now + wait
    claimed = await db.payment_attempts.update_one(
        {"_id": attempt["_id"], "check_at": attempt["check_at"]},
        {"$set": {"check_at": following}, "$inc": {"checks": 1}})
    if claimed.modified_count == 0 or not attempt.get("provider_ref"):
        return False
    provider = services.payments.provider(attempt)
    try:
        facts = await provider.retrieve(attempt)
    except providers.ProviderUnavailable:
        log.warning("payment check failed; tried again later", extra={"attempt": str(attempt["_id"])})
        return True
    for fact in facts:
        await attempts.apply(services, provider.name, fact, by="sweep", attempt=attempt)
    return True
