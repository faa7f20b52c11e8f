"""Indexes of the payments package (`payments/`)."""
from __future__ import annotations

from mongo_indexes.keys import ASC, DESC

PAYMENT_INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict]]] = {
    "payment_attempts": [
        # The same key from the same purpose finds the attempt made the first time.
        ([("purpose", ASC), ("idempotency_key", ASC)], {"unique": True, "name": "purpose_key_unique"}),
        # A notification names the provider's payment (a PaymentIntent id).
        ([("provider", ASC), ("provider_ref", ASC)], {"name": "provider_ref"}),
        ([("purpose", ASC), ("ref", ASC)], {"name": "purpose_ref"}),
        ([("space_id", ASC), ("created_at", DESC)], {"name": "space_created"}),
        # The sweep: card payments due a check, and callbacks left queued.
        ([("state", ASC), ("check_at", ASC)], {"name": "state_check_at"}),
        ([("callbacks.id", ASC)], {"name": "callbacks", "sparse": True}),
        ([("payer_email", ASC)], {"name": "payer_email"}),
    ],
    "payment_events": [
        # `_id` is "<provider>:<event id>": a notification is stored once.
        ([("received_at", DESC)], {"name": "received"}),
        ([("status", ASC), ("received_at", DESC)], {"name": "status_received"}),
    ],
    "payments_ledger": [
        # One entry per movement of money at the provider (charge, refund, invoice).
        ([("key", ASC)], {"unique": True, "name": "key_unique"}),
        ([("attempt_id", ASC)], {"name": "attempt"}),
        ([("space_id", ASC), ("at", DESC)], {"name": "space_at"}),
    ],
    # One document per space's counter (by _id "invoice:<space id>").
    "payment_counters": [],
    # One document per space (by _id): its legal details as a seller.
    "payment_sellers": [],
}
