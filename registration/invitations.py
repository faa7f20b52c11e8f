"""Personal invitations to an event: who holds one, for the "by invitation" privacy level.

Staff invite addresses; each invitation is a document in `invitations`
({event_id, email, token_hash, ...}, one per event and address) with a
personal link `/e/<space>/<event>/about?invite=<token>`.  Only the SHA-256
of the token is stored (as for sign-in links, `accounts.tokens`): the link
is shown to staff once, when it is made, and "a new link" replaces it.

An invitation admits whoever opens its link, as often as they like, until a
registration is made with it (`mark_used` binds it to that account; the
link then admits only that account); it also admits the signed-in account
with the invited address, without the link.  A revoked invitation admits
nobody.  Checking never writes.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from access import audit
from accounts.tokens import hash_token
from accounts.users import as_id, normalize_email
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_

MAX_TOKEN = 128
MAX_AT_ONCE = 5000

# What a link's token is, for the page that refuses it.
VALID, UNKNOWN, REVOKED, OTHER_EVENT, TAKEN = "valid", "unknown", "revoked", "other_event", "taken"
TOKEN_MESSAGES = {
    UNKNOWN: N_("This invitation link is not valid. Check that the whole link was copied, "
                "or ask the organiser for a new one."),
    REVOKED: N_("This invitation was withdrawn by the organiser."),
    OTHER_EVENT: N_("This invitation link is for another event."),
    TAKEN: N_("This invitation link has already been used by another account."),
}


class InvitationDoc(TypedDict):
    _id: ObjectId
    event_id: ObjectId
    space_id: ObjectId
    email: str
    token_hash: str
    created_at: Any
    created_by: ObjectId | None
    revoked_at: Any
    used_at: Any
    used_by: ObjectId | None


class InvitationError(Refusal):
    """A refused change; `message` is marked for translation, `params` fill it in."""


def path(space_slug: str, event_slug: str, raw: str) -> str:
    return f"/e/{space_slug}/{event_slug}/about?invite={raw}"


def _token() -> tuple[str, str]:
    raw = secrets.token_urlsafe(24)
    return raw, hash_token(raw)


# --- reading ------------------------------------------------------------------------

def _usable_by(doc: Mapping[str, Any], user: Mapping[str, Any] | None) -> bool:
    if doc.get("revoked_at"):
        return False
    used_by = doc.get("used_by")
    return used_by is None or (user is not None and used_by == user["_id"])


async def invited(db, event: Mapping[str, Any], user: Mapping[str, Any] | None, token: str | None) -> bool:
    """Whether this person (signed in or not) holds a valid invitation to the event.

    `token` is the invitation link's token, if the request carries one.  One
    read at most; none for a visitor without a token.
    """
    ors: list[dict[str, Any]] = []
    if token and len(token) <= MAX_TOKEN:
        ors.append({"token_hash": hash_token(token)})
    if user is not None and user.get("email"):
        ors.append({"email": user["email"]})
    if not ors:
        return False
    async for doc in db.invitations.find({"event_id": event["_id"], "revoked_at": None, "$or": ors}):
        if _usable_by(doc, user):
            return True
    return False


async def token_state(db, event: Mapping[str, Any], user: Mapping[str, Any] | None, token: str) -> str:
    """VALID, or why a link's token admits nobody here (UNKNOWN, REVOKED, OTHER_EVENT, TAKEN)."""
    if not token or len(token) > MAX_TOKEN:
        return UNKNOWN
    doc = await db.invitations.find_one({"token_hash": hash_token(token)})
    if doc is None:
        return UNKNOWN
    if doc["event_id"] != event["_id"]:
        return OTHER_EVENT
    if doc.get("revoked_at"):
        return REVOKED
    return VALID if _usable_by(doc, user) else TAKEN


async def listing(db, event_id, skip: int, limit: int) -> tuple[list[InvitationDoc], int]:
    query = {"event_id": event_id}
    total = await db.invitations.count_documents(query)
    docs = await db.invitations.find(query).sort([("revoked_at", 1), ("email", 1)]) \
        .skip(skip).limit(limit).to_list(None)
    return docs, total


async def get(db, event_id, invitation_id) -> InvitationDoc | None:
    oid = as_id(invitation_id)
    return await db.invitations.find_one({"_id": oid, "event_id": event_id}) if oid else None


# --- changing -----------------------------------------------------------------------

def clean_emails(emails: Iterable[str]) -> list[str]:
    """Normalised, without repeats, in the order given; the caller has checked each address."""
    seen: dict[str, None] = {}
    for raw in emails:
        email = normalize_email(raw)
        if email:
            seen.setdefault(email, None)
    return list(seen)


async def invite(db, actor: Mapping[str, Any], event: Mapping[str, Any], emails: Iterable[str]
                 ) -> tuple[list[tuple[InvitationDoc, str]], list[str]]:
    """Invite addresses: ([(invitation, raw token)] made now, [addresses already invited]).

    An address whose invitation was revoked is invited again with a new
    link; one holding a live invitation keeps it (its link is not changed
    behind the back of whoever received it).
    """
    wanted = clean_emails(emails)
    if not wanted:
        raise InvitationError(N_("Enter at least one email address."))
    if len(wanted) > MAX_AT_ONCE:
        raise InvitationError(N_("At most %(count)s addresses at once."), count=MAX_AT_ONCE)
    made: list[tuple[InvitationDoc, str]] = []
    skipped: list[str] = []
    now = utcnow()
    for email in wanted:
        raw, hashed = _token()
        doc: InvitationDoc = {
            "_id": ObjectId(), "event_id": event["_id"], "space_id": event["space_id"], "email": email,
            "token_hash": hashed, "created_at": now, "created_by": actor["_id"],
            "revoked_at": None, "used_at": None, "used_by": None,
        }
        try:
            await db.invitations.insert_one(doc)
        except DuplicateKeyError:
            renewed = await db.invitations.find_one_and_update(
                {"event_id": event["_id"], "email": email, "revoked_at": {"$ne": None}},
                {"$set": {"token_hash": hashed, "created_at": now, "created_by": actor["_id"],
                          "revoked_at": None, "used_at": None, "used_by": None}},
                return_document=ReturnDocument.AFTER)
            if renewed is None:
                skipped.append(email)
                continue
            doc = renewed
        made.append((doc, raw))
    if made:
        await audit.record(db, actor=actor, action="invitation.create", event=event,
                           params={"count": len(made)}, before=None,
                           after={"emails": [d["email"] for d, _ in made]})
    return made, skipped


async def new_link(db, actor: Mapping[str, Any], event: Mapping[str, Any], invitation_id
                   ) -> tuple[InvitationDoc, str]:
    """Replace an unrevoked invitation's link: the old link stops working."""
    raw, hashed = _token()
    doc = await db.invitations.find_one_and_update(
        {"_id": as_id(invitation_id), "event_id": event["_id"], "revoked_at": None},
        {"$set": {"token_hash": hashed}}, return_document=ReturnDocument.AFTER)
    if doc is None:
        raise InvitationError(N_("This invitation does not exist or was withdrawn."))
    await audit.record(db, actor=actor, action="invitation.new_link", event=event,
                       params={"invitation_id": str(doc["_id"])}, before=None, after={"email": doc["email"]})
    return doc, raw


async def revoke(db, actor: Mapping[str, Any], event: Mapping[str, Any], invitation_id) -> InvitationDoc:
    """Withdraw an invitation: its link and its address admit nobody from now on.

    A registration already made with it stays (privacy decides who comes
    in, not who stays).
    """
    doc = await db.invitations.find_one_and_update(
        {"_id": as_id(invitation_id), "event_id": event["_id"], "revoked_at": None},
        {"$set": {"revoked_at": utcnow()}}, return_document=ReturnDocument.AFTER)
    if doc is None:
        raise InvitationError(N_("This invitation does not exist or was withdrawn."))
    await audit.record(db, actor=actor, action="invitation.revoke", event=event,
                       params={"invitation_id": str(doc["_id"])}, before={"email": doc["email"]}, after=None)
    return doc


async def mark_used(db, event: Mapping[str, Any], user: Mapping[str, Any], token: str | None,
                    token_hash: str | None = None) -> bool:
    """Bind the invitation a registration was made with to that account (link or address).

    Called by registration once the registration is stored (`token_hash`:
    the link's hash, kept on a registration waiting for its address to be
    confirmed).  Atomic: of two accounts registering with one link at once,
    one gets it.
    """
    ors: list[dict[str, Any]] = [{"email": user["email"]}]
    if token and len(token) <= MAX_TOKEN:
        ors.insert(0, {"token_hash": hash_token(token)})
    elif token_hash:
        ors.insert(0, {"token_hash": token_hash})
    for query in ors:
        doc = await db.invitations.find_one_and_update(
            {"event_id": event["_id"], "revoked_at": None, "used_by": {"$in": [None, user["_id"]]}, **query},
            {"$set": {"used_by": user["_id"], "used_at": utcnow()}})
        if doc is not None:
            return True
    return False
