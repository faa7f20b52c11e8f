"""Places and the waiting list: one counter document per target, changed only atomically.

A target is what has a capacity: an event (`event_target`, its holders are
the event's registrations) or a session of its programme (`session_target`,
its holders are the seats in `session_seats`); its key is a string so that
both share this module and its collection.  Its counter document in `registration_counters` holds

- `taken`: registrations holding a place (REGISTERED or OFFERED),
- `waiting`: registrations on the waiting list,
- `next_position`: the last waiting-list position handed out,
- `seq`, `changed_at`: bumped by every change, for the reconciliation.

A place is taken by one conditional update (`taken < capacity`, nobody
waiting), so any number of concurrent registrations for the last places,
in any number of processes, admit exactly as many as there are places: the
store applies each update whole and the guard is read by the same update
that increments.  Capacity is not stored here but passed in, so lowering it
below `taken` removes nobody; new registrants simply wait.

Writes come in pairs with a registration's transition (take a place, then
move to REGISTERED; move to CANCELLED, then give the place back).  A
process dying between the two leaves the counter off by one; `reconcile`
(run by the sweep) recounts it from the registrations.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from access import roles as R
from core.clock import utcnow
from registration import states
from registration.model import HOLDS_PLACE, OFFERED, REGISTERED, WAITING

COUNTERS = "registration_counters"
# Promotions one freed place can set off at most (each a claimed place and a claimed holder).
MAX_PROMOTIONS = 1000
# How long a target's counter and registrations must have been still before
# `reconcile` trusts a recount (see there).
QUIET = datetime.timedelta(seconds=60)
# How often one target is recounted at most.
RECONCILE_EVERY = datetime.timedelta(minutes=5)


SESSION_SEATS = "session_seats"
# Whom `claim_check` hands out: event counters or session counters (each has its own sweep).
EVENTS, SESSIONS = "events", "sessions"


def event_target(event_id) -> str:
    return f"event:{event_id}"


def session_target(event_id, item_id: str) -> str:
    return f"session:{event_id}:{item_id}"


def _item_of(target: str) -> str | None:
    """The schedule item a session target names; None for an event target."""
    return target.split(":", 2)[2] if target.startswith("session:") else None


def _holders(target: str, event_id) -> tuple[str, dict[str, Any]]:
    """(collection, query) of the documents that hold places or wait for the target."""
    item_id = _item_of(target)
    if item_id is None:
        return "memberships", {"scope_id": event_id, "role": R.ATTENDEE}
    return SESSION_SEATS, {"event_id": event_id, "item_id": item_id}


def _bump(now: datetime.datetime, **inc: int) -> dict[str, Any]:
    return {"$inc": {**inc, "seq": 1}, "$set": {"changed_at": now}}


async def ensure(db, target: str, event_id) -> None:
    """Create the target's counter if it has none (idempotent, safe to race)."""
    item_id = _item_of(target)
    try:
        await db[COUNTERS].update_one(
            {"_id": target},
            {"$setOnInsert": {"event_id": event_id, **({"item_id": item_id} if item_id else {}),
                              "taken": 0, "waiting": 0, "next_position": 0, "seq": 0,
                              "changed_at": utcnow(), "checked_at": utcnow()}},
            upsert=True)
    except DuplicateKeyError:
        # Two first registrations raced to create it (MongoDB may report the loser's upsert so).
        pass


async def counter(db, target: str) -> dict[str, Any] | None:
    return await db[COUNTERS].find_one({"_id": target})


async def take(db, target: str, event_id, capacity: int | None, *, force: bool = False,
               queue_first: bool = True) -> bool:
    """Take one place if one is free; True when taken.

    `capacity` None is no limit (the place is still counted).  Nobody jumps
    the waiting list: while anyone waits, a new registrant does not get a
    freed place (`queue_first`); promotions from the list pass False.
    `force` takes a place whatever the capacity: staff overbooking on purpose.
    """
    guard: dict[str, Any] = {"_id": target}
    if capacity is not None and not force:
        guard["taken"] = {"$lt": capacity}
        if queue_first:
            guard["waiting"] = {"$lte": 0}
    update = _bump(utcnow(), taken=1)
    if await db[COUNTERS].find_one_and_update(guard, update, {"_id": 1}) is not None:
        return True
    # The guard failed: full, or there was no counter yet.  Finding one now would not tell
    # which: another registration may have created it since.  So make sure it exists
    # (idempotent) and ask again: a refusal by an existing counter means full.
    await ensure(db, target, event_id)
    return await db[COUNTERS].find_one_and_update(guard, update, {"_id": 1}) is not None


async def give_back(db, target: str) -> bool:
    """Free one place (never below zero); True when one was freed."""
    found = await db[COUNTERS].find_one_and_update(
        {"_id": target, "taken": {"$gt": 0}}, _bump(utcnow(), taken=-1), {"_id": 1})
    return found is not None


async def join_queue(db, target: str, event_id) -> int:
    """One more person waits; returns their position (1, 2, ... in order of joining)."""
    await ensure(db, target, event_id)
    found = await db[COUNTERS].find_one_and_update(
        {"_id": target}, _bump(utcnow(), waiting=1, next_position=1),
        {"next_position": 1}, return_document=ReturnDocument.AFTER)
    return int(found["next_position"])


async def leave_queue(db, target: str) -> None:
    """Someone left the waiting list (offered a place, cancelled, rejected)."""
    await db[COUNTERS].update_one({"_id": target, "waiting": {"$gt": 0}}, _bump(utcnow(), waiting=-1))


async def enter(db, target: str, event_id, capacity: int | None) -> tuple[str, dict[str, Any]]:
    """A place if one is free (REGISTERED), else a waiting position: (state, fields to store)."""
    if await take(db, target, event_id, capacity):
        return REGISTERED, {}
    return WAITING, {"position": await join_queue(db, target, event_id)}


async def undo_entry(db, target: str, state: str) -> None:
    """Give back what `enter` claimed for `state` when the transition that follows it was refused."""
    if state == REGISTERED:
        await give_back(db, target)
    elif state == WAITING:
        await leave_queue(db, target)


async def leave(db, target: str, before_state: str) -> bool:
    """After a holder left `before_state`: free its place or its queue slot; True when a place was freed."""
    if before_state in HOLDS_PLACE:
        await give_back(db, target)
        return True
    if before_state == WAITING:
        await leave_queue(db, target)
    return False


async def offer_in_order(db, event: Mapping[str, Any], target: str, capacity: int, offer_hours: int,
                         offered: Callable[[dict[str, Any]], None], *, now: datetime.datetime | None = None,
                         scope: states.Scope | None = None) -> int:
    """Offer free places to the first waiting holders, in order; returns how many were offered.

    Each offer claims a place (the counter's guard) and then the first
    waiting holder (one conditional update sorted by position), so with any
    number of processes promoting at once each freed place goes to exactly
    one holder and each holder is offered once.  No one waiting: the place
    goes back.  `offered` is told of each offer as it is made (to mail it);
    `scope`: the holders' collection (`states.Scope`), else the event's registrations.
    """
    count = 0
    for _ in range(MAX_PROMOTIONS):
        if not await take(db, target, event["_id"], capacity, queue_first=False):
            break
        moment = now or utcnow()
        holder = await states.transition_first(
            db, event, {"state": WAITING}, OFFERED, sort=[("position", 1), ("_id", 1)], actor_kind=states.SYSTEM,
            fields={"offer_expires_at": moment + datetime.timedelta(hours=offer_hours)}, now=moment, scope=scope)
        if holder is None:
            await give_back(db, target)
            break
        await leave_queue(db, target)
        offered(holder)
        count += 1
    return count


def _event_query(event_id) -> dict[str, Any]:
    return {"scope_id": event_id, "role": R.ATTENDEE}


async def first_waiting(db, event_id) -> dict[str, Any] | None:
    found = await db.memberships.find(
        {**_event_query(event_id), "state": WAITING}).sort([("position", 1), ("_id", 1)]).limit(1).to_list(1)
    return found[0] if found else None


async def recount(db, event_id, target: str | None = None) -> tuple[int, int]:
    """(holding a place, waiting) counted from the holders themselves (default: the event's registrations)."""
    collection, query = _holders(target or event_target(event_id), event_id)
    # Staff registrations from before states have no state: they hold a place.
    taken = await db[collection].count_documents({**query, "state": {"$in": [*HOLDS_PLACE, None]}})
    waiting = await db[collection].count_documents({**query, "state": WAITING})
    return taken, waiting


async def reconcile(db, target: str, event_id, now: datetime.datetime | None = None) -> bool:
    """Set the counter to the recount of the registrations when it is safely possible; True if it did.

    Safe to run in every process at once and next to registrations in
    flight, because it writes only what it can prove:

    - every change that pairs a counter write with a registration's
      transition makes its two writes within milliseconds; so when neither
      the counter (`changed_at`) nor any registration of the target
      (`state_at`) has changed for QUIET, no such pair is half done, except
      one whose process died, which is exactly what this repairs;
    - the recount is written only if the counter's `seq` is still the one
      read before counting: any take, give-back or queue change in between
      voids the write (it is tried again on a later sweep);
    - two reconcilers write the same recount, guarded the same way.
    """
    now = now or utcnow()
    current = await counter(db, target)
    if current is None:
        return False
    if current.get("changed_at") and current["changed_at"] > now - QUIET:
        return False
    collection, query = _holders(target, event_id)
    recent = await db[collection].find_one({**query, "state_at": {"$gt": now - QUIET}}, {"_id": 1})
    if recent is not None:
        return False
    taken, waiting = await recount(db, event_id, target)
    if (taken, waiting) == (current.get("taken"), current.get("waiting")):
        return False
    result = await db[COUNTERS].update_one(
        {"_id": target, "seq": current.get("seq", 0)},
        {"$set": {"taken": taken, "waiting": waiting, "changed_at": now}, "$inc": {"seq": 1}})
    return result.modified_count == 1


async def claim_check(db, now: datetime.datetime, kind: str = EVENTS) -> dict[str, Any] | None:
    """Claim one target of `kind` due for a check (reconciliation, promotion) for this process; None if
    none is due.

    Claimed by moving its `checked_at` forward in one conditional update, so
    each due target is checked by one process per round.  Session counters
    carry their `item_id`; event counters have none.
    """
    return await db[COUNTERS].find_one_and_update(
        {"checked_at": {"$lte": now - RECONCILE_EVERY}, "item_id": {"$exists": kind == SESSIONS}},
        {"$set": {"checked_at": now}})


async def check_soon(db, target: str) -> None:
    """Have the next sweep round check this target (a place freed where no promotion runs)."""
    await db[COUNTERS].update_one({"_id": target}, {"$set": {"checked_at": _EPOCH}})


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def free_places(counter_doc: Mapping[str, Any] | None, capacity: int | None) -> int | None:
    """Places left (None: no limit); never negative, even when capacity was lowered."""
    if capacity is None:
        return None
    taken = int((counter_doc or {}).get("taken", 0))
    return max(capacity - taken, 0)
