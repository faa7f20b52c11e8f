"""Changing what describes an event: settings and texts, days, schedule, materials.

Every change is validated in full before anything is written: a refused
change raises `EditError` and leaves the database as it was.  Then one
update is written and recorded in the audit log with the state before and
after.  A change to what the live state shows (`events.view.live_state`:
the days, the languages) also bumps `state_version` in that same update and
is announced through `notifier` like a control action, so open pages get
the new state at once.  Live switches (a day on or off, broadcast, gate,
slides) are not here: those go through `events.control.apply` only.

Times in forms are wall-clock times on the event's clock; they are stored as
aware UTC datetimes, so every reader can show them in any zone.
"""
from __future__ import annotations

import copy
import datetime
import re
import zoneinfo
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from pymongo import ReturnDocument

from access import audit
from accounts.users import AccountDoc
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_
from core.text import strip_bidi
from events import control, model, tags
from events.model import DayDoc, EventDoc, MaterialDoc, ScheduleItemDoc, ScheduleItemFields, SpaceDoc

MAX_SPEAKER = 200
MAX_URL = 2000
TIMEZONES = tuple(sorted(zoneinfo.available_timezones()))
_TIMEZONE_SET = frozenset(TIMEZONES)
_TIME_RE = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")


class EditError(Refusal):
    """A refused change; `field`: the form field it is about, if one."""

    def __init__(self, message: str, field: str | None = None, **params):
        super().__init__(message, **params)
        self.field = field


# --- checks shared by every form ------------------------------------------------

def clean_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not model.valid_slug(slug):
        raise EditError(N_("The address name may use only Latin letters, digits and hyphens "
                           "(1 to 64 characters, no hyphen at either end)."), "slug")
    return slug


def clean_locales(locales, default_locale: str) -> list[str]:
    """The chosen locales in platform order; the default must be one of them."""
    chosen = list(dict.fromkeys(locales or []))
    if not chosen:
        raise EditError(N_("Choose at least one language."), "locales")
    if any(code not in LOCALES for code in chosen):
        raise EditError(N_("This language is not available."), "locales")
    if default_locale not in LOCALES:
        raise EditError(N_("This language is not available."), "default_locale")
    if default_locale not in chosen:
        raise EditError(N_("The default language must be one of the event's languages."),
                        "default_locale")
    return [code for code in LOCALES if code in chosen]


def clean_timezone(name: str) -> str:
    if name not in _TIMEZONE_SET:
        raise EditError(N_("Choose a time zone from the list."), "timezone")
    return name


def clean_texts(values: dict | None, locales, max_length: int, field: str,
                required_locale: str | None = None) -> dict[str, str]:
    """Per-locale texts kept for `locales` only, trimmed, empty ones dropped."""
    values = values or {}
    if any(code not in LOCALES for code in values):
        raise EditError(N_("This language is not available."), field)
    out = {}
    for code in locales:
        text = strip_bidi(values.get(code) or "").strip()
        if len(text) > max_length:
            raise EditError(N_("A text is too long (at most %(count)s characters)."), field,
                            count=max_length)
        if text:
            out[code] = text
    if required_locale and not out.get(required_locale):
        raise EditError(N_("Enter the title in the default language."), field)
    return out


def clean_settings(*, locales, default_locale: str, timezone: str, title: dict,
                   description: dict | None = None) -> dict:
    chosen = clean_locales(locales, default_locale)
    return {
        "locales": chosen,
        "default_locale": default_locale,
        "timezone": clean_timezone(timezone),
        "title": clean_texts(title, chosen, model.MAX_TITLE, "title", default_locale),
        "description": clean_texts(description, chosen, model.MAX_TEXT, "description"),
    }


def settings_snapshot(event: EventDoc) -> dict:
    return {k: copy.deepcopy(event.get(k)) for k in
            ("locales", "default_locale", "timezone", "title", "description")}


def clean_tags(raw) -> list[str]:
    """Tags of an event or a session (`events.tags`), as an EditError on the `tags` field."""
    try:
        return tags.clean(raw)
    except tags.TagError as exc:
        raise EditError(exc.message, "tags", **exc.params) from None


# --- creating and editing the event itself -------------------------------------------

async def create_event(db, actor: AccountDoc, space: SpaceDoc, *, slug: str, locales, default_locale: str,
                       timezone: str, title: dict) -> EventDoc:
    slug = clean_slug(slug)
    settings = clean_settings(locales=locales, default_locale=default_locale,
                              timezone=timezone, title=title)
    if await db.events.find_one({"space_id": space["_id"], "slug": slug}, {"_id": 1}):
        raise EditError(N_("This space already has an event with this address name."), "slug")
    event = model.blank_event(space["_id"], slug, settings["locales"], default_locale,
                              settings["title"], settings["timezone"])
    try:
        await model.create_event(db, event)
    except model.DuplicateSlug:
        raise EditError(N_("This space already has an event with this address name."), "slug") from None
    await audit.record(db, actor=actor, action="event_create", event=event, params={"slug": slug},
                       before=None, after=settings_snapshot(event))
    return event


async def update_settings(db, notifier, actor: AccountDoc, event: EventDoc, *, locales, default_locale: str,
                          timezone: str, title: dict, description: dict, tags=None) -> EventDoc:
    """Save locales, default locale, time zone, titles and descriptions (and tags, when given).

    A new time zone keeps the schedule's wall-clock times: sessions were typed
    as "10:00 on the event's clock", so they stay at 10:00 on the new clock.
    New languages change the live state (each language's view, the fallback
    for texts and decks), so that change is versioned and announced.
    """
    settings = clean_settings(locales=locales, default_locale=default_locale, timezone=timezone,
                              title=title, description=description)
    if tags is not None:
        settings["tags"] = clean_tags(tags)
    before = settings_snapshot(event)
    if "tags" in settings:
        before["tags"] = list(event.get("tags") or [])
    changes = dict(settings)
    if settings["timezone"] != event["timezone"] and event["schedule"]:
        before["schedule"] = copy.deepcopy(event["schedule"])
        changes["schedule"] = [_move_clock(item, event["timezone"], settings["timezone"])
                               for item in event["schedule"]]
    if all(before.get(k) == v for k, v in changes.items()):
        return event
    live = any(before[k] != settings[k] for k in ("locales", "default_locale"))
    update: dict = {"$set": {**changes, "updated_at": utcnow()}}
    if live:
        update["$inc"] = {"state_version": 1}
    saved = await db.events.find_one_and_update({"_id": event["_id"]}, update,
                                                return_document=ReturnDocument.AFTER)
    if saved is None:
        raise EditError(N_("This event does not exist."))
    after = dict(settings)
    if "schedule" in changes:
        after["schedule"] = changes["schedule"]
    await audit.record(db, actor=actor, action="event_update", event=event, before=before, after=after)
    if live:
        await control.announce(notifier, "event_update", saved, {})
    return saved


def _move_clock(item: ScheduleItemDoc, old_tz: str, new_tz: str) -> ScheduleItemDoc:
    def move(at: datetime.datetime) -> datetime.datetime:
        wall = at.astimezone(ZoneInfo(old_tz)).replace(tzinfo=None)
        return wall.replace(tzinfo=ZoneInfo(new_tz)).astimezone(datetime.UTC)

    moved = item.copy()
    if item.get("starts_at"):
        moved["starts_at"] = move(item["starts_at"])
    ends = item.get("ends_at")
    if ends:
        moved["ends_at"] = move(ends)
    return moved


# --- days -----------------------------------------------------------------------------

def _parse_date(raw: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat((raw or "").strip())
    except ValueError:
        raise EditError(N_("Enter the date as year-month-day."), "date") from None


async def add_day(db, notifier, actor: AccountDoc, event: EventDoc, *, date: str, title: dict) -> DayDoc:
    """A new day, switched off: it is switched on from live control.

    The array stays in date order, so a day's position changes with every
    add and remove: everything else addresses a day by its id.
    """
    day_date = _parse_date(date).isoformat()
    titles = clean_texts(title, event["locales"], model.MAX_TITLE, "title")
    if any(d.get("date") == day_date for d in event["days"]):
        raise EditError(N_("There is already a day on this date."), "date")
    day: DayDoc = {"id": model.new_item_id(), "date": day_date, "title": titles, "enabled": False}
    # The date guard in the filter makes two simultaneous adds of one date add one day.
    saved = await db.events.find_one_and_update(
        {"_id": event["_id"], "days.date": {"$ne": day_date}},
        {"$push": {"days": {"$each": [day], "$sort": {"date": 1}}}, "$set": {"updated_at": utcnow()},
         "$inc": {"state_version": 1}},
        return_document=ReturnDocument.AFTER)
    if saved is None:
        raise EditError(N_("There is already a day on this date."), "date")
    await audit.record(db, actor=actor, action="day_add", event=event, params={"day_id": day["id"]},
                       before=None, after=day)
    await control.announce(notifier, "day_add", saved, {"day_id": day["id"]})
    return day


async def remove_day(db, notifier, actor: AccountDoc, event: EventDoc, day_id: str) -> DayDoc:
    """Remove a day together with its schedule items (they would be orphans)."""
    day = model.find_day(event, day_id)
    if not day:
        raise EditError(N_("Unknown day."))
    items = [i for i in event["schedule"] if i.get("day_id") == day_id]
    saved = await db.events.find_one_and_update(
        {"_id": event["_id"], "days.id": day_id},
        {"$pull": {"days": {"id": day_id}, "schedule": {"day_id": day_id}},
         "$set": {"updated_at": utcnow()}, "$inc": {"state_version": 1}},
        return_document=ReturnDocument.AFTER)
    if saved is None:
        raise EditError(N_("Unknown day."))
    await audit.record(db, actor=actor, action="day_remove", event=event, params={"day_id": day_id},
                       before={"day": day, "schedule": items}, after=None)
    await control.announce(notifier, "day_remove", saved, {"day_id": day_id})
    return day


# --- schedule -------------------------------------------------------------------------

def _parse_time(raw: str, field: str) -> datetime.time:
    raw = (raw or "").strip()
    try:
        if not _TIME_RE.match(raw):
            raise ValueError(raw)
        hours, minutes, *_ = (int(part) for part in raw.split(":"))
        return datetime.time(hours, minutes)
    except ValueError:
        raise EditError(N_("Enter the time as hours:minutes."), field) from None


def _on_clock(date: str, at: datetime.time, tz: str, field: str) -> datetime.datetime:
    zone = ZoneInfo(tz)
    try:
        on = datetime.date.fromisoformat(date)
    except (TypeError, ValueError):
        raise EditError(N_("Choose a day."), "day_id") from None
    local = datetime.datetime.combine(on, at, tzinfo=zone)
    moment = local.astimezone(datetime.UTC)
    # A wall-clock time skipped when the clocks go forward does not exist; it
    # would come back an hour off, so it is refused rather than moved.
    if moment.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise EditError(N_("This time does not exist on that day in the event's time zone."), field)
    return moment


def clean_item(event: EventDoc, *, day_id: str, starts: str, ends: str, title: dict,
               speaker: str, tags: str = "") -> ScheduleItemFields:
    day = model.find_day(event, day_id)
    if not day:
        raise EditError(N_("Choose a day."), "day_id")
    start_time = _parse_time(starts, "starts")
    starts_at = _on_clock(day["date"], start_time, event["timezone"], "starts")
    ends_at = None
    if (ends or "").strip():
        ends_at = _on_clock(day["date"], _parse_time(ends, "ends"), event["timezone"], "ends")
        if ends_at <= starts_at:
            raise EditError(N_("The end must be after the start."), "ends")
    titles = clean_texts(title, event["locales"], model.MAX_TITLE, "title", event["default_locale"])
    speaker = " ".join((speaker or "").split())
    if len(speaker) > MAX_SPEAKER:
        raise EditError(N_("A text is too long (at most %(count)s characters)."), "speaker",
                        count=MAX_SPEAKER)
    fields: ScheduleItemFields = {"day_id": day_id, "starts_at": starts_at, "ends_at": ends_at,
                                  "title": titles, "speaker": speaker}
    item_tags = clean_tags(tags)
    if item_tags:
        fields["tags"] = item_tags
    return fields


def find_item(event: EventDoc, item_id: str) -> ScheduleItemDoc | None:
    return next((i for i in event["schedule"] if i.get("id") == item_id), None)


def item_form(event: EventDoc, item: ScheduleItemDoc) -> dict[str, Any]:
    """A stored item as the edit form shows it: times on the event's clock."""
    zone = ZoneInfo(event["timezone"])
    ends = item.get("ends_at")
    return {
        "day_id": item.get("day_id", ""),
        "starts": item["starts_at"].astimezone(zone).strftime("%H:%M"),
        "ends": ends.astimezone(zone).strftime("%H:%M") if ends else "",
        "title": dict(item.get("title") or {}),
        "speaker": item.get("speaker", ""),
        "tags": tags.as_text(tags.of(item)),
    }


async def add_item(db, actor: AccountDoc, event: EventDoc, extra: dict[str, Any] | None = None,
                   **fields) -> ScheduleItemDoc:
    """A new item; `extra`: fields other modules validated already (`events.sessions`)."""
    item: ScheduleItemDoc = {"id": model.new_item_id(), **clean_item(event, **fields), **(extra or {})}  # type: ignore[typeddict-item]
    await db.events.update_one({"_id": event["_id"]},
                               {"$push": {"schedule": item}, "$set": {"updated_at": utcnow()}})
    await audit.record(db, actor=actor, action="schedule_add", event=event,
                       params={"item_id": item["id"]}, before=None, after=item)
    return item


# What the item form itself edits: dropped from the stored item when the form leaves them out
# (`tags` is stored only when there are some).
FORM_KEYS = frozenset({"day_id", "starts_at", "ends_at", "title", "speaker", "tags"})


async def update_item(db, actor: AccountDoc, event: EventDoc, item_id: str,
                      extra: dict[str, Any] | None = None, **fields) -> ScheduleItemDoc:
    """Save an item's form; keys this form does not edit (a session's own fields) are kept."""
    old = find_item(event, item_id)
    if not old:
        raise EditError(N_("Unknown schedule item."))
    kept = {k: v for k, v in old.items() if k not in FORM_KEYS}
    item: ScheduleItemDoc = {**kept, "id": item_id, **clean_item(event, **fields), **(extra or {})}  # type: ignore[typeddict-item]
    result = await db.events.update_one({"_id": event["_id"], "schedule.id": item_id},
                                        {"$set": {"schedule.$": item, "updated_at": utcnow()}})
    if result.matched_count != 1:
        raise EditError(N_("Unknown schedule item."))
    await audit.record(db, actor=actor, action="schedule_update", event=event,
                       params={"item_id": item_id}, before=old, after=item)
    return item


async def remove_item(db, actor: AccountDoc, event: EventDoc, item_id: str) -> ScheduleItemDoc:
    old = find_item(event, item_id)
    if not old:
        raise EditError(N_("Unknown schedule item."))
    result = await db.events.update_one({"_id": event["_id"], "schedule.id": item_id},
                                        {"$pull": {"schedule": {"id": item_id}},
                                         "$set": {"updated_at": utcnow()}})
    if result.modified_count != 1:
        raise EditError(N_("Unknown schedule item."))
    await audit.record(db, actor=actor, action="schedule_remove", event=event,
                       params={"item_id": item_id}, before=old, after=None)
    return old


def days_sorted(event: EventDoc) -> list[dict[str, Any]]:
    """The days in date order, each with `day_date` parsed (None if unreadable) for display."""
    out = []
    for day in sorted(event["days"], key=lambda d: d.get("date", "")):
        try:
            parsed = datetime.date.fromisoformat(day.get("date", ""))
        except ValueError:
            parsed = None
        out.append({**day, "day_date": parsed})
    return out


def schedule_by_day(event: EventDoc) -> list[tuple[dict[str, Any], list[ScheduleItemDoc]]]:
    """(day, its items by start time) for every day, in date order."""
    return [(day, sorted((i for i in event["schedule"] if i.get("day_id") == day["id"]),
                         key=lambda i: i["starts_at"]))
            for day in days_sorted(event)]


# --- materials ------------------------------------------------------------------------

def clean_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise EditError(N_("Enter the link."), "url")
    if len(url) > MAX_URL:
        raise EditError(N_("The link is too long."), "url")
    parsed = urlparse(url)
    # Attendees click these: only https to a real host, never javascript: or data:.
    if parsed.scheme != "https" or not parsed.hostname or any(c.isspace() for c in url):
        raise EditError(N_("The link must start with https://."), "url")
    return url


async def add_material(db, actor: AccountDoc, event: EventDoc, *, title: dict, url: str) -> MaterialDoc:
    titles = clean_texts(title, event["locales"], model.MAX_TITLE, "title", event["default_locale"])
    material: MaterialDoc = {"id": model.new_item_id(), "title": titles, "url": clean_url(url)}
    await db.events.update_one({"_id": event["_id"]},
                               {"$push": {"materials": material}, "$set": {"updated_at": utcnow()}})
    await audit.record(db, actor=actor, action="material_add", event=event,
                       params={"material_id": material["id"]}, before=None, after=material)
    return material


async def remove_material(db, actor: AccountDoc, event: EventDoc, material_id: str) -> MaterialDoc:
    old = next((m for m in event["materials"] if m.get("id") == material_id), None)
    if not old:
        raise EditError(N_("Unknown material."))
    result = await db.events.update_one({"_id": event["_id"], "materials.id": material_id},
                                        {"$pull": {"materials": {"id": material_id}},
                                         "$set": {"updated_at": utcnow()}})
    if result.modified_count != 1:
        raise EditError(N_("Unknown material."))
    await audit.record(db, actor=actor, action="material_remove", event=event,
                       params={"material_id": material_id}, before=old, after=None)
    return old
