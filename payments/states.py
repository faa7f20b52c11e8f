"""The attempt's state machine: one transition table, one guarded way to move along it.

```
created ─┬─> requires_action ─┐
         ├─> processing ──────┼─> succeeded ─> partially_refunded ─> refunded
         │                    ├─> failed        └───────────────────> refunded
         │                    └─> cancelled
```
A failed card attempt may still succeed (the payer tries another card on
the same PaymentIntent), so `failed` leads on to `succeeded`; money that
came is never ignored.  Nothing leaves `cancelled` or `refunded`, and
nothing goes back to before `succeeded` once the money has come: a late
"failed" or "processing" notification after a success, or a "succeeded"
after a refund, finds no move in the table and changes nothing.

`move` writes one conditional update guarded by the state and version it
read, so of two processes applying facts at once only one writes; the other
reads again and decides again.  The same update records the move in the
attempt's history and queues the purpose's callback (`callbacks`), so a
callback is queued exactly once per move, whoever made it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import ReturnDocument

from core.clock import utcnow
from payments.model import (
    CANCELLED,
    CREATED,
    FAILED,
    PARTIALLY_REFUNDED,
    PROCESSING,
    REFUNDED,
    REQUIRES_ACTION,
    SUCCEEDED,
    AttemptDoc,
)

_PENDING = frozenset({REQUIRES_ACTION, PROCESSING, SUCCEEDED, FAILED, CANCELLED})
TRANSITIONS: dict[str, frozenset[str]] = {
    CREATED: _PENDING,
    REQUIRES_ACTION: frozenset({PROCESSING, SUCCEEDED, FAILED, CANCELLED}),
    PROCESSING: frozenset({REQUIRES_ACTION, SUCCEEDED, FAILED, CANCELLED}),
    FAILED: frozenset({REQUIRES_ACTION, PROCESSING, SUCCEEDED, CANCELLED}),
    CANCELLED: frozenset(),
    SUCCEEDED: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    PARTIALLY_REFUNDED: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    REFUNDED: frozenset(),
}
# How many times a move is read and tried again after another process wrote first.
TRIES = 8


def allowed(current: str, wanted: str) -> bool:
    return wanted in TRANSITIONS.get(current, frozenset())


@dataclasses.dataclass
class Move:
    """What one move writes beside the state: fields, increments, queued callbacks."""
    by: str                      # "provider", "staff:<id>", "sweep", "system"
    why: str = ""
    set: dict[str, Any] = dataclasses.field(default_factory=dict)
    inc: dict[str, int] = dataclasses.field(default_factory=dict)
    push: dict[str, Any] = dataclasses.field(default_factory=dict)
    callbacks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    guard: dict[str, Any] = dataclasses.field(default_factory=dict)


async def move(db, attempt_id, wanted: str, make: Any, *, fresh: Mapping[str, Any] | None = None
               ) -> tuple[AttemptDoc | None, AttemptDoc | None]:
    """Move the attempt to `wanted` if the table allows it from the state it is in.

    `make(attempt) -> Move | None` builds what the move writes from the
    attempt as read (None: the fact no longer applies, e.g. a refund already
    counted).  Returns (before, after): after is None when nothing was
    written (no such attempt, a move the table forbids, or `make` said no);
    before is the attempt as last read.
    """
    current: Mapping[str, Any] | None = fresh
    for _ in range(TRIES):
        if current is None:
            current = await db.payment_attempts.find_one({"_id": attempt_id})
        if current is None:
            return None, None
        before: AttemptDoc = dict(current)  # type: ignore[assignment]
        if not allowed(before["state"], wanted):
            return before, None
        plan = make(before)
        if plan is None:
            return before, None
        now = utcnow()
        update: dict[str, Any] = {
            "$set": {**plan.set, "state": wanted, "updated_at": now},
            "$inc": {**plan.inc, "version": 1},
            "$push": {**plan.push, "history": {"from": before["state"], "to": wanted, "at": now, "by": plan.by,
                                               "why": plan.why}},
        }
        if plan.callbacks:
            update["$push"]["callbacks"] = {"$each": plan.callbacks}
        guard = {"_id": attempt_id, "state": before["state"], "version": before.get("version", 0), **plan.guard}
        after = await db.payment_attempts.find_one_and_update(guard, update, return_document=ReturnDocument.AFTER)
        if after is not None:
            return before, after
        current = None  # someone wrote first: read again and decide again
    return None, None


def history_states(attempt: Mapping[str, Any]) -> Iterable[str]:
    return (h["to"] for h in attempt.get("history", []))
