"""The payment attempt: one try to collect one amount for one purpose's object.

An attempt is created by `payments.attempts.start` and moved only through
`payments.states`.  Amounts are integer minor units of `currency` (cents,
kopecks, tiyn): never floats.  What a provider knows the attempt by (a
PaymentIntent id) is `provider_ref`; the browser's secret for it
(`client_secret`) is given to the payer's page only, never shown to staff.
"""
from __future__ import annotations

from typing import Any, TypedDict

from core.i18n import N_

# Methods a purpose may ask for.
CARD, INVOICE = "card", "invoice"
METHODS = (CARD, INVOICE)

# States (the diagram is in `payments.states`).
CREATED = "created"
REQUIRES_ACTION = "requires_action"
PROCESSING = "processing"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
PARTIALLY_REFUNDED = "partially_refunded"
REFUNDED = "refunded"
STATES = (CREATED, REQUIRES_ACTION, PROCESSING, SUCCEEDED, FAILED, CANCELLED, PARTIALLY_REFUNDED, REFUNDED)
# Waiting for the money: the reconciliation sweep looks at these.
OPEN = frozenset({CREATED, REQUIRES_ACTION, PROCESSING, FAILED})
# The money has come (and may partly have gone back).
PAID = frozenset({SUCCEEDED, PARTIALLY_REFUNDED, REFUNDED})

STATE_LABELS = {
    CREATED: N_("awaiting payment"),
    REQUIRES_ACTION: N_("awaiting the payer's confirmation"),
    PROCESSING: N_("processing"),
    SUCCEEDED: N_("paid"),
    FAILED: N_("failed"),
    CANCELLED: N_("cancelled"),
    PARTIALLY_REFUNDED: N_("partially refunded"),
    REFUNDED: N_("refunded"),
}
METHOD_LABELS = {CARD: N_("card"), INVOICE: N_("invoice for a legal entity")}

# ISO 4217 currencies and their minor-unit exponent; amounts are integers in those units.
CURRENCIES = {"EUR": 2, "USD": 2, "GBP": 2, "RUB": 2, "KZT": 2, "CHF": 2, "PLN": 2, "SEK": 2, "NOK": 2,
              "DKK": 2, "CZK": 2, "ILS": 2, "UAH": 2, "BYN": 2, "GEL": 2, "AMD": 2, "UZS": 2, "JPY": 0}
# Upper bound of one attempt: far above any ticket, well inside every provider's integer range.
MAX_AMOUNT = 10**11


class AttemptDoc(TypedDict, total=False):
    _id: Any
    purpose: str
    ref: Any
    space_id: Any
    method: str
    provider: str
    account: str
    amount: int
    currency: str
    idempotency_key: str
    payer_email: str
    locale: str
    description: str
    return_path: str | None
    details: dict[str, Any] | None
    state: str
    version: int
    created_at: Any
    updated_at: Any
    provider_ref: str | None
    client_secret: str | None
    charge_ref: str | None
    refunded: int
    refundable: int
    refunds: list[dict[str, Any]]
    refund_refs: list[str]
    paid_at: Any
    checks: int
    preparing_until: Any
    payer_erased: bool
    history: list[dict[str, Any]]
    callbacks: list[dict[str, Any]]
    check_at: Any
    invoice: dict[str, Any] | None
    failure: dict[str, Any] | None
    saved: dict[str, str] | None        # card: the payer's Customer and a saved PaymentMethod (off-session)


def format_amount(amount: int, currency: str) -> str:
    """'15.00 EUR' from 1500 and 'EUR': the integer shown in major units, exactly (no float)."""
    exponent = CURRENCIES.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**exponent) if exponent else (abs(amount), 0)
    digits = f"{whole:,}".replace(",", "\u202f")
    return f"{sign}{digits}.{part:0{exponent}d} {currency}" if exponent else f"{sign}{digits} {currency}"
