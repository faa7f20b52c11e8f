"""Sessions of an event's programme: tracks, speakers, channels, chat and what stays after the end.

A session is a schedule item (`events.editing` owns its day, times and
titles) with more to say:

- `speakers`: names, each optionally linked to an account holding the
  speaker role in the event.  The old one-line `speaker` string is kept
  written (the names joined) so every older reader still shows them.
- `track_id`: at most one of the event's `tracks` (title per locale, a
  colour from `PALETTE`).  A removed track's sessions read as having none.
- `channel_id`: the channel it runs in.  A channel is an event document of
  its own with `parent_id` naming the main event, so broadcast, slides,
  chat, gate, the live socket and every staff page work for it unchanged;
  `access.roles.roles_in` gives it the main event's roles.  Its sessions
  are the main event's sessions with its id.
- `chat`: whether the channel's chat is meant to be open during it.  It
  does not switch anything by itself: the live-control page shows staff the
  session running now and whether its chat should be open, and the event
  page tells attendees when a session has no chat.
- `capacity`: the seats it has (None: no limit, the session is simply
  saved to a programme).  With a capacity, registered attendees take a seat
  or wait for one (`registration.session_seats`); lowering it removes
  nobody, raising it passes the new seats to those waiting.
- `recording_url` with `recording_after` (shown once it has ended) and
  `materials_after` (the event's materials stay shown to attendees after
  it ends): `availability` is the one rule every page asks.

Validation raises `events.editing.EditError` with a translated message;
nothing is written then.  Writes are audited.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo import ReturnDocument

from access import audit
from access import roles as R
from accounts.users import AccountDoc
from core.clock import utcnow
from core.i18n import N_
from events import editing, model
from events.editing import EditError
from events.model import EventDoc, ScheduleItemDoc, SpeakerDoc, TrackDoc

# Colours chosen for white text at a contrast of at least 4.5:1 (WCAG AA);
# pages show them through the `track-<name>` classes of static/css/app.css.
PALETTE = {
    "blue": N_("Blue"), "green": N_("Green"), "purple": N_("Purple"), "red": N_("Red"),
    "teal": N_("Teal"), "orange": N_("Orange"), "pink": N_("Pink"), "grey": N_("Grey"),
}
MAX_TRACKS = 40
MAX_SPEAKERS = 8
MAX_CHANNELS = 20
SPEAKER_ROWS = 3  # empty speaker rows a form offers after the filled ones
MAX_SEATS = 100_000


# --- reading a session ------------------------------------------------------------------

def speakers_of(item: Mapping[str, Any]) -> list[SpeakerDoc]:
    """The speakers, reading an item stored before `speakers` as its one speaker string."""
    if "speakers" in item:
        return list(item["speakers"] or [])
    name = (item.get("speaker") or "").strip()
    return [{"name": name}] if name else []


def tracks_of(event: EventDoc) -> list[TrackDoc]:
    return list(event.get("tracks") or [])


def find_track(event: EventDoc, track_id: str | None) -> TrackDoc | None:
    return next((t for t in tracks_of(event) if t["id"] == track_id), None) if track_id else None


def capacity_of(item: Mapping[str, Any]) -> int | None:
    """The session's seats, or None when it has no limit."""
    value = item.get("capacity")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def has_ended(item: Mapping[str, Any], now: datetime.datetime) -> bool:
    """A session ends at its end time, or at its start when it has none."""
    return now >= (item.get("ends_at") or item["starts_at"])


class Availability(TypedDict):
    ended: bool
    recording_url: str | None   # shown to attendees now
    materials: bool             # the event's materials are shown for it now


def availability(item: Mapping[str, Any], now: datetime.datetime) -> Availability:
    """What attendees get of a session now: the one rule for the event page and the cabinet.

    Before the end: no recording, materials shown.  After it: the recording
    when staff allowed it (and gave one), materials when staff allowed them.
    """
    ended = has_ended(item, now)
    url = item.get("recording_url") or None
    return {"ended": ended,
            "recording_url": url if ended and item.get("recording_after") else None,
            "materials": not ended or bool(item.get("materials_after", True))}


def materials_shown(event: EventDoc, now: datetime.datetime) -> bool:
    """Whether attendees see the event's materials: unless every session has ended and none keeps them."""
    items = event["schedule"]
    if not items:
        return True
    return any(availability(i, now)["materials"] for i in items)


# --- channels -----------------------------------------------------------------------------

def is_channel(event: Mapping[str, Any]) -> bool:
    return bool(event.get("parent_id"))


async def channels_of(db, event: EventDoc) -> list[EventDoc]:
    """The main event's channels, oldest first (none for a channel itself)."""
    if is_channel(event):
        return []
    return await db.events.find({"parent_id": event["_id"]}).sort([("created_at", 1), ("_id", 1)]) \
        .to_list(MAX_CHANNELS)


async def create_channel(db, actor: AccountDoc, parent: EventDoc, *, slug: str, title: dict) -> EventDoc:
    """A new live room of `parent`: its own broadcast, slides and chat, the parent's people.

    It takes the parent's languages, clock, privacy, gate and days (same ids,
    so sessions name their day as in the parent; each channel switches its
    days and gate in its own live control).  It has no registration of its own.
    """
    if is_channel(parent):
        raise EditError(N_("A channel cannot have channels of its own."))
    slug = editing.clean_slug(slug)
    titles = editing.clean_texts(title, parent["locales"], model.MAX_TITLE, "title", parent["default_locale"])
    if await db.events.count_documents({"parent_id": parent["_id"]}) >= MAX_CHANNELS:
        raise EditError(N_("An event has at most %(count)s channels."), count=MAX_CHANNELS)
    taken = N_("This space already has an event with this address name.")
    if await db.events.find_one({"space_id": parent["space_id"], "slug": slug}, {"_id": 1}):
        raise EditError(taken, "slug")
    channel = model.blank_event(parent["space_id"], slug, parent["locales"], parent["default_locale"],
                                titles, parent["timezone"])
    channel["parent_id"] = parent["_id"]
    channel["days"] = [{**day, "title": dict(day.get("title") or {})} for day in parent["days"]]
    channel["gate"] = {"mode": parent["gate"]["mode"], "official_start": parent["gate"].get("official_start")}
    if "privacy" in parent:
        channel["privacy"] = model.privacy_of(parent)
    if parent.get("ticketed"):
        # Its main event sells tickets: here too only a ticket granting this channel admits (`orders`).
        channel["ticketed"] = True
    try:
        await model.create_event(db, channel)
    except model.DuplicateSlug:
        raise EditError(taken, "slug") from None
    await audit.record(db, actor=actor, action="channel_create", event=parent,
                       params={"channel_id": str(channel["_id"]), "slug": slug},
                       before=None, after={"slug": slug, "title": titles})
    return channel


# --- tracks -------------------------------------------------------------------------------

def clean_track(event: EventDoc, *, title: dict, colour: str) -> dict[str, Any]:
    titles = editing.clean_texts(title, event["locales"], model.MAX_TITLE, "title", event["default_locale"])
    if colour not in PALETTE:
        raise EditError(N_("Choose a colour from the list."), "colour")
    return {"title": titles, "colour": colour}


async def add_track(db, actor: AccountDoc, event: EventDoc, *, title: dict, colour: str) -> TrackDoc:
    track: TrackDoc = {"id": model.new_item_id(), **clean_track(event, title=title, colour=colour)}  # type: ignore[typeddict-item]
    # The size guard in the filter keeps the limit under simultaneous adds.
    saved = await db.events.find_one_and_update(
        {"_id": event["_id"], f"tracks.{MAX_TRACKS - 1}": {"$exists": False}},
        {"$push": {"tracks": track}, "$set": {"updated_at": utcnow()}}, return_document=ReturnDocument.AFTER)
    if saved is None:
        raise EditError(N_("An event has at most %(count)s tracks."), count=MAX_TRACKS)
    await audit.record(db, actor=actor, action="track_add", event=event, params={"track_id": track["id"]},
                       before=None, after=track)
    return track


async def update_track(db, actor: AccountDoc, event: EventDoc, track_id: str, *, title: dict,
                       colour: str) -> TrackDoc:
    old = find_track(event, track_id)
    if not old:
        raise EditError(N_("Unknown track."))
    track: TrackDoc = {"id": track_id, **clean_track(event, title=title, colour=colour)}  # type: ignore[typeddict-item]
    result = await db.events.update_one({"_id": event["_id"], "tracks.id": track_id},
                                        {"$set": {"tracks.$": track, "updated_at": utcnow()}})
    if result.matched_count != 1:
        raise EditError(N_("Unknown track."))
    await audit.record(db, actor=actor, action="track_update", event=event, params={"track_id": track_id},
                       before=old, after=track)
    return track


async def remove_track(db, actor: AccountDoc, event: EventDoc, track_id: str) -> TrackDoc:
    """Remove a track; its sessions stay, with no track (`find_track` no longer finds it)."""
    old = find_track(event, track_id)
    if not old:
        raise EditError(N_("Unknown track."))
    result = await db.events.update_one({"_id": event["_id"], "tracks.id": track_id},
                                        {"$pull": {"tracks": {"id": track_id}}, "$set": {"updated_at": utcnow()}})
    if result.modified_count != 1:
        raise EditError(N_("Unknown track."))
    await audit.record(db, actor=actor, action="track_remove", event=event, params={"track_id": track_id},
                       before=old, after=None)
    return old


# --- a session's own fields ---------------------------------------------------------------

class Choices(TypedDict):
    """What a session may name: the event's speaker accounts and channels."""
    speakers: dict[str, str]          # user id -> name
    channels: dict[str, EventDoc]     # channel id -> channel


async def choices(db, event: EventDoc) -> Choices:
    members = await db.memberships.find({"scope_id": event["_id"], "role": R.SPEAKER}) \
        .sort("name", 1).to_list(500)
    return {"speakers": {str(m["user_id"]): m.get("name") or m.get("email", "") for m in members},
            "channels": {str(c["_id"]): c for c in await channels_of(db, event)}}


def blank_form() -> dict[str, Any]:
    return {"speakers": [], "track_id": "", "channel_id": "", "chat": True, "recording_url": "",
            "recording_after": False, "materials_after": True, "capacity": ""}


def session_form(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored session's own fields as its form shows them."""
    return {"speakers": [{"name": s["name"], "user_id": str(s.get("user_id") or "")} for s in speakers_of(item)],
            "track_id": item.get("track_id") or "", "channel_id": item.get("channel_id") or "",
            "chat": bool(item.get("chat", True)), "recording_url": item.get("recording_url") or "",
            "recording_after": bool(item.get("recording_after")),
            "materials_after": bool(item.get("materials_after", True)),
            "capacity": "" if capacity_of(item) is None else str(capacity_of(item))}


def _clean_capacity(raw: Any) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    try:
        seats = int(text)
    except ValueError:
        raise EditError(N_("The number of seats must be a whole number, or empty for no limit."),
                        "capacity") from None
    if not 1 <= seats <= MAX_SEATS:
        raise EditError(N_("The number of seats must be between 1 and %(max)s."), "capacity", max=MAX_SEATS)
    return seats


def clean_session(event: EventDoc, found: Choices, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The session's own fields from a form (`session_form`'s shape), or EditError."""
    speakers: list[SpeakerDoc] = []
    for row in raw.get("speakers") or []:
        name = " ".join(str(row.get("name") or "").split())
        user_id = str(row.get("user_id") or "").strip()
        if not name and not user_id:
            continue
        if user_id and user_id not in found["speakers"]:
            raise EditError(N_("Choose a speaker account from the list: the person must hold the speaker "
                               "role in this event."), "speakers")
        name = name or found["speakers"].get(user_id, "")
        if not name:
            raise EditError(N_("Enter the speaker's name."), "speakers")
        if len(name) > editing.MAX_SPEAKER:
            raise EditError(N_("A text is too long (at most %(count)s characters)."), "speakers",
                            count=editing.MAX_SPEAKER)
        speaker: SpeakerDoc = {"name": name}
        if user_id:
            speaker["user_id"] = ObjectId(user_id)
        speakers.append(speaker)
    if len(speakers) > MAX_SPEAKERS:
        raise EditError(N_("A session has at most %(count)s speakers."), "speakers", count=MAX_SPEAKERS)
    track_id = str(raw.get("track_id") or "").strip() or None
    if track_id and not find_track(event, track_id):
        raise EditError(N_("Choose a track from the list."), "track_id")
    channel_id = str(raw.get("channel_id") or "").strip() or None
    if channel_id and channel_id not in found["channels"]:
        raise EditError(N_("Choose a channel from the list."), "channel_id")
    url = str(raw.get("recording_url") or "").strip()
    if url:
        url = editing.clean_url(url)
    recording_after = bool(raw.get("recording_after"))
    if recording_after and not url:
        raise EditError(N_("Enter the recording's link to show it after the session."), "recording_url")
    return {"speakers": speakers, "speaker": ", ".join(s["name"] for s in speakers)[:editing.MAX_SPEAKER],
            "track_id": track_id, "channel_id": channel_id, "chat": bool(raw.get("chat")),
            "recording_url": url, "recording_after": recording_after,
            "materials_after": bool(raw.get("materials_after")), "capacity": _clean_capacity(raw.get("capacity"))}


def _one_speaker(fields: Mapping[str, Any]) -> dict[str, Any]:
    # A form without the session fields names one speaker in `speaker`.
    name = " ".join(str(fields.get("speaker") or "").split())
    return {"speakers": [{"name": name}] if name else []}


async def add_session(db, actor: AccountDoc, event: EventDoc, fields: dict,
                      session: Mapping[str, Any] | None) -> ScheduleItemDoc:
    """A schedule item with its session fields, all validated before anything is written.

    `session` None (a form without them): the defaults, with the one speaker of `fields`.
    """
    if is_channel(event):
        raise EditError(N_("A channel's sessions are planned in its main event."))
    raw = session if session is not None else {**blank_form(), **_one_speaker(fields)}
    extra = clean_session(event, await choices(db, event), raw)
    return await editing.add_item(db, actor, event, extra=extra, **fields)


async def update_session(db, actor: AccountDoc, event: EventDoc, item_id: str, fields: dict,
                         session: Mapping[str, Any] | None) -> ScheduleItemDoc:
    """Save an item and its session fields; `session` None keeps them, but for the one speaker of `fields`."""
    if session is None:
        return await editing.update_item(db, actor, event, item_id, extra=_one_speaker(fields), **fields)
    extra = clean_session(event, await choices(db, event), session)
    return await editing.update_item(db, actor, event, item_id, extra=extra, **fields)


def _column_change(item: Mapping[str, Any], column: str | None, by: str) -> dict[str, Any]:
    # "" is the main event (no channel) or no track; None leaves the column as it is.
    if column is None:
        return {}
    return {"channel_id": column} if by == "channel" else {"track_id": column}


async def move_session(db, actor: AccountDoc, event: EventDoc, item_id: str, *, day_id: str, starts: str,
                       column: str | None = None, by: str = "channel") -> ScheduleItemDoc:
    """Move a session to another day, start time and (calendar) column, keeping its length.

    The same validated, audited update as the edit form: the item's form
    values with the day, the times and the column changed.
    """
    item = editing.find_item(event, item_id)
    if not item:
        raise EditError(N_("Unknown schedule item."))
    if by not in ("channel", "track"):
        raise EditError(N_("The request was not understood."))
    fields = editing.item_form(event, item)
    start = editing._parse_time(starts, "starts")
    fields["day_id"], fields["starts"] = day_id, start.strftime("%H:%M")
    ends_at = item.get("ends_at")
    if ends_at is not None:
        length = ends_at - item["starts_at"]
        begin = datetime.datetime.combine(datetime.date(2000, 1, 1), start)
        end = begin + length
        if end.date() != begin.date():
            raise EditError(N_("The session would end after midnight; move it earlier."), "starts")
        fields["ends"] = end.strftime("%H:%M")
    session = {**session_form(item), **_column_change(item, column, by)}
    return await update_session(db, actor, event, item_id, fields, session)


# --- what pages show ----------------------------------------------------------------------

def local_minutes(moment: datetime.datetime, timezone: str) -> int:
    local = moment.astimezone(ZoneInfo(timezone))
    return local.hour * 60 + local.minute


async def main_of(db, event: EventDoc) -> EventDoc:
    """The event whose programme holds this event's sessions: its main event for a channel."""
    if is_channel(event):
        parent = await model.get_event(db, event["parent_id"])
        if parent is not None:
            return parent
    return event


def sessions_in(main: EventDoc, event: EventDoc) -> list[ScheduleItemDoc]:
    """The sessions that run in `event`: a channel's carry its id, the main event's carry none."""
    wanted = str(event["_id"]) if is_channel(event) else None
    return [i for i in main["schedule"] if (i.get("channel_id") or None) == wanted]


async def running(db, event: EventDoc, now: datetime.datetime) -> list[ScheduleItemDoc]:
    """The sessions running now in this event or channel, for the live-control page."""
    main = await main_of(db, event)
    return sorted((i for i in sessions_in(main, event)
                   if i["starts_at"] <= now and not has_ended(i, now)), key=lambda i: i["starts_at"])
