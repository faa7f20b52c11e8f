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
        # A campaign's totals summed from its gifts (`donations.totals.audit`): every field it reads is in the
        # index, so on MongoDB the read is covered (the index alone, no document fetched).
        ([("campaign_id", ASC), ("state", ASC), ("donor_key", ASC), ("amount", ASC), ("refunded", ASC)],
         {"name": "campaign_state_donor_amounts"}),
        # Its latest gifts.
        ([("campaign_id", ASC), ("state", ASC), ("confirmed_at", DESC)], {"name": "campaign_state_confirmed"}),
        # The sweep: wallet gifts left pending, receipts not sent.
        ([("method", ASC), ("state", ASC), ("created_at", ASC)], {"name": "method_state_created"}),
        ([("state", ASC), ("receipt", ASC), ("confirmed_at", ASC)], {"name": "state_receipt_confirmed"}),
        # The facts a stopped process left owed to a campaign's counter (`donations.totals.sweep`); a gift
        # owes nothing most of the time, so the index holds only the few that do.
        ([("uncounted.at", ASC)], {"name": "uncounted_at", "sparse": True}),
        # Donor segments (`donations.segments`): a space's confirmed gifts, in donor order, for one grouping.
        ([("space_id", ASC), ("state", ASC), ("donor_key", ASC), ("confirmed_at", ASC)],
         {"name": "space_state_donor"}),
        # A person's own data and its erasure.
        ([("donor.user_id", ASC)], {"name": "donor_user"}),
        ([("donor.email", ASC)], {"name": "donor_email"}),
        # A space's analytics and ledger export by date (`donations.analytics`, `donations.ledger_export`),
        # and whether a donor gave in the space before the range (new or returning).
        ([("space_id", ASC), ("state", ASC), ("confirmed_at", ASC)], {"name": "space_state_confirmed"}),
        ([("donor_key", ASC), ("space_id", ASC), ("confirmed_at", ASC)], {"name": "donor_space_confirmed"}),
        # A pledge's monthly gifts.
        ([("pledge_id", ASC), ("period", ASC)], {"name": "pledge_period"}),
    ],
    # A donor's Customer at a card provider: by _id "<account>:<user id>".
    "donor_customers": [
        ([("user_id", ASC)], {"name": "user"}),
    ],
    "saved_cards": [
        # One record per saved PaymentMethod of a donor (saved again, the same record).
        ([("user_id", ASC), ("account", ASC), ("payment_method", ASC)], {"unique": True, "name": "user_method_unique"}),
        ([("user_id", ASC), ("state", ASC), ("created_at", DESC)], {"name": "user_state_created"}),
    ],
    "donation_pledges": [
        # One pledge per form: the same key again finds the first one.
        ([("user_id", ASC), ("key", ASC)], {"unique": True, "name": "user_key_unique"}),
        # The sweep: active pledges that are due.
        ([("state", ASC), ("next_charge_at", ASC)], {"name": "state_due"}),
        ([("campaign_id", ASC), ("created_at", DESC)], {"name": "campaign_created"}),
        ([("user_id", ASC), ("card_id", ASC), ("state", ASC)], {"name": "user_card_state"}),
    ],
    # One counter per campaign, by _id (the campaign's): what pages and live frames read.
    "donation_totals": [],
    # One document per fact applied to a counter, by _id (the fact's key): its claim, then "counted".
    "donation_counts": [
        ([("campaign_id", ASC), ("state", ASC)], {"name": "campaign_state"}),
    ],
    # One document per campaign and donor, by _id (a hash of both): the donor's gifts that count.
    "donation_donors": [
        ([("campaign_id", ASC)], {"name": "campaign"}),
    ],
    "wallet_entries": [
        # One entry per movement: a top-up by its payment, a gift by its donation.
        ([("key", ASC)], {"unique": True, "name": "key_unique"}),
        ([("user_id", ASC), ("currency", ASC), ("at", DESC)], {"name": "user_currency_at"}),
        # A space's ledger export: the wallet debits for its campaigns by date.
        ([("campaign_id", ASC), ("applied_at", ASC)], {"name": "campaign_applied"}),
    ],
    # One document per space: its giving assistant (`donations.assistant`).
    "donation_assistants": [
        ([("space_id", ASC)], {"unique": True, "name": "space_unique"}),
    ],
    # One document per space and UTC day (by _id "<space>:<day>"): the assistant's counts, read by range.
    "donation_assistant_stats": [
        ([("space_id", ASC), ("day", ASC)], {"name": "space_day"}),
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
