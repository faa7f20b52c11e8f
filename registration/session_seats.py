"""Seats in sessions with a capacity, and each session's own waiting list.

A session with a `capacity` (`events.sessions.capacity_of`) is not simply
saved to a programme: a registered attendee of the event takes a seat in
it.  One document per (event, session, person) in `session_seats`
({event_id, item_id, user_id, state, state_at, position?,
offer_expires_at?}), unique, so a repeated click or two racing requests
make one seat.  Its states are a registration's (REGISTERED: holds a seat,
WAITING, OFFERED, CANCELLED, EXPIRED), moved along the same table by
`registration.states.transition` with this module's `Scope`; the seats are
counted by `registration.places` under the target
`session:<event id>:<item id>`, with the same guards as an event's places:
no overbooking under a rush, nobody jumps the waiting list, and a freed
seat is claimed, then the first waiting person is claimed, so with any
number of processes each freed seat goes to exactly one person, in order.

Only a person whose event registration admits them (`access.roles.holds`)
may take a seat; when that registration ends (`release_person`, called by
`registration.actions`) every seat and waiting place of theirs goes too,
also one taken or accepted while it ended (each side checks after it writes).
An offer lasts the event's `offer_hours`; `sweep` (run by the registration
sweep) expires offers, passes their seats on, and recounts the counters.
"""
from __future__ import annotations

import csv
import datetime
import io
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from access import roles as R
from attendees import registry
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events import editing, model, sessions
from events.model import EventDoc, ScheduleItemDoc
from registration import mails, places, states
from registration.model import CANCELLED, EXPIRED, OFFERED, REGISTERED, WAITING, settings_of

log = logging.getLogger(__name__)

COLLECTION = places.SESSION_SEATS
# A seat's states that still count: holding it, offered it, waiting for one.
ACTIVE = frozenset({REGISTERED, OFFERED, WAITING})
MAX_LIST = 5000


class SeatError(Refusal):
    """A refused action; `message` is marked for translation, `params` fill it."""


class NotAttendee(SeatError):
    def __init__(self):
        super().__init__(N_("Only people registered for this event can take a seat in its sessions."))


class NoSeats(SeatError):
    def __init__(self):
        super().__init__(N_("This session has no limited seats: add it to your programme instead."))


class NoSeat(SeatError):
    def __init__(self):
        super().__init__(N_("You have no seat in this session."))


class OfferGone(SeatError):
    def __init__(self):
        super().__init__(N_("This offer has expired; the seat has passed to the next person on the waiting list."))


class Ended(SeatError):
    def __init__(self):
        super().__init__(N_("This session has ended."))


def target(event_id, item_id: str) -> str:
    return places.session_target(event_id, item_id)


def _describe(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"seat_id": str(doc["_id"]), "item_id": doc["item_id"], "user_id": str(doc["user_id"])}


def scope(event: Mapping[str, Any], item_id: str) -> states.Scope:
    """A session's seats, for `registration.states`."""
    return states.Scope(COLLECTION, {"event_id": event["_id"], "item_id": item_id}, "session_seat", _describe)


# --- reads ----------------------------------------------------------------------------------

async def find(db, event_id, item_id: str, user_id) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"event_id": event_id, "item_id": item_id, "user_id": user_id})


async def of_person(db, event_id, user_id) -> dict[str, dict[str, Any]]:
    """The person's seats in the event (any state), by session id."""
    found = await db[COLLECTION].find({"event_id": event_id, "user_id": user_id}).to_list(None)
    return {s["item_id"]: s for s in found}


async def seated_ids(db, event_id, user_id) -> set[str]:
    """The sessions where the person holds a seat."""
    return {item_id for item_id, s in (await of_person(db, event_id, user_id)).items() if s["state"] == REGISTERED}


def seat_sessions(event: EventDoc) -> list[ScheduleItemDoc]:
    """The event's sessions with a capacity, in schedule order."""
    return sorted((i for i in event["schedule"] if sessions.capacity_of(i) is not None),
                  key=lambda i: (i["starts_at"], i["id"]))


async def counts(db, event: EventDoc, items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each session with a capacity: capacity, seats taken, seats left, people waiting."""
    out = {}
    for item in items:
        capacity = sessions.capacity_of(item)
        if capacity is None:
            continue
        found = await places.counter(db, target(event["_id"], item["id"]))
        out[item["id"]] = {"capacity": capacity, "taken": int((found or {}).get("taken", 0)),
                           "left": places.free_places(found, capacity),
                           "waiting": int((found or {}).get("waiting", 0))}
    return out


async def view_for(db, event: EventDoc, user_id, items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the schedule shows of each session with a capacity to this person: the counts and their seat."""
    shown = await counts(db, event, items)
    mine = await of_person(db, event["_id"], user_id) if user_id is not None and shown else {}
    for item_id, entry in shown.items():
        seat = mine.get(item_id)
        entry["state"] = seat["state"] if seat and seat["state"] in ACTIVE else None
        entry["position"] = seat.get("position") if seat else None
        entry["offer_expires_at"] = seat.get("offer_expires_at") if seat else None
    return shown


async def admitted(db, event: EventDoc, user_id) -> bool:
    """Whether the person's event registration admits them (only those take seats)."""
    membership = await db.memberships.find_one({"user_id": user_id, "scope_id": event["_id"], "role": R.ATTENDEE})
    return membership is not None and R.holds(membership)


# --- taking a seat ----------------------------------------------------------------------------

def _item(event: EventDoc, item_id: str) -> dict[str, Any]:
    item = editing.find_item(event, item_id)
    if item is None:
        raise SeatError(N_("This session is not on the schedule."))
    if sessions.capacity_of(item) is None:
        raise NoSeats()
    return dict(item)


async def take(services, event: EventDoc, item_id: str, user: Mapping[str, Any],
               now: datetime.datetime | None = None) -> dict[str, Any]:
    """Take a seat (REGISTERED) or, when none is free, a place on the session's waiting list (WAITING).

    Idempotent: a seat already held, offered or waited for is returned as
    it is.  Refused (nothing written) for a session without a capacity, one
    that has ended, and anyone whose event registration does not admit them.
    """
    db = services.db
    item = _item(event, item_id)
    if sessions.has_ended(item, now or utcnow()):
        raise Ended()
    if not await admitted(db, event, user["_id"]):
        raise NotAttendee()
    tgt, capacity = target(event["_id"], item_id), sessions.capacity_of(item)
    for _ in range(3):
        existing = await find(db, event["_id"], item_id, user["_id"])
        if existing is not None and existing["state"] in ACTIVE:
            return existing
        state, fields = await places.enter(db, tgt, event["_id"], capacity)
        moment = utcnow()
        try:
            if existing is None:
                doc = {"_id": ObjectId(), "event_id": event["_id"], "item_id": item_id, "user_id": user["_id"],
                       "created_at": moment, "state": state, "state_at": moment, **fields}
                await db[COLLECTION].insert_one(doc)
                await audit.record(db, actor=user, action=f"session_seat.{state}", event=event,
                                   params={**_describe(doc), "by": states.ATTENDEE},
                                   before=None, after={"state": state})
                seat = doc
            else:
                seat = await states.transition(db, event, existing, state, actor_kind=states.ATTENDEE, actor=user,
                                               fields=fields, unset=("offer_expires_at",), now=moment,
                                               scope=scope(event, item_id))
        except (DuplicateKeyError, states.Conflict):
            # Another request for the same person got there first: undo this one's claim, look again.
            await places.undo_entry(db, tgt, state)
            continue
        await _still_admitted(services, event, seat, user)
        return seat
    found = await find(db, event["_id"], item_id, user["_id"])
    if found is None:
        raise states.Conflict()
    return found


async def _still_admitted(services, event: EventDoc, seat: Mapping[str, Any], user: Mapping[str, Any]) -> None:
    """Give up a seat just taken when the person's registration ended meanwhile, and refuse.

    The registration's end is written first and then releases the seats it
    finds (`release_person`); a seat is written first and then its holder's
    registration is read again here.  Whichever of the two reads second sees
    the other's write, so a seat taken while the registration ended is given
    back by one of them (`docs/storage.md`, write then check).
    """
    if await admitted(services.db, event, user["_id"]):
        return
    try:
        await give_up(services, event, seat, actor=user)
    except states.TransitionError:
        pass  # released by the registration's end meanwhile
    raise NotAttendee()


async def accept(services, event: EventDoc, seat: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    """OFFERED -> REGISTERED: the seat offered is the person's (it is already counted as taken)."""
    if seat["state"] == REGISTERED:
        return dict(seat)
    if seat["state"] == EXPIRED or (
            seat["state"] == OFFERED and (seat.get("offer_expires_at") or utcnow()) <= utcnow()):
        raise OfferGone()
    if seat["state"] != OFFERED:
        raise states.IllegalTransition(seat["state"], REGISTERED)
    if not await admitted(services.db, event, user["_id"]):
        raise NotAttendee()
    return await states.transition(services.db, event, seat, REGISTERED, actor_kind=states.ATTENDEE, actor=user,
                                   unset=("offer_expires_at",), scope=scope(event, seat["item_id"]))


async def give_up(services, event: EventDoc, seat: Mapping[str, Any], *, actor_kind: str = states.ATTENDEE,
                  actor: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Give up a seat, an offer or a waiting place (-> CANCELLED); a seat freed passes to the next person."""
    before = seat["state"]
    after = await states.transition(services.db, event, seat, CANCELLED, actor_kind=actor_kind, actor=actor,
                                    unset=("offer_expires_at",), scope=scope(event, seat["item_id"]))
    await _left(services, event, seat["item_id"], before)
    return after


async def _left(services, event: EventDoc, item_id: str, before: str) -> None:
    if await places.leave(services.db, target(event["_id"], item_id), before):
        await promote(services, event, item_id)


async def release_person(services, event: EventDoc, user_id, *, actor_kind: str,
                         actor: Mapping[str, Any] | None = None) -> int:
    """The person's event registration ended: each of their seats and waiting places goes; returns how many."""
    released = 0
    for seat in (await of_person(services.db, event["_id"], user_id)).values():
        for _ in range(3):
            if seat["state"] not in ACTIVE:
                break
            try:
                await give_up(services, event, seat, actor_kind=actor_kind, actor=actor)
            except states.TransitionError:
                # Moved meanwhile (an offer accepted, expired): a seat still held is given up as it is now.
                found = await find(services.db, event["_id"], seat["item_id"], user_id)
                if found is None:
                    break
                seat = found
                continue
            released += 1
            break
    return released


# --- the waiting list ---------------------------------------------------------------------

async def promote(services, event: EventDoc, item_id: str, now: datetime.datetime | None = None) -> int:
    """Offer free seats to the first waiting people, in order (`places.offer_in_order`); returns how many."""
    item = editing.find_item(event, item_id)
    capacity = sessions.capacity_of(item) if item else None
    if item is None or capacity is None:
        return 0
    return await places.offer_in_order(
        services.db, event, target(event["_id"], item_id), capacity, settings_of(event)["offer_hours"],
        lambda seat: services.spawn(mails.send_seat_offer(services, event, item, seat)), now=now,
        scope=scope(event, item_id))


async def capacity_changed(services, event_id, item_id: str) -> int:
    """After staff saved a session: seats added pass at once to those waiting."""
    event = await model.get_event(services.db, event_id)
    if event is None:
        return 0
    return await promote(services, event, item_id)


async def expire_offers(services, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Offers past their deadline become EXPIRED and their seats pass on; returns how many expired.

    Each is claimed by its guarded transition: of several processes sweeping
    at once, one expires it and passes its seat on.
    """
    db = services.db
    now = now or utcnow()
    due = await db[COLLECTION].find({"state": OFFERED, "offer_expires_at": {"$lte": now}}) \
        .sort([("offer_expires_at", 1), ("_id", 1)]).limit(limit).to_list(None)
    events: dict[Any, EventDoc | None] = {}
    expired = 0
    for seat in due:
        if seat["event_id"] not in events:
            events[seat["event_id"]] = await model.get_event(db, seat["event_id"])
        event = events[seat["event_id"]]
        if event is None:
            continue
        try:
            await states.transition(db, event, seat, EXPIRED, actor_kind=states.SYSTEM, now=now,
                                    scope=scope(event, seat["item_id"]))
        except states.TransitionError:
            continue  # accepted, given up or expired by someone else meanwhile
        expired += 1
        await places.give_back(db, target(event["_id"], seat["item_id"]))
        await promote(services, event, seat["item_id"], now=now)
    return expired


async def sweep(services, now: datetime.datetime | None = None, limit: int = 50) -> None:
    """The sessions' part of the periodic sweep: expire offers, then recount and promote due sessions.

    Session counters are claimed one at a time (`places.claim_check`), so
    each due one is checked by one process per round.
    """
    now = now or utcnow()
    await expire_offers(services, now)
    for _ in range(limit):
        counter = await places.claim_check(services.db, now, kind=places.SESSIONS)
        if counter is None:
            break
        event = await model.get_event(services.db, counter.get("event_id"))
        if event is None:
            continue
        await places.reconcile(services.db, counter["_id"], event["_id"], now)
        await promote(services, event, counter["item_id"], now=now)


# --- staff ------------------------------------------------------------------------------------

LIST_STATES = (REGISTERED, OFFERED, WAITING)


async def holders(db, event: EventDoc, item_id: str) -> list[dict[str, Any]]:
    """The session's seat holders, offers and waiting list (in its order), with the names of their registrations."""
    seats = await db[COLLECTION].find({"event_id": event["_id"], "item_id": item_id,
                                       "state": {"$in": list(LIST_STATES)}}).to_list(MAX_LIST)
    order = {s: n for n, s in enumerate(LIST_STATES)}
    seats.sort(key=lambda s: (order[s["state"]], s.get("position") or 0, s["state_at"], s["_id"]))
    people = {m["user_id"]: m for m in await db.memberships.find(
        {"scope_id": event["_id"], "role": R.ATTENDEE, "user_id": {"$in": [s["user_id"] for s in seats]}},
        {"user_id": 1, "name": 1, "email": 1}).to_list(None)}
    return [{**s, "name": people.get(s["user_id"], {}).get("name", ""),
             "email": people.get(s["user_id"], {}).get("email", "")} for s in seats]


CSV_COLUMNS = ("email", "name", "state", "position", "state_at", "offer_expires_at")


def csv_row(row: Mapping[str, Any]) -> list[str]:
    """One seat as CSV cells (`CSV_COLUMNS`), before the formula guard."""
    def stamp(value) -> str:
        return value.isoformat() if isinstance(value, datetime.datetime) else ""
    return [row.get("email") or "", row.get("name") or "", row["state"],
            str(row["position"]) if row["state"] == WAITING and row.get("position") else "",
            stamp(row.get("state_at")), stamp(row.get("offer_expires_at"))]


async def export_csv(db, event: EventDoc, item_id: str, locale: str, actor=None) -> str:
    """The session's list as CSV text: UTF-8 with a BOM, cells a spreadsheet would take for a formula kept text."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    rows = await holders(db, event, item_id)
    for row in rows:
        writer.writerow([registry._cell(cell) for cell in csv_row(row)])
    await audit.record(db, actor=actor, action="session_seats.export", event=event,
                       params={"item_id": item_id, "count": len(rows)})
    return out.getvalue()
