"""The provider interface: what every way of collecting money does, and the facts it reports.

A provider
- `prepare`s an attempt when it starts (card: a PaymentIntent created with
  the attempt's own Idempotency-Key; invoice: a numbered invoice), returning
  the fields to store on the attempt;
- `execute`s it where the server takes part in paying (card: confirming
  the PaymentIntent with a PaymentMethod the browser collected);
- turns its signed notifications into `Fact`s (`verify`, `facts`): the
  outcome of an attempt is taken from these (or from `retrieve`, when the
  reconciliation sweep asks after one whose notification never came), never
  from what a browser says;
- `refund`s through its own API and reports the refund as a fact.

A `Fact` says what the provider knows about one payment: that it succeeded
(with the amount received), failed (with the provider's reason), needs the
payer, is processing or was cancelled, or that an amount went back
(`refund`, with the provider's refund id).  `payments.attempts.apply`
moves the attempt accordingly, once per fact.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from core.errors import Refusal
from core.i18n import N_

# Fact kinds.
SUCCEEDED, FAILED, REQUIRES_ACTION, PROCESSING, CANCELLED, REFUND = (
    "succeeded", "failed", "requires_action", "processing", "cancelled", "refund")
OPEN = "open"        # the provider waits for the payer: nothing to move


@dataclasses.dataclass
class Fact:
    kind: str
    provider_ref: str = ""           # the payment at the provider (a PaymentIntent id)
    attempt_id: str = ""             # the attempt the provider was told (metadata), a hint
    amount: int | None = None        # received (succeeded) or given back (refund)
    currency: str = ""
    charge_ref: str = ""             # the charge that moved the money
    refund_ref: str = ""             # the provider's refund id
    refund_key: str = ""             # our refund's key, when the refund was ours
    refund_status: str = ""          # succeeded | pending | failed | canceled
    code: str = ""
    message: str = ""


class ProviderUnavailable(Refusal):
    def __init__(self, message: str = N_("Card payments are not available right now. Try again later "
                                         "or choose another way to pay.")):
        super().__init__(message)


class ProviderRefused(Refusal):
    """The provider said no (a declined card, a refund it would not make); `message` is translated."""


class BadSignature(Exception):
    """A notification whose signature, or time stamp, does not check out."""


class Provider(Protocol):
    name: str

    async def prepare(self, attempt: Mapping[str, Any]) -> dict[str, Any]: ...

    async def retrieve(self, attempt: Mapping[str, Any]) -> list[Fact]: ...

    async def refund(self, attempt: Mapping[str, Any], amount: int, key: str, reason: str) -> Fact: ...
