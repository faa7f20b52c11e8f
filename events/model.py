"""Spaces and events as stored documents, and the reads every page needs.

An event document carries everything that describes it: locales and
per-locale texts, days, broadcast, gate, slides, schedule and materials.
`state_version` grows by one with every change to what the live state shows
(a control action, a day added or removed, the languages), so a reader can
tell which of two states is newer.
"""
from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any, NotRequired, TypedDict

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access.rules import INVITATION
from accounts.users import as_id, find_by_ids
from core.clock import utcnow
from core.i18n import LOCALES

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
GATE_AUTO, GATE_OPEN, GATE_CLOSED = "auto", "open", "closed"
MAX_TITLE = 200
MAX_TEXT = 20000


# The event document as other modules read it.  Every key is written when the
# event is created (`blank_event`); `banner` came later, so older documents
# may lack it.


class GateDoc(TypedDict):
    mode: str  # GATE_AUTO, GATE_OPEN or GATE_CLOSED
    official_start: datetime.datetime | None


class SourceDoc(TypedDict):
    """One language's broadcast source, as `events.broadcast.parse` makes it."""
    kind: str
    url: str
    embed: str


class BroadcastDoc(TypedDict):
    on: bool
    sources: dict[str, SourceDoc | None]  # locale -> source; None once cleared


class SlideDoc(TypedDict):
    media_id: str  # media.image_store's id
    name: str


class SlidesDoc(TypedDict):
    visible: bool
    index: int  # 0-based, shared by every locale's deck
    decks: dict[str, list[SlideDoc]]


class BannerDoc(TypedDict, total=False):
    viewers: bool


class DayDoc(TypedDict):
    id: str
    date: str  # ISO date
    title: dict[str, str]
    enabled: bool


class ScheduleItemFields(TypedDict):
    """A schedule item as its form describes it; stored with its id (`ScheduleItemDoc`)."""
    day_id: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime | None
    title: dict[str, str]
    speaker: str
    tags: NotRequired[list[str]]  # `events.tags`; absent when the item has none


class SpeakerDoc(TypedDict):
    """One speaker of a session: a name, optionally an account holding the speaker role."""
    name: str
    user_id: NotRequired[ObjectId]


class ScheduleItemDoc(ScheduleItemFields):
    id: str
    privacy: NotRequired[PrivacyDoc]  # absent: as the event (`events.privacy`)
    # Sessions (`events.sessions`); items stored before them lack these keys
    # and read with the defaults of `events.sessions.session_of`.
    speakers: NotRequired[list[SpeakerDoc]]
    track_id: NotRequired[str | None]
    channel_id: NotRequired[str | None]       # a channel's event id, as a string
    chat: NotRequired[bool]                   # the channel's chat is meant to be open during it
    recording_url: NotRequired[str]
    recording_after: NotRequired[bool]        # the recording is shown once it has ended
    materials_after: NotRequired[bool]        # materials stay shown to attendees once it has ended
    capacity: NotRequired[int | None]         # seats (`registration.session_seats`); None: no limit


class TrackDoc(TypedDict):
    id: str
    title: dict[str, str]
    colour: str  # one of events.sessions.PALETTE


class MaterialDoc(TypedDict):
    id: str
    title: dict[str, str]
    url: str


# Events written before privacy existed were reached only by the people
# staff registered: by invitation, in these terms.
DEFAULT_PRIVACY = INVITATION


class PrivacyDoc(TypedDict):
    """Who may see an event (or one of its sessions) and register for it.

    `level` is one of PRIVACY_LEVELS; `emails` is the closed list (normalised
    addresses) that CLOSED_LIST admits.
    """
    level: str  # one of access.rules.PRIVACY_LEVELS
    emails: list[str]


class RegistrationSettingsDoc(TypedDict):
    """How people register themselves (`registration.model` reads it with defaults)."""
    open: bool                # self-registration accepted now
    capacity: int | None      # places; None for no limit
    approval: bool            # a registration waits for staff approval
    offer_hours: int          # how long a place offered from the waiting list is held


class EventDoc(TypedDict):
    _id: ObjectId
    space_id: ObjectId
    slug: str
    locales: list[str]
    default_locale: str
    timezone: str
    title: dict[str, str]
    description: dict[str, str]
    days: list[DayDoc]
    broadcast: BroadcastDoc
    gate: GateDoc
    slides: SlidesDoc
    banner: NotRequired[BannerDoc]
    schedule: list[ScheduleItemDoc]
    materials: list[MaterialDoc]
    privacy: NotRequired[PrivacyDoc]  # absent: DEFAULT_PRIVACY
    tags: NotRequired[list[str]]
    registration: NotRequired[RegistrationSettingsDoc]
    tracks: NotRequired[list[TrackDoc]]
    # A channel: a live room of the main event `parent_id` (its own broadcast,
    # slides and chat); its sessions are the main event's with its channel_id.
    parent_id: NotRequired[ObjectId]
    # The event (and each of its channels) sells tickets: only a registration with a ticket
    # type admits (`orders.ticket_types`, `access.roles.with_ticket`).
    ticketed: NotRequired[bool]
    # Staff turned the live page's reactions off (absent: on; `reactions_on`).
    reactions_off: NotRequired[bool]
    state_version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


# The filter of lists that show events by themselves (catalogues, "my events"):
# channels are listed on their main event's page only.
MAIN_EVENTS: dict[str, Any] = {"parent_id": {"$exists": False}}


class SpaceDoc(TypedDict):
    _id: ObjectId
    slug: str
    name: str
    created_at: datetime.datetime


class DuplicateSlug(Exception):
    pass


def new_item_id() -> str:
    return secrets.token_hex(4)


def valid_slug(slug: str) -> bool:
    return bool(SLUG_RE.match(slug or ""))


async def create_space(db, *, slug: str, name: str) -> SpaceDoc:
    space: SpaceDoc = {"_id": ObjectId(), "slug": slug, "name": name[:MAX_TITLE], "created_at": utcnow()}
    try:
        await db.spaces.insert_one(space)
    except DuplicateKeyError:
        raise DuplicateSlug() from None
    return space


def blank_event(space_id, slug: str, locales: list[str], default_locale: str,
                title: dict[str, str], timezone: str = "UTC") -> EventDoc:
    return {
        "_id": ObjectId(), "space_id": space_id, "slug": slug,
        "locales": [c for c in LOCALES if c in locales],
        "default_locale": default_locale, "timezone": timezone,
        "title": title, "description": {},
        "days": [],
        "broadcast": {"on": False, "sources": {}},
        "gate": {"mode": GATE_AUTO, "official_start": None},
        "slides": {"visible": True, "index": 0, "decks": {}},
        "banner": {"viewers": False},
        "schedule": [], "materials": [],
        "state_version": 0, "created_at": utcnow(), "updated_at": utcnow(),
    }


async def create_event(db, event: EventDoc) -> EventDoc:
    try:
        await db.events.insert_one(event)
    except DuplicateKeyError:
        raise DuplicateSlug() from None
    return event


async def get_space(db, space_id: object) -> SpaceDoc | None:
    oid = as_id(space_id)
    return await db.spaces.find_one({"_id": oid}) if oid else None


async def get_event(db, event_id: object) -> EventDoc | None:
    oid = as_id(event_id)
    return await db.events.find_one({"_id": oid}) if oid else None


async def get_events(db, event_ids: Iterable[object]) -> dict[Any, EventDoc]:
    """Events by id, read at once: {id as given: document} for those that exist."""
    return await find_by_ids(db.events, event_ids)


async def get_event_by_slugs(db, space_slug: str, event_slug: str
                             ) -> tuple[SpaceDoc | None, EventDoc | None]:
    space = await db.spaces.find_one({"slug": space_slug})
    if not space:
        return None, None
    event = await db.events.find_one({"space_id": space["_id"], "slug": event_slug})
    return space, event


def locale_for(event: EventDoc, wanted: str) -> str:
    """The event locale a viewer of `wanted` sees: theirs, else the event default."""
    return wanted if wanted in event["locales"] else event["default_locale"]


def deck(event: EventDoc, locale: str) -> list[SlideDoc]:
    decks = event["slides"]["decks"]
    return decks.get(locale) or decks.get(event["default_locale"]) or []


def slide_count(event: EventDoc) -> int:
    """The shared index runs over the longest deck; shorter decks hold their last slide."""
    return max((len(d) for d in event["slides"]["decks"].values()), default=0)


def current_slide(event: EventDoc, locale: str) -> tuple[int, SlideDoc | None]:
    """(1-based number shown, slide) of the viewer's locale, or (0, None)."""
    slides = deck(event, locale)
    if not slides:
        return 0, None
    i = min(event["slides"]["index"], len(slides) - 1)
    return i + 1, slides[i]


def gate_open(event: EventDoc, now: datetime.datetime | None = None) -> bool:
    gate = event["gate"]
    if gate["mode"] == GATE_OPEN:
        return True
    if gate["mode"] == GATE_CLOSED:
        return False
    start = gate.get("official_start")
    return bool(start and (now or utcnow()) >= start)


def privacy_of(event: EventDoc) -> PrivacyDoc:
    """The event's privacy, with the default for events stored before it existed."""
    found: dict[str, Any] = dict(event.get("privacy") or {})
    return {"level": found.get("level") or DEFAULT_PRIVACY, "emails": list(found.get("emails") or [])}


def viewers_shown(event: EventDoc) -> bool:
    """Whether attendees see how many watch (staff switch it on the live-control page)."""
    return bool((event.get("banner") or {}).get("viewers"))


def reactions_on(event: EventDoc) -> bool:
    """Whether viewers may send reactions (staff switch them off on the live-control page)."""
    return not event.get("reactions_off")


def enabled_days(event: EventDoc) -> list[DayDoc]:
    return [d for d in event["days"] if d.get("enabled")]


def find_day(event: EventDoc, day_id: str | None) -> DayDoc | None:
    return next((d for d in event["days"] if d["id"] == day_id), None)


class EventMissing(Exception):
    """The event was deleted or never existed."""


class StateConflict(Exception):
    """Other writers changed the event between every read and write we tried."""


async def versioned_update(db, event_id: ObjectId, plan: Callable[[EventDoc], dict[str, Any]],
                           retries: int = 5, match: dict[str, Any] | None = None
                           ) -> tuple[EventDoc, EventDoc]:
    """Persist `plan(event) -> $set changes`, guarded by `state_version`.

    Two admins clicking at once both read version v; only one write matches
    v, the other re-reads and plans again, so no flip is lost.  Returns the
    event before and after the change.  `plan` may raise to refuse.
    `match` narrows the write to an element the changes address by id
    (`{"days.id": day_id}` for `days.$.enabled`).
    """
    for _ in range(retries):
        event = await db.events.find_one({"_id": event_id})
        if event is None:
            raise EventMissing()
        changes = plan(event)
        result = await db.events.update_one(
            {"_id": event_id, "state_version": event.get("state_version", 0), **(match or {})},
            {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"state_version": 1}},
        )
        if result.modified_count == 1:
            return event, await db.events.find_one({"_id": event_id})
    raise StateConflict()
