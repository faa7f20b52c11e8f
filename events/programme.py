"""An attendee's own programme: the sessions of an event they mean to follow.

One document per attendee and event in `programmes` ({user_id, event_id,
item_ids[]}), unique on (user_id, event_id).  Only sessions the event page
shows may be added: those of open days, and of those only the ones the
viewer's privacy verdict lets them see (a closed session cannot be added,
and one saved before it was closed is neither shown nor exported).  Saved ids of a day that is closed
later stay stored but are not shown (nor exported) until the day opens
again, so a closed day's schedule stays hidden here as on the page.
Nobody reads another person's programme: every read and write is keyed by
the viewer's own user id.

A session with a capacity is not saved but seated
(`registration.session_seats`): the programme holds it only while the
person has a seat in it (`seated`), whether it was saved before or not.

`calendar` turns the saved sessions into an iCalendar file (RFC 5545) that
calendar apps import; the labels in it come translated from the caller.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import icalendar
from pymongo.errors import DuplicateKeyError

from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events import model, sessions
from events.model import EventDoc, ScheduleItemDoc

MAX_ITEM_ID = 64
# Whether the viewer may see a session (`events.privacy.session_filter`).
MaySee = Callable[[Any], bool]
UNKNOWN_ITEM = N_("This session is not on the schedule.")


class ProgrammeError(Refusal):
    """A refused change; the message is marked for translation."""


def visible_items(event: EventDoc, may_see: MaySee | None = None,
                  shown_in: EventDoc | None = None) -> dict[str, ScheduleItemDoc]:
    """Sessions shown on the event page (those of open days the viewer may see), by id.

    `shown_in`: a channel of `event` whose page shows them: the sessions of
    `event` that run in it, on the channel's open days.
    """
    page = shown_in or event
    open_days = {d["id"] for d in model.enabled_days(page)}
    items = sessions.sessions_in(event, page) if sessions.is_channel(page) else event["schedule"]
    return {i["id"]: i for i in items if i.get("day_id") in open_days and i.get("id")
            and (may_see is None or may_see(i))}


async def saved_ids(db, user_id, event_id) -> list[str]:
    """Every id the user saved for the event, shown or not."""
    doc = await db.programmes.find_one({"user_id": user_id, "event_id": event_id}, {"item_ids": 1})
    return list(doc["item_ids"]) if doc else []


def in_programme(item: ScheduleItemDoc, saved: set[str] | frozenset[str], seated: set[str] | frozenset[str]) -> bool:
    """A session with a capacity is in the programme while the person has a seat; any other once saved."""
    return item["id"] in seated if item.get("capacity") is not None else item["id"] in saved


async def saved_items(db, user_id, event: EventDoc, may_see: MaySee | None = None,
                      seated: set[str] | frozenset[str] = frozenset()) -> list[ScheduleItemDoc]:
    """The user's programme as the page shows it, in schedule order: sessions saved, and those seated in."""
    ids = set(await saved_ids(db, user_id, event["_id"]))
    items = [i for i in visible_items(event, may_see).values() if in_programme(i, ids, seated)]
    return sorted(items, key=lambda i: (i["starts_at"], i["id"]))


async def set_saved(db, user_id, event: EventDoc, item_id, saved: bool,
                    may_see: MaySee | None = None, shown_in: EventDoc | None = None) -> list[str]:
    """Add (saved=True) or remove a session; returns the ids now saved.

    `event` holds the programme (a channel's main event: the programme is
    the main event's, whichever page saved to it); `shown_in` the channel
    whose page the session was saved from (`visible_items`).

    Adding twice or removing a session that is not saved changes nothing, so
    a repeated click or a retried request is harmless.  An id the page does
    not show (and, for removal, that is not saved either) is refused before
    anything is written.
    """
    if not isinstance(item_id, str) or not item_id or len(item_id) > MAX_ITEM_ID:
        raise ProgrammeError(UNKNOWN_ITEM)
    key = {"user_id": user_id, "event_id": event["_id"]}
    known = item_id in visible_items(event, may_see, shown_in)
    if saved:
        if not known:
            raise ProgrammeError(UNKNOWN_ITEM)
        change = {"$addToSet": {"item_ids": item_id}}
    else:
        if not known and item_id not in await saved_ids(db, user_id, event["_id"]):
            raise ProgrammeError(UNKNOWN_ITEM)
        change = {"$pull": {"item_ids": item_id}}
    update = {**change, "$set": {"updated_at": utcnow()}}
    try:
        await db.programmes.update_one(key, update, upsert=saved)
    except DuplicateKeyError:
        # Two first clicks at once: both upserted, the unique index kept one.
        await db.programmes.update_one(key, update)
    return await saved_ids(db, user_id, event["_id"])


def calendar(event: EventDoc, items: list[ScheduleItemDoc], *, name: str, titles: dict[str, str],
             descriptions: dict[str, str], url: str, host: str,
             now: datetime.datetime | None = None) -> bytes:
    """The sessions as an iCalendar file.

    `titles` and `descriptions` map item ids to the texts in the viewer's
    language.  UIDs are stable per event and session, so importing the file
    again updates the entries instead of duplicating them.
    """
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Livehall//My programme//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", event["timezone"])
    stamp = (now or utcnow()).astimezone(datetime.UTC)
    for item in items:
        entry = icalendar.Event()
        entry.add("uid", f"{event['_id']}-{item['id']}@{host}")
        entry.add("dtstamp", stamp)
        entry.add("dtstart", _utc(item["starts_at"]))
        ends = item.get("ends_at")
        if ends and ends > item["starts_at"]:
            entry.add("dtend", _utc(ends))
        entry.add("summary", titles.get(item["id"]) or "")
        if descriptions.get(item["id"]):
            entry.add("description", descriptions[item["id"]])
        entry.add("url", url)
        cal.add_component(entry)
    return cal.to_ical()


def _utc(moment: datetime.datetime) -> datetime.datetime:
    # Stored datetimes may come back naive (UTC) from some storage backends.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)
