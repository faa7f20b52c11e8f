"""What each purpose wants told, and which provider serves which method: built once at assembly.

`services.payments` is a `Payments`.  A purpose registers its callbacks
once (`register`); `payments.attempts` calls them exactly once per fact:
`on_paid(services, ref, attempt)` when the money has come,
`on_failed(services, ref, attempt)` when a try failed (the payer may still
try again with another card), `on_refunded(services, ref, attempt, amount)`
for each refund.  `space_of(services, ref)` (optional) names the space an
attempt belongs to when `start` is not told; a space's staff see and manage
its attempts, and its legal details head its invoices.

Providers are chosen per method.  There is one card account, the
platform's (`account="platform"`); a space's own account can later be one
more entry of `cards` keyed by the space, chosen in `card_for`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from core.config import Settings

Callback = Callable[..., Awaitable[Any]]
PLATFORM = "platform"


@dataclasses.dataclass(frozen=True)
class Purpose:
    name: str
    on_paid: Callback
    on_failed: Callback | None = None
    on_refunded: Callback | None = None
    space_of: Callable[[Any, Any], Awaitable[Any]] | None = None


class UnknownPurpose(LookupError):
    pass


class Payments:
    def __init__(self, settings: Settings):
        from payments.card import StripeCard
        from payments.invoices import InvoiceProvider
        self.settings = settings
        self.purposes: dict[str, Purpose] = {}
        self.cards = {PLATFORM: StripeCard(settings, account=PLATFORM)}
        self.invoice = InvoiceProvider()

    def register(self, purpose: str, *, on_paid: Callback, on_failed: Callback | None = None,
                 on_refunded: Callback | None = None,
                 space_of: Callable[[Any, Any], Awaitable[Any]] | None = None) -> None:
        """Once per purpose at assembly; registering a purpose twice is a wiring mistake."""
        if purpose in self.purposes:
            raise ValueError(f"payment purpose {purpose!r} is registered twice")
        self.purposes[purpose] = Purpose(purpose, on_paid, on_failed, on_refunded, space_of)

    def purpose(self, name: str) -> Purpose:
        try:
            return self.purposes[name]
        except KeyError:
            raise UnknownPurpose(name) from None

    async def close(self) -> None:
        for card in self.cards.values():
            await card.close()

    def card_for(self, space_id: Any = None):
        """The card provider a space's attempts use: the platform's account for now."""
        return self.cards[PLATFORM]

    def provider(self, attempt) -> Any:
        if attempt["method"] == "invoice":
            return self.invoice
        return self.cards.get(attempt.get("account") or PLATFORM) or self.cards[PLATFORM]
