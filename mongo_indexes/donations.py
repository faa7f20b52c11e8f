"""Indexes of donations (`donations/`): campaigns, gifts, donors' wallets."""
from __future__ import annotations

from mongo_indexes.keys import ASC, DESC

DONATION_INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict]]] = {
    "donation_campaigns": [
        # The public list of a space by state and category, newest first.
        ([("space_id", ASC), ("state", ASC), ("created_at", DESC)], {"name": "space_state_created"}),
        # The open campaigns an event's page shows.
        ([("event_id", ASC), ("state", ASC)], {"name": "event_state"}),
    ],
    "donations": [
        # One donation per dialog: the same client key again finds the first one.
        ([("campaign_id", ASC), ("key", ASC)], {"unique": True, "name": "campaign_key_unique"}),
        # A campaign's totals (`donations.totals`): every field it reads is in the index, so on MongoDB the
        # read is covered (the index alone, no document fetched).
        ([("campaign_id", ASC), ("state", ASC), ("donor_key", ASC), ("amount", ASC), ("refunded", ASC)],
         {"name": "campaign_state_donor_amounts"}),
        # Its latest gifts.
        ([("campaign_id", ASC), ("state", ASC), ("confirmed_at", DESC)], {"name": "campaign_state_confirmed"}),
        # The sweep: wallet gifts left pending, receipts not sent.
        ([("method", ASC), ("state", ASC), ("created_at", ASC)], {"name": "method_state_created"}),
        ([("state", ASC), ("receipt", ASC), ("confirmed_at", ASC)], {"name": "state_receipt_confirmed"}),
        # Donor segments (`donations.segments`): a space's confirmed gifts, in donor order, for one grouping.
        ([("space_id", ASC), ("state", ASC), ("donor_key", ASC), ("confirmed_at", ASC)],
         {"name": "space_state_donor"}),
        # A person's own data and its erasure.
        ([("donor.user_id", ASC)], {"name": "donor_user"}),
        ([("donor.email", ASC)], {"name": "donor_email"}),
    ],
    "wallet_entries": [
        # One entry per movement: a top-up by its payment, a gift by its donation.
        ([("key", ASC)], {"unique": True, "name": "key_unique"}),
        ([("user_id", ASC), ("currency", ASC), ("at", DESC)], {"name": "user_currency_at"}),
    ],
    # One document per donor and currency (by _id "<user id>:<currency>"): the balance and its entries' keys.
    "wallet_balances": [
        ([("user_id", ASC)], {"name": "user"}),
    ],
    # Donor segments: a space's saved queries.
    "donor_segments": [
        ([("space_id", ASC), ("name", ASC)], {"name": "space_name"}),
    ],
    # Web Push: one subscription per space and browser (endpoint); a segment's donors' browsers.
    "push_subscriptions": [
        ([("space_id", ASC), ("endpoint", ASC)], {"unique": True, "name": "space_endpoint_unique"}),
        ([("space_id", ASC), ("donor_key", ASC)], {"name": "space_donor"}),
        # A browser that unsubscribes everywhere.
        ([("endpoint", ASC)], {"name": "endpoint"}),
    ],
    # Appeals to a segment: one per staff form (its key), a space's list newest first, resumed by state.
    "donation_appeals": [
        ([("space_id", ASC), ("key", ASC)], {"unique": True, "name": "space_key_unique"}),
        ([("space_id", ASC), ("created_at", DESC)], {"name": "space_created"}),
        ([("status", ASC)], {"name": "status"}),
    ],
    # One per recipient of an appeal, claimed in order by state.
    "donation_appeal_items": [
        ([("appeal_id", ASC), ("status", ASC), ("_id", ASC)], {"name": "appeal_status"}),
    ],
    # The installation's own keys (the VAPID key pair), by _id.
    "platform_keys": [],
}
