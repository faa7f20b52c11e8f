"""What a viewer sees of events: their list of events and one event's page.

Everything here is computed from the stored documents with the reads in
`events.model`; what a viewer may do is `access.rules`; handlers render.  Texts are picked
for the viewer's language with the event's default language as fallback.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from access import roles as R
from access import rules
from accounts.users import AccountDoc
from core.clock import utcnow
from core.i18n import text_for
from events import model, sessions
from events.model import EventDoc, ScheduleItemDoc, SpaceDoc


def path(space: SpaceDoc, event: EventDoc) -> str:
    return f"/e/{space['slug']}/{event['slug']}"


async def path_by_id(db, event_id) -> str | None:
    event = await model.get_event(db, event_id) if event_id else None
    space = await model.get_space(db, event["space_id"]) if event else None
    return path(space, event) if space and event else None


def text(event: EventDoc, values: dict | None, viewer_locale: str) -> str:
    locale = model.locale_for(event, viewer_locale)
    return text_for(values, locale, (event["default_locale"],))


# --- the list of my events ---------------------------------------------------

async def visible_events(db, user: AccountDoc, skip: int, limit: int) -> tuple[list[dict], int]:
    """Events the user belongs to (directly or through a space); all for platform admins.

    Returns (items, total); each item has the event, its space, its path and
    what the viewer may do there.
    """
    memberships = await R.scopes_of(db, user["_id"])
    if user.get("platform_admin"):
        query: dict = {}
    else:
        event_ids = [m["scope_id"] for m in memberships if m["scope"] == "event"]
        space_ids = [m["scope_id"] for m in memberships if m["scope"] == "space"]
        if not event_ids and not space_ids:
            return [], 0
        query = {"$or": [{"_id": {"$in": event_ids}}, {"space_id": {"$in": space_ids}}]}
    # Channels are reached from their main event's page, not listed by themselves.
    query = {**query, **model.MAIN_EVENTS}
    total = await db.events.count_documents(query)
    events = await db.events.find(query).sort([("created_at", -1), ("_id", -1)]) \
        .skip(skip).limit(limit).to_list(None)
    spaces = {s["_id"]: s for s in await db.spaces.find(
        {"_id": {"$in": list({e["space_id"] for e in events})}}).to_list(None)}
    items = []
    for event in events:
        space = spaces.get(event["space_id"])
        if not space:
            continue
        roles: dict[str, R.HeldRole] = {m["role"]: m for m in memberships
                                        if m["scope_id"] in (event["_id"], space["_id"])}
        if user.get("platform_admin"):
            roles[R.PLATFORM_ADMIN] = {"role": R.PLATFORM_ADMIN, "locales": []}
        items.append({"event": event, "space": space, "path": path(space, event),
                      "access": rules.page_access(roles)})
    return items, total


def summary(event: EventDoc, viewer_locale: str, now: datetime.datetime | None = None) -> dict:
    """Title and gate status for a list entry."""
    start = event["gate"].get("official_start")
    return {
        "title": text(event, event["title"], viewer_locale),
        "open": model.gate_open(event, now),
        "official_start": start,
        "local_start": local(start, event["timezone"]),
    }


# --- one event's page -----------------------------------------------------------

def countdown(event: EventDoc, viewer_locale: str, now: datetime.datetime | None = None) -> dict:
    """The page behind a closed gate."""
    now = now or utcnow()
    start = event["gate"].get("official_start")
    upcoming = bool(start and start > now)
    return {
        "title": text(event, event["title"], viewer_locale),
        "official_start": start,
        "local_start": local(start, event["timezone"]),
        # Only a future start counts down: the script reloads at zero, and a
        # gate shut by hand after the start must not reload forever.
        "countdown_iso": _iso(start) if start and upcoming else None,
        "official_start_iso": _iso(start) if start else None,
        "timezone": event["timezone"],
    }


def page(event: EventDoc, viewer_locale: str, may_see: Callable[[Any], bool] | None = None,
         main: EventDoc | None = None, track: str | None = None,
         now: datetime.datetime | None = None, recordings: Callable[[Any], bool] | None = None) -> dict:
    """Everything the event page shows, for one viewer's language.

    `may_see`: whether this viewer may see a session (`events.privacy.session_filter`);
    the schedule leaves out the others.
    `main`: the event holding the programme (a channel's main event; the
    event itself by default): the sessions shown are those running in
    `event` (`events.sessions.sessions_in`), or all of them on a main event.
    `track`: only that track's sessions.
    `recordings`: whether this viewer sees a session's recording, by its id
    (`access.rules.may_watch_recording`: their ticket's); None: everyone who sees the session.
    """
    now = now or utcnow()
    main = main or event
    locale = model.locale_for(event, viewer_locale)
    default = event["default_locale"]

    b = event["broadcast"]
    sources = b.get("sources") or {}
    source = sources.get(locale) or sources.get(default)
    broadcast = {"on": bool(b.get("on")), "source": source if source and source.get("embed") else None}

    s = event["slides"]
    number, slide = model.current_slide(event, locale)
    deck_locale = locale if s["decks"].get(locale) else default
    slides = {"visible": bool(s.get("visible")), "number": number, "slide": slide,
              "total": len(model.deck(event, locale)), "locale": deck_locale}

    enabled = model.enabled_days(event)
    current_day = enabled[-1] if enabled else None
    shown = sessions.sessions_in(main, event) if sessions.is_channel(event) else list(main["schedule"])
    track = track if sessions.find_track(main, track) else None  # an unknown track filters nothing
    if track:
        shown = [i for i in shown if i.get("track_id") == track]
    schedule = []
    for day in enabled:
        items = sorted((i for i in shown if i.get("day_id") == day["id"] and (may_see is None or may_see(i))),
                       key=lambda i: i["starts_at"])
        schedule.append({
            "day": day, "date": _date(day.get("date")), "title": text(event, day.get("title"), viewer_locale),
            "sessions": [{"id": i.get("id", ""), "starts_at": i["starts_at"], "ends_at": i.get("ends_at"),
                          "title": text(event, i.get("title"), viewer_locale),
                          "speaker": i.get("speaker", ""),
                          **_session_extras(main, i, viewer_locale, now, recordings)} for i in items],
        })

    materials = [{"title": text(event, m.get("title"), viewer_locale) or m.get("url", ""),
                  "url": m.get("url") if _web_url(m.get("url")) else None}
                 for m in main["materials"]]

    return {
        "locale": locale,
        "title": text(event, event["title"], viewer_locale),
        "description": text(event, event.get("description"), viewer_locale),
        "timezone": event["timezone"],
        "broadcast": broadcast,
        "slides": slides,
        "current_day": ({"day": current_day, "date": _date(current_day.get("date")),
                         "title": text(event, current_day.get("title"), viewer_locale)}
                        if current_day else None),
        "schedule": schedule,
        "materials": materials,
        "materials_shown": sessions.materials_shown(main, now),
        "tracks": [{"id": t["id"], "title": text(main, t["title"], viewer_locale), "colour": t["colour"]}
                   for t in sessions.tracks_of(main)],
        "track": track,
        "is_channel": sessions.is_channel(event),
        "state_version": event.get("state_version", 0),
    }


def _session_extras(main: EventDoc, item: ScheduleItemDoc, viewer_locale: str,
                    now: datetime.datetime, recordings: Callable[[Any], bool] | None = None) -> dict:
    """What the schedule shows of a session beyond its time and title (`events.sessions`)."""
    track = sessions.find_track(main, item.get("track_id"))
    available = sessions.availability(item, now)
    if recordings is not None and not recordings(item.get("id")):
        available = {**available, "recording_url": None}
    return {"speakers": [s["name"] for s in sessions.speakers_of(item)],
            "track": {"id": track["id"], "title": text(main, track["title"], viewer_locale),
                      "colour": track["colour"]} if track else None,
            "channel_id": item.get("channel_id") or None,
            "chat": bool(item.get("chat", True)),
            "ended": available["ended"], "recording_url": available["recording_url"]}


def banner(event: EventDoc, now: datetime.datetime | None = None) -> dict:
    """The live state banner of the event page, as first rendered.

    One message at a time, the most useful first: LIVE while the gate is
    open and the broadcast plays (whatever the clock says: an admin may open
    early), else the countdown before the official start, then "no day is
    open" (the day's programme is over), then "the broadcast is paused".
    No banner only for staff looking behind a closed gate at a running
    broadcast (the page says so itself).  `viewers`: whether the LIVE banner
    shows how many watch (a choice of the event's staff).
    static/js/banner.js applies the same rule to every `state` frame.
    """
    now = now or utcnow()
    start = event["gate"].get("official_start")
    on = bool(event["broadcast"].get("on"))
    if on and model.gate_open(event, now):
        kind = "live"
    elif start and start > now:
        kind = "countdown"
    elif not model.enabled_days(event):
        kind = "no_day"
    elif not on:
        kind = "paused"
    else:
        kind = None
    return {"kind": kind, "official_start": _iso(start) if start else None,
            "local_start": local(start, event["timezone"]), "viewers": model.viewers_shown(event)}


def local(moment: datetime.datetime | None, timezone: str) -> datetime.datetime | None:
    """The moment on the event's clock, so its date is the event's date."""
    return moment.astimezone(ZoneInfo(timezone)) if moment else None


def _iso(moment: datetime.datetime) -> str:
    moment = moment.astimezone(datetime.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def _date(value: str | None) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _web_url(url: str | None) -> bool:
    # Materials are typed by staff, but a javascript: link would still run in
    # every attendee's session: only http(s) becomes a link.
    if not url:
        return False
    u = urlparse(url)
    return u.scheme in ("http", "https") and bool(u.netloc)


def live_state(event: EventDoc, viewer_locale: str, now: datetime.datetime | None = None) -> dict:
    """The event's live state for one language, as sent over the WebSocket (JSON-safe)."""
    p = page(event, viewer_locale)
    start = event["gate"].get("official_start")
    source = p["broadcast"]["source"]
    s = p["slides"]
    day = p["current_day"]
    return {
        "locale": p["locale"],
        "gate": {"open": model.gate_open(event, now), "mode": event["gate"]["mode"],
                 "official_start": _iso(start) if start else None},
        "broadcast": {"on": p["broadcast"]["on"],
                      "kind": source["kind"] if source else None,
                      "embed": source["embed"] if source else None},
        "slides": {"visible": s["visible"], "number": s["number"], "total": s["total"],
                   "locale": s["locale"],
                   "media_id": s["slide"]["media_id"] if s["slide"] else None,
                   "url": f"/media/{s['slide']['media_id']}" if s["slide"] else None},
        "day": ({"id": day["day"]["id"], "title": day["title"], "date": day["day"].get("date")}
                if day else None),
        "enabled_days": [d["id"] for d in model.enabled_days(event)],
        "viewers": {"shown": model.viewers_shown(event)},
        "reactions": {"on": model.reactions_on(event)},
    }


def waiting_state(event: EventDoc, now: datetime.datetime | None = None) -> dict:
    """What a connection waiting behind the closed gate learns: flags only.

    Nothing the countdown page would not show before the start (no slides,
    no broadcast source, no day titles): whether the gate is open (the page
    then goes to the event), the official start, and whether the broadcast
    is on and a day is open.
    """
    start = event["gate"].get("official_start")
    return {
        "waiting": True,
        "gate": {"open": model.gate_open(event, now), "mode": event["gate"]["mode"],
                 "official_start": _iso(start) if start else None},
        "broadcast": {"on": bool(event["broadcast"].get("on"))},
        "day_open": bool(model.enabled_days(event)),
    }
