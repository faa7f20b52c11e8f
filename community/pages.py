"""Community pages of one event, and the discussion room each one may have.

A page is `{event_id, slug, title{locale}, body{locale}, published, position,
discussion, created_at, updated_at}`: the slug is unique within the event,
titles and bodies are plain text per event language, `position` orders the
list, and `discussion` is "open" (members read and write), "closed" (read
only) or "off" (no room at all).  Attendees see only published pages.

The discussion is a chat room like any other (chat.room_names
`community_room`): one room per page for every language, stored by
chat.store, so history, resume, client ids, deletion and sanctions apply.
Its room exists for members only while the page is published and its
discussion is not off; `discussion_state` is what the live side checks.

Every change is validated in full before anything is written (a refused
change raises `EditError` and leaves the database as it was) and is
recorded in the audit log with the page before and after.  Deleting a page
deletes its discussion too (messages, room settings, staff read positions):
the room is named after the page id, which is never reused, so the stream
could not be reached again; the audit entry keeps the page and the number
of messages removed.

A change that affects a page's discussion room is then announced:
`announce(before, after)`, the live side's hook (either page is None when it
was created or deleted), tells the people in the room, so open pages turn
read-only or stop at once.  Without a hook, pages show the change on their
next load.
"""
from __future__ import annotations

import logging
from typing import TypeGuard

from pymongo.errors import DuplicateKeyError

from access import audit
from accounts.users import AccountDoc, as_id
from chat import room_names
from core.clock import utcnow
from core.i18n import N_
from events import model
from events.editing import EditError, clean_slug, clean_texts
from events.model import EventDoc

log = logging.getLogger(__name__)

OPEN, CLOSED, OFF = "open", "closed", "off"
DISCUSSIONS = (OPEN, CLOSED, OFF)
MAX_TITLE = model.MAX_TITLE
MAX_BODY = model.MAX_TEXT
MAX_PAGES = 50   # per event: one list page in the admin, a short menu for attendees
UP, DOWN = "up", "down"

_SNAPSHOT = ("slug", "title", "body", "published", "position", "discussion")


def snapshot(page: dict) -> dict:
    return {k: page.get(k) for k in _SNAPSHOT}


def room(page: dict) -> str:
    return room_names.community_room(page["event_id"], page["_id"])


def live(page: dict | None) -> TypeGuard[dict]:
    """Whether members may enter the page's discussion room."""
    return bool(page and page.get("published") and page.get("discussion") in (OPEN, CLOSED))


# --- reading ------------------------------------------------------------------

async def list_pages(db, event_id, published_only: bool = False) -> list[dict]:
    query: dict = {"event_id": event_id}
    if published_only:
        query["published"] = True
    return await db.community_pages.find(query).sort([("position", 1), ("_id", 1)]) \
        .limit(MAX_PAGES).to_list(None)


async def get_page(db, event_id, page_id) -> dict | None:
    oid = as_id(page_id)
    return await db.community_pages.find_one({"_id": oid, "event_id": event_id}) if oid else None


async def published_page(db, event_id, slug: str) -> dict | None:
    if not model.valid_slug(slug or ""):
        return None
    return await db.community_pages.find_one({"event_id": event_id, "slug": slug, "published": True})


async def has_published(db, event_id) -> bool:
    return await db.community_pages.find_one({"event_id": event_id, "published": True}, {"_id": 1}) is not None


async def discussion_state(db, event_id, page_id) -> str | None:
    """"open" or "closed" for a live discussion; None when there is no room (missing, unpublished, off)."""
    oid = as_id(page_id)
    page = await db.community_pages.find_one({"_id": oid, "event_id": as_id(event_id)},
                                             {"published": 1, "discussion": 1}) if oid else None
    return page["discussion"] if live(page) else None


async def discussion_rooms(db, event_id) -> list[str]:
    """Room names of the event's live discussions (for the staff console)."""
    docs = await db.community_pages.find(
        {"event_id": as_id(event_id), "published": True, "discussion": {"$in": [OPEN, CLOSED]}},
        {"event_id": 1}).limit(MAX_PAGES).to_list(None)
    return [room(d) for d in docs]


# --- validation ---------------------------------------------------------------

def clean_discussion(mode: str) -> str:
    if mode not in DISCUSSIONS:
        raise EditError(N_("Choose whether the page has a discussion."), "discussion")
    return mode


def clean(event: EventDoc, *, slug: str, title: dict, body: dict, discussion: str) -> dict:
    return {
        "slug": clean_slug(slug),
        "title": clean_texts(title, event["locales"], MAX_TITLE, "title", event["default_locale"]),
        "body": clean_texts(body, event["locales"], MAX_BODY, "body"),
        "discussion": clean_discussion(discussion),
    }


def _slug_taken() -> EditError:
    return EditError(N_("Another page of this event already uses this address name."), "slug")


# --- writing ------------------------------------------------------------------

async def _tell(announce, before: dict | None, after: dict | None) -> None:
    if announce is None:
        return
    try:
        await announce(before, after)
    except Exception:
        # The change is saved and audited; a failed notice must not turn it
        # into an error page (the room's members see it on their next join).
        page = after or before  # one of them at least: a change has a side that exists
        log.exception("community page change not announced",
                      extra={"page_id": str(page["_id"]) if page else None})


async def create(db, actor: AccountDoc, event: EventDoc, *, slug: str, title: dict, body: dict,
                 discussion: str, published: bool = False, announce=None) -> dict:
    fields = clean(event, slug=slug, title=title, body=body, discussion=discussion)
    if await db.community_pages.count_documents({"event_id": event["_id"]}) >= MAX_PAGES:
        raise EditError(N_("An event has at most %(count)s community pages."), count=MAX_PAGES)
    if await db.community_pages.find_one({"event_id": event["_id"], "slug": fields["slug"]}, {"_id": 1}):
        raise _slug_taken()
    last = await db.community_pages.find({"event_id": event["_id"]}, {"position": 1}) \
        .sort("position", -1).limit(1).to_list(None)
    now = utcnow()
    page = {"event_id": event["_id"], **fields, "published": bool(published),
            "position": (last[0]["position"] + 1) if last else 1, "created_at": now, "updated_at": now}
    try:
        await db.community_pages.insert_one(page)
    except DuplicateKeyError:
        raise _slug_taken() from None
    await audit.record(db, actor=actor, action="community_page_create", event=event,
                       params={"page_id": str(page["_id"])}, before=None, after=snapshot(page))
    await _tell(announce, None, page)
    return page


async def _write(db, actor: AccountDoc, event: EventDoc, page: dict, changes: dict, action: str,
                 announce=None) -> dict:
    after = {**page, **changes}
    if snapshot(after) == snapshot(page):
        return page
    changes = {**changes, "updated_at": utcnow()}
    try:
        result = await db.community_pages.update_one({"_id": page["_id"], "event_id": event["_id"]},
                                                     {"$set": changes})
    except DuplicateKeyError:
        raise _slug_taken() from None
    if result.matched_count != 1:
        raise EditError(N_("This page does not exist."))
    after = {**page, **changes}
    await audit.record(db, actor=actor, action=action, event=event, params={"page_id": str(page["_id"])},
                       before=snapshot(page), after=snapshot(after))
    await _tell(announce, page, after)
    return after


async def update(db, actor: AccountDoc, event: EventDoc, page: dict, *, slug: str, title: dict, body: dict,
                 discussion: str, announce=None) -> dict:
    fields = clean(event, slug=slug, title=title, body=body, discussion=discussion)
    if fields["slug"] != page["slug"] and await db.community_pages.find_one(
            {"event_id": event["_id"], "slug": fields["slug"]}, {"_id": 1}):
        raise _slug_taken()
    return await _write(db, actor, event, page, fields, "community_page_update", announce)


async def set_published(db, actor: AccountDoc, event: EventDoc, page: dict, published: bool, announce=None) -> dict:
    return await _write(db, actor, event, page, {"published": bool(published)},
                        "community_page_publish" if published else "community_page_unpublish", announce)


async def set_discussion(db, actor: AccountDoc, event: EventDoc, page: dict, mode: str, announce=None) -> dict:
    return await _write(db, actor, event, page, {"discussion": clean_discussion(mode)},
                        "community_page_discussion", announce)


async def move(db, actor: AccountDoc, event: EventDoc, page: dict, direction: str) -> dict:
    """Swap the page with its neighbour above (`up`) or below (`down`); at an end nothing changes."""
    if direction not in (UP, DOWN):
        raise EditError(N_("Unknown direction."))
    up = direction == UP
    found = await db.community_pages.find(
        {"event_id": event["_id"], "position": {"$lt" if up else "$gt": page["position"]}}) \
        .sort("position", -1 if up else 1).limit(1).to_list(None)
    if not found:
        return page
    other = found[0]
    await db.community_pages.update_one({"_id": page["_id"]}, {"$set": {"position": other["position"]}})
    await db.community_pages.update_one({"_id": other["_id"]}, {"$set": {"position": page["position"]}})
    await audit.record(db, actor=actor, action="community_page_move", event=event,
                       params={"page_id": str(page["_id"]), "direction": direction},
                       before={"position": page["position"]}, after={"position": other["position"]})
    return {**page, "position": other["position"]}


async def delete(db, actor: AccountDoc, event: EventDoc, page: dict, announce=None) -> int:
    """Delete the page and its discussion; returns how many messages went with it."""
    result = await db.community_pages.delete_one({"_id": page["_id"], "event_id": event["_id"]})
    if result.deleted_count != 1:
        raise EditError(N_("This page does not exist."))
    name = room(page)
    removed = await db.messages.count_documents({"room": name, "kind": "text"})
    await db.messages.delete_many({"room": name})
    await db.rooms.delete_one({"_id": name})
    await db.reads.delete_many({"room": name})
    await audit.record(db, actor=actor, action="community_page_delete", event=event,
                       params={"page_id": str(page["_id"]), "messages": removed},
                       before=snapshot(page), after=None)
    await _tell(announce, page, None)
    return removed
