"""Organiser spaces: creating and renaming them, and listing their events.

Like `events.editing`, every change is validated before it is written and
recorded in the audit log (with the space's id, as there is no event).
"""
from __future__ import annotations

from access import audit
from accounts.users import AccountDoc
from core.i18n import N_
from events import model
from events.editing import EditError, clean_slug
from events.model import SpaceDoc


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise EditError(N_("Enter a name."), "name")
    if len(name) > model.MAX_TITLE:
        raise EditError(N_("A text is too long (at most %(count)s characters)."), "name",
                        count=model.MAX_TITLE)
    return name


async def create_space(db, actor: AccountDoc, *, slug: str, name: str) -> SpaceDoc:
    slug = clean_slug(slug)
    name = clean_name(name)
    if await db.spaces.find_one({"slug": slug}, {"_id": 1}):
        raise EditError(N_("A space with this address name already exists."), "slug")
    try:
        space = await model.create_space(db, slug=slug, name=name)
    except model.DuplicateSlug:
        raise EditError(N_("A space with this address name already exists."), "slug") from None
    await audit.record(db, actor=actor, action="space_create", space_id=space["_id"],
                       params={"slug": slug}, before=None, after={"slug": slug, "name": name})
    return space


async def rename_space(db, actor: AccountDoc, space: SpaceDoc, name: str) -> SpaceDoc:
    name = clean_name(name)
    if name == space["name"]:
        return space
    await db.spaces.update_one({"_id": space["_id"]}, {"$set": {"name": name}})
    await audit.record(db, actor=actor, action="space_update", space_id=space["_id"],
                       before={"name": space["name"]}, after={"name": name})
    return {**space, "name": name}


async def events_of(db, space_id, skip: int, limit: int) -> tuple[list[dict], int]:
    # Channels are staffed from their main event's pages, not listed by themselves.
    query = {"space_id": space_id, **model.MAIN_EVENTS}
    total = await db.events.count_documents(query)
    items = await db.events.find(query).sort([("created_at", -1), ("_id", -1)]) \
        .skip(skip).limit(limit).to_list(None)
    return items, total
