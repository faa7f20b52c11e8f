"""Every collection's indexes, declared in one place and applied idempotently.

`ensure_indexes` runs at startup and from `python server.py ensure-indexes`.
Creating an index that already exists with the same options is a no-op on
MongoDB, so running it on every start is safe.  TTL indexes (expireAfterSeconds
on a date field) make MongoDB delete expired tokens and sessions by itself;
code never trusts that alone and always checks the expiry date too.
"""
from __future__ import annotations

from mongo_indexes.applications import APPLICATION_INDEXES
from mongo_indexes.donations import DONATION_INDEXES
from mongo_indexes.keys import ASC, DESC
from mongo_indexes.payments import PAYMENT_INDEXES

# collection -> list of (keys, options)
INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict]]] = {
    "users": [
        ([("email", ASC)], {"unique": True, "name": "email_unique"}),
        ([("login", ASC)], {"unique": True, "name": "login_unique"}),
    ],
    "spaces": [
        ([("slug", ASC)], {"unique": True, "name": "slug_unique"}),
    ],
    "events": [
        ([("space_id", ASC), ("slug", ASC)], {"unique": True, "name": "space_slug_unique"}),
    ],
    "memberships": [
        ([("user_id", ASC), ("scope_id", ASC), ("role", ASC)],
         {"unique": True, "name": "user_scope_role_unique"}),
        ([("scope_id", ASC), ("role", ASC), ("email", ASC)], {"name": "scope_role_email"}),
        # The waiting list in order, and the offers whose time runs out.
        ([("scope_id", ASC), ("role", ASC), ("state", ASC), ("position", ASC)], {"name": "scope_role_state_position"}),
        ([("state", ASC), ("offer_expires_at", ASC)], {"name": "state_offer_expires"}),
    ],
    "tokens": [
        ([("token_hash", ASC)], {"unique": True, "name": "token_hash_unique"}),
        # Kept a month past expiry so a late click is told "expired" or
        # "already used" rather than "unknown link".
        ([("expires_at", ASC)], {"expireAfterSeconds": 30 * 86400, "name": "expires_ttl"}),
    ],
    "sessions": [
        ([("token_hash", ASC)], {"unique": True, "name": "token_hash_unique"}),
        ([("user_id", ASC)], {"name": "user"}),
        ([("expires_at", ASC)], {"expireAfterSeconds": 0, "name": "expires_ttl"}),
    ],
    "throttle": [
        ([("expires_at", ASC)], {"expireAfterSeconds": 0, "name": "expires_ttl"}),
    ],
    "audit": [
        ([("event_id", ASC), ("at", DESC)], {"name": "event_at"}),
        ([("at", DESC)], {"name": "at"}),
    ],
    "outbox": [
        ([("created_at", DESC)], {"name": "created"}),
        ([("event_id", ASC), ("created_at", DESC)], {"name": "event_created"}),
        ([("status", ASC), ("created_at", ASC)], {"name": "status_created"}),
        # A bulk message's retry asks whether this recipient already has it.
        ([("mailing_id", ASC), ("to", ASC)], {"name": "mailing_to"}),
        # The mailer's queue: what is due, and what a stopped process held.
        ([("status", ASC), ("next_attempt_at", ASC)], {"name": "status_next_attempt"}),
        # A message made for one purpose once (a reminder round to a person) is written once
        # (`Mailer.send_many`); mail without a key is not indexed.
        ([("key", ASC)], {"unique": True, "sparse": True, "name": "key_unique"}),
    ],
    # One document per space (by _id): its mail server and its rate's next slot.
    "space_mail": [],
    # One document per event, found by _id (`reactions.totals`).
    "reaction_totals": [],
    "bulk_jobs": [
        # The same form sent twice finds the job made the first time.
        ([("event_id", ASC), ("key", ASC)], {"unique": True, "name": "event_key_unique"}),
        ([("status", ASC)], {"name": "status"}),
    ],
    "mailings": [
        ([("event_id", ASC), ("created_at", DESC)], {"name": "event_created"}),
        ([("status", ASC)], {"name": "status"}),
    ],
    "mailing_items": [
        ([("mailing_id", ASC), ("user_id", ASC)], {"unique": True, "name": "mailing_user_unique"}),
        ([("mailing_id", ASC), ("status", ASC)], {"name": "mailing_status"}),
    ],
    "messages": [
        ([("room", ASC), ("offset", ASC)], {"unique": True, "name": "room_offset_unique"}),
        ([("room", ASC), ("user_id", ASC), ("client_id", ASC)],
         {"unique": True, "name": "room_user_client_unique"}),
    ],
    "sanctions": [
        # One running mute and one running ban per user and event; the
        # (event_id, user_id) prefix answers "is this sender sanctioned?".
        ([("event_id", ASC), ("user_id", ASC), ("kind", ASC)],
         {"unique": True, "name": "event_user_kind_unique"}),
        ([("until", ASC)], {"expireAfterSeconds": 0, "name": "until_ttl"}),
    ],
    "reads": [
        ([("user_id", ASC), ("room", ASC)], {"unique": True, "name": "user_room_unique"}),
    ],
    "questions": [
        # A retried `ask` finds the stored question instead of storing it twice.
        ([("event_id", ASC), ("user_id", ASC), ("client_id", ASC)],
         {"unique": True, "name": "event_user_client_unique"}),
        ([("event_id", ASC), ("item_id", ASC), ("status", ASC)], {"name": "event_item_status"}),
    ],
    "community_pages": [
        # The address of a page is /e/<space>/<event>/community/<slug>.
        ([("event_id", ASC), ("slug", ASC)], {"unique": True, "name": "event_slug_unique"}),
        ([("event_id", ASC), ("position", ASC)], {"name": "event_position"}),
    ],
    "quizzes": [
        ([("event_id", ASC), ("status", ASC)], {"name": "event_status"}),
    ],
    "quiz_attempts": [
        # One attempt per attendee and quiz, even when two starts race.
        ([("quiz_id", ASC), ("user_id", ASC)], {"unique": True, "name": "quiz_user_unique"}),
        ([("event_id", ASC), ("user_id", ASC)], {"name": "event_user"}),
        ([("quiz_id", ASC), ("score", DESC)], {"name": "quiz_score"}),
    ],
    "watch_time": [
        # One document per event and person, which every flush adds to (`registration.watch_time`).
        ([("event_id", ASC), ("user_id", ASC)], {"unique": True, "name": "event_user_unique"}),
        ([("user_id", ASC)], {"name": "user"}),
    ],
    "certificate_templates": [
        ([("event_id", ASC)], {"unique": True, "name": "event_unique"}),
        ([("job.status", ASC)], {"name": "job_status"}),
    ],
    "certificates": [
        # One certificate per event and person, even when two runners race; codes never repeat.
        ([("event_id", ASC), ("user_id", ASC)], {"unique": True, "name": "event_user_unique"}),
        ([("code", ASC)], {"unique": True, "name": "code_unique"}),
        ([("user_id", ASC), ("issued_at", DESC)], {"name": "user_issued"}),
    ],
    "imports": [
        ([("expires_at", ASC)], {"expireAfterSeconds": 0, "name": "expires_ttl"}),
    ],
    "invitations": [
        # One invitation per event and address; a link's token is looked up by its hash.
        ([("event_id", ASC), ("email", ASC)], {"unique": True, "name": "event_email_unique"}),
        ([("token_hash", ASC)], {"unique": True, "name": "token_hash_unique"}),
    ],
    "registration_counters": [
        # The sweep claims the targets due for a recount.
        ([("checked_at", ASC)], {"name": "checked"}),
    ],
    "session_seats": [
        # One seat per person and session: a repeated click or two racing requests make one.
        ([("event_id", ASC), ("item_id", ASC), ("user_id", ASC)], {"unique": True, "name": "event_item_user_unique"}),
        # A session's waiting list in its order (`registration.session_seats.promote`).
        ([("event_id", ASC), ("item_id", ASC), ("state", ASC), ("position", ASC)], {"name": "item_state_position"}),
        ([("user_id", ASC)], {"name": "user"}),
        ([("state", ASC), ("offer_expires_at", ASC)], {"name": "state_offer_expires"}),
    ],
    "reminder_jobs": [
        # One job per reminder of an event (`reminders.schedule`); the sweep asks for the due ones.
        ([("event_id", ASC), ("key", ASC)], {"unique": True, "name": "event_key_unique"}),
        ([("state", ASC), ("due_at", ASC)], {"name": "state_due"}),
    ],
    "invite_mailings": [
        ([("event_id", ASC), ("created_at", ASC)], {"name": "event_created"}),
    ],
    "invite_items": [
        # A mailing's pending items are claimed one at a time (`invitations.campaigns.run`).
        ([("mailing_id", ASC), ("status", ASC)], {"name": "mailing_status"}),
        # One item per address and mailing: its outbox entry is found by (mailing, address).
        ([("mailing_id", ASC), ("email", ASC)], {"unique": True, "name": "mailing_email_unique"}),
        ([("token_hash", ASC)], {"name": "token_hash"}),
        ([("email", ASC)], {"name": "email"}),
    ],
    "partner_links": [
        ([("code", ASC)], {"unique": True, "name": "code_unique"}),
        ([("event_id", ASC)], {"name": "event"}),
    ],
    "partner_attributions": [
        # One partner per registration: the first submission fixes it (`invitations.partners`).
        ([("event_id", ASC), ("email", ASC)], {"unique": True, "name": "event_email_unique"}),
    ],
    "mail_optouts": [
        ([("user_id", ASC), ("topic", ASC)], {"unique": True, "name": "user_topic_unique"}),
    ],
    "programmes": [
        # One programme per attendee and event: every toggle updates it in place.
        ([("user_id", ASC), ("event_id", ASC)], {"unique": True, "name": "user_event_unique"}),
    ],
    "forms": [
        # One form per event and kind: two editors creating it at once cannot both succeed.
        ([("event_id", ASC), ("kind", ASC)], {"unique": True, "name": "event_kind_unique"}),
    ],
    "registration_files": [
        ([("event_id", ASC), ("owner_id", ASC)], {"name": "event_owner"}),
    ],
    "registration_file_chunks": [
        ([("file_id", ASC), ("n", ASC)], {"unique": True, "name": "file_chunk_unique"}),
    ],
    "data_requests": [
        # An event's requests in the order they were made (staff list, registrant list columns).
        ([("event_id", ASC), ("created_at", ASC)], {"name": "event_created"}),
        # The sweep finds the automatic requests active now.
        ([("auto", ASC), ("ends_at", ASC)], {"name": "auto_ends"}),
    ],
    # Tickets (`orders`): what an event sells, its quotas, checkout reservations and orders.
    "ticket_types": [
        ([("event_id", ASC), ("position", ASC)], {"name": "event_position"}),
    ],
    "quotas": [
        # A type's quotas, read by every reservation (`orders.quotas.of_types`).
        ([("event_id", ASC), ("ticket_type_ids", ASC)], {"name": "event_types"}),
    ],
    "reservations": [
        # A buyer's live reservation for an event (a new choice gives it back).
        ([("event_id", ASC), ("buyer_id", ASC), ("state", ASC)], {"name": "event_buyer_state"}),
        # The sweep: held ones past their deadline, half-done ones past their lease.
        ([("state", ASC), ("expires_at", ASC)], {"name": "state_expires"}),
        ([("state", ASC), ("state_at", ASC)], {"name": "state_at"}),
        # Gone a week after their deadline: the sweep has long given back what they held (an order
        # keeps its reservation's key itself).
        ([("expires_at", ASC)], {"expireAfterSeconds": 7 * 86400, "name": "expires_ttl"}),
    ],
    "orders": [
        ([("code", ASC)], {"unique": True, "name": "code_unique"}),
        # A reservation becomes one order, and a retried "place order" form (its key) finds it.
        ([("reservation_id", ASC)], {"unique": True, "name": "reservation_unique"}),
        ([("buyer_id", ASC), ("idempotency_key", ASC)], {"unique": True, "name": "buyer_key_unique"}),
        ([("event_id", ASC), ("created_at", DESC)], {"name": "event_created"}),
        ([("event_id", ASC), ("state", ASC)], {"name": "event_state"}),
        # The sweep: unpaid orders past their deadline.
        ([("state", ASC), ("expires_at", ASC)], {"name": "state_expires"}),
        ([("buyer_id", ASC), ("created_at", DESC)], {"name": "buyer_created"}),
        ([("tickets.holder.email", ASC)], {"name": "holder_email"}),
        ([("tickets.holder_id", ASC)], {"name": "holder_id"}),
    ],
    "promo_codes": [
        # A code is found by its text within its event (one per event), and listed by age.
        ([("event_id", ASC), ("code", ASC)], {"unique": True, "name": "event_code_unique"}),
        ([("event_id", ASC), ("created_at", DESC)], {"name": "event_created"}),
        ([("event_id", ASC), ("batch", ASC)], {"name": "event_batch"}),
        # The sweep: half-made or half-deleted codes, and expired codes still reserving seats.
        ([("state", ASC), ("created_at", ASC)], {"name": "state_created"}),
        ([("reserve", ASC), ("seats_released", ASC), ("valid_until", ASC)], {"name": "reserving_until"}),
    ],
}
INDEXES.update(PAYMENT_INDEXES)
INDEXES.update(APPLICATION_INDEXES)
INDEXES.update(DONATION_INDEXES)


async def ensure_indexes(db) -> list[str]:
    """Create every declared index; returns their names as 'collection.name'."""
    created = []
    for collection, specs in INDEXES.items():
        for keys, options in specs:
            await db[collection].create_index(keys, **options)
            created.append(f"{collection}.{options['name']}")
    return created
