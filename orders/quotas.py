"""Quotas: how many tickets of some types may exist at once, decided by atomic conditional updates.

A quota names the ticket types it limits (a type may be in several, and
then sells only while every one of them has room; a type in none has no
limit) and its `size`.  It counts every ticket held by a live checkout
reservation, a pending order or a paid one.  Its document is its own
counter:

- `left`: the size minus everything held.  A sale takes `n` only with one
  update guarded by `left >= n`, so however many buyers, in however many
  processes, race for the last tickets, exactly as many win as there were
  left: the store applies each update whole and the guard is read by the
  update that decrements.
- `holds`: who holds what, `{hold key: n}`, the key being the id of the
  reservation that took it (an order keeps its reservation's key).  Taking
  sets the key in the same update that decrements `left`, and giving back
  removes it in the same update that increments `left`, guarded by its
  presence: both are idempotent.  Taking twice under one key takes once,
  giving back twice gives back once, and giving back a key that never took
  (a quota after the one that was full) gives back nothing.

That is what makes a crash harmless.  A reservation records, before it
takes anything, every quota it means to take (`orders.checkout`); a process
dying between taking quota A and quota B leaves the reservation in
"taking", and the sweep gives back every quota it names once its lease is
over: A's hold goes, B (never taken) is untouched.  No reconciliation, no
counter left wrong: the document always equals `size - sum(holds)`.

One key per live order or reservation (not per ticket) stays in the
document while the order lives; a quota of 10,000 orders is a document of
about half a megabyte.

A promo code that reserves seats (`orders.promo_codes`) holds them here
under its own key (`promo:<code id>`) from its creation until it expires
or is deleted, so nobody else can buy them.  A purchase through the code
*borrows* its tickets from that hold instead of `left`: one update moves
`k` from the code's hold to the buyer's key and records the loan
(`lent.<key>`).  Giving the buyer's key back returns the loan to the
code's hold while the code still reserves (the seat is the code's again),
and to `left` once it no longer does, in one update either way.  So the
document still equals `size - sum(holds)` at every step.

Changing the size moves `left` by the difference in the same update
(guarded by the size read), so tickets held stay held: lowering a quota
below what is held takes nothing from anybody, it only stops sales.  A
quota counts what was taken through it: a type added to a quota counts
there from its next sale on (lower the size by what was sold before, if it
should count too).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from access import audit
from accounts.users import as_id
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events.model import EventDoc
from orders.model import MAX_NAME, MAX_QUOTA_SIZE, MAX_QUOTAS, QUOTAS, TICKET_TYPES


class QuotaError(Refusal):
    """A refused change of a quota; `message` is marked for translation."""


class QuotaConflict(QuotaError):
    def __init__(self):
        super().__init__(N_("Someone else changed this quota meanwhile. It is shown as it is now; "
                            "make your change again."))


class UnknownQuota(QuotaError):
    def __init__(self):
        super().__init__(N_("This quota does not exist."))


# --- reads ------------------------------------------------------------------------------

async def of_event(db, event_id) -> list[dict[str, Any]]:
    return await db[QUOTAS].find({"event_id": event_id}, {"holds": 0, "lent": 0}) \
        .sort([("created_at", 1), ("_id", 1)]).to_list(MAX_QUOTAS)


async def get(db, event: EventDoc, quota_id) -> dict[str, Any]:
    oid = as_id(quota_id)
    found = await db[QUOTAS].find_one({"_id": oid, "event_id": event["_id"]}, {"holds": 0, "lent": 0}) \
        if oid else None
    if found is None:
        raise UnknownQuota()
    return found


async def of_types(db, event_id, type_ids: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
    """Each type's quotas (without their holds): type id -> quotas (none: no limit)."""
    wanted = list(type_ids)
    out: dict[Any, list[dict[str, Any]]] = {t: [] for t in wanted}
    async for q in db[QUOTAS].find({"event_id": event_id, "ticket_type_ids": {"$in": wanted}},
                                   {"holds": 0, "lent": 0}):
        for t in q["ticket_type_ids"]:
            if t in out:
                out[t].append(q)
    return out


def needed(by_type: Mapping[Any, list[dict[str, Any]]], quantities: Mapping[Any, int]) -> dict[str, int]:
    """What a purchase takes from each quota: quota id -> the tickets of its types bought."""
    out: dict[str, int] = {}
    for type_id, n in quantities.items():
        for q in by_type.get(type_id, ()):
            out[str(q["_id"])] = out.get(str(q["_id"]), 0) + n
    return out


def left_for(quotas: Iterable[Mapping[str, Any]]) -> int | None:
    """Tickets of a type that may still be sold: the least room of its quotas (None: no limit)."""
    lefts = [max(int(q.get("left", 0)), 0) for q in quotas]
    return min(lefts) if lefts else None


def lacking(by_type: Mapping[Any, list[dict[str, Any]]], wanted: Mapping[str, int],
            lend: Mapping[str, Any]) -> str | None:
    """A quota that, as read, has less room than `wanted` takes from it (None: all seem to have room).

    A read, not a decision: `take` decides.  Quotas a code lends seats in are left to `take`.
    """
    for quotas in by_type.values():
        for q in quotas:
            qid = str(q["_id"])
            if qid in wanted and qid not in lend and int(q.get("left", 0)) < wanted[qid]:
                return qid
    return None


async def availability(db, event_id, type_ids: Iterable[Any]) -> dict[Any, int | None]:
    """Type id -> tickets left (None: no limit), in one query."""
    return {t: left_for(qs) for t, qs in (await of_types(db, event_id, type_ids)).items()}


# --- taking and giving back ----------------------------------------------------------------

async def take(db, quota_id: str, key: str, n: int, lend: tuple[str, int] | None = None) -> bool:
    """Hold `n` tickets of the quota under `key` if it has room; True when held (now or by an earlier try).

    `lend`: (a code's hold key, k): k of the n come from that hold rather
    than from `left`, while the code still holds seats here (once it holds
    none, all n come from `left`).
    """
    oid = ObjectId(quota_id)
    hold = f"holds.{key}"
    if lend is not None and lend[1] > 0:
        source, k = lend
        borrowed = await db[QUOTAS].find_one_and_update(
            {"_id": oid, "left": {"$gte": n - k}, hold: {"$exists": False}, f"holds.{source}": {"$gte": k}},
            {"$inc": {"left": -(n - k), f"holds.{source}": -k},
             "$set": {hold: n, f"lent.{key}": {"from": source, "n": k}}}, {"_id": 1})
        if borrowed is not None:
            return True
        if await db[QUOTAS].find_one({"_id": oid, f"holds.{source}": {"$exists": True}}, {"_id": 1}) is not None:
            # The code still reserves here but has fewer seats, or `left` lacks the rest (or a retry).
            return await db[QUOTAS].find_one({"_id": oid, hold: {"$exists": True}}, {"_id": 1}) is not None
    taken = await db[QUOTAS].find_one_and_update(
        {"_id": oid, "left": {"$gte": n}, hold: {"$exists": False}},
        {"$inc": {"left": -n}, "$set": {hold: n}}, {"_id": 1})
    if taken is not None:
        return True
    # Full, or already held under this key (a retry): only the second is a success.
    return await db[QUOTAS].find_one({"_id": oid, hold: {"$exists": True}}, {"_id": 1}) is not None


async def release(db, quota_id: str, key: str) -> bool:
    """Give back what `key` holds in the quota, if it holds anything; True when something was given back.

    A loan from a code's hold goes back to that hold while it exists.
    """
    oid = ObjectId(quota_id)
    hold = f"holds.{key}"
    for _ in range(20):
        before = await db[QUOTAS].find_one({"_id": oid, hold: {"$exists": True}}, {hold: 1, f"lent.{key}": 1})
        if before is None:
            return False
        n = int(before["holds"][key])
        loan = (before.get("lent") or {}).get(key)
        unset = {hold: "", f"lent.{key}": ""}
        if loan and int(loan.get("n", 0)) > 0:
            source, k = f"holds.{loan['from']}", int(loan["n"])
            done = await db[QUOTAS].find_one_and_update(
                {"_id": oid, hold: n, source: {"$exists": True}},
                {"$inc": {"left": n - k, source: k}, "$unset": unset}, {"_id": 1})
            if done is not None:
                return True
        # Guarded by the hold as read: of two processes giving it back at once, one does.  A code's own
        # hold changes while buyers borrow from it: read it again and retry.
        done = await db[QUOTAS].find_one_and_update(
            {"_id": oid, hold: n, **({} if not loan else {f"holds.{loan['from']}": {"$exists": False}})},
            {"$inc": {"left": n}, "$unset": unset}, {"_id": 1})
        if done is not None:
            return True
    return False


async def take_all(db, wanted: Mapping[str, int], key: str,
                   lend: Mapping[str, tuple[str, int]] | None = None) -> str | None:
    """Hold every quota's share under `key`, or none: returns None when all are held, else the id of a
    quota that had no room (whatever was taken before it is given back).  `lend`: quota id -> (a code's
    hold key, tickets borrowed from it) (`take`)."""
    for quota_id in sorted(wanted):
        if not await take(db, quota_id, key, wanted[quota_id], (lend or {}).get(quota_id)):
            await release_all(db, wanted, key)
            return quota_id
    return None


async def release_all(db, wanted: Iterable[str], key: str) -> None:
    """Give back whatever `key` holds in these quotas (idempotent; quotas it never took are untouched)."""
    for quota_id in sorted(wanted):
        await release(db, quota_id, key)


async def holds_of(db, quota_id: str, key: str) -> int:
    found = await db[QUOTAS].find_one({"_id": ObjectId(quota_id)}, {f"holds.{key}": 1})
    return int(((found or {}).get("holds") or {}).get(key, 0))


# --- staff: creating and changing quotas ------------------------------------------------------

async def _clean(db, event: EventDoc, *, name: str, size: str, type_ids: Iterable[str]) -> dict[str, Any]:
    name = " ".join((name or "").split())
    if not name:
        raise QuotaError(N_("Give the quota a name."))
    if len(name) > MAX_NAME:
        raise QuotaError(N_("A text is too long (at most %(count)s characters)."), count=MAX_NAME)
    try:
        number = int((size or "").strip())
    except ValueError:
        raise QuotaError(N_("The size must be a whole number.")) from None
    if not 0 <= number <= MAX_QUOTA_SIZE:
        raise QuotaError(N_("The size must be between 0 and %(max)s."), max=MAX_QUOTA_SIZE)
    ids = []
    for raw in type_ids:
        oid = as_id(raw)
        if oid is None or not await db[TICKET_TYPES].find_one({"_id": oid, "event_id": event["_id"]}, {"_id": 1}):
            raise QuotaError(N_("Choose ticket types of this event."))
        if oid not in ids:
            ids.append(oid)
    return {"name": name, "size": number, "ticket_type_ids": ids}


async def create(db, actor, event: EventDoc, *, name: str, size: str, type_ids: Iterable[str]) -> dict[str, Any]:
    values = await _clean(db, event, name=name, size=size, type_ids=type_ids)
    if await db[QUOTAS].count_documents({"event_id": event["_id"]}) >= MAX_QUOTAS:
        raise QuotaError(N_("An event has at most %(count)s quotas."), count=MAX_QUOTAS)
    now = utcnow()
    doc = {"_id": ObjectId(), "event_id": event["_id"], **values, "left": values["size"], "holds": {},
           "version": 1, "created_at": now, "updated_at": now}
    await db[QUOTAS].insert_one(doc)
    await audit.record(db, actor=actor, action="quota.create", event=event,
                       params={"quota_id": str(doc["_id"])}, before=None, after=_shown(values))
    return doc


async def update(db, actor, event: EventDoc, quota: Mapping[str, Any], *, name: str, size: str,
                 type_ids: Iterable[str], version: str) -> dict[str, Any]:
    """Save a quota as edited on a form shown at `version`; the second of two staff saving at once is told."""
    values = await _clean(db, event, name=name, size=size, type_ids=type_ids)
    if str(quota.get("version")) != (version or "").strip():
        raise QuotaConflict()
    delta = values["size"] - int(quota["size"])
    after = await db[QUOTAS].find_one_and_update(
        {"_id": quota["_id"], "event_id": event["_id"], "version": quota["version"], "size": quota["size"]},
        {"$set": {**values, "updated_at": utcnow()}, "$inc": {"left": delta, "version": 1}},
        {"holds": 0, "lent": 0}, return_document=ReturnDocument.AFTER)
    if after is None:
        raise QuotaConflict()
    await audit.record(db, actor=actor, action="quota.update", event=event, params={"quota_id": str(quota["_id"])},
                       before=_shown(quota), after=_shown(values))
    return after


async def remove(db, actor, event: EventDoc, quota: Mapping[str, Any]) -> None:
    """Remove a quota that holds nothing (its types then sell without its limit)."""
    done = await db[QUOTAS].find_one_and_delete({"_id": quota["_id"], "event_id": event["_id"], "holds": {}})
    if done is None:
        raise QuotaError(N_("This quota still counts tickets of live orders or reservations; it cannot be "
                            "removed. Lower its size to stop sales instead."))
    await audit.record(db, actor=actor, action="quota.remove", event=event, params={"quota_id": str(quota["_id"])},
                       before=_shown(quota), after=None)


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": values["name"], "size": values["size"],
            "ticket_type_ids": [str(t) for t in values["ticket_type_ids"]]}


def used(quota: Mapping[str, Any]) -> int:
    """Tickets the quota counts now (held by reservations, pending and paid orders)."""
    return int(quota["size"]) - int(quota["left"])
