"""The attendee's cabinet: everything a person did on the platform, in one read.

Read once per request, all keyed by the person's own id (nobody reads
another person's cabinet): their memberships (registrations in every state
and staff roles), the events and spaces those name, and their saved
programmes.  A person's lists are short enough to be split and paged here.

- events: those the person may enter (a registration in state REGISTERED,
  or a staff role in the event), upcoming and past (`events.catalogue`);
- registrations: every attendee registration with its state, latest first;
- programme: the saved sessions of the events the person may enter, and
  the sessions with a capacity where they hold a seat (only those);
- materials: of past events the person was registered for, the recordings
  of sessions that allow them once ended, and the event's materials while
  its sessions keep them: `events.sessions.availability`, the event page's
  rule, for the sessions the person may see (`events.privacy.session_filter`).
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from access import roles as R
from access import rules
from accounts.users import find_by_ids
from core.clock import utcnow
from events import catalogue, model, privacy, programme, sessions, view
from registration import model as reg
from registration import session_seats

# States the attendee may still cancel from the cabinet.
CANCELLABLE = frozenset({reg.UNCONFIRMED, reg.PENDING, reg.WAITING, reg.OFFERED, reg.REGISTERED})


@dataclasses.dataclass
class Cabinet:
    upcoming: list[dict]
    past: list[dict]
    registrations: list[dict]
    programme: list[dict]
    materials: list[dict]


async def registration_of(db, user_id, event_id) -> dict | None:
    """The person's registration for an event, in any state, or None."""
    return await db.memberships.find_one({"user_id": user_id, "scope_id": event_id, "role": R.ATTENDEE})


def _entry(event, space, locale: str, now: datetime.datetime) -> dict:
    start = catalogue.start_of(event)
    return {"event": event, "space": space, "path": view.path(space, event),
            "title": view.text(event, event["title"], locale), "start": start,
            "local_start": view.local(start, event["timezone"]), "past": catalogue.is_past(event, now),
            "roles": []}


async def read(db, user, locale: str, now: datetime.datetime | None = None) -> Cabinet:
    now = now or utcnow()
    memberships = [m for m in await R.scopes_of(db, user["_id"]) if m["scope"] == "event"]
    saved_docs = await db.programmes.find({"user_id": user["_id"]}).to_list(None)
    events = await model.get_events(db, {m["scope_id"] for m in memberships}
                                    | {d["event_id"] for d in saved_docs})
    spaces = await find_by_ids(db.spaces, {e["space_id"] for e in events.values()})

    entries: dict[Any, dict] = {}
    registrations = []
    for m in memberships:
        event = events.get(m["scope_id"])
        space = spaces.get(event["space_id"]) if event else None
        if event is None or space is None:
            continue
        if m["role"] == R.ATTENDEE:
            state = reg.state_of(m)
            registrations.append({**_entry(event, space, locale, now), "state": state,
                                  "label": reg.STATE_LABELS.get(state, state),
                                  "at": m.get("state_at") or m["created_at"],
                                  # One that carries a ticket of an order ends with its ticket (`orders`).
                                  "cancellable": state in CANCELLABLE and not m.get("order_id"),
                                  "offered": state == reg.OFFERED,
                                  "offer_expires_at": m.get("offer_expires_at")})
        if R.holds(m):
            entry = entries.setdefault(event["_id"], _entry(event, space, locale, now))
            entry["roles"].append(m["role"])

    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    upcoming = sorted((e for e in entries.values() if not e["past"]),
                      key=lambda e: (e["start"] or far, str(e["event"]["_id"])))
    past = sorted((e for e in entries.values() if e["past"]),
                  key=lambda e: (e["start"] or far, str(e["event"]["_id"])), reverse=True)
    registrations.sort(key=lambda r: (r["at"], str(r["event"]["_id"])), reverse=True)

    saved = {d["event_id"]: set(d.get("item_ids") or ()) for d in saved_docs}
    seated: dict[Any, set[str]] = {}
    async for seat in db[session_seats.COLLECTION].find({"user_id": user["_id"], "state": reg.REGISTERED},
                                                        {"event_id": 1, "item_id": 1}):
        seated.setdefault(seat["event_id"], set()).add(seat["item_id"])
    saved_programme = []
    for event_id in set(saved) | set(seated):
        held = entries.get(event_id)
        if held is None:
            continue  # no longer admitted: neither the sessions nor the feed would open
        entry = held
        mine, seats = saved.get(event_id, set()), seated.get(event_id, set())
        items = sorted((i for i in programme.visible_items(entry["event"]).values()
                        if programme.in_programme(i, mine, seats)),
                       key=lambda i: (i["starts_at"], i["id"]))
        if items:
            event = entry["event"]
            saved_programme.append({**entry, "items": [
                {"id": i["id"], "title": view.text(event, i.get("title"), locale), "starts_at": i["starts_at"],
                 "ends_at": i.get("ends_at"), "speaker": i.get("speaker", ""), "seated": i["id"] in seats}
                for i in items]})
    saved_programme.sort(key=lambda e: (e["items"][0]["starts_at"], str(e["event"]["_id"])))

    materials = []
    for entry in past:
        if R.ATTENDEE not in entry["roles"]:
            continue
        found = await _recordings_and_materials(db, user, entry["event"], locale, now)
        if found["recordings"] or found["materials"]:
            materials.append({**entry, **found})
    return Cabinet(upcoming, past, registrations, saved_programme, materials)


async def _recordings_and_materials(db, user, event, locale: str, now: datetime.datetime) -> dict[str, list]:
    """What the event page would still show the person of a past event: recordings and materials."""
    roles = await R.roles_in(db, user, **R.event_scopes(event))
    may_see = await privacy.session_filter(db, event, user, roles)
    shown = [i for i in event["schedule"] if may_see(i) and rules.may_enter_session(roles, i.get("id"))]
    recordings = []
    for item in sorted(shown, key=lambda i: (i["starts_at"], i.get("id", ""))):
        url = sessions.availability(item, now)["recording_url"] if rules.may_watch_recording(roles, item.get("id")) \
            else None
        if url:
            recordings.append({"title": view.text(event, item.get("title"), locale), "url": url,
                               "starts_at": item["starts_at"]})
    found = []
    if sessions.materials_shown(event, now):
        found = [m for m in view.page(event, locale)["materials"] if m["url"]]
    return {"recordings": recordings, "materials": found}
