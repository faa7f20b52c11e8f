"""The documents of the orders package, as stored, and the settings they follow.

- `ticket_types`: what can be bought for an event and what it grants
  (`orders.ticket_types`); an event with at least one is *ticketed*
  (`events.ticketed`, copied to its channels) and admits only ticket holders.
- `quotas`: how many tickets of the types they name may exist at once,
  shared between types (`orders.quotas`); each holds its own counter.
- `reservations`: the tickets a buyer holds in checkout for a limited time
  (`orders.checkout`).
- `orders`: what a buyer (the payer) bought for its holders, with its money
  (integer minor units and a currency), its state (`orders.states`) and the
  log of its transitions.
- `applications`: requests for a free ticket of a type given by
  application, with the form's answers, moderated by staff
  (`orders.applications`); an approved one has an order of total 0.
- `promo_codes`: codes that lower the price of some types (`orders.promo_codes`),
  each with its own counter of uses.

A ticket is a line of an order for one person: its holder is assigned by
the payer (now or later) and holds the registration (`access.roles`) with
the ticket's type; access asks that registration, never the order.
"""
from __future__ import annotations

import datetime
from typing import Any, NotRequired, TypedDict

from bson import ObjectId

from core.i18n import N_

TICKET_TYPES = "ticket_types"
QUOTAS = "quotas"
RESERVATIONS = "reservations"
ORDERS = "orders"
APPLICATIONS = "applications"
PROMO_CODES = "promo_codes"

PUBLIC, HIDDEN = "public", "hidden"
VISIBILITIES = (PUBLIC, HIDDEN)
VISIBILITY_LABELS = {PUBLIC: N_("Public"), HIDDEN: N_("Hidden: shown with its code only")}

CARD, INVOICE, FREE = "card", "invoice", "free"
METHODS = (CARD, INVOICE)
METHOD_LABELS = {CARD: N_("Card"), INVOICE: N_("Invoice (bank transfer)"), FREE: N_("Free")}

MAX_TYPES = 50
MAX_QUOTAS = 50
MAX_PER_ORDER = 100            # the most tickets of one type a type may allow per order
MAX_TICKETS_PER_ORDER = 100    # the most tickets one order holds, whatever its types
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_CODE = 64
MAX_QUOTA_SIZE = 1_000_000


# How long a half-done step (a reservation taking its quotas, an order being placed) is left to
# the process doing it before the sweep finishes it for it.
LEASE = datetime.timedelta(minutes=2)


def pending_for(settings, method: str) -> datetime.timedelta:
    """How long an unpaid order waits for its payment (`ORDER_CARD_MINUTES`, `ORDER_INVOICE_DAYS`)."""
    if method == INVOICE:
        return datetime.timedelta(days=settings.order_invoice_days)
    return datetime.timedelta(minutes=settings.order_card_minutes)


def reservation_for(settings) -> datetime.timedelta:
    """How long checkout holds the chosen tickets (`RESERVATION_MINUTES`)."""
    return datetime.timedelta(minutes=settings.reservation_minutes)


class TicketTypeDoc(TypedDict):
    _id: ObjectId
    event_id: ObjectId
    name: dict[str, str]                  # per locale
    description: dict[str, str]
    prices: dict[str, int]                # currency -> minor units; 0 is free
    sale_starts_at: datetime.datetime | None
    sale_ends_at: datetime.datetime | None
    visibility: str                       # PUBLIC or HIDDEN
    code: str | None                      # a hidden type's code (staff hand it out; compared case-blind)
    min_per_order: int
    max_per_order: int
    grants: dict[str, Any]                # `access.grants.stored`
    by_application: NotRequired[bool]     # free, never sold: given to approved applications (`orders.applications`)
    position: int
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


class QuotaDoc(TypedDict):
    _id: ObjectId
    event_id: ObjectId
    name: str
    size: int
    ticket_type_ids: list[ObjectId]
    left: int                             # size minus everything held: never taken below zero by a sale
    holds: dict[str, int]                 # hold key (a reservation's id) -> tickets it holds
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


class ReservationLine(TypedDict):
    ticket_type_id: ObjectId
    quantity: int
    unit_price: int
    discount: NotRequired[int]            # minor units off each ticket, by the promo code
    voucher_id: NotRequired[ObjectId | None]


class PromoUse(TypedDict):
    """The promo code a reservation (then its order) uses, and what it took."""
    id: ObjectId
    code: str
    uses: int                             # tickets it discounts: what it holds of the code's uses
    lend: dict[str, str]                  # quota id -> the code's hold key (a code that reserves seats)


class ReservationDoc(TypedDict):
    _id: ObjectId
    event_id: ObjectId
    buyer_id: ObjectId
    currency: str
    lines: list[ReservationLine]
    quotas: dict[str, int]                # quota id -> tickets to hold there (written before any is taken)
    code: str | None                      # the hidden types' code it was made with
    promo: NotRequired[PromoUse | None]
    state: str                            # `orders.checkout` RESERVATION_STATES
    released: bool                        # its holds were given back
    expires_at: datetime.datetime
    created_at: datetime.datetime
    state_at: datetime.datetime


class HolderDoc(TypedDict):
    email: str
    name: str
    locale: str


class TicketDoc(TypedDict):
    id: str                               # unique within the order; the registration names it
    ticket_type_id: ObjectId
    holder: HolderDoc | None              # None: not assigned yet
    holder_id: ObjectId | None            # the holder's account once the ticket is issued
    nonce: int                            # changes with every holder: the check-in code of an earlier one stops working
    issued: bool                          # the holder's registration carries this ticket
    mailed: int                           # the nonce whose holder was mailed their ticket (0: none)
    refused: NotRequired[int]             # the nonce whose holder could not be admitted (holds another ticket)


class OrderLine(TypedDict):
    ticket_type_id: ObjectId
    quantity: int
    unit_price: int                       # minor units, from the type when the reservation was made
    discount: int                         # minor units off each ticket (a promo code's; 0 without one)
    voucher_id: ObjectId | None           # the promo code that gave the discount
    total: int                            # (unit_price - discount) * quantity


class LogEntry(TypedDict):
    at: datetime.datetime
    action: str
    before: str | None
    after: str
    by: str                               # payer, staff, system
    actor_id: ObjectId | None
    why: str
    amount: NotRequired[int]
    payment_ref: NotRequired[str]


class OrderDoc(TypedDict):
    _id: ObjectId
    code: str                             # short, unique, what people quote
    event_id: ObjectId
    space_id: ObjectId
    buyer_id: ObjectId | None             # None once the buyer's account is erased
    buyer: HolderDoc
    currency: str
    lines: list[OrderLine]
    tickets: list[TicketDoc]
    total: int
    paid_amount: int
    refunded_amount: int
    refunds: list[dict[str, Any]]         # each with its key: a refund applied twice counts once
    method: str                           # CARD, INVOICE or FREE
    state: str                            # `orders.states`
    expires_at: datetime.datetime | None  # a pending order's deadline
    reservation_id: ObjectId              # unique: a reservation becomes one order
    hold_key: str                         # the key of its holds in the quotas (its reservation's)
    quotas: dict[str, int]
    promo: NotRequired[PromoUse | None]   # its reservation's, with the same key
    attempt_ids: NotRequired[list[ObjectId]]   # its payment attempts (`orders.payments`)
    quota_released: bool                  # its holds (and its promo code's uses) were given back
    tickets_ended: bool                   # its holders' registrations were ended (idem)
    issued: bool                          # every assigned ticket of a paid order has its registration
    receipt_mailed: bool
    idempotency_key: str
    payment_ref: str | None
    paid_at: NotRequired[datetime.datetime]
    application_id: NotRequired[ObjectId]  # the approved application that made it (then `reservation_id` too)
    log: list[LogEntry]
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


class ApplicationDoc(TypedDict):
    _id: ObjectId
    event_id: ObjectId
    space_id: ObjectId
    ticket_type_id: ObjectId
    email: str                            # unique with the type: one application per address and type
    name: str
    locale: str                           # the applicant's language: their mails are in it
    user_id: ObjectId | None              # the account: the applicant's if signed in, else made on approval
    answers: dict[str, Any]               # `registration.forms` answers to the type's application form
    form_version: int
    state: str                            # `orders.applications` STATES
    reason: str                           # the staff's reason (a rejection) or note (an approval)
    quotas: dict[str, int]                # quota id -> 1: what an approval takes (written before it takes)
    order_id: ObjectId | None             # the order of total 0 holding the ticket, once approved
    idempotency_key: str                  # the form's key: a retried submit finds the application
    decided_by: ObjectId | None
    decided_at: datetime.datetime | None
    created_at: datetime.datetime
    state_at: datetime.datetime
class PromoCodeDoc(TypedDict):
    _id: ObjectId
    event_id: ObjectId
    code: str                             # upper case, unique in the event
    note: str                             # the staff's own note
    batch: str | None                     # the bulk generation it came from
    mode: str                             # `orders.promo_codes` PERCENT, AMOUNT or PRICE
    percent: int                          # PERCENT: hundredths of a percent (1250 is 12.5 %)
    amounts: dict[str, int]               # AMOUNT: off each ticket, PRICE: the price; currency -> minor units
    scope: str                            # ALL, TYPES or QUOTA
    ticket_type_ids: list[ObjectId]       # TYPES
    quota_id: ObjectId | None             # QUOTA: the types of this quota
    max_uses: int                         # tickets it may discount in all
    used: int                             # tickets it discounts now (live reservations and orders)
    holds: dict[str, int]                 # reservation key -> its tickets (taken and given back idempotently)
    min_tickets: int                      # the fewest tickets it applies to in one order
    valid_from: datetime.datetime | None
    valid_until: datetime.datetime | None
    reserve: bool                         # holds max_uses seats of its quota while it lives
    seats_released: bool                  # reserve: its seats went back (expired or deleted)
    state: str                            # creating, active, deleting
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
