"""Everything the platform holds about a person, as one JSON document they download.

`SECTIONS` reads one collection each, always keyed by the person's own id
or address, and leaves out what is not theirs to read: secrets (password
and token hashes, the unredacted copy of a mail with a working link) and
other people's data (voters of their questions, the staff who sanctioned
them, the rows of an attendee file they uploaded).  `EXCLUDED` names the
collections that hold nothing about a person, with the reason; a test
checks that every collection the code uses is in one of the two.
"""
from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bson import Binary, ObjectId

from accounts import visibility
from accounts.users import AccountDoc, as_id
from core.clock import utcnow

FORMAT = 1


def plain(value: Any) -> Any:
    """A stored value as JSON: ids as strings, times in ISO 8601 UTC, bytes left out."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes | Binary):
        return None
    return value


def _without(doc: Mapping[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in fields}


async def _all(cursor) -> list[dict[str, Any]]:
    return await cursor.to_list(None)


# --- one reader per collection --------------------------------------------------------

async def _account(db, user: AccountDoc) -> Any:
    doc = await db.users.find_one({"_id": user["_id"]}) or {}
    out = _without(doc, "password_hash", "profile", "profile_visibility")
    out["password_set"] = bool(doc.get("password_hash"))
    return out


async def _memberships(db, user: AccountDoc) -> Any:
    docs = await _all(db.memberships.find({"user_id": user["_id"]}))
    scopes = {d["scope_id"] for d in docs}
    events = {e["_id"]: e async for e in db.events.find({"_id": {"$in": list(scopes)}}, {"title": 1, "slug": 1})}
    spaces = {s["_id"]: s async for s in db.spaces.find({"_id": {"$in": list(scopes)}}, {"name": 1, "slug": 1})}
    for d in docs:
        scope = events.get(d["scope_id"]) or spaces.get(d["scope_id"])
        if scope:
            d["scope_title"] = scope.get("title") or scope.get("name")
            d["scope_slug"] = scope.get("slug")
    return docs


async def _by_user(db, collection: str, user: AccountDoc, *hidden: str) -> Any:
    return [_without(d, *hidden) for d in await _all(db[collection].find({"user_id": user["_id"]}))]


async def _programmes(db, user: AccountDoc) -> Any:
    return await _by_user(db, "programmes", user)


async def _invite_items(db, user: AccountDoc) -> Any:
    return [_without(d, "token_hash") for d in await _all(db.invite_items.find({"email": user["email"]}))]


async def _partner_attributions(db, user: AccountDoc) -> Any:
    return await _all(db.partner_attributions.find({"email": user["email"]}))


async def _invite_mailings(db, user: AccountDoc) -> Any:
    return await _all(db.invite_mailings.find({"created_by": user["_id"]}))


async def _mail_optouts(db, user: AccountDoc) -> Any:
    return await _by_user(db, "mail_optouts", user)


async def _session_seats(db, user: AccountDoc) -> Any:
    return await _by_user(db, "session_seats", user)


async def _messages(db, user: AccountDoc) -> Any:
    return await _by_user(db, "messages", user)


async def _questions(db, user: AccountDoc) -> Any:
    asked = await _by_user(db, "questions", user, "voters", "moderated_by")
    voted = [d["_id"] for d in await _all(db.questions.find({"voters": user["_id"]}, {"_id": 1}))]
    return {"asked": asked, "voted_for": voted}


async def _quiz_attempts(db, user: AccountDoc) -> Any:
    return await _by_user(db, "quiz_attempts", user)


async def _reads(db, user: AccountDoc) -> Any:
    return await _by_user(db, "reads", user)


async def _sessions(db, user: AccountDoc) -> Any:
    return await _by_user(db, "sessions", user, "token_hash")


async def _tokens(db, user: AccountDoc) -> Any:
    return await _by_user(db, "tokens", user, "token_hash")


async def _sanctions(db, user: AccountDoc) -> Any:
    return await _by_user(db, "sanctions", user, "by")


async def _throttle(db, user: AccountDoc) -> Any:
    keys = [f"account:{k}" for k in (user["email"], "reset:" + user["email"], user.get("login")) if k]
    return await _all(db.throttle.find({"_id": {"$in": keys}}))


async def _rooms(db, user: AccountDoc) -> Any:
    # The person's private support rooms: ev:{<event>}:sup:<locale>:<user id>.
    pattern = {"$regex": ":sup:[a-z]{2}:" + str(user["_id"]) + "$"}
    return await _all(db.rooms.find({"_id": pattern}, {"_id": 1, "created_at": 1}))


async def _audit(db, user: AccountDoc) -> Any:
    """Entries about the person: what was done and when, not the other people in them."""
    out = []
    query = {"$or": [{"actor_id": user["_id"]}, {"params.email": user["email"]},
                     {"params.user_id": str(user["_id"])}, {"after.email": user["email"]},
                     {"before.email": user["email"]}]}
    async for entry in db.audit.find(query).sort("at", 1):
        out.append({"at": entry["at"], "action": entry["action"], "event_id": entry.get("event_id"),
                    "space_id": entry.get("space_id"),
                    "by_you": entry.get("actor_id") == user["_id"]})
    return out


async def _outbox(db, user: AccountDoc) -> Any:
    # The staff copy: a working sign-in link or password is never exported.
    fields = {"to": 1, "subject": 1, "text": 1, "html": 1, "event_id": 1, "kind": 1, "created_at": 1,
              "status": 1, "sent_at": 1}
    return await _all(db.outbox.find({"to": user["email"]}, fields).sort("created_at", 1))


async def _mailing_items(db, user: AccountDoc) -> Any:
    return await _by_user(db, "mailing_items", user, "new_hash")


async def _mailings(db, user: AccountDoc) -> Any:
    fields = {"event_id": 1, "audience": 1, "locale": 1, "total": 1, "status": 1, "created_at": 1}
    return await _all(db.mailings.find({"created_by": user["_id"]}, fields))


async def _imports(db, user: AccountDoc) -> Any:
    # Only the upload's description: its rows are other people's addresses.
    fields = {"event_id": 1, "filename": 1, "total": 1, "status": 1, "created_at": 1}
    return await _all(db.imports.find({"owner_id": user["_id"]}, fields))


async def _invitations(db, user: AccountDoc) -> Any:
    # Whether and when the person was invited; the link's token is a secret (only its hash is kept).
    fields = {"event_id": 1, "email": 1, "created_at": 1, "used_at": 1, "revoked_at": 1}
    return await _all(db.invitations.find({"$or": [{"email": user["email"]}, {"used_by": user["_id"]}]}, fields))


async def _files(db, user: AccountDoc) -> Any:
    """Files the person gave with a form: the ones they uploaded and those their registrations name."""
    return await _all(db.registration_files.find({"_id": {"$in": await file_ids(db, user["_id"], user["email"])}},
                                                 {"owner_id": 0}))


async def _payments(db, user: AccountDoc) -> Any:
    """Payments the person made (by the address they paid from): amounts, states, invoices; no secret."""
    fields = {"client_secret": 0, "callbacks": 0, "preparing_until": 0, "idempotency_key": 0,
              "invoice.seller": 0}
    return await _all(db.payment_attempts.find({"payer_email": user["email"]}, fields).sort("created_at", 1))


async def file_ids(db, user_id, email: str = "") -> list[Any]:
    """Ids of the files a person gave: uploaded while signed in, or named by their registrations' answers
    and by their applications' (from their address too: one made before they signed in)."""
    ids = [d["_id"] async for d in db.registration_files.find({"owner_id": user_id}, {"_id": 1})]
    given: list[Any] = []
    async for m in db.memberships.find({"user_id": user_id}, {"answers": 1, "request_answers": 1}):
        given += list((m.get("answers") or {}).values())
        for answers in (m.get("request_answers") or {}).values():
            given += list(answers.values()) if isinstance(answers, dict) else []
    async for a in db.applications.find(_applications_of(user_id, email), {"answers": 1}):
        given += list((a.get("answers") or {}).values())
    for answer in given:
        value = answer.get("value") if isinstance(answer, dict) else None
        if isinstance(value, dict) and value.get("file"):
            oid = as_id(value["file"])
            if oid is not None:
                ids.append(oid)
    return list(dict.fromkeys(ids))


async def _bulk_jobs(db, user: AccountDoc) -> Any:
    # Staff work: which bulk actions the person started, not whom they touched.
    fields = {"event_id": 1, "action": 1, "total": 1, "status": 1, "created_at": 1}
    return await _all(db.bulk_jobs.find({"owner_id": user["_id"]}, fields))


async def _certificates(db, user: AccountDoc) -> Any:
    # The PDF itself is downloaded from the cabinet; its text is what is listed here.
    return await _all(db.certificates.find({"user_id": user["_id"]}, {"pdf": 0}))


async def _orders(db, user: AccountDoc) -> Any:
    """The orders the person paid for, whole; and of orders others paid for, the tickets they hold."""
    bought = await _all(db.orders.find({"buyer_id": user["_id"]}, {"idempotency_key": 0, "hold_key": 0}))
    held = []
    async for order in db.orders.find({"buyer_id": {"$ne": user["_id"]}, "$or": [
            {"tickets.holder_id": user["_id"]}, {"tickets.holder.email": user["email"]}]}):
        for t in order["tickets"]:
            if t.get("holder_id") == user["_id"] or (t.get("holder") or {}).get("email") == user["email"]:
                # Only the ticket: the buyer and the other holders are other people.
                held.append({"order_code": order["code"], "event_id": order["event_id"], "ticket": t["id"],
                             "ticket_type_id": t["ticket_type_id"], "holder": t.get("holder"),
                             "valid": order["state"] in ("paid", "partially_refunded")})
    return {"bought": bought, "tickets_held": held}


async def _reservations(db, user: AccountDoc) -> Any:
    return await _all(db.reservations.find({"buyer_id": user["_id"]}))
async def _watch_time(db, user: AccountDoc) -> Any:
    # Seconds per minute of wall time in which the person's player played the broadcast.
    return await _all(db.watch_time.find({"user_id": user["_id"]}))


def _applications_of(user_id, email: str) -> dict[str, Any]:
    return {"$or": [{"user_id": user_id}, *([{"email": email}] if email else [])]}


async def _applications(db, user: AccountDoc) -> Any:
    """Applications for free tickets, by their account or their address; not who decided them (staff)."""
    return await _all(db.applications.find(_applications_of(user["_id"], user["email"]),
                                           {"idempotency_key": 0, "quotas": 0, "decided_by": 0}))


def _donations_of(user_id, email: str) -> dict[str, Any]:
    return {"$or": [{"donor.user_id": user_id}, *([{"donor.email": email}] if email else [])]}


async def _donations(db, user: AccountDoc) -> Any:
    """Gifts to donation campaigns, by their account or the address they gave."""
    return await _all(db.donations.find(_donations_of(user["_id"], user["email"]), {"key": 0}))


async def _wallet_entries(db, user: AccountDoc) -> Any:
    return await _all(db.wallet_entries.find({"user_id": user["_id"]}))


async def _push_subscriptions(db, user: AccountDoc) -> Any:
    """The browsers subscribed to a space's appeals while signed in (their push addresses are secrets: left out)."""
    return await _all(db.push_subscriptions.find({"user_id": user["_id"]},
                                                 {"space_id": 1, "locale": 1, "created_at": 1, "updated_at": 1}))


async def _appeals_received(db, user: AccountDoc) -> Any:
    ors = [{"user_id": user["_id"]}, *([{"email": user["email"]}] if user.get("email") else [])]
    return await _all(db.donation_appeal_items.find({"$or": ors}, {"appeal_id": 1, "email": 1, "status": 1,
                                                                  "done_at": 1}))


async def _appeals_sent(db, user: AccountDoc) -> Any:
    fields = {"space_id": 1, "campaign_id": 1, "channel": 1, "message": 1, "total": 1, "status": 1, "created_at": 1}
    return await _all(db.donation_appeals.find({"created_by": user["_id"]}, fields))


async def _wallet_balances(db, user: AccountDoc) -> Any:
    return await _all(db.wallet_balances.find({"user_id": user["_id"]}, {"keys": 0}))


async def _saved_cards(db, user: AccountDoc) -> Any:
    """Saved cards: the provider's ids and the card's brand, last four digits and expiry (no card data is held)."""
    return await _all(db.saved_cards.find({"user_id": user["_id"]}))


async def _donor_customers(db, user: AccountDoc) -> Any:
    return await _all(db.donor_customers.find({"user_id": user["_id"]}))


async def _pledges(db, user: AccountDoc) -> Any:
    return await _all(db.donation_pledges.find({"user_id": user["_id"]}, {"key": 0}))


Reader = Callable[[Any, AccountDoc], Awaitable[Any]]
# collection -> (section name in the download, reader)
SECTIONS: dict[str, tuple[str, Reader]] = {
    "users": ("account", _account),
    "memberships": ("registrations_and_roles", _memberships),
    "programmes": ("programmes", _programmes),
    "session_seats": ("session_seats", _session_seats),
    "mail_optouts": ("mail_opt_outs", _mail_optouts),
    "invite_items": ("invitations_received", _invite_items),
    "invite_mailings": ("invitation_mailings_started", _invite_mailings),
    "partner_attributions": ("partner_links_followed", _partner_attributions),
    "messages": ("chat_messages", _messages),
    "questions": ("questions", _questions),
    "quiz_attempts": ("quiz_answers", _quiz_attempts),
    "reads": ("chat_read_positions", _reads),
    "sessions": ("devices", _sessions),
    "tokens": ("links", _tokens),
    "sanctions": ("chat_sanctions", _sanctions),
    "throttle": ("sign_in_attempts", _throttle),
    "rooms": ("support_rooms", _rooms),
    "audit": ("audit_entries", _audit),
    "outbox": ("mails", _outbox),
    "mailing_items": ("mailing_deliveries", _mailing_items),
    "mailings": ("mailings_started", _mailings),
    "imports": ("attendee_files", _imports),
    "invitations": ("invitations", _invitations),
    "registration_files": ("files", _files),
    "bulk_jobs": ("bulk_actions_started", _bulk_jobs),
    "certificates": ("certificates", _certificates),
    "payment_attempts": ("payments", _payments),
    "orders": ("orders_and_tickets", _orders),
    "reservations": ("ticket_reservations", _reservations),
    "watch_time": ("watch_time", _watch_time),
    "applications": ("ticket_applications", _applications),
    "donations": ("donations", _donations),
    "wallet_entries": ("wallet_entries", _wallet_entries),
    "wallet_balances": ("wallet_balances", _wallet_balances),
    "saved_cards": ("saved_cards", _saved_cards),
    "donor_customers": ("payment_customers", _donor_customers),
    "donation_pledges": ("monthly_gifts", _pledges),
    "push_subscriptions": ("push_subscriptions", _push_subscriptions),
    "donation_appeal_items": ("donation_appeals_received", _appeals_received),
    "donation_appeals": ("donation_appeals_sent", _appeals_sent),
}

EXCLUDED = {
    "reaction_totals": "reactions counted per event and emoji: nobody's, not even who reacted",
    "payments_ledger": "money movements of payments: amounts and provider ids, nobody named; a person's "
                       "payments are under payments",
    "payment_events": "provider notifications: their ids and types, nobody named",
    "payment_counters": "invoice numbers taken per space: numbers, nobody named",
    "payment_sellers": "a space's legal details as a seller, nothing about a person",
    "partner_links": "partners' links of an event: names and counts, nobody named",
    "reminder_jobs": "reminders of events and sessions: times and states, nobody named",
    "spaces": "organiser spaces: names and settings, nothing about a person",
    "space_mail": "a space's mail server settings, nothing about a person",
    "events": "event documents: titles, schedule, slides; a person's events are named in their registrations",
    "community_pages": "organiser pages, no author recorded",
    "quizzes": "quiz questions written by staff; a person's answers are in quiz_attempts",
    "media": "slide images stored by content hash, no uploader recorded",
    "registration_counters": "places taken and waiting per event: numbers, nobody named",
    "forms": "registration forms written by staff; a person's answers are in their registrations",
    "registration_file_chunks": "the bytes of the files listed under files",
    "data_requests": "extra data requests written by staff; a person's answers are in their registrations",
    "certificate_templates": "certificate layouts and conditions written by staff; a person's certificates are "
                             "in certificates",
    "ticket_types": "what an event sells, written by staff; a person's tickets are in orders",
    "quotas": "how many tickets may be sold: numbers, and the ids of the reservations holding them",
    "promo_codes": "promo codes written by staff: numbers, and the ids of the reservations using them; an "
                   "order names the code it used",
    "donation_campaigns": "donation campaigns written by staff; a person's gifts are in donations",
    "donation_assistants": "a space's giving assistant: questions and answers written by staff",
    "donation_assistant_stats": "counts of the assistant's use per space and day: numbers, nobody's",
    "donation_totals": "what each campaign raised, from how many donors: numbers, nobody named",
    "donation_counts": "each gift's effect on its campaign's totals: amounts and gift ids, the donor only as a "
                       "one-way hash; a person's gifts are in donations",
    "donation_donors": "per campaign, a one-way hash standing for a donor and the ids of their gifts that count; "
                       "a person's gifts are in donations",
    "donor_segments": "donor segments: criteria written by staff, nobody named",
    "platform_keys": "the installation's own keys, nothing about a person",
}


async def collect(db, user: AccountDoc) -> dict[str, Any]:
    """The whole download for `user`, as plain JSON values."""
    account = await db.users.find_one({"_id": user["_id"]}) or user
    out: dict[str, Any] = {
        "format": FORMAT, "exported_at": utcnow(),
        "profile": account.get("profile") or {},
        "profile_visibility": visibility.levels(account),
    }
    for name, reader in SECTIONS.values():
        out[name] = await reader(db, account)
    return plain(out)
