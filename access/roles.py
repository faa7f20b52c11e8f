"""Roles, scoped to the whole platform, one organiser space or one event.

A platform admin is a flag on the user.  Every other role is a membership
document: (user, scope, role), where the scope is a space or an event, and a
commentator's membership also names the languages they serve.  Attendee
registrations are memberships too, with the attendee's email and name copied
in so staff can search and page through them without a join.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import grants as G
from core.clock import utcnow
from core.i18n import N_

PLATFORM_ADMIN = "platform_admin"
SPACE_ADMIN = "space_admin"
EVENT_ADMIN = "event_admin"
EVENT_MANAGER = "event_manager"
MODERATOR = "moderator"
COMMENTATOR = "commentator"
SPEAKER = "speaker"
ATTENDEE = "attendee"

SPACE_ROLES = (SPACE_ADMIN,)
EVENT_ROLES = (EVENT_ADMIN, EVENT_MANAGER, MODERATOR, COMMENTATOR, SPEAKER, ATTENDEE)
STAFF_EVENT_ROLES = (EVENT_ADMIN, EVENT_MANAGER, MODERATOR, COMMENTATOR, SPEAKER)
ALL_ROLES = (PLATFORM_ADMIN, SPACE_ADMIN) + EVENT_ROLES

ROLE_LABELS = {
    PLATFORM_ADMIN: N_("Platform admin"),
    SPACE_ADMIN: N_("Space admin"),
    EVENT_ADMIN: N_("Event admin"),
    EVENT_MANAGER: N_("Event manager"),
    MODERATOR: N_("Moderator"),
    COMMENTATOR: N_("Commentator"),
    SPEAKER: N_("Speaker"),
    ATTENDEE: N_("Attendee"),
}


class MembershipDoc(TypedDict):
    """A role held in a space or an event; an attendee's registration is one too.

    The user's email and name are copies, kept so lists of members page and
    search without a join.  `mailed_at` and `link_used_at` belong to attendee
    registrations (the last sign-in mail, the first use of its link).
    """
    _id: NotRequired[ObjectId]  # given by the database on insert
    user_id: ObjectId
    scope: str  # "space" or "event"
    scope_id: ObjectId
    role: str
    locales: list[str]  # the languages a commentator serves
    email: str
    name: str
    created_at: datetime.datetime
    mailed_at: datetime.datetime | None
    link_used_at: NotRequired[datetime.datetime]
    # An attendee's registration (`registration.model`): absent state means
    # registered by staff, before self-registration existed.
    state: NotRequired[str]
    state_at: NotRequired[datetime.datetime]
    source: NotRequired[str]
    answers: NotRequired[dict[str, Any]]
    form_version: NotRequired[int]
    position: NotRequired[int]
    offer_expires_at: NotRequired[datetime.datetime | None]
    watched_at: NotRequired[datetime.datetime]  # first opening of the event page (`registration.watching`)
    # A registration bought or given as a ticket (`orders`): what it grants is its type's.
    ticket_type_id: NotRequired[ObjectId]
    order_id: NotRequired[ObjectId]
    ticket_id: NotRequired[str]
    # Never stored: `roles_in` adds the grants of a ticket holder's type (`access.grants`).
    grants: NotRequired[G.Grants]


class HeldRole(TypedDict):
    """What `roles_in` gives per role: the membership, or this for a platform admin.

    An attendee's registration of a ticket type carries its type's `grants`
    (`access.grants`); without them the attendee role is not limited.
    """
    role: str
    locales: list[str]
    grants: NotRequired[G.Grants]


# A person's roles in one event and its space: role name -> what holds it.
Roles = Mapping[str, HeldRole]


REGISTERED = "registered"


def holds(membership: Mapping[str, Any]) -> bool:
    """Whether a membership grants its role now.

    An attendee membership is a registration, and only one in state
    "registered" admits; pending, waiting, offered, cancelled and rejected
    ones are kept for the registrant lists but grant nothing.
    """
    return membership["role"] != ATTENDEE or membership.get("state", REGISTERED) == REGISTERED


class AlreadyMember(Exception):
    pass


async def grant(db, user: Mapping[str, Any], scope_kind: str, scope_id: ObjectId, role: str,
                locales: list[str] | None = None) -> MembershipDoc:
    doc: MembershipDoc = {
        "user_id": user["_id"], "scope": scope_kind, "scope_id": scope_id, "role": role,
        "locales": list(locales or []), "email": user["email"], "name": user.get("name", ""),
        "created_at": utcnow(), "mailed_at": None,
    }
    try:
        await db.memberships.insert_one(doc)
    except DuplicateKeyError:
        raise AlreadyMember() from None
    return doc


async def revoke(db, user_id: ObjectId, scope_id: ObjectId, role: str) -> bool:
    result = await db.memberships.delete_one({"user_id": user_id, "scope_id": scope_id, "role": role})
    return result.deleted_count == 1


async def ticket_grants(db, memberships: Sequence[Mapping[str, Any]]) -> dict[Any, G.Grants]:
    """The grants of the ticket types these registrations name, in one query: type id -> Grants.

    A type that no longer exists grants nothing.  Registrations without a
    ticket cost no query.
    """
    ids = {m["ticket_type_id"] for m in memberships if m["role"] == ATTENDEE and m.get("ticket_type_id")}
    if not ids:
        return {}
    found = {d["_id"]: G.of(d.get("grants"))
             async for d in db.ticket_types.find({"_id": {"$in": list(ids)}}, {"grants": 1})}
    return {i: found.get(i, G.NOTHING) for i in ids}


def with_ticket(m: Mapping[str, Any], event_id: ObjectId | None, parent_id: ObjectId | None, ticketed: bool,
                by_type: Mapping[Any, G.Grants]) -> Mapping[str, Any] | None:
    """A held membership as it applies to this event, or None when its ticket does not admit here.

    Only attendee registrations are concerned.  In an event that sells
    tickets (`ticketed`) a registration admits only with a ticket type; one
    with a type carries the type's grants, and on a channel (`parent_id`:
    the registration is the main event's) admits only when they grant that
    channel.  Everything else applies as it is.
    """
    if m["role"] != ATTENDEE:
        return m
    type_id = m.get("ticket_type_id")
    if not type_id:
        return None if ticketed else m
    grants = by_type.get(type_id, G.NOTHING)
    if parent_id is not None and m["scope_id"] == parent_id and not grants.admits_channel(event_id):
        return None
    return {**m, "grants": grants}


async def roles_in(db, user: Mapping[str, Any] | None, space_id: ObjectId | None = None,
                   event_id: ObjectId | None = None, parent_id: ObjectId | None = None,
                   ticketed: bool = False) -> dict[str, HeldRole]:
    """The user's roles that apply to an event (and its space): role -> membership.

    A channel (an event with `parent_id`) also takes every role held in its
    main event: a registration for the main event admits to its channels and
    the main event's staff are its channels' staff.  Same one query: the
    parent is one more scope in the `$in`.  `ticketed`: the event sells
    tickets, so a registration admits only with a ticket, and only to what
    its type grants (`with_ticket`; one more query, for ticket holders only).
    """
    if not user:
        return {}
    found: dict[str, HeldRole] = {}
    if user.get("platform_admin"):
        found[PLATFORM_ADMIN] = {"role": PLATFORM_ADMIN, "locales": []}
    scopes = [s for s in (space_id, parent_id, event_id) if s is not None]
    if scopes:
        held = [m async for m in db.memberships.find({"user_id": user["_id"], "scope_id": {"$in": scopes}})
                if holds(m)]
        by_type = await ticket_grants(db, held)
        for m in held:
            applied = with_ticket(m, event_id, parent_id, ticketed, by_type)
            if applied is not None:
                found[m["role"]] = applied  # type: ignore[assignment]
    return found


# (user_id, platform_admin, space_id, event_id, parent_id, ticketed): the scopes are key[2:5].
RolesKey = tuple[ObjectId, bool, ObjectId | None, ObjectId | None, ObjectId | None, bool]


def event_scopes(event: Mapping[str, Any]) -> dict[str, Any]:
    """`roles_in`'s scope arguments for an event document: its space, itself, its main event, and
    whether it sells tickets (a channel carries its main event's flag, `orders.ticket_types`)."""
    return {"space_id": event.get("space_id"), "event_id": event["_id"], "parent_id": event.get("parent_id"),
            "ticketed": bool(event.get("ticketed"))}


async def roles_in_many(db, keys: Sequence[RolesKey]) -> dict[RolesKey, dict[str, HeldRole]]:
    """`roles_in` for several (user_id, platform_admin, space_id, event_id, parent_id, ticketed) keys in
    one query (and one more for the ticket types of the registrations found).

    Memberships apply in the order they were created (by `_id`), as the
    single read applies them in storage order.
    """
    found: dict[RolesKey, dict[str, HeldRole]] = {
        key: ({PLATFORM_ADMIN: {"role": PLATFORM_ADMIN, "locales": []}} if key[1] else {}) for key in keys}
    users = list({key[0] for key in keys})
    scopes = list({scope for key in keys for scope in key[2:5] if scope is not None})
    if not users or not scopes:
        return found
    docs = await db.memberships.find({"user_id": {"$in": users}, "scope_id": {"$in": scopes}}).to_list(None)
    by_type = await ticket_grants(db, [m for m in docs if holds(m)])
    by_user: dict[ObjectId, list[MembershipDoc]] = {}
    for m in sorted(docs, key=lambda m: m["_id"]):
        by_user.setdefault(m["user_id"], []).append(m)
    for key in keys:
        for m in by_user.get(key[0], ()):
            if m["scope_id"] in key[2:5] and holds(m):
                # Shorter keys (no main event, no `ticketed`) are an event that is no channel and sells
                # no tickets.
                applied = with_ticket(m, key[3], key[4] if len(key) > 4 else None,
                                      bool(key[5:6] and key[5]), by_type)
                if applied is not None:
                    found[key][m["role"]] = applied  # type: ignore[assignment]
    return found


async def holds_staff_role(db, user: Mapping[str, Any] | None) -> bool:
    """Whether the user has any role other than attendee, anywhere."""
    if not user:
        return False
    found = await db.memberships.find_one({"user_id": user["_id"], "role": {"$ne": ATTENDEE}}, {"_id": 1})
    return found is not None


async def scopes_of(db, user_id: ObjectId) -> list[MembershipDoc]:
    return await db.memberships.find({"user_id": user_id}).to_list(None)


async def share_event(db, user_id: ObjectId, other_id: ObjectId) -> bool:
    """Whether both people hold a role in one event: both registered, or staff of it.

    What "attendees of my events" means on a profile card.  Only memberships
    that `holds` count: a pending or cancelled registration shares nothing.
    """
    fields = {"scope_id": 1, "role": 1, "state": 1}
    mine = {m["scope_id"] for m in await db.memberships.find({"user_id": user_id, "scope": "event"}, fields)
            .to_list(None) if holds(m)}
    if not mine:
        return False
    async for m in db.memberships.find({"user_id": other_id, "scope": "event", "scope_id": {"$in": list(mine)}},
                                       fields):
        if holds(m):
            return True
    return False
