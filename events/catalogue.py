"""A space's public catalogue: which events it lists, to whom, and in what order.

Listed are the space's events whose privacy (`events.model.privacy_of`) is
PUBLIC, and SIGNED_IN ones for a signed-in visitor; every other level (by
link, closed list, invitation, and events stored before privacy existed) is
never listed, whoever asks.  The privacy filter is part of the one query, so
no later step can let an event through.

An event's start is its gate's official start, else its first day (midnight
on the event's clock).  It is upcoming until the end of the day it starts
on, or of its last day, on its clock; then it is past.  Undated events are
listed last among the upcoming ones.  Upcoming events come soonest first,
past ones latest first.

Tag, language and title search narrow the query; the split by date and the
order are computed from the start fields of the matching events (a small
projection), then the page of full documents is read by id.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from zoneinfo import ZoneInfo

from access import rules
from core.clock import utcnow
from core.i18n import LOCALES
from events import model, tags
from events.model import EventDoc

UPCOMING, PAST = "upcoming", "past"
WHENS = (UPCOMING, PAST)
MAX_QUERY = 100
_FAR = datetime.datetime.max.replace(tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Filters:
    when: str = UPCOMING
    tag: str = ""
    language: str = ""
    query: str = ""


def parse_filters(when: str, tag: str, language: str, query: str) -> Filters:
    """Filters from a query string; anything unknown falls back to "no filter"."""
    return Filters(when=when if when in WHENS else UPCOMING,
                   tag=tags.normalise(tag)[:tags.MAX_TAG_LENGTH],
                   language=language if language in LOCALES else "",
                   query=" ".join((query or "").split())[:MAX_QUERY])


def listed_levels(signed_in: bool) -> list[str]:
    """The privacy levels a catalogue lists to this visitor."""
    return [rules.PUBLIC, rules.SIGNED_IN] if signed_in else [rules.PUBLIC]


def listed(space_id, signed_in: bool) -> dict:
    """The store query of every event of the space a catalogue may list: by privacy, and no channels
    (a channel is reached from its main event's page, where people register)."""
    return {"space_id": space_id, "privacy.level": {"$in": listed_levels(signed_in)}, **model.MAIN_EVENTS}


def query_for(space_id, filters: Filters, signed_in: bool) -> dict:
    """The store query of the events a catalogue may list, narrowed by the filters."""
    query: dict = listed(space_id, signed_in)
    if filters.tag:
        query["tags"] = filters.tag
    if filters.language:
        query["locales"] = filters.language
    if filters.query:
        # Visitors type titles, not patterns: the text is escaped.
        pattern = {"$regex": re.escape(filters.query), "$options": "i"}
        query["$or"] = [{f"title.{code}": pattern} for code in LOCALES]
    return query


def start_of(event) -> datetime.datetime | None:
    """When the event starts: the gate's official start, else midnight of its first day on its clock."""
    official = (event.get("gate") or {}).get("official_start")
    if official:
        return official if official.tzinfo else official.replace(tzinfo=datetime.UTC)
    first = _day_dates(event)
    if not first:
        return None
    return datetime.datetime.combine(first[0], datetime.time(0), tzinfo=_zone(event))


def end_of(event) -> datetime.datetime | None:
    """When the event stops being upcoming: the end of its last day (or of its start's day) on its clock."""
    start = start_of(event)
    days = _day_dates(event)
    zone = _zone(event)
    last = max([d for d in days] + ([start.astimezone(zone).date()] if start else []), default=None)
    if last is None:
        return None
    return datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(0), tzinfo=zone)


def is_past(event, now: datetime.datetime) -> bool:
    end = end_of(event)
    return end is not None and end <= now


def order(events: list, when: str, now: datetime.datetime) -> list:
    """The events of one side (upcoming or past) in the catalogue's order."""
    if when == PAST:
        chosen = [e for e in events if is_past(e, now)]
        return sorted(chosen, key=lambda e: (start_of(e) or _FAR, e["_id"]), reverse=True)
    chosen = [e for e in events if not is_past(e, now)]
    return sorted(chosen, key=lambda e: (start_of(e) or _FAR, e["_id"]))


_START_FIELDS = {"_id": 1, "gate.official_start": 1, "days.date": 1, "timezone": 1}


async def page(db, space_id, filters: Filters, *, signed_in: bool, skip: int, limit: int,
               now: datetime.datetime | None = None) -> tuple[list[EventDoc], int]:
    """(events of the page, total) of the catalogue for these filters."""
    now = now or utcnow()
    found = await db.events.find(query_for(space_id, filters, signed_in), _START_FIELDS).to_list(None)
    ordered = order(found, filters.when, now)
    ids = [e["_id"] for e in ordered[skip:skip + limit]]
    docs = await model.get_events(db, ids)
    return [docs[i] for i in ids if i in docs], len(ordered)


async def tags_in_use(db, space_id, *, signed_in: bool) -> list[str]:
    """The tags of the events this visitor may see listed, for the tag filter."""
    found = await db.events.find(listed(space_id, signed_in), {"tags": 1}).to_list(None)
    return sorted({t for e in found for t in tags.of(e)})


def _zone(event) -> ZoneInfo:
    try:
        return ZoneInfo(event.get("timezone") or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _day_dates(event) -> list[datetime.date]:
    out = []
    for day in event.get("days") or ():
        try:
            out.append(datetime.date.fromisoformat(day.get("date", "")))
        except (TypeError, ValueError):
            continue
    return sorted(out)
