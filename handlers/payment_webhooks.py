"""The endpoint card providers notify: `POST /payments/stripe/webhook`.

No session, cookie or XSRF token takes part: the Stripe-Signature header
(an HMAC of the time stamp and the exact body with the endpoint's signing
secret, checked with a five-minute tolerance) is the only authority, and
`payments.webhooks.receive` checks it before reading anything.  A forged,
stale or unsigned request gets 400 and changes nothing.  Everything else
gets 200, including notifications about payments this platform does not
know (kept as unmatched), so the provider stops retrying them; a failure
of ours gets 500, so the provider tries again later.
"""
from __future__ import annotations

from handlers.base import BaseHandler
from payments import webhooks


class StripeWebhookHandler(BaseHandler):
    def check_xsrf_cookie(self):
        pass  # see the module docstring

    async def prepare(self):
        pass  # no session or locale: a provider is not a person

    async def post(self):
        try:
            outcome = await webhooks.receive(self.services, self.request.body,
                                             self.request.headers.get("Stripe-Signature"))
        except webhooks.BadSignature:
            self.set_status(400)
            self.finish({"error": "signature"})
            return
        self.finish({"received": outcome})


ROUTES = [(r"/payments/stripe/webhook", StripeWebhookHandler)]
