"""Deleting an account: the person's data leaves every collection.

`start` marks the account as being erased, takes away its password and
ends every session and link in one go, so the person is signed out
everywhere before anything else changes; `finish` then walks the
collections (`STEPS`, one per collection that can hold personal data) and
deletes the account document last.  Every step is idempotent and finds its
work by the account's id, email and login, which stay on the marked account
until the very end: a process that dies midway leaves an account marked
`erasing_at`, and `finish` (run again by `resume_pending` at start-up, or by
the next request) completes the job.

What is kept, without anything that leads back to the person:
- registrations (memberships with the attendee role) keep their event and
  state, so counts stay right; user link, email, name and answers (to the
  form and to data requests) go;
- chat messages and questions keep their text (less the person's own name,
  address or login where they wrote it), shown as by a deleted user
  (`ERASED_ID` in place of the author, no name); the person's private
  support rooms go altogether;
- quiz attempts keep their score under an id that names nobody;
- outbox entries addressed to them keep their kind, status and dates only;
- audit entries keep the action, with the person's id, email, name and
  login taken out of them.
- seats in sessions keep their session, given up, under an id that names nobody;
- payments keep their amounts, states, ledger entries and an invoice's
  organisation details (accounting keeps them); the payer's address goes;
- orders keep their money record (code, lines, totals, state, refunds) for the
  bookkeeping, without the person as buyer or holder; reservations keep their
  tickets until the sweep gives them back, under an id that names nobody;
- applications for free tickets keep their type, state and dates (the
  queue's counts; an approved one's order); address, name, answers, files,
  the staff's reason and the account go;
Everything else (the account, sessions, tokens, throttles, programmes,
read positions, sanctions, staff roles, import previews) is deleted.
"""
from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from bson import ObjectId

from access import audit
from accounts.my_data import file_ids
from accounts.throttle import Throttle
from accounts.users import AccountDoc
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_

log = logging.getLogger(__name__)

# The author of whatever a deleted account leaves behind (messages, questions,
# moderation marks): one id for every deleted account, so nothing tells two
# deleted people apart or leads back to either.
ERASED_ID = ObjectId("000000000000000000000000")
ERASED_TEXT = "[erased]"
DELETED_USER = N_("Deleted user")
LAST_ADMIN = N_("This is the last platform admin account. Make another account a platform admin "
                "before you delete this one.")
NOT_CONFIRMED = N_("Type your email address or your password to confirm.")
THROTTLED = N_("Too many wrong passwords. Wait a quarter of an hour, or type your email address instead.")


# How long an admin's intent to delete their account holds another admin's deletion back.
LEAVING_HOLDS = datetime.timedelta(minutes=1)


class EraseError(Refusal):
    """A refused deletion; the message is marked for translation."""


Announce = Callable[[ObjectId], Awaitable[None]]


# --- what identifies the person ---------------------------------------------------

class Identity:
    """The values that name the person, read from the account before it goes."""

    def __init__(self, account: Mapping[str, Any], other_names: Iterable[Any] = ()):
        self.id: ObjectId = account["_id"]
        self.id_text = str(self.id)
        self.email = (account.get("email") or "").lower()
        self.login = (account.get("login") or "").lower()
        self.name = (account.get("name") or "").strip()
        names = [self.name, *(n.strip() for n in other_names if isinstance(n, str))]
        self._exact = {v.casefold() for v in (self.email, self.login, self.id_text, *names) if v}
        # Longest first, so a full name goes before the part of it that is a login.
        parts = sorted({v for v in (self.email, self.login, *names) if len(v) >= 3}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, parts)), re.IGNORECASE) if parts else None

    def redact(self, value: Any) -> Any:
        """`value` with every mention of the person replaced (recursively)."""
        if isinstance(value, ObjectId):
            return ERASED_ID if value == self.id else value
        if isinstance(value, str):
            folded = value.casefold()
            if folded in self._exact or (self.email and self.email in folded) or self.id_text in folded:
                return ERASED_TEXT
            return value
        if isinstance(value, Mapping):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value

    def scrub(self, text: Any) -> Any:
        """The person's own text with their names, address and login cut out of it.

        What they wrote stays; what they wrote about who they are does not.
        Only their own messages and questions get this: in other people's
        words a first name may well be somebody else's.
        """
        if not isinstance(text, str) or not self._pattern:
            return text
        return self._pattern.sub(ERASED_TEXT, text)

    def throttle_keys(self) -> list[str]:
        keys = [self.email, "reset:" + self.email, self.login]
        return [f"account:{k}" for k in keys if k and k != "reset:"]


# --- the steps, one per collection ---------------------------------------------------

async def _sessions(db, who: Identity) -> None:
    await db.sessions.delete_many({"user_id": who.id})


async def _tokens(db, who: Identity) -> None:
    await db.tokens.delete_many({"user_id": who.id})


async def _throttle(db, who: Identity) -> None:
    await db.throttle.delete_many({"_id": {"$in": who.throttle_keys()}})


async def _programmes(db, who: Identity) -> None:
    await db.programmes.delete_many({"user_id": who.id})


async def _invite_items(db, who: Identity) -> None:
    # Counted in the funnel of a mailing as a recipient nobody can name any more.
    if who.email:
        await db.invite_items.update_many({"email": who.email}, {"$set": {"email": f"erased-{who.id}", "name": ""}})


async def _partner_attributions(db, who: Identity) -> None:
    if who.email:
        await db.partner_attributions.delete_many({"email": who.email})


async def _invite_mailings(db, who: Identity) -> None:
    await db.invite_mailings.update_many({"created_by": who.id}, {"$set": {"created_by": None}})


async def _mail_optouts(db, who: Identity) -> None:
    await db.mail_optouts.delete_many({"user_id": who.id})


async def _session_seats(db, who: Identity) -> None:
    # Seats stay as numbers under an id that names nobody; held ones are given up, and the sweep's
    # recount passes them to the next person waiting.
    async for doc in db.session_seats.find({"user_id": who.id}, {"_id": 1, "state": 1}):
        given_up = {"state": "cancelled", "state_at": utcnow()} if doc["state"] in ("registered", "offered",
                                                                                      "waiting") else {}
        await db.session_seats.update_one(
            {"_id": doc["_id"], "user_id": who.id},
            {"$set": {"user_id": ObjectId(), "erased": True, **given_up}, "$unset": {"offer_expires_at": ""}})


def _support_rooms(who: Identity) -> dict:
    # ev:{<event>}:sup:<locale>:<user id>: the person's private rooms (chat.room_names).
    return {"$regex": ":sup:[a-z]{2}:" + re.escape(who.id_text) + "$"}


async def _reads(db, who: Identity) -> None:
    await db.reads.delete_many({"user_id": who.id})
    await db.reads.delete_many({"room": _support_rooms(who)})


async def _rooms(db, who: Identity) -> None:
    # The messages of the person's support rooms first: a rerun finds the rooms again.
    await db.messages.delete_many({"room": _support_rooms(who)})
    await db.rooms.delete_many({"_id": _support_rooms(who)})


async def _sanctions(db, who: Identity) -> None:
    await db.sanctions.delete_many({"user_id": who.id})
    await db.sanctions.update_many({"by": who.id}, {"$set": {"by": ERASED_ID}})


async def _messages(db, who: Identity) -> None:
    # One update per message: the client id becomes the message's own, so the
    # unique (room, user_id, client_id) holds for every deleted author alike.
    async for doc in db.messages.find({"user_id": who.id}, {"_id": 1, "text": 1, "room": 1}):
        changes = {"user_id": ERASED_ID, "name": "", "erased": True, "client_id": f"erased:{doc['_id']}"}
        if "text" in doc:
            changes["text"] = who.scrub(doc["text"])
        # The room is the shard key (`mongo_indexes.sharding`): on a sharded cluster one shard is asked.
        await db.messages.update_one({"_id": doc["_id"], "room": doc["room"], "user_id": who.id},
                                     {"$set": changes})
    await db.messages.update_many({"deleted_by": who.id}, {"$set": {"deleted_by": ERASED_ID}})


async def _questions(db, who: Identity) -> None:
    async for doc in db.questions.find({"user_id": who.id}, {"_id": 1, "text": 1}):
        await db.questions.update_one(
            {"_id": doc["_id"], "user_id": who.id},
            {"$set": {"user_id": ERASED_ID, "name": "", "erased": True, "client_id": f"erased:{doc['_id']}",
                      "text": who.scrub(doc.get("text", ""))}})
    # A vote stays counted under an id that names nobody.
    while await db.questions.find_one_and_update({"voters": who.id}, {"$set": {"voters.$": ObjectId()}}):
        pass
    await db.questions.update_many({"moderated_by": who.id}, {"$set": {"moderated_by": ERASED_ID}})


async def _quiz_attempts(db, who: Identity) -> None:
    # Scores stay in the quiz's results; each attempt gets an id of its own
    # (unique per quiz) that belongs to no account.
    async for doc in db.quiz_attempts.find({"user_id": who.id}, {"_id": 1}):
        await db.quiz_attempts.update_one({"_id": doc["_id"], "user_id": who.id},
                                          {"$set": {"user_id": ObjectId(), "erased": True}})


async def _certificates(db, who: Identity) -> None:
    # A certificate names its holder: it goes, and its code no longer verifies.
    await db.certificates.delete_many({"user_id": who.id})


async def _watch_time(db, who: Identity) -> None:
    # When the person watched: theirs alone, and no count of the organiser's needs it.
    await db.watch_time.delete_many({"user_id": who.id})


async def _memberships(db, who: Identity) -> None:
    # Staff roles go; registrations stay for the event's counts, anonymous.
    await db.memberships.delete_many({"user_id": who.id, "role": {"$ne": "attendee"}})
    async for doc in db.memberships.find({"user_id": who.id}, {"_id": 1}):
        await db.memberships.update_one(
            {"_id": doc["_id"], "user_id": who.id},
            {"$set": {"user_id": ObjectId(), "email": "", "name": "", "erased": True},
             "$unset": {"answers": "", "locales": "", "mailed_at": "", "link_used_at": "",
                        "request_answers": "", "request_answered_at": "", "request_mails": ""}})


async def _mailing_items(db, who: Identity) -> None:
    async for doc in db.mailing_items.find({"user_id": who.id}, {"_id": 1}):
        await db.mailing_items.update_one({"_id": doc["_id"], "user_id": who.id},
                                          {"$set": {"user_id": ObjectId(), "email": "", "erased": True}})


async def _mailings(db, who: Identity) -> None:
    await db.mailings.update_many({"created_by": who.id}, {"$set": {"created_by": None, "created_by_email": None}})


async def _imports(db, who: Identity) -> None:
    # Previews of an attendee file live an hour; one that names the person is dropped.
    await db.imports.delete_many({"owner_id": who.id})
    if who.email:
        await db.imports.delete_many({"rows.email": who.email})


async def _outbox(db, who: Identity) -> None:
    if who.email:
        # Mail still waiting to go out is not sent to an erased address.
        await db.outbox.update_many({"to": who.email, "status": {"$in": ["queued", "sending"]}},
                                    {"$set": {"status": "failed", "next_attempt_at": None}})
        await db.outbox.update_many(
            {"to": who.email},
            {"$set": {"to": "", "subject": "", "text": "", "html": None, "erased": True},
             "$unset": {"full": "", "error": ""}})


def _audit_query(who: Identity) -> dict:
    # `emails`: actions on several addresses at once (invitations) list them.
    paths = ("params.email", "params.user_id", "before.email", "after.email", "before.user_id",
             "after.user_id", "before.login", "after.login", "params.emails", "before.emails", "after.emails")
    values: list[Any] = [v for v in (who.email, who.id_text, who.login) if v]
    return {"$or": [{"actor_id": who.id}, {"actor_email": who.email}]
            + [{p: {"$in": values + [who.id]}} for p in paths]}


async def _audit(db, who: Identity) -> None:
    async for entry in db.audit.find(_audit_query(who)):
        changes = {k: who.redact(entry.get(k)) for k in ("params", "before", "after")}
        if entry.get("actor_id") == who.id or entry.get("actor_email") == who.email:
            changes.update(actor_id=None, actor_email=None)
        # The event is the shard key (`mongo_indexes.sharding`): on a sharded cluster one shard is asked.
        await db.audit.update_one({"_id": entry["_id"], "event_id": entry.get("event_id")}, {"$set": changes})


async def _invitations(db, who: Identity) -> None:
    ors: list[dict[str, Any]] = [{"used_by": who.id}]
    if who.email:
        ors.append({"email": who.email})
    await db.invitations.delete_many({"$or": ors})


async def _files(db, who: Identity) -> None:
    # Before the registrations, whose answers name the files; chunks before their file, so a
    # rerun finds the file again.
    for file_id in await file_ids(db, who.id, who.email):
        await db.registration_file_chunks.delete_many({"file_id": file_id})
        await db.registration_files.delete_one({"_id": file_id})


async def _bulk_jobs(db, who: Identity) -> None:
    await db.bulk_jobs.update_many({"owner_id": who.id}, {"$set": {"owner_id": None}})


async def _forms(db, who: Identity) -> None:
    await db.forms.update_many({"updated_by": who.id}, {"$set": {"updated_by": None}})


async def _data_requests(db, who: Identity) -> None:
    await db.data_requests.update_many({"created_by": who.id}, {"$set": {"created_by": None}})
    await db.data_requests.update_many({"updated_by": who.id}, {"$set": {"updated_by": None}})


async def _payment_attempts(db, who: Identity) -> None:
    # Money records stay (amounts, states, ledger, an invoice's organisation details, which accounting
    # keeps); the payer's address and the staff member's id on refunds go.
    if who.email:
        await db.payment_attempts.update_many({"payer_email": who.email},
                                              {"$set": {"payer_email": "", "payer_erased": True}})
    async for doc in db.payment_attempts.find({"refunds.by": who.id}, {"refunds": 1}):
        refunds = [{**r, "by": None} if r.get("by") == who.id else r for r in doc.get("refunds", [])]
        await db.payment_attempts.update_one({"_id": doc["_id"]}, {"$set": {"refunds": refunds}})


async def _payment_sellers(db, who: Identity) -> None:
    await db.payment_sellers.update_many({"updated_by": who.id}, {"$set": {"updated_by": None}})
async def _orders(db, who: Identity) -> None:
    """Orders keep their money record (codes, lines, totals, states, refunds) for the bookkeeping;
    the person as buyer or holder, and their id in the logs, are taken out."""
    ors: list[dict[str, Any]] = [{"buyer_id": who.id}, {"tickets.holder_id": who.id}, {"log.actor_id": who.id},
                                 {"refunds.actor_id": who.id}]
    if who.email:
        ors += [{"buyer.email": who.email}, {"tickets.holder.email": who.email}]
    async for order in db.orders.find({"$or": ors}):
        change: dict[str, Any] = {}
        if order.get("buyer_id") == who.id or (order.get("buyer") or {}).get("email") == who.email:
            change["buyer_id"] = None
            change["buyer"] = {"email": "", "name": "", "locale": (order.get("buyer") or {}).get("locale", "")}
        tickets = []
        for t in order.get("tickets") or []:
            holder = t.get("holder") or {}
            if t.get("holder_id") == who.id or holder.get("email") == who.email:
                t = {**t, "holder_id": None, "holder": {"email": "", "name": "", "locale": holder.get("locale", "")},
                     "erased": True}
            tickets.append(t)
        change["tickets"] = tickets
        change["log"] = [who.redact(e) for e in order.get("log") or []]
        change["refunds"] = [who.redact(r) for r in order.get("refunds") or []]
        change["idempotency_key"] = who.redact(order.get("idempotency_key"))
        await db.orders.update_one({"_id": order["_id"]}, {"$set": change})


async def _reservations(db, who: Identity) -> None:
    # A live one still holds its tickets until the sweep gives them back: kept, naming nobody.
    await db.reservations.update_many({"buyer_id": who.id}, {"$set": {"buyer_id": ERASED_ID}})


async def _applications(db, who: Identity) -> None:
    # After the files (their answers name them); each keeps an address of its own, unique per type.
    ors: list[dict[str, Any]] = [{"user_id": who.id}]
    if who.email:
        ors.append({"email": who.email})
    async for doc in db.applications.find({"$or": ors}, {"_id": 1}):
        await db.applications.update_one(
            {"_id": doc["_id"]}, {"$set": {"email": f"erased:{doc['_id']}", "name": "", "user_id": None,
                                            "answers": {}, "reason": "", "erased": True}})
    await db.applications.update_many({"decided_by": who.id}, {"$set": {"decided_by": None}})


def _donor_filter(who: Identity) -> dict[str, Any]:
    ors: list[dict[str, Any]] = [{"donor.user_id": who.id}]
    if who.email:
        ors.append({"donor.email": who.email})
    return {"$or": ors}


async def _donation_totals(db, who: Identity) -> None:
    """A campaign's counter names its latest gift's donor: the name goes (before the gifts lose their donor,
    which is how they are found)."""
    gifts = [doc["_id"] async for doc in db.donations.find(_donor_filter(who), {"_id": 1})]
    if gifts:
        await db.donation_totals.update_many({"latest.donation_id": {"$in": gifts}}, {"$set": {"latest.name": ""}})


async def _donations(db, who: Identity) -> None:
    # One key for all of this person's gifts: the campaigns' donor counts stay as they were.
    nobody = f"erased:{ObjectId()}"
    async for doc in db.donations.find(_donor_filter(who), {"donor": 1, "message": 1}):
        await db.donations.update_one({"_id": doc["_id"]}, {"$set": {
            "donor": {"user_id": None, "email": "", "name": "", "locale": (doc.get("donor") or {}).get("locale", "")},
            "donor_key": nobody, "message": who.scrub(doc.get("message") or ""), "erased": True}})


async def _wallet_balances(db, who: Identity) -> None:
    """Balances and their entries move to one id that names nobody (a balance's `_id` holds the account's id).

    The id is written on the person's balances first, so a run that stops midway goes on with the same one.
    """
    await db.wallet_balances.update_many({"user_id": who.id, "erased_as": None}, {"$set": {"erased_as": ObjectId()}})
    async for doc in db.wallet_balances.find({"user_id": who.id}):
        nobody = doc["erased_as"]
        await db.wallet_entries.update_many({"user_id": who.id, "currency": doc["currency"]},
                                            {"$set": {"user_id": nobody}})
        copy = {k: v for k, v in doc.items() if k != "erased_as"}
        copy.update(_id=f"{nobody}:{doc['currency']}", user_id=nobody)
        await db.wallet_balances.replace_one({"_id": copy["_id"]}, copy, upsert=True)
        await db.wallet_balances.delete_one({"_id": doc["_id"]})


async def _wallet_entries(db, who: Identity) -> None:
    # Entries of a currency with no balance (a refused first debit): they count for nothing; nobody named.
    await db.wallet_entries.update_many({"user_id": who.id}, {"$set": {"user_id": ObjectId()}})


async def _saved_cards(db, who: Identity) -> None:
    # Provider ids and a label: gone with the account (the card stays at the provider, attached to a
    # Customer nobody here names any more).
    await db.saved_cards.delete_many({"user_id": who.id})


async def _donor_customers(db, who: Identity) -> None:
    await db.donor_customers.delete_many({"user_id": who.id})


async def _pledges(db, who: Identity) -> None:
    # Cancelled (never charged again) and moved to an id that names nobody; the campaign keeps its count.
    await db.donation_pledges.update_many({"user_id": who.id}, {"$set": {
        "user_id": ObjectId(), "state": "cancelled", "card_id": None, "card_label": "", "erased": True}})
async def _push_subscriptions(db, who: Identity) -> None:
    # A browser subscribed as the account, or as a guest donor by the address: it is not notified again.
    await db.push_subscriptions.delete_many({"user_id": who.id})
    if who.email:
        await db.push_subscriptions.delete_many({"donor_key": f"e:{who.email}"})


async def _donation_appeal_items(db, who: Identity) -> None:
    ors: list[dict[str, Any]] = [{"user_id": who.id}]
    if who.email:
        ors.append({"email": who.email})
    async for doc in db.donation_appeal_items.find({"$or": ors}, {"_id": 1}):
        await db.donation_appeal_items.update_one({"_id": doc["_id"]}, {"$set": {
            "user_id": None, "email": "", "name": "", "target": f"erased:{doc['_id']}", "erased": True}})


async def _donation_appeals(db, who: Identity) -> None:
    await db.donation_appeals.update_many({"created_by": who.id},
                                          {"$set": {"created_by": None, "created_by_email": None}})


async def _users(db, who: Identity) -> None:
    await db.users.delete_one({"_id": who.id})


# In order: signed out first (sessions and links), the account itself last,
# since every step before it finds its work through the account's values;
# the audit log before the registrations, whose names (as staff typed them)
# it may quote.
STEPS: dict[str, Callable[[Any, Identity], Awaitable[None]]] = {
    "sessions": _sessions,
    "tokens": _tokens,
    "throttle": _throttle,
    "programmes": _programmes,
    "session_seats": _session_seats,
    "mail_optouts": _mail_optouts,
    "invite_items": _invite_items,
    "invite_mailings": _invite_mailings,
    "partner_attributions": _partner_attributions,
    "reads": _reads,
    "rooms": _rooms,
    "sanctions": _sanctions,
    "audit": _audit,
    "outbox": _outbox,
    "messages": _messages,
    "questions": _questions,
    "quiz_attempts": _quiz_attempts,
    "mailing_items": _mailing_items,
    "mailings": _mailings,
    "imports": _imports,
    "invitations": _invitations,
    "registration_files": _files,
    "bulk_jobs": _bulk_jobs,
    "certificates": _certificates,
    "watch_time": _watch_time,
    "forms": _forms,
    "data_requests": _data_requests,
    "payment_attempts": _payment_attempts,
    "payment_sellers": _payment_sellers,
    "orders": _orders,
    "reservations": _reservations,
    "donation_totals": _donation_totals,
    "donations": _donations,
    "wallet_balances": _wallet_balances,
    "wallet_entries": _wallet_entries,
    "saved_cards": _saved_cards,
    "donor_customers": _donor_customers,
    "donation_pledges": _pledges,
    "push_subscriptions": _push_subscriptions,
    "donation_appeal_items": _donation_appeal_items,
    "donation_appeals": _donation_appeals,
    "applications": _applications,
    "memberships": _memberships,
    "users": _users,
}

# Collections that hold no personal data, with the reason.
UNTOUCHED = {
    "reaction_totals": "reactions counted per event and emoji, no person's id or address",
    "payments_ledger": "money movements: amounts, currencies and provider ids, no person's id or address",
    "payment_events": "provider notifications: ids and types, no person's id or address",
    "payment_counters": "invoice numbers taken per space, no person's id or address",
    "partner_links": "partners' links of an event: names and counts, no person's id or address",
    "reminder_jobs": "reminders of events and sessions: times and states, no person's id or address",
    "spaces": "organiser spaces: names and settings, no person's id or address",
    "space_mail": "a space's mail server settings, no person's id or address",
    "events": "event documents: titles, schedule, slides and settings, no person's id or address",
    "community_pages": "organiser pages and their texts, no author recorded",
    "quizzes": "quiz questions written by staff, no author recorded",
    "media": "slide images stored by content hash, no uploader recorded",
    "registration_counters": "places taken and waiting per event: numbers, nobody named",
    "registration_file_chunks": "file bytes, removed with their file (registration_files)",
    "certificate_templates": "certificate layouts and conditions written by staff, no person's id or address",
    "ticket_types": "what an event sells, written by staff, no person's id or address",
    "quotas": "ticket counts and the ids of the reservations holding them, no person's id or address",
    "promo_codes": "promo codes and their use counts with the ids of the reservations using them, no "
                   "person's id or address",
    "donation_campaigns": "donation campaigns written by staff, no person's id or address",
    "donation_assistants": "a space's giving assistant written by staff, no person's id or address",
    "donation_assistant_stats": "counts of the assistant's use per space and day, no person's id or address",
    "donation_counts": "each gift's effect on its campaign's totals: amounts and gift ids, the donor only as a "
                       "one-way hash (the gifts themselves are erased)",
    "donation_donors": "a one-way hash per campaign and donor and the ids of their gifts: kept so the campaign's "
                       "donor count stays as it was (the gifts themselves are erased)",
    "donor_segments": "donor segments: criteria written by staff, no person's id or address",
    "platform_keys": "the installation's own keys (VAPID), no person's id or address",
}


# --- the action ----------------------------------------------------------------------

async def check(db, hasher, throttle: Throttle, user: AccountDoc, confirmation: str) -> None:
    """Refuse unless `confirmation` is the account's email or password, or when it is the last admin.

    Wrong passwords count against the account as at sign-in: a stolen
    session must not become a way to guess the password.
    """
    typed = (confirmation or "").strip()
    if not typed:
        raise EraseError(NOT_CONFIRMED)
    matches = typed.lower() == (user.get("email") or "").lower()
    if not matches:
        key = user["email"]
        if await throttle.blocked(key):
            raise EraseError(THROTTLED)
        matches = len(typed) <= 1000 and await hasher.verify(typed, user.get("password_hash"))
        if not matches:
            await throttle.fail(key)
            raise EraseError(NOT_CONFIRMED)
    if user.get("platform_admin"):
        await _not_the_last_admin(db, user)


async def _not_the_last_admin(db, user: AccountDoc) -> None:
    """Refuse when no other platform admin would remain.

    Two admins deleting their accounts at once must not both pass.  Each
    first writes its intent (`leaving_at`), then counts the admins that
    neither leave nor are being erased: whichever counts second sees the
    other's intent, so of two racing deletions at most one goes on (both may
    be refused; the one tried again goes through).  Counting first and
    writing after would let both through, and so would the same two steps
    in a multi-document transaction: under snapshot isolation each reads the
    other as staying and they write different documents (`docs/storage.md`).
    An intent left by a stopped process holds others back for LEAVING_HOLDS.
    """
    now = utcnow()
    await db.users.update_one({"_id": user["_id"]}, {"$set": {"leaving_at": now}})
    others = await db.users.count_documents({
        "platform_admin": True, "_id": {"$ne": user["_id"]}, "erasing_at": None,
        "$or": [{"leaving_at": None}, {"leaving_at": {"$lt": now - LEAVING_HOLDS}}]})
    if others == 0:
        await db.users.update_one({"_id": user["_id"], "leaving_at": now}, {"$unset": {"leaving_at": ""}})
        raise EraseError(LAST_ADMIN)


async def start(db, user: AccountDoc) -> Mapping[str, Any] | None:
    """Mark the account erased: no password, no session, no link works from here on.

    Returns the marked account (with the values `finish` needs), or None
    when there is no such account any more.
    """
    now = utcnow()
    account = await db.users.find_one_and_update(
        {"_id": user["_id"]}, {"$set": {"erasing_at": now, "password_hash": None}})
    if account is None:
        return None
    if not account.get("erasing_at"):
        # Once per account: the log says that an account went, not whose.
        await audit.record(db, actor=None, action="account.erase")
    account = {**account, "erasing_at": account.get("erasing_at") or now, "password_hash": None}
    who = Identity(account)
    await _sessions(db, who)
    await _tokens(db, who)
    return account


async def finish(db, account: Mapping[str, Any], announce: Announce | None = None) -> None:
    """Run every step for an account marked by `start`; safe to run again."""
    # The names staff typed when registering the person, as the log may quote them.
    who = Identity(account, await db.memberships.distinct("name", {"user_id": account["_id"]}))
    await _announce(announce, who)
    for step in STEPS.values():
        await step(db, who)
    # Again once the messages are rewritten: what live processes read from storage meanwhile is
    # forgotten too (`realtime.live`).
    await _announce(announce, who)


async def _announce(announce: Announce | None, who: Identity) -> None:
    if announce is not None:
        try:
            await announce(who.id)
        except Exception:
            # The sessions are gone: open sockets end at their next check.
            log.exception("account deletion not announced")


async def erase(db, hasher, throttle: Throttle, user: AccountDoc, confirmation: str,
                announce: Announce | None = None) -> None:
    """The person deletes their own account: checked, marked, then erased everywhere."""
    await check(db, hasher, throttle, user, confirmation)
    account = await start(db, user)
    if account is not None:
        await finish(db, account, announce)


async def resume_pending(db, announce: Announce | None = None) -> int:
    """Finish every deletion a stopped process left midway; returns how many."""
    done = 0
    async for account in db.users.find({"erasing_at": {"$ne": None}}):
        await finish(db, account, announce)
        done += 1
    return done

