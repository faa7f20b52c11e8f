"""Who works where: the staff dashboard, event staff and space admins.

Roles themselves (the membership documents and what each role may do) are
defined in `access.roles` and `access.permissions`; this module is what staff pages
do with them: list the spaces and events a person works on, grant a staff
role by email (creating the account when the address is new) and revoke it.
Every grant and revocation is validated first and written to the audit log.

A new account gets no password: its owner sets one through "Forgot your
password?", or signs in with a link staff send them.  An existing account
is never changed by a grant, and nothing a grant shows staff (the answer,
the audit entry, the staff list) tells whether the address already had an
account: the membership keeps the name entered with the grant.
"""
from __future__ import annotations

from typing import Any

from access import audit
from access import roles as R
from access.permissions import granted
from access.roles import MembershipDoc
from accounts import users
from accounts.users import AccountDoc
from core.i18n import LOCALES, N_
from core.text import strip_bidi
from events.editing import EditError
from events.model import EventDoc, SpaceDoc

EVENTS_PER_SPACE = 20
STAFF_ROLES = R.STAFF_EVENT_ROLES


class StaffError(EditError):
    """A refused grant or revocation; the message is marked for translation."""


# --- the dashboard -------------------------------------------------------------------

async def dashboard(db, user: AccountDoc, skip: int, limit: int) -> tuple[list[dict], int]:
    """The spaces the user works in, each with the events they may see.

    Platform admins get every space and event; a space admin gets the whole
    space; other staff get the events where they hold a staff role.  Returns
    (entries, total spaces); each entry has the space, its `grants`, its
    `events` (each with the event and the user's `grants` there) and how many
    more events the space has than are listed.
    """
    platform = bool(user.get("platform_admin"))
    memberships = [m for m in await R.scopes_of(db, user["_id"]) if m["role"] != R.ATTENDEE]
    admin_spaces = {m["scope_id"] for m in memberships if m["scope"] == "space"}
    event_ids = [m["scope_id"] for m in memberships if m["scope"] == "event"]
    own_events = await db.events.find({"_id": {"$in": event_ids}}, {"space_id": 1}).to_list(None) \
        if event_ids else []
    if platform:
        space_query: dict = {}
    else:
        space_ids = admin_spaces | {e["space_id"] for e in own_events}
        if not space_ids:
            return [], 0
        space_query = {"_id": {"$in": list(space_ids)}}
    total = await db.spaces.count_documents(space_query)
    spaces = await db.spaces.find(space_query).sort([("name", 1), ("_id", 1)]) \
        .skip(skip).limit(limit).to_list(None)

    def roles_for(*scope_ids) -> list[str]:
        names = [m["role"] for m in memberships if m["scope_id"] in scope_ids]
        return names + ([R.PLATFORM_ADMIN] if platform else [])

    entries = []
    for space in spaces:
        whole = platform or space["_id"] in admin_spaces
        query: dict = {"space_id": space["_id"]}
        if not whole:
            query["_id"] = {"$in": event_ids}
        count = await db.events.count_documents(query)
        events = await db.events.find(query).sort([("created_at", -1), ("_id", -1)]) \
            .limit(EVENTS_PER_SPACE).to_list(None)
        entries.append({
            "space": space,
            "grants": granted(roles_for(space["_id"])),
            "events": [{"event": e, "grants": granted(roles_for(space["_id"], e["_id"]))}
                       for e in events],
            "more": count - len(events),
        })
    return entries, total


# --- people ---------------------------------------------------------------------------

def clean_person(email: str, name: str) -> tuple[str, str]:
    norm = users.normalize_email(email)
    if not norm:
        raise StaffError(N_("Enter a valid email address."), "email")
    name = " ".join(strip_bidi(name or "").split())
    if len(name) > users.MAX_NAME_LENGTH:
        raise StaffError(N_("The name is too long."), "name")
    return norm, name


async def _account(db, email: str, name: str, locale: str) -> tuple[AccountDoc, bool]:
    """(user, created): the account for `email`, made without a password if new."""
    user = await users.by_email(db, email)
    if user:
        return user, False
    try:
        return await users.create(db, email=email, name=name,
                                  locale=locale if locale in LOCALES else "en"), True
    except users.DuplicateUser:
        # Someone made the account a moment ago: use theirs.
        user = await users.by_email(db, email)
        if not user:
            raise
        return user, False


def _as_entered(user: AccountDoc, email: str, name: str) -> dict[str, Any]:
    """What a membership records of its person: the address and name staff entered."""
    return {"_id": user["_id"], "email": email, "name": name}


def membership_snapshot(m: MembershipDoc) -> dict[str, Any]:
    # No user id: an ObjectId carries its creation time, which would tell
    # staff how old the account is.
    return {"email": m["email"], "name": m.get("name", ""),
            "role": m["role"], "locales": list(m.get("locales") or [])}


# --- event staff -----------------------------------------------------------------------

def clean_role(event: EventDoc, role: str, locales) -> list[str]:
    """The locales stored with the role: a commentator's languages, else none."""
    if role not in STAFF_ROLES:
        raise StaffError(N_("Choose a role."), "role")
    chosen = list(dict.fromkeys(locales or []))
    if any(code not in event["locales"] for code in chosen):
        raise StaffError(N_("This event has no such language."), "locales")
    if role != R.COMMENTATOR:
        return []
    if not chosen:
        raise StaffError(N_("Choose at least one language for a commentator."), "locales")
    return [code for code in event["locales"] if code in chosen]


async def event_staff(db, event_id, skip: int, limit: int) -> tuple[list[MembershipDoc], int]:
    query = {"scope_id": event_id, "role": {"$in": list(STAFF_ROLES)}}
    total = await db.memberships.count_documents(query)
    items = await db.memberships.find(query).sort([("role", 1), ("email", 1)]) \
        .skip(skip).limit(limit).to_list(None)
    return items, total


async def grant_event_role(db, actor: AccountDoc, event: EventDoc, *, email: str, name: str, role: str,
                           locales) -> MembershipDoc:
    """Give a staff role in the event; returns the membership.

    The same answer and audit entry whether or not the address had an account.
    """
    email, name = clean_person(email, name)
    locales = clean_role(event, role, locales)
    user = await users.by_email(db, email)
    if user and await db.memberships.find_one({"user_id": user["_id"], "scope_id": event["_id"],
                                               "role": role}, {"_id": 1}):
        raise StaffError(N_("This person already has this role in the event."), "email")
    user, _ = await _account(db, email, name, event["default_locale"])
    try:
        membership = await R.grant(db, _as_entered(user, email, name), "event", event["_id"], role, locales)
    except R.AlreadyMember:
        raise StaffError(N_("This person already has this role in the event."), "email") from None
    await audit.record(db, actor=actor, action="staff_grant", event=event,
                       params={"email": email, "role": role},
                       before=None, after=membership_snapshot(membership))
    return membership


async def _remove_membership(db, actor: AccountDoc, membership_id, scope: dict) -> MembershipDoc:
    """Delete one membership matching `scope`; never the actor's own."""
    oid = users.as_id(membership_id)
    membership = await db.memberships.find_one({"_id": oid, **scope}) if oid else None
    if not membership:
        raise StaffError(N_("This role was not found; it may have been removed already."))
    if membership["user_id"] == actor["_id"]:
        # Removing one's own role could lock the last admin out.
        raise StaffError(N_("You cannot remove your own role; ask another admin."))
    result = await db.memberships.delete_one({"_id": membership["_id"]})
    if result.deleted_count != 1:
        raise StaffError(N_("This role was not found; it may have been removed already."))
    return membership


async def revoke_event_role(db, actor: AccountDoc, event: EventDoc, membership_id) -> MembershipDoc:
    membership = await _remove_membership(db, actor, membership_id,
                                          {"scope_id": event["_id"], "role": {"$in": list(STAFF_ROLES)}})
    await audit.record(db, actor=actor, action="staff_revoke", event=event,
                       params={"email": membership["email"], "role": membership["role"]},
                       before=membership_snapshot(membership), after=None)
    return membership


# --- space admins ------------------------------------------------------------------------

async def space_admins(db, space_id) -> list[MembershipDoc]:
    return await db.memberships.find({"scope_id": space_id, "role": R.SPACE_ADMIN}) \
        .sort("email", 1).to_list(None)


async def add_space_admin(db, actor: AccountDoc, space: SpaceDoc, *, email: str, name: str,
                          locale: str) -> MembershipDoc:
    email, name = clean_person(email, name)
    user = await users.by_email(db, email)
    if user and await db.memberships.find_one({"user_id": user["_id"], "scope_id": space["_id"],
                                               "role": R.SPACE_ADMIN}, {"_id": 1}):
        raise StaffError(N_("This person is already an admin of this space."), "email")
    user, _ = await _account(db, email, name, locale)
    try:
        membership = await R.grant(db, _as_entered(user, email, name), "space", space["_id"], R.SPACE_ADMIN)
    except R.AlreadyMember:
        raise StaffError(N_("This person is already an admin of this space."), "email") from None
    await audit.record(db, actor=actor, action="space_admin_add", space_id=space["_id"],
                       params={"email": email},
                       before=None, after=membership_snapshot(membership))
    return membership


async def remove_space_admin(db, actor: AccountDoc, space: SpaceDoc, membership_id) -> MembershipDoc:
    membership = await _remove_membership(db, actor, membership_id,
                                          {"scope_id": space["_id"], "role": R.SPACE_ADMIN})
    await audit.record(db, actor=actor, action="space_admin_remove", space_id=space["_id"],
                       params={"email": membership["email"]},
                       before=membership_snapshot(membership), after=None)
    return membership
