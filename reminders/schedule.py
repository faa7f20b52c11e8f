"""The reminder jobs of an event, derived from the event document.

One document per reminder in `reminder_jobs`: {event_id, key, kind,
item_id, starts_at (the moment reminded of), due_at, state, round}, unique
on (event_id, key).  `sync` makes the stored jobs match the event as it is
now and may run any number of times, in any number of processes: it is
called by the sweep for every event whose `updated_at` moved, so every edit
of the start, the days or the schedule reaches the jobs without a hook in
each editor.

The event starts at its gate's official start; without one, at the first
session of its first open day that has sessions.  Session reminders are due
before every session of an open day; who gets them is decided when they go
(`reminders.runner`), so a session added to a programme late still counts.

Moving a reminder whose mail has gone (or was skipped or cancelled) opens a
new `round`: the per-recipient records are keyed by round, so the moved
reminder goes again.  A reminder whose session or event start disappeared is
cancelled while it waits.
"""
from __future__ import annotations

import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from core.clock import utcnow
from events import programme
from events.model import EventDoc
from reminders import texts

COLLECTION = "reminder_jobs"
PENDING, DONE, SKIPPED, OFF, CANCELLED = "pending", "done", "skipped", "off", "cancelled"


def utc(moment: datetime.datetime) -> datetime.datetime:
    # Stored datetimes may come back naive (UTC) from some storage backends.
    return moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment.astimezone(datetime.UTC)


def event_start(event: EventDoc) -> datetime.datetime | None:
    """When the event starts: the official start, else its first open day's first session."""
    official = event["gate"].get("official_start")
    if official:
        return utc(official)
    items = list(programme.visible_items(event).values())
    days = {d["id"]: d["date"] for d in event["days"]}
    dated = [(days.get(i["day_id"], ""), utc(i["starts_at"])) for i in items if i.get("starts_at")]
    if not dated:
        return None
    first_day = min(d for d, _ in dated)
    return min(s for d, s in dated if d == first_day)


def wanted(event: EventDoc) -> dict[str, dict[str, Any]]:
    """key -> (kind, item_id, starts_at, due_at) of every reminder the event should have."""
    out: dict[str, dict[str, Any]] = {}
    start = event_start(event)
    if start is not None:
        for kind in texts.EVENT_KINDS:
            out[kind] = {"kind": kind, "item_id": None, "starts_at": start, "due_at": start - texts.LEADS[kind]}
    for item in programme.visible_items(event).values():
        if item.get("starts_at"):
            moment = utc(item["starts_at"])
            out[f"session:{item['id']}"] = {"kind": texts.SESSION, "item_id": item["id"], "starts_at": moment,
                                            "due_at": moment - texts.LEADS[texts.SESSION]}
    return out


async def sync(db, event: EventDoc) -> None:
    """Make the event's stored jobs match `wanted(event)`; idempotent and safe to run concurrently."""
    if event.get("parent_id"):
        return  # a channel's sessions are its main event's
    jobs = db[COLLECTION]
    want = wanted(event)
    now = utcnow()
    stored = {j["key"]: j async for j in jobs.find({"event_id": event["_id"]})}
    for key, spec in want.items():
        job = stored.get(key)
        if job is None:
            try:
                await jobs.insert_one({"event_id": event["_id"], "key": key, **spec, "state": PENDING, "round": 0,
                                       "created_at": now, "updated_at": now})
            except DuplicateKeyError:
                pass  # another process made it just now
            continue
        guard = {"_id": job["_id"], "round": job["round"], "state": job["state"]}
        if utc(job["starts_at"]) != spec["starts_at"]:
            # Moved: a reminder already dealt with goes again in a new round.
            again = job["state"] != PENDING
            await jobs.update_one(guard, {"$set": {**spec, "state": PENDING, "updated_at": now},
                                          "$inc": {"round": 1 if again else 0}})
        elif job["state"] in (CANCELLED, OFF):
            # Back on the schedule, or switched on again: nobody got it in this round.
            await jobs.update_one(guard, {"$set": {"state": PENDING, "updated_at": now}})
    for key, job in stored.items():
        if key not in want and job["state"] == PENDING:
            await jobs.update_one({"_id": job["_id"], "round": job["round"], "state": PENDING},
                                  {"$set": {"state": CANCELLED, "updated_at": now}})


async def cancel_all(db, event_id) -> None:
    """The event is gone: every waiting reminder of it is cancelled."""
    await db[COLLECTION].update_many({"event_id": event_id, "state": PENDING},
                                     {"$set": {"state": CANCELLED, "updated_at": utcnow()}})
