"""Card payments through Stripe's PaymentIntents, with the official `stripe` library (async, over aiohttp).

- A PaymentIntent is created server-side for each attempt, with the
  attempt's own `Idempotency-Key` (``livehall-attempt-<id>``): a request
  retried after a timeout returns the same PaymentIntent instead of a
  second one.  Its metadata names the attempt, purpose and reference.
- The payer's browser confirms it with Stripe.js and the client secret
  (`static/js/card_payment.js`); or the server confirms it with a
  PaymentMethod the browser collected (`execute`).
- The outcome comes from Stripe's signed notifications
  (`payment_intent.succeeded`, `payment_intent.payment_failed`,
  `payment_intent.processing`, `payment_intent.requires_action`,
  `payment_intent.canceled`, `charge.refunded`, `refund.*`), verified with
  the endpoint's signing secret and a five-minute tolerance on their time
  stamp, or from `retrieve` when the reconciliation sweep asks.
- Refunds go through the Refunds API, each with its own Idempotency-Key,
  our refund key in its metadata so its notification is matched to it.

Only parameters Stripe documents are sent, and only those the local test
server (localstripe) also accepts: the description rides in metadata.
`STRIPE_API_BASE` points the library elsewhere (tests: a localstripe on a
free port).  `account` names whose Stripe account this is: the platform's,
for now.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from core.config import Settings
from core.i18n import N_
from payments import providers
from payments.providers import BadSignature, Fact, ProviderRefused, ProviderUnavailable

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
DECLINED = N_("The card was declined: %(reason)s")


def _id(value: Any) -> str:
    """An expandable field: Stripe gives an id, or the object when expanded (localstripe always does)."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def intent_facts(pi: Mapping[str, Any]) -> list[Fact]:
    """What a PaymentIntent's state says, as facts."""
    status = pi.get("status")
    base: dict[str, Any] = {"provider_ref": str(pi.get("id") or ""),
            "attempt_id": str((pi.get("metadata") or {}).get("livehall_attempt") or ""),
            "currency": str(pi.get("currency") or "").upper()}
    error = pi.get("last_payment_error") or {}
    if status == "succeeded":
        received = pi.get("amount_received")
        return [Fact(providers.SUCCEEDED, amount=int(received if received is not None else pi["amount"]),
                     charge_ref=_id(pi.get("latest_charge")), **base)]
    if status == "requires_payment_method" and error:
        return [Fact(providers.FAILED, code=str(error.get("code") or ""), message=str(error.get("message") or ""),
                     **base)]
    if status == "processing":
        return [Fact(providers.PROCESSING, **base)]
    if status in ("requires_action", "requires_capture"):
        return [Fact(providers.REQUIRES_ACTION, **base)]
    if status == "canceled":
        return [Fact(providers.CANCELLED, **base)]
    return [Fact(providers.OPEN, **base)]


def refund_fact(refund: Mapping[str, Any], provider_ref: str = "") -> Fact:
    return Fact(providers.REFUND, provider_ref=_id(refund.get("payment_intent")) or provider_ref,
                amount=int(refund.get("amount") or 0), currency=str(refund.get("currency") or "").upper(),
                charge_ref=_id(refund.get("charge")), refund_ref=str(refund.get("id") or ""),
                refund_key=str((refund.get("metadata") or {}).get("livehall_refund") or ""),
                refund_status=str(refund.get("status") or "succeeded"))


class StripeCard:
    name = "stripe"

    def __init__(self, settings: Settings, account: str):
        self.settings = settings
        self.account = account
        self._client: Any = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.stripe_secret_key)

    @property
    def publishable_key(self) -> str:
        return self.settings.stripe_publishable_key

    @property
    def js_url(self) -> str:
        return self.settings.stripe_js_url

    def client(self):
        if not self.configured:
            raise ProviderUnavailable()
        if self._client is None:
            import stripe
            # Network failures are retried by the library with the same Idempotency-Key.
            self._client = stripe.StripeClient(
                self.settings.stripe_secret_key, base_addresses={"api": self.settings.stripe_api_base},
                http_client=stripe.AIOHTTPClient(timeout=30), max_network_retries=2)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            try:
                await self._client._requestor._client.close_async()
            except Exception:
                log.debug("stripe client close failed", exc_info=True)
            self._client = None

    # --- the interface ---------------------------------------------------------------------

    async def prepare(self, attempt: Mapping[str, Any]) -> dict[str, Any]:
        """Create the attempt's PaymentIntent; the fields to store on the attempt.

        An attempt with `saved` ({customer, payment_method}) is charged at
        once with the donor's saved card while they are away from it
        (Stripe's "charge a saved card off-session": `customer`,
        `payment_method`, `off_session` and `confirm` in one request).  A
        decline there is an answer, not an outage: the fields then carry the
        PaymentIntent found through the declined charge and a `facts` list
        with the failure, which `payments.attempts` applies at once.  An
        attempt with only `customer` is paid by the donor on the card page
        and tied to their Customer with `setup_future_usage` "off_session",
        so its card can be kept and charged later.
        """
        import stripe
        params: dict[str, Any] = {
            "amount": int(attempt["amount"]), "currency": attempt["currency"].lower(),
            "payment_method_types": ["card"],
            "metadata": {"livehall_attempt": str(attempt["_id"]), "purpose": attempt["purpose"],
                         "ref": str(attempt["ref"]), "description": (attempt.get("description") or "")[:500]},
        }
        saved = attempt.get("saved") or {}
        if saved.get("customer"):
            params["customer"] = saved["customer"]
        if saved.get("payment_method"):
            params.update(payment_method=saved["payment_method"], off_session=True, confirm=True)
        elif saved.get("customer"):
            # The card is to be charged again while its holder is away: Stripe attaches it to the
            # Customer once paid and asks the bank for that use now, or refuses to attach it later.
            params["setup_future_usage"] = "off_session"
        try:
            pi = await self.client().v1.payment_intents.create_async(
                params=params, options={"idempotency_key": f"livehall-attempt-{attempt['_id']}"})
        except stripe.CardError as exc:
            if not saved.get("payment_method"):
                raise ProviderUnavailable() from exc
            pi_id = await self._intent_of_decline(exc)
            error = exc.error
            return {"provider_ref": pi_id or None, "client_secret": None, "facts": [Fact(
                providers.FAILED, provider_ref=pi_id, attempt_id=str(attempt["_id"]),
                code=str(getattr(error, "decline_code", None) or exc.code or "card_declined"),
                message=str(exc.user_message or getattr(error, "message", "") or ""))]}
        except stripe.StripeError as exc:
            log.warning("payment intent not created", extra={"attempt": str(attempt["_id"]), "error": str(exc)})
            raise ProviderUnavailable() from exc
        return {"provider_ref": pi.id, "client_secret": pi.client_secret}

    async def _intent_of_decline(self, exc: Any) -> str:
        """The PaymentIntent a declined off-session charge made: named by the error, or by its charge."""
        import stripe
        error = exc.error
        pi = getattr(error, "payment_intent", None)
        if pi:
            return _id(pi)
        charge = getattr(error, "charge", None) or (exc.json_body or {}).get("error", {}).get("charge")
        if charge:
            try:
                found = await self.client().v1.charges.retrieve_async(_id(charge))
                return _id(found.to_dict().get("payment_intent"))
            except stripe.StripeError:
                log.warning("declined charge not found", extra={"charge": _id(charge)})
        return ""

    # --- saved cards: a Customer per donor and account, its cards attached --------------------

    async def create_customer(self, *, email: str, ref: str) -> str:
        """A Stripe Customer for one donor (`ref`, our id), once per Idempotency-Key."""
        import stripe
        try:
            customer = await self.client().v1.customers.create_async(
                params={"email": email[:512], "metadata": {"livehall_user": ref}},
                options={"idempotency_key": f"livehall-customer-{self.account}-{ref}"})
        except stripe.StripeError as exc:
            raise ProviderUnavailable() from exc
        return str(customer.id)

    async def intent_method(self, provider_ref: str) -> str:
        """The PaymentMethod a PaymentIntent was paid with."""
        import stripe
        try:
            pi = await self.client().v1.payment_intents.retrieve_async(provider_ref)
        except stripe.StripeError as exc:
            raise ProviderUnavailable() from exc
        return _id(pi.to_dict().get("payment_method"))

    async def attach(self, payment_method: str, customer: str) -> dict[str, Any]:
        """Attach a PaymentMethod to the Customer; its card's brand, last four digits and expiry."""
        import stripe
        try:
            pm = await self.client().v1.payment_methods.attach_async(payment_method, params={"customer": customer})
        except stripe.CardError as exc:
            raise ProviderRefused(DECLINED, reason=exc.user_message or exc.code or "") from exc
        except stripe.StripeError as exc:
            raise ProviderUnavailable() from exc
        card = pm.to_dict().get("card") or {}
        return {"brand": str(card.get("brand") or "card")[:20], "last4": str(card.get("last4") or "")[:4],
                "exp_month": int(card.get("exp_month") or 0), "exp_year": int(card.get("exp_year") or 0)}

    async def detach(self, payment_method: str) -> None:
        import stripe
        try:
            await self.client().v1.payment_methods.detach_async(payment_method)
        except stripe.InvalidRequestError as exc:
            # Already detached (or gone) at Stripe: what was wanted.
            log.info("payment method not detached", extra={"payment_method": payment_method, "error": str(exc)})
        except stripe.StripeError as exc:
            raise ProviderUnavailable() from exc

    async def execute(self, attempt: Mapping[str, Any], payment_method: str) -> str:
        """Confirm the attempt's PaymentIntent with a PaymentMethod; returns Stripe's status.

        A declined card is `ProviderRefused` with Stripe's reason; the
        attempt itself moves when the notification arrives.
        """
        import stripe
        client = self.client()
        pi_id = attempt["provider_ref"]
        try:
            await client.v1.payment_intents.update_async(pi_id, params={"payment_method": payment_method})
            pi = await client.v1.payment_intents.confirm_async(
                pi_id, options={"idempotency_key": f"livehall-confirm-{attempt['_id']}-{payment_method}"})
        except stripe.CardError as exc:
            raise ProviderRefused(DECLINED, reason=exc.user_message or exc.code or "") from exc
        except stripe.StripeError as exc:
            log.warning("payment intent not confirmed", extra={"attempt": str(attempt["_id"]), "error": str(exc)})
            raise ProviderUnavailable() from exc
        return str(pi.status)

    async def retrieve(self, attempt: Mapping[str, Any]) -> list[Fact]:
        import stripe
        try:
            pi = await self.client().v1.payment_intents.retrieve_async(attempt["provider_ref"])
        except stripe.StripeError as exc:
            raise ProviderUnavailable() from exc
        data = pi.to_dict()
        facts = intent_facts(data)
        if _id(data.get("latest_charge")) and data.get("status") == "succeeded":
            refunds = await self.client().v1.refunds.list_async(params={"payment_intent": pi.id, "limit": 100})
            facts += [refund_fact(r.to_dict(), pi.id) for r in refunds.data]
        return facts

    async def refund(self, attempt: Mapping[str, Any], amount: int, key: str, reason: str) -> Fact:
        import stripe
        try:
            refund = await self.client().v1.refunds.create_async(
                params={"payment_intent": attempt["provider_ref"], "amount": int(amount),
                        "metadata": {"livehall_refund": key, "livehall_attempt": str(attempt["_id"]),
                                     "reason": reason[:500]}},
                options={"idempotency_key": f"livehall-refund-{attempt['_id']}-{key}"})
        except stripe.InvalidRequestError as exc:
            raise ProviderRefused(N_("The card provider refused the refund: %(reason)s"),
                                  reason=exc.user_message or str(exc)) from exc
        except stripe.StripeError as exc:
            raise ProviderUnavailable() from exc
        return refund_fact(refund.to_dict(), attempt["provider_ref"])

    # --- notifications -----------------------------------------------------------------------

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event of a notification whose Stripe-Signature checks out, else `BadSignature`."""
        import stripe
        secret = self.settings.stripe_webhook_secret
        if not secret or not signature:
            raise BadSignature("no secret or no signature")
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret,
                                                  TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            raise BadSignature(str(exc)) from exc
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise BadSignature("not JSON") from exc
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise BadSignature("not an event")
        return event

    async def facts(self, event: Mapping[str, Any]) -> list[Fact]:
        """What one event says; [] for events this platform does not act on."""
        kind = event.get("type", "")
        obj = (event.get("data") or {}).get("object") or {}
        if kind.startswith("payment_intent."):
            if kind == "payment_intent.payment_failed" and obj.get("status") != "succeeded":
                error = obj.get("last_payment_error") or {}
                return [Fact(providers.FAILED, provider_ref=str(obj.get("id") or ""),
                             attempt_id=str((obj.get("metadata") or {}).get("livehall_attempt") or ""),
                             code=str(error.get("code") or ""), message=str(error.get("message") or ""))]
            if kind == "payment_intent.created":
                return []
            return intent_facts(obj)
        if kind in ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated"):
            return [refund_fact(obj)]
        if kind == "charge.refunded":
            pi = _id(obj.get("payment_intent"))
            refunds = (obj.get("refunds") or {}).get("data")
            if refunds is None and pi and self.configured:
                # Since API version 2022-11-15 a charge no longer lists its refunds: ask for them.
                listed = await self.client().v1.refunds.list_async(params={"payment_intent": pi, "limit": 100})
                refunds = [r.to_dict() for r in listed.data]
            return [refund_fact(r, pi) for r in refunds or []]
        return []
