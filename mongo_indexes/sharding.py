"""Shard keys: which collections a sharded cluster splits across its shards, on what, and why the rest stay whole.

A sharded MongoDB cluster spreads a sharded collection over its shards by
the shard key; every other collection lives whole on the database's primary
shard.  What decides the choice here:

- a shard checks a unique index only among its own documents, so MongoDB
  refuses a unique index of a sharded collection unless it starts with the
  shard key's fields (`unique_conflicts`, checked by `tests/test_sharding.py`);
  `_id` too is unique across the cluster only when it is the shard key, so a
  collection whose documents are found or made by `_id` (an upsert, a
  notification stored once) stays whole;
- a find-and-modify or an upsert must name the whole shard key to reach one
  shard, so a collection whose claims pick "the first waiting one" by a sort
  without naming the key (waiting lists, mail queues, sweeps) stays whole;
- sharding pays for collections that grow with activity rather than with
  people and events: the chat streams, the audit log, uploaded files.  The
  others stay small enough for one replica set, and a hot counter (places,
  quotas) is one document, which no shard key spreads.

`SHARD_KEYS` are the sharded collections; their single-document writes
name the key, so each goes to one shard (the embedded store checks this in
the test suite, `storage.targeting`), and so do their everyday reads; the
rare reads that do not (an account's deletion, the platform's whole audit
log) ask every shard.
`UNSHARDED` says why each other collection stays whole.  A hashed key
spreads new values evenly (new events' rooms would otherwise all land on the
last range); its hashed index is created by `apply` before sharding, on
MongoDB only.  `python server.py shard-collections` runs `apply` against a
cluster's mongos (README, *MongoDB: replica set and sharded cluster*).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HASHED = "hashed"

ShardKey = dict[str, int | str]

SHARD_KEYS: dict[str, ShardKey] = {
    # A room's stream is read and written by room (`chat.store`): a room's messages stay together on one
    # shard, rooms spread over all of them.  Both unique indexes start with the room.
    "messages": {"room": HASHED},
    # Written on every action, read by event (`access.audit`, the staff's audit pages): one event's entries
    # together, events spread.  Platform-wide entries (no event) share one key value; they are few.
    "audit": {"event_id": HASHED},
    # The bytes of files given with registration forms, a megabyte a document, written, read and deleted
    # by file (`registration.form_files`): the largest collection by size, spread file by file.
    "registration_file_chunks": {"file_id": HASHED},
}

_SMALL = "a few documents per space or event, written by staff"
UNSHARDED: dict[str, str] = {
    "users": "unique email and unique login: two unique indexes no shard key can prefix both; one document "
             "per person",
    "memberships": "registrations and roles, one per person and scope (unique user, scope, role): the waiting "
                   "list is claimed in order by a sorted find-and-modify that names no person "
                   "(`registration.states.transition_first`)",
    "session_seats": "a session's waiting list is claimed in order by a sorted find-and-modify that names no "
                     "person; one document per person and session",
    "registration_counters": "one document per event or session, found by _id and claimed by a sweep; the hot "
                             "counters, which no shard key spreads",
    "rooms": "one document per chat room, made and counted by _id (`chat.store._next_offset`)",
    "reaction_totals": "one document per event, made and counted by _id (`reactions.totals.add`)",
    "outbox": "the mail queue is claimed by state and time, naming no key (`mailings.mailer`), and a mail "
              "with a key is written once by a sparse unique index on the key alone; the largest of the "
              "unsharded collections: old entries are what to prune",
    "sessions": "one per signed-in browser, gone at expiry (TTL); found by token hash on every request",
    "tokens": "sign-in and confirmation links, gone a month after expiry (TTL)",
    "throttle": "short-lived counters of failed attempts (TTL)",
    "imports": "CSV previews, gone at expiry (TTL)",
    "reads": "one read position per person and room",
    "sanctions": "running mutes and bans, gone when they end (TTL)",
    "questions": "hundreds to thousands per event; moderated and voted by id",
    "quiz_attempts": "one per attendee and quiz",
    "certificates": "unique per event and person and unique by code: no shard key can prefix both",
    "invitations": "unique per event and address and unique by token hash: no shard key can prefix both",
    "invite_items": "one per invitation mailed; tracking finds an item by token hash alone, and the runner "
                    "claims items by state",
    "mailing_items": "one per person a sign-in mailing reaches, claimed by state",
    "partner_attributions": "one per registration that came through a partner link",
    "partner_links": _SMALL,
    "mail_optouts": "one per person and topic they left",
    "programmes": "one per attendee and event",
    "registration_files": "one per file given with a form (its bytes are in the sharded chunks)",
    "data_requests": _SMALL,
    "reminder_jobs": "one per reminder of an event, claimed by state and due time",
    "bulk_jobs": "one per staff bulk action, claimed by state",
    "mailings": _SMALL,
    "invite_mailings": _SMALL,
    "spaces": _SMALL,
    "events": _SMALL,
    "forms": _SMALL,
    "community_pages": _SMALL,
    "quizzes": _SMALL,
    "certificate_templates": _SMALL,
    "space_mail": "one document per space, by _id",
    "media": "slide images stored once by content hash as _id",
    "payment_attempts": "unique per purpose and idempotency key, and the reconciliation sweep claims by state "
                        "and time; at 6,000 payments a minute one replica set keeps up",
    "payment_events": "a provider's notification is stored once by _id (`payments.webhooks`)",
    "payments_ledger": "one entry per movement of money, unique by key; should it outgrow one replica set, "
                       "its unique index allows the shard key {key: hashed}",
    "payment_counters": "one invoice counter per space, by _id",
    "promo_codes": "unique code per event; uses counted by conditional updates on the code's own document",
    "applications": "unique per ticket type and email (one application each); a queue per event",
    "donation_campaigns": "a few documents per space, written by staff",
    "donations": "unique per campaign and client key; at 6,000 gifts a minute one replica set keeps up (a "
                 "campaign's gifts are read together by its staff and its audit)",
    "donation_totals": "one counter per campaign, by _id, moved by guarded $inc: a hot key no shard key spreads",
    "donation_counts": "one document per counted fact, by _id (its key); claimed and marked by _id",
    "donation_donors": "one document per campaign and donor, by _id, changed by guarded updates",
    "wallet_entries": "unique by the entry's key, found by it on a retry",
    "wallet_balances": "one document per donor and currency, by _id, changed by guarded updates",
    "donation_assistants": "one document per space, written by staff",
    "donation_assistant_stats": "one small document per space and day, counted by $inc",
    "donor_customers": "one document per donor and card account, by _id",
    "saved_cards": "a few per donor, unique per donor and payment method",
    "donation_pledges": "a few per donor; unique per donor and form key, and the sweep reads the due ones "
                        "by one index",
    "donor_segments": _SMALL,
    "push_subscriptions": "one per space and browser (unique space and endpoint), upserted by that pair; a "
                          "browser that leaves every space is removed by endpoint alone",
    "donation_appeals": _SMALL,
    "donation_appeal_items": "one per recipient of an appeal, claimed by state without naming a key",
    "platform_keys": "one document per installation key, by _id",
    "watch_time": "one document per event and person (unique), its minutes added by $inc in batches every few "
                  "seconds; read per event for the registrant list and certificates",
    "payment_sellers": "one document per space, by _id",
    # Tickets (`orders/`).
    "ticket_types": _SMALL,
    "quotas": "one document per quota holding its count and its holds: a hot counter",
    "reservations": "claimed by state and deadline by the sweep; gone a week after their deadline (TTL)",
    "orders": "unique by code, by reservation and by buyer and key: no shard key can prefix all three",
}

# One index spec as `mongo_indexes.INDEXES` holds them: (keys, options).
IndexSpec = tuple[Sequence[tuple[str, Any]], Mapping[str, Any]]


def unique_conflicts(shard_keys: Mapping[str, Mapping[str, Any]],
                     indexes: Mapping[str, Sequence[IndexSpec]]) -> list[str]:
    """Unique indexes of sharded collections that do not start with the shard key (MongoDB refuses them)."""
    out = []
    for collection, key in shard_keys.items():
        fields = list(key)
        for keys, options in indexes.get(collection, ()):
            names = [name for name, _ in keys]
            if options.get("unique") and names[:1] != ["_id"] and names[:len(fields)] != fields:
                out.append(f"{collection}.{options['name']} {names} does not start with the shard key {fields}")
    return out


def key_problems(shard_keys: Mapping[str, Mapping[str, Any]],
                 indexes: Mapping[str, Sequence[IndexSpec]]) -> list[str]:
    """Shard keys MongoDB would refuse, or that no index supports."""
    out = []
    for collection, key in shard_keys.items():
        values = list(key.values())
        if not key or any(v not in (1, HASHED) for v in values) or values.count(HASHED) > 1:
            out.append(f"{collection}: a shard key's fields are 1 or one of them {HASHED!r}: {dict(key)}")
            continue
        if HASHED in values:
            continue  # `apply` creates its hashed index
        fields = list(key)
        if not any([name for name, _ in keys][:len(fields)] == fields for keys, _ in indexes.get(collection, ())):
            out.append(f"{collection}: no declared index starts with the shard key {fields}")
    return out


def hashed_index(key: Mapping[str, Any]) -> list[tuple[str, Any]] | None:
    """The index a hashed shard key needs (the key itself), or None for a ranged key."""
    return list(key.items()) if HASHED in key.values() else None


async def apply(client, db_name: str) -> list[str]:
    """Shard every collection of `SHARD_KEYS` on a cluster (through a mongos); returns what was done.

    Idempotent: a collection already sharded on its key is left as it is;
    one sharded on another key is reported and left too (changing a shard
    key is `reshardCollection`, an operator's decision).  The collection's
    declared indexes must exist first (`ensure_indexes`): MongoDB refuses
    to shard a collection with a unique index the key does not prefix.
    """
    done = []
    await client.admin.command("enableSharding", db_name)
    for collection, key in SHARD_KEYS.items():
        namespace = f"{db_name}.{collection}"
        current = await client["config"]["collections"].find_one({"_id": namespace, "dropped": {"$ne": True}})
        if current is not None and current.get("key"):
            same = dict(current["key"]) == dict(key)
            done.append(f"{namespace}: already sharded on {dict(current['key'])}"
                        + ("" if same else f", not on {dict(key)}: left as it is"))
            continue
        support = hashed_index(key)
        if support is not None:
            await client[db_name][collection].create_index(support, name=f"{support[0][0]}_hashed")
        await client.admin.command("shardCollection", namespace, key=dict(key))
        done.append(f"{namespace}: sharded on {dict(key)}")
    return done
